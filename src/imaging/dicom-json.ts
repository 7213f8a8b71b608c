// DICOM PS3.18 Annex F.2 (DICOM JSON Model) of a stored instance, without bulk data, and the attributes it is indexed by.
import dcmjs, { type DcmjsDict, type DcmjsElement } from 'dcmjs';

/** A DICOM JSON attribute (PS3.18 F.2.2): bulk data elements keep only their `vr` (WADO-RS adds the BulkDataURI). */
export interface DicomJsonAttribute {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
}
export type DicomJson = Record<string, DicomJsonAttribute>;

/** Binary values up to this size are kept inline (F.2.7 InlineBinary); larger ones are bulk data. */
export const INLINE_BINARY_MAX_BYTES = 1024;

const PIXEL_DATA = '7FE00010';
const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);
const UNENCAPSULATED = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1.99']);

/** What the index needs from an instance (PS3.3 C.12.1 SOP Common, C.7.1.1 Patient, C.7.2.1 General Study). */
export interface InstanceAttributes {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly patientId?: string;
  readonly issuerOfPatientId?: string;
  readonly accessionNumber?: string;
}

export interface ParsedInstance {
  readonly transferSyntaxUid: string;
  readonly attributes: InstanceAttributes;
  readonly metadata: DicomJson;
  /** Whether the parse reached Pixel Data (7FE0,0010): everything before it was read. */
  readonly reachedPixelData: boolean;
}

export class DicomParseError extends Error {}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function binaryLength(values: unknown[]): number {
  return values.reduce<number>((n, v) => n + (v instanceof ArrayBuffer ? v.byteLength : ArrayBuffer.isView(v) ? v.byteLength : 0), 0);
}

function jsonValue(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v === '' || v === undefined) return null; // F.2.5: an empty value in a multi-valued attribute is null
  if (typeof v === 'number' && !Number.isFinite(v)) return null;
  return v;
}

function attributeOf(el: DcmjsElement, tag: string): DicomJsonAttribute | undefined {
  const vr = el.vr ?? 'UN';
  const raw = Array.isArray(el.Value) ? el.Value : [];
  if (vr === 'SQ') {
    const items = raw.filter((i): i is DcmjsDict => typeof i === 'object' && i !== null).map((i) => toDicomJson(i));
    return items.length > 0 ? { vr, Value: items } : { vr };
  }
  if (BINARY_VRS.has(vr)) {
    if (raw.length === 0 || binaryLength(raw) > INLINE_BINARY_MAX_BYTES || raw.length > 1) return { vr };
    const v = raw[0];
    const bytes = v instanceof ArrayBuffer ? Buffer.from(v) : ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : undefined;
    return bytes && bytes.byteLength > 0 ? { vr, InlineBinary: bytes.toString('base64') } : { vr };
  }
  // dcmjs decodes every character set to UTF-16 and reports 'ISO_IR 192'; the metadata keeps the value received.
  const values = tag === '00080005' && Array.isArray(el._rawValue) ? (el._rawValue as unknown[]) : raw;
  const out = values.map(jsonValue);
  return out.length === 0 || out.every((v) => v === null) ? { vr } : { vr, Value: out };
}

/** Converts a dcmjs data set into DICOM JSON: group lengths dropped, binary values over the limit left as bulk data. */
export function toDicomJson(dict: DcmjsDict): DicomJson {
  const out: DicomJson = {};
  for (const tag of Object.keys(dict).sort()) {
    if (tag.endsWith('0000')) continue; // group lengths are not part of the JSON model
    const attr = attributeOf(dict[tag], tag);
    if (attr) out[tag] = attr;
  }
  return out;
}

function firstString(json: DicomJson, tag: string): string | undefined {
  const v = json[tag]?.Value?.[0];
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

const num = (json: DicomJson, tag: string, dflt: number): number => {
  const v = Number(json[tag]?.Value?.[0]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};

/** Native pixel data must hold Rows × Columns × Samples × Frames × Bits Allocated bits (PS3.5 §8.1.1, PS3.3 C.7.6.3). */
/** Bytes native (uncompressed) Pixel Data must hold: Rows × Columns × Samples × Frames × Bits Allocated (PS3.5 §8.1.1). */
export function expectedNativePixelBytes(metadata: DicomJson): number {
  const bits = num(metadata, '00280010', 0) * num(metadata, '00280011', 0) * num(metadata, '00280002', 1)
    * num(metadata, '00280008', 1) * num(metadata, '00280100', 0);
  return Math.ceil(bits / 8);
}

function checkNativePixelLength(metadata: DicomJson, pixelData: DcmjsElement): void {
  const values = Array.isArray(pixelData.Value) ? pixelData.Value : [];
  const expected = expectedNativePixelBytes(metadata);
  const actual = binaryLength(values);
  if (actual < expected) throw new DicomParseError(`Pixel Data truncated: ${actual} of ${expected} bytes`);
}

/**
 * Parses a Part 10 file into DICOM JSON without bulk data. With `whole`, `bytes` is the whole file and every element
 * is read (so that a truncated or malformed value, pixel data included, is an error); without, `bytes` may be only
 * the beginning of the file and parsing stops at Pixel Data (7FE0,0010) without reading its value: the result says
 * whether it was reached (if not, the metadata may be incomplete and the whole file must be parsed).
 * Throws DicomParseError when the bytes are not a DICOM file or a required UID is missing.
 */
export function parsePart10Metadata(bytes: Uint8Array, options: { whole: boolean }): ParsedInstance {
  let file;
  try {
    file = dcmjs.data.DicomMessage.readFile(toArrayBuffer(bytes), options.whole ? {} : { untilTag: PIXEL_DATA, includeUntilTagValue: false });
  } catch (e) {
    throw new DicomParseError(`unparseable data set: ${(e as Error).message}`);
  }
  const ts = file.meta['00020010']?.Value;
  const transferSyntaxUid = Array.isArray(ts) && typeof ts[0] === 'string' ? ts[0] : '';
  const reachedPixelData = PIXEL_DATA in file.dict;
  const { [PIXEL_DATA]: _pixel, ...rest } = file.dict;
  const metadata = toDicomJson(rest);
  if (reachedPixelData) {
    // Always bulk data. Encapsulated pixel data is OB; native is OW unless 8-bit in explicit VR (PS3.5 A.1 c, A.2, A.4).
    const bits = metadata['00280100']?.Value?.[0];
    metadata[PIXEL_DATA] = { vr: !UNENCAPSULATED.has(transferSyntaxUid) || (bits === 8 && transferSyntaxUid !== '1.2.840.10008.1.2') ? 'OB' : 'OW' };
  }
  if (options.whole && reachedPixelData && UNENCAPSULATED.has(transferSyntaxUid)) checkNativePixelLength(metadata, file.dict[PIXEL_DATA]);
  const required = (tag: string, name: string): string => {
    const v = firstString(metadata, tag);
    if (!v) throw new DicomParseError(`missing ${name} ${tag.slice(0, 4)},${tag.slice(4)}`);
    return v;
  };
  const attributes: InstanceAttributes = {
    sopClassUid: required('00080016', 'SOP Class UID'),
    sopInstanceUid: required('00080018', 'SOP Instance UID'),
    studyInstanceUid: required('0020000D', 'Study Instance UID'),
    seriesInstanceUid: required('0020000E', 'Series Instance UID'),
    patientId: firstString(metadata, '00100020'),
    issuerOfPatientId: firstString(metadata, '00100021'),
    accessionNumber: firstString(metadata, '00080050'),
  };
  return { transferSyntaxUid, attributes, metadata, reachedPixelData };
}
