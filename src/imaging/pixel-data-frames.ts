// DICOM PS3.5 §8.2 (native Pixel Data) and Annex A.4 (encapsulated Pixel Data: Basic Offset Table, fragments), and
// PS3.3 C.7.6.3 (Image Pixel Module): the bytes of one frame of a stored Part 10 instance, and the image description.
import dcmjs from 'dcmjs';
import { errors } from '../kernel/errors.js';
import type { DicomJson } from './dicom-json.js';

const PIXEL_DATA = '7FE00010';
/** Transfer syntaxes whose Pixel Data is native (not encapsulated). */
export const NATIVE_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  '1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.2',
]);
export const BIG_ENDIAN = '1.2.840.10008.1.2.2';

/** The Image Pixel Module (PS3.3 C.7.6.3) and the attributes rendering needs, read from the precomputed metadata. */
export interface ImageDescription {
  readonly rows: number;
  readonly columns: number;
  readonly samplesPerPixel: number;
  readonly photometric: string;
  readonly bitsAllocated: number;
  readonly bitsStored: number;
  /** 1: two's complement. */
  readonly pixelRepresentation: number;
  /** 0: colour-by-pixel (R1G1B1R2…), 1: colour-by-plane. */
  readonly planarConfiguration: number;
  readonly frames: number;
}

const first = (json: DicomJson, tag: string): unknown => json[tag]?.Value?.[0];
const intOf = (json: DicomJson, tag: string): number | undefined => {
  const v = Number(first(json, tag));
  return Number.isInteger(v) ? v : undefined;
};
export const textOf = (json: DicomJson, tag: string): string | undefined => {
  const v = first(json, tag);
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
};
/** The numbers of a multi-valued DS attribute (Window Center, Window Width…). */
export const numbersOf = (json: DicomJson, tag: string): number[] =>
  (json[tag]?.Value ?? []).map((v) => Number(v)).filter((n) => Number.isFinite(n));

/** The image the metadata describes; 406 when the instance has no image (no Rows/Columns/Pixel Data). */
export function imageDescriptionOf(metadata: DicomJson): ImageDescription {
  const rows = intOf(metadata, '00280010');
  const columns = intOf(metadata, '00280011');
  const bitsAllocated = intOf(metadata, '00280100');
  if (!metadata[PIXEL_DATA] || !rows || !columns || !bitsAllocated) {
    throw errors.notAcceptable('The instance has no image (Pixel Data, Rows, Columns, Bits Allocated): it cannot be rendered');
  }
  const samplesPerPixel = intOf(metadata, '00280002') ?? 1;
  const photometric = textOf(metadata, '00280004') ?? (samplesPerPixel === 3 ? 'RGB' : 'MONOCHROME2');
  if (![8, 16, 32].includes(bitsAllocated) || (samplesPerPixel !== 1 && samplesPerPixel !== 3)) {
    throw errors.notAcceptable(`Cannot render Bits Allocated ${bitsAllocated} with Samples per Pixel ${samplesPerPixel}`);
  }
  return {
    rows, columns, samplesPerPixel, photometric, bitsAllocated,
    bitsStored: intOf(metadata, '00280101') ?? bitsAllocated,
    pixelRepresentation: intOf(metadata, '00280103') ?? 0,
    planarConfiguration: intOf(metadata, '00280006') ?? 0,
    frames: Math.max(1, intOf(metadata, '00280008') ?? 1),
  };
}

const u8 = (b: ArrayBuffer | ArrayBufferView): Uint8Array =>
  b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  return Buffer.concat(parts);
}

/** Whether an encapsulated fragment starts a new frame: a JPEG SOI (FFD8) or a JPEG 2000 codestream SOC (FF4F). */
const startsFrame = (f: Uint8Array) => f.length >= 2 && f[0] === 0xff && (f[1] === 0xd8 || f[1] === 0x4f);

/**
 * The frames of encapsulated Pixel Data as dcmjs reads it: with a Basic Offset Table it has grouped the fragments of
 * each frame already; without, it returns the fragments, which are grouped here (one frame: all of them; as many
 * fragments as frames: one each; otherwise a new frame at each fragment starting with a JPEG / JPEG 2000 marker).
 */
function encapsulatedFrames(values: unknown[], frames: number): Uint8Array[] {
  const items = values.map((v) => (Array.isArray(v) ? concat(v.map((p) => u8(p as ArrayBuffer))) : u8(v as ArrayBuffer)));
  if (items.length === frames) return items;
  if (frames === 1) return [concat(items)];
  const grouped: Uint8Array[][] = [];
  for (const item of items) {
    if (grouped.length === 0 || startsFrame(item)) grouped.push([item]);
    else grouped[grouped.length - 1].push(item);
  }
  return grouped.map(concat);
}

/** Reads the whole Part 10 file and returns the bytes of frame `index` (0-based) as stored (compressed or native). */
export function frameBytes(part10: Uint8Array, transferSyntaxUid: string, image: ImageDescription, index: number): Uint8Array {
  if (!Number.isInteger(index) || index < 0 || index >= image.frames) {
    throw errors.badRequest(`Frame ${index + 1} does not exist: the instance has ${image.frames} frame(s)`);
  }
  const buffer = part10.buffer.slice(part10.byteOffset, part10.byteOffset + part10.byteLength) as ArrayBuffer;
  let values: unknown[];
  try {
    const file = dcmjs.data.DicomMessage.readFile(buffer, { untilTag: null });
    const v = file.dict[PIXEL_DATA]?.Value;
    values = Array.isArray(v) ? v : [];
  } catch (e) {
    throw errors.unprocessable(`The stored instance cannot be read: ${(e as Error).message}`);
  }
  if (values.length === 0) throw errors.notAcceptable('The instance has no Pixel Data value');
  if (!NATIVE_TRANSFER_SYNTAXES.has(transferSyntaxUid)) {
    const frame = encapsulatedFrames(values, image.frames)[index];
    if (!frame) throw errors.unprocessable(`Encapsulated Pixel Data holds fewer fragments than its ${image.frames} frames`);
    return frame;
  }
  const all = concat(values.map((v) => u8(v as ArrayBuffer)));
  const frameBits = image.rows * image.columns * image.samplesPerPixel * image.bitsAllocated;
  const start = (frameBits * index) / 8;
  const end = start + frameBits / 8;
  if (end > all.byteLength) throw errors.unprocessable(`Pixel Data truncated: frame ${index + 1} ends at byte ${end} of ${all.byteLength}`);
  return all.subarray(start, end);
}
