// DICOM PS3.3 C.7.6.3.1 (Image Pixel Module attributes: Bits Stored / High Bit / Pixel Representation, Photometric
// Interpretation C.7.6.3.1.2, Planar Configuration C.7.6.3.1.3): decoded samples as grey-level integers or as RGB.
import { errors } from '../kernel/errors.js';
import type { DecodedFrame } from './pixel-data-decoding.js';
import type { ImageDescription } from './pixel-data-frames.js';

/** The stored values of a monochrome frame: masked to Bits Stored, sign-extended when Pixel Representation is 1. */
export function monochromeValues(frame: DecodedFrame, image: ImageDescription): Int32Array {
  const n = image.rows * image.columns;
  const { bytes } = frame;
  const bits = Math.min(image.bitsStored, frame.bitsAllocated);
  const out = new Int32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (n * frame.bitsAllocated) / 8;
  if (bytes.byteLength < need) throw errors.unprocessable(`Decoded frame holds ${bytes.byteLength} of ${need} bytes`);
  const signed = image.pixelRepresentation === 1;
  if (frame.bitsAllocated === 32) {
    for (let i = 0; i < n; i++) out[i] = signed ? view.getInt32(4 * i, true) : Math.min(view.getUint32(4 * i, true), 0x7fffffff);
    return out;
  }
  const mask = bits >= 32 ? 0xffffffff : (1 << bits) - 1;
  const sign = 1 << (bits - 1);
  if (frame.bitsAllocated === 8) {
    for (let i = 0; i < n; i++) {
      const v = bytes[i] & mask;
      out[i] = signed && v & sign ? v - (mask + 1) : v;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = (bytes[2 * i] | (bytes[2 * i + 1] << 8)) & mask;
      out[i] = signed && v & sign ? v - (mask + 1) : v;
    }
  }
  return out;
}

const clamp8 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/** YCbCr (full range, PS3.3 C.7.6.3.1.2 YBR_FULL) → RGB, in place. */
function ybrToRgb(rgb: Uint8Array): void {
  for (let i = 0; i < rgb.length; i += 3) {
    const y = rgb[i];
    const cb = rgb[i + 1] - 128;
    const cr = rgb[i + 2] - 128;
    rgb[i] = clamp8(y + 1.402 * cr);
    rgb[i + 1] = clamp8(y - 0.344136 * cb - 0.714136 * cr);
    rgb[i + 2] = clamp8(y + 1.772 * cb);
  }
}

/** A colour frame as 8-bit RGB, colour-by-pixel. */
export function rgbValues(frame: DecodedFrame, image: ImageDescription): Uint8Array {
  const n = image.rows * image.columns;
  const p = frame.photometric;
  if (p === 'PALETTE COLOR') throw errors.notAcceptable('Rendering PALETTE COLOR images is not supported');
  if (!['RGB', 'YBR_FULL', 'YBR_FULL_422', 'YBR_RCT', 'YBR_ICT'].includes(p)) {
    throw errors.notAcceptable(`Cannot render Photometric Interpretation ${p} with 3 samples per pixel`);
  }
  const bytesPerSample = frame.bitsAllocated / 8;
  const sampleAt = (k: number) => (bytesPerSample === 1 ? frame.bytes[k]
    : (frame.bytes[2 * k] | (frame.bytes[2 * k + 1] << 8)) >> Math.max(0, Math.min(image.bitsStored, 16) - 8));
  const rgb = new Uint8Array(n * 3);
  if (p === 'YBR_FULL_422' && frame.bytes.byteLength < n * 3 * bytesPerSample) {
    // Native YBR_FULL_422: Y1 Y2 Cb Cr for each pair of pixels of a row (C.7.6.3.1.2).
    for (let pair = 0; pair < n / 2; pair++) {
      const cb = sampleAt(4 * pair + 2);
      const cr = sampleAt(4 * pair + 3);
      for (let k = 0; k < 2; k++) rgb.set([sampleAt(4 * pair + k), cb, cr], (2 * pair + k) * 3);
    }
    ybrToRgb(rgb);
    return rgb;
  }
  if (frame.bytes.byteLength < n * 3 * bytesPerSample) throw errors.unprocessable(`Decoded colour frame holds ${frame.bytes.byteLength} of ${n * 3 * bytesPerSample} bytes`);
  if (frame.planarConfiguration === 1) {
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = sampleAt(c * n + i);
  } else if (bytesPerSample === 1) {
    rgb.set(frame.bytes.subarray(0, n * 3));
  } else {
    for (let k = 0; k < n * 3; k++) rgb[k] = sampleAt(k);
  }
  if (p === 'YBR_FULL' || p === 'YBR_FULL_422') ybrToRgb(rgb);
  return rgb;
}
