// DICOM PS3.5 Annex G (RLE Lossless Compression, transfer syntax 1.2.840.10008.1.2.5): one frame decoded to native
// little-endian, colour-by-pixel bytes. G.3.1: a header of 16 UL (segment count, then up to 15 segment offsets); G.5
// and G.2: one segment per byte of each sample, most significant byte first, each a PackBits byte run stream.
import { errors } from '../kernel/errors.js';

export interface RleFrameShape {
  readonly rows: number;
  readonly columns: number;
  readonly samplesPerPixel: number;
  readonly bitsAllocated: number;
}

/** Decodes one PackBits segment (G.3.1) into `out` at `start`, every `stride` bytes, `count` bytes in all. */
function unpackSegment(src: Uint8Array, from: number, to: number, out: Uint8Array, start: number, stride: number, count: number): void {
  let i = from;
  let n = 0;
  let o = start;
  while (i < to && n < count) {
    const h = src[i++];
    if (h < 128) { // literal run of h + 1 bytes
      const len = Math.min(h + 1, count - n, to - i);
      for (let k = 0; k < len; k++, o += stride) out[o] = src[i + k];
      i += h + 1;
      n += len;
    } else if (h > 128) { // the next byte repeated 257 - h times
      const len = Math.min(257 - h, count - n);
      const v = src[i++];
      for (let k = 0; k < len; k++, o += stride) out[o] = v;
      n += len;
    } // 128: no operation
  }
  if (n < count) throw errors.unprocessable(`RLE segment decodes to ${n} of ${count} bytes`);
}

/** Decodes one RLE frame (one fragment, A.4.2) to native little-endian bytes, colour-by-pixel. */
export function decodeRleFrame(frame: Uint8Array, shape: RleFrameShape): Uint8Array {
  const bytesPerSample = shape.bitsAllocated / 8;
  const pixels = shape.rows * shape.columns;
  const segments = shape.samplesPerPixel * bytesPerSample;
  if (frame.byteLength < 64) throw errors.unprocessable('RLE frame shorter than its 64-byte header');
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const count = view.getUint32(0, true);
  if (count !== segments) throw errors.unprocessable(`RLE header announces ${count} segments, the image needs ${segments}`);
  const offsets = Array.from({ length: count }, (_, s) => view.getUint32(4 + 4 * s, true));
  const out = new Uint8Array(pixels * segments);
  const stride = segments; // colour-by-pixel: every sample of every pixel, bytes little endian
  for (let s = 0; s < count; s++) {
    const from = offsets[s];
    const to = s + 1 < count ? offsets[s + 1] : frame.byteLength;
    if (from < 64 || to > frame.byteLength || from > to) throw errors.unprocessable(`RLE segment ${s + 1} has an invalid offset ${from}`);
    const sample = Math.floor(s / bytesPerSample);
    const byteOfSample = bytesPerSample - 1 - (s % bytesPerSample); // segments go from the most significant byte
    unpackSegment(frame, from, to, out, sample * bytesPerSample + byteOfSample, stride, pixels);
  }
  return out;
}
