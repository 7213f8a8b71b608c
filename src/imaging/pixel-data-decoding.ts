// DICOM PS3.5 §8.2 and Annex A.4 (transfer syntaxes of Pixel Data): one stored frame decoded to its samples.
// Native: as is (big endian swapped); RLE (Annex G): rle-lossless.ts; JPEG baseline / extended 8-bit (ITU-T T.81):
// jpeg-js; JPEG lossless (process 14): jpeg-lossless-decoder-js; JPEG-LS (ISO 14495-1): CharLS and JPEG 2000
// (ISO 15444-1): OpenJPEG, both WebAssembly builds from @cornerstonejs, loaded once per decoder (no network).
import { createRequire } from 'node:module';
import jpeg from 'jpeg-js';
import { Decoder as LosslessDecoder } from 'jpeg-lossless-decoder-js';
import { errors } from '../kernel/errors.js';
import { BIG_ENDIAN, NATIVE_TRANSFER_SYNTAXES, type ImageDescription } from './pixel-data-frames.js';
import { decodeRleFrame } from './rle-lossless.js';

/** A decoded frame: native little-endian samples, colour-by-pixel, in the photometric interpretation given. */
export interface DecodedFrame {
  readonly bytes: Uint8Array;
  readonly photometric: string;
  /** Bits per sample in `bytes` (8 or 16 or 32), and whether samples are two's complement. */
  readonly bitsAllocated: number;
  readonly planarConfiguration: number;
}

export const TRANSFER_SYNTAX_NAMES: Readonly<Record<string, string>> = {
  '1.2.840.10008.1.2.5': 'RLE Lossless',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (Process 1)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless, Non-Hierarchical (Process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Lossy (Near-Lossless)',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Image Compression (Lossless Only)',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000 Image Compression',
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 Image Compression (Lossless Only)',
  '1.2.840.10008.1.2.4.202': 'High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000 Image Compression',
  '1.2.840.10008.1.2.4.100': 'MPEG2 Main Profile / Main Level',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264 High Profile / Level 4.1',
};

const RLE = '1.2.840.10008.1.2.5';
const JPEG_BASELINE = new Set(['1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.4.51']);
const JPEG_LOSSLESS = new Set(['1.2.840.10008.1.2.4.57', '1.2.840.10008.1.2.4.70']);
const JPEG_LS = new Set(['1.2.840.10008.1.2.4.80', '1.2.840.10008.1.2.4.81']);
const JPEG_2000 = new Set(['1.2.840.10008.1.2.4.90', '1.2.840.10008.1.2.4.91']);

/** The sample precision of the first JPEG Start Of Frame marker (T.81 B.2.2), or undefined when none is found. */
export function jpegPrecision(bytes: Uint8Array): number | undefined {
  let i = 2;
  while (i + 4 < bytes.length) {
    if (bytes[i] !== 0xff) { i++; continue; }
    const marker = bytes[i + 1];
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return bytes[i + 4];
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0xff) { i += marker === 0xff ? 1 : 2; continue; }
    i += 2 + ((bytes[i + 2] << 8) | bytes[i + 3]);
  }
  return undefined;
}

type WasmModule = { decoder: () => WasmDecoderInstance };
type Factory<M> = (options: Record<string, unknown>) => Promise<M>;
/** Emscripten module options: the codecs' informational messages are not ours to print. */
const QUIET = { print: () => undefined, printErr: () => undefined };
interface WasmDecoderInstance {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number };
  delete(): void;
}

export interface PixelDecoder {
  /** Decodes one frame's stored bytes; 406 (naming the transfer syntax) when it cannot be decoded here. */
  decode(frame: Uint8Array, transferSyntaxUid: string, image: ImageDescription): Promise<DecodedFrame>;
}

/** A decoder holding its WebAssembly codecs, instantiated on first use. */
export function createPixelDecoder(): PixelDecoder {
  const require = createRequire(import.meta.url);
  const loaded = new Map<string, Promise<WasmModule>>();
  const wasm = (name: 'charls' | 'openjpeg'): Promise<WasmModule> => {
    let m = loaded.get(name);
    if (!m) {
      m = name === 'charls'
        ? (require('@cornerstonejs/codec-charls/decodewasmjs') as Factory<{ JpegLSDecoder: new () => WasmDecoderInstance }>)(QUIET)
          .then((mod) => ({ decoder: () => new mod.JpegLSDecoder() }))
        : (require('@cornerstonejs/codec-openjpeg/decodewasmjs') as Factory<{ J2KDecoder: new () => WasmDecoderInstance }>)(QUIET)
          .then((mod) => ({ decoder: () => new mod.J2KDecoder() }));
      loaded.set(name, m);
    }
    return m;
  };

  async function decodeWasm(name: 'charls' | 'openjpeg', frame: Uint8Array, image: ImageDescription): Promise<DecodedFrame> {
    const decoder = (await wasm(name)).decoder();
    try {
      decoder.getEncodedBuffer(frame.byteLength).set(frame);
      decoder.decode();
      const info = decoder.getFrameInfo();
      if (info.width !== image.columns || info.height !== image.rows) {
        throw errors.unprocessable(`The compressed frame is ${info.width}×${info.height}, the data set says ${image.columns}×${image.rows}`);
      }
      const bytes = Uint8Array.from(decoder.getDecodedBuffer()); // a copy: the buffer belongs to the WebAssembly heap
      // JPEG 2000 with a multi-component transform (YBR_RCT / YBR_ICT) decodes to RGB (PS3.5 8.2.4).
      const photometric = image.photometric.startsWith('YBR_') && name === 'openjpeg' ? 'RGB' : image.photometric;
      return { bytes, photometric, bitsAllocated: info.bitsPerSample <= 8 ? 8 : 16, planarConfiguration: 0 };
    } finally {
      decoder.delete();
    }
  }

  return {
    async decode(frame, ts, image) {
      if (NATIVE_TRANSFER_SYNTAXES.has(ts)) {
        if (ts !== BIG_ENDIAN || image.bitsAllocated === 8) return { bytes: frame, photometric: image.photometric, bitsAllocated: image.bitsAllocated, planarConfiguration: image.planarConfiguration };
        const swapped = Buffer.from(frame);
        if (image.bitsAllocated === 16) swapped.swap16();
        else swapped.swap32();
        return { bytes: swapped, photometric: image.photometric, bitsAllocated: image.bitsAllocated, planarConfiguration: image.planarConfiguration };
      }
      try {
        if (ts === RLE) return { bytes: decodeRleFrame(frame, image), photometric: image.photometric, bitsAllocated: image.bitsAllocated, planarConfiguration: 0 };
        if (JPEG_BASELINE.has(ts)) {
          const precision = jpegPrecision(frame);
          if (precision !== 8) {
            throw errors.notAcceptable(`Cannot render ${TRANSFER_SYNTAX_NAMES[ts]} (${ts}) with ${precision ?? 'unknown'}-bit samples: only 8-bit JPEG is decoded`);
          }
          const d = jpeg.decode(frame, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
          if (image.samplesPerPixel === 3) return { bytes: d.data, photometric: 'RGB', bitsAllocated: 8, planarConfiguration: 0 };
          const gray = new Uint8Array(d.width * d.height);
          for (let p = 0, s = 0; p < gray.length; p++, s += 3) gray[p] = d.data[s];
          return { bytes: gray, photometric: image.photometric, bitsAllocated: 8, planarConfiguration: 0 };
        }
        if (JPEG_LOSSLESS.has(ts)) {
          const copy = frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength) as ArrayBuffer;
          const out = new LosslessDecoder().decode(copy, 0, copy.byteLength, image.bitsAllocated > 8 ? 2 : 1);
          return { bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength), photometric: image.photometric, bitsAllocated: out.BYTES_PER_ELEMENT * 8, planarConfiguration: 0 };
        }
        if (JPEG_LS.has(ts)) return await decodeWasm('charls', frame, image);
        if (JPEG_2000.has(ts)) return await decodeWasm('openjpeg', frame, image);
      } catch (e) {
        if (e instanceof Error && 'outcome' in e) throw e;
        throw errors.unprocessable(`The ${TRANSFER_SYNTAX_NAMES[ts] ?? ts} frame cannot be decoded: ${(e as Error).message}`);
      }
      const name = TRANSFER_SYNTAX_NAMES[ts];
      throw errors.notAcceptable(`Cannot render pixel data encoded in ${name ? `${name} (${ts})` : `transfer syntax ${ts}`}: no decoder for it`);
    },
  };
}
