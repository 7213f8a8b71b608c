// Secondary Capture Image Storage (PS3.3 A.8.1 SC Image IOD, SOP Class 1.2.840.10008.5.1.4.1.1.7) from a JPEG or PNG
// file. A baseline JPEG (ITU-T T.81 SOF0, or SOF1 with 8-bit samples), grey or with subsampled chroma (what cameras
// and phones write), is kept as is, encapsulated in JPEG Baseline (PS3.5 A.4.1, 8.2.1: MONOCHROME2 / YBR_FULL_422).
// Other JPEGs (4:4:4 colour, whose YBR_FULL the SC Image IOD does not list; progressive…) and PNGs are decoded and
// stored uncompressed (explicit VR little endian), RGB or MONOCHROME2; a decoded JPEG stays flagged lossy.
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { errors } from '../kernel/errors.js';
import { commonModules, dicomDateTime, encodeDataset, type ExamPatient, type ExamStudy } from './created-exam-modules.js';

export const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';
export const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
export const EXPLICIT_VR_LE = '1.2.840.10008.1.2.1';

/** A created object: its UIDs and its data set bytes in its transfer syntax (what the store service takes). */
export interface CreatedObject {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
  readonly dataset: Buffer;
}

/** JPEG Start Of Frame (T.81 B.2.2): process marker, precision, size and each component's sampling factors. */
export interface JpegFrameHeader {
  readonly marker: number;
  readonly precision: number;
  readonly rows: number;
  readonly columns: number;
  readonly components: readonly { readonly h: number; readonly v: number }[];
}

/** The first SOF of a JPEG stream; undefined when there is none before the first scan. */
export function jpegFrameHeader(b: Uint8Array): JpegFrameHeader | undefined {
  if (b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1];
    if (marker === 0xff) { i++; continue; }
    const length = (b[i + 2] << 8) | b[i + 3];
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (i + 10 > b.length) return undefined;
      const n = b[i + 9];
      const components = Array.from({ length: n }, (_, k) => ({ h: b[i + 11 + 3 * k] >> 4, v: b[i + 11 + 3 * k] & 15 }));
      return { marker, precision: b[i + 4], rows: (b[i + 5] << 8) | b[i + 6], columns: (b[i + 7] << 8) | b[i + 8], components };
    }
    if (marker === 0xda) return undefined;
    i += 2 + length;
  }
  return undefined;
}

interface Pixels { rows: number; columns: number; samples: 1 | 3; data: Uint8Array }

function imageModules(p: Pixels | { rows: number; columns: number; samples: number; photometric: string }, photometric: string): Record<string, unknown> {
  return {
    SamplesPerPixel: p.samples, PhotometricInterpretation: photometric, Rows: p.rows, Columns: p.columns,
    BitsAllocated: 8, BitsStored: 8, HighBit: 7, PixelRepresentation: 0, ...(p.samples === 3 ? { PlanarConfiguration: 0 } : {}),
  };
}

export interface CapturedImage {
  readonly bytes: Buffer;
  readonly instanceNumber: number;
  readonly sopInstanceUid: string;
  /** The file's name, kept as the Derivation Description. */
  readonly filename?: string;
}

function build(img: CapturedImage, patient: ExamPatient, study: ExamStudy, seriesNumber: number, modules: Record<string, unknown>, pixelData: { vr: string; Value: unknown[] }, ts: string): CreatedObject {
  const { date, time } = dicomDateTime(study.createdAt);
  const naturalized = {
    ...commonModules(SECONDARY_CAPTURE, img.sopInstanceUid, patient, study, seriesNumber),
    Laterality: '', InstanceNumber: String(img.instanceNumber), PatientOrientation: '', ContentDate: date, ContentTime: time,
    ImageType: ['DERIVED', 'SECONDARY'], DateOfSecondaryCapture: date, TimeOfSecondaryCapture: time,
    ...(img.filename ? { DerivationDescription: `Created from ${img.filename}`.slice(0, 1024) } : {}),
    ...modules,
  };
  return { sopClassUid: SECONDARY_CAPTURE, sopInstanceUid: img.sopInstanceUid, transferSyntaxUid: ts, dataset: encodeDataset(naturalized, { '7FE00010': pixelData }, ts) };
}

const even = (b: Uint8Array): Uint8Array => (b.byteLength % 2 === 0 ? b : Buffer.concat([b, Buffer.alloc(1)]));
const bufferOf = (b: Uint8Array): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

function uncompressed(img: CapturedImage, patient: ExamPatient, study: ExamStudy, seriesNumber: number, p: Pixels, lossy = false): CreatedObject {
  const modules = { ...imageModules(p, p.samples === 3 ? 'RGB' : 'MONOCHROME2'), ...(lossy ? { LossyImageCompression: '01', LossyImageCompressionMethod: 'ISO_10918_1' } : {}) };
  return build(img, patient, study, seriesNumber, modules, { vr: 'OB', Value: [bufferOf(even(p.data))] }, EXPLICIT_VR_LE);
}

/** RGB(A) or grey samples → 1 or 3 samples per pixel (alpha dropped, composited on black as DICOM has no alpha). */
function fromRgba(width: number, height: number, rgba: Uint8Array, grey: boolean): Pixels {
  const n = width * height;
  const samples = grey ? 1 : 3;
  const data = new Uint8Array(n * samples);
  for (let i = 0; i < n; i++) {
    const a = rgba[4 * i + 3] / 255;
    for (let c = 0; c < samples; c++) data[i * samples + c] = Math.round(rgba[4 * i + c] * a);
  }
  return { rows: height, columns: width, samples, data };
}

/** A JPEG file as a Secondary Capture: baseline kept as is, anything else decoded to uncompressed pixels. */
export function secondaryCaptureFromJpeg(img: CapturedImage, patient: ExamPatient, study: ExamStudy, seriesNumber: number): CreatedObject {
  const sof = jpegFrameHeader(img.bytes);
  if (!sof) throw errors.unsupportedMediaType(`${img.filename ?? 'The image'} is not a readable JPEG file (no frame header)`);
  const n = sof.components.length;
  const subsampled = n === 3 && sof.components.some((c, k) => k > 0 && (c.h !== sof.components[0].h || c.v !== sof.components[0].v));
  if ((sof.marker === 0xc0 || sof.marker === 0xc1) && sof.precision === 8 && (n === 1 || subsampled)) {
    const photometric = n === 1 ? 'MONOCHROME2' : 'YBR_FULL_422';
    const modules = {
      ...imageModules({ rows: sof.rows, columns: sof.columns, samples: n, photometric }, photometric),
      LossyImageCompression: '01', LossyImageCompressionMethod: 'ISO_10918_1',
    };
    return build(img, patient, study, seriesNumber, modules, { vr: 'OB', Value: [bufferOf(even(img.bytes))] }, JPEG_BASELINE);
  }
  let decoded;
  try {
    decoded = jpeg.decode(img.bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
  } catch (e) {
    throw errors.unsupportedMediaType(`${img.filename ?? 'The JPEG image'} cannot be decoded: ${(e as Error).message}`);
  }
  return uncompressed(img, patient, study, seriesNumber, fromRgba(decoded.width, decoded.height, decoded.data, n === 1), true);
}

/** A PNG file as an uncompressed Secondary Capture (16-bit PNGs are reduced to 8 bits by pngjs). */
export function secondaryCaptureFromPng(img: CapturedImage, patient: ExamPatient, study: ExamStudy, seriesNumber: number): CreatedObject {
  let png;
  try {
    png = PNG.sync.read(img.bytes);
  } catch (e) {
    throw errors.unsupportedMediaType(`${img.filename ?? 'The PNG image'} cannot be decoded: ${(e as Error).message}`);
  }
  const grey = !png.color;
  return uncompressed(img, patient, study, seriesNumber, fromRgba(png.width, png.height, png.data, grey));
}
