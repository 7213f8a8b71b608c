// Test and bench helpers for STOW-RS (PS3.18 §10.5): multipart/related bodies of Part 10 files, streamed, and
// CT-like instances (PS3.3 A.3 CT Image, 512×512 16-bit) generated from one template with fresh UIDs.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import dcmjs from 'dcmjs';

export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

/** A UID under 2.25 (PS3.5 B.2) of exactly 44 characters, so that it can replace another in place. */
export function fixedLengthUid(): string {
  return `2.25.${BigInt(`0x${randomBytes(16).toString('hex')}`).toString().padStart(39, '1').slice(0, 39)}`;
}

export interface CtSeries {
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  /** The SOP Instance UIDs of the instances made so far, in order. */
  readonly sopInstanceUids: string[];
  /** Bytes of one Part 10 file. */
  readonly size: number;
  /** A new instance of the series: a copy of the template with its own SOP Instance UID (and Instance Number). */
  next(): Buffer;
}

/** A CT series whose instances are `rows`×`columns` 16-bit images in Explicit VR Little Endian Part 10 files. */
export function ctSeries(options: { rows?: number; columns?: number; studyInstanceUid?: string; patientId?: string } = {}): CtSeries {
  const rows = options.rows ?? 512;
  const columns = options.columns ?? 512;
  const studyInstanceUid = options.studyInstanceUid ?? fixedLengthUid();
  const seriesInstanceUid = fixedLengthUid();
  const placeholder = fixedLengthUid();
  const dataset = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    SpecificCharacterSet: 'ISO_IR 192', SOPClassUID: CT_IMAGE_STORAGE, SOPInstanceUID: placeholder, ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
    StudyInstanceUID: studyInstanceUid, SeriesInstanceUID: seriesInstanceUid, FrameOfReferenceUID: fixedLengthUid(),
    PatientName: 'Lefèvre^Hélène', PatientID: options.patientId ?? 'IPP-CT-1', IssuerOfPatientID: 'CHU-TOULOUSE', PatientBirthDate: '19610412',
    PatientSex: 'F', AccessionNumber: 'ACC-CT-1', StudyDate: '20250110', StudyTime: '101500', Modality: 'CT', SeriesNumber: '3',
    InstanceNumber: '1', StudyDescription: 'TDM CEREBRALE', SeriesDescription: 'AXIAL 1.25', KVP: '120', SliceThickness: '1.25',
    ImagePositionPatient: ['-250', '-250', '0'], ImageOrientationPatient: ['1', '0', '0', '0', '1', '0'], PixelSpacing: ['0.48828125', '0.48828125'],
    SamplesPerPixel: 1, PhotometricInterpretation: 'MONOCHROME2', Rows: rows, Columns: columns, BitsAllocated: 16, BitsStored: 12,
    HighBit: 11, PixelRepresentation: 0, RescaleIntercept: '-1024', RescaleSlope: '1', WindowCenter: '40', WindowWidth: '80',
  });
  const pixels = new Uint16Array(rows * columns);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7 + (i >> 9) * 13) & 0x0fff;
  dataset['7FE00010'] = { vr: 'OW', Value: [pixels.buffer] };
  const file = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer, MediaStorageSOPClassUID: CT_IMAGE_STORAGE,
    MediaStorageSOPInstanceUID: placeholder, TransferSyntaxUID: EXPLICIT_LE, ImplementationClassUID: '2.25.1',
  }));
  file.dict = dataset;
  const template = Buffer.from(file.write());
  const needle = Buffer.from(placeholder, 'latin1');
  const at: number[] = [];
  for (let i = template.indexOf(needle); i >= 0; i = template.indexOf(needle, i + 1)) at.push(i);
  const sopInstanceUids: string[] = [];
  return {
    studyInstanceUid, seriesInstanceUid, sopInstanceUids, size: template.length,
    next() {
      const uid = fixedLengthUid();
      const copy = Buffer.from(template);
      for (const i of at) copy.write(uid, i, 'latin1');
      sopInstanceUids.push(uid);
      return copy;
    },
  };
}

export const STOW_BOUNDARY = 'stow-test-boundary-7f3a9c';
export const STOW_CONTENT_TYPE = `multipart/related; type="application/dicom"; boundary=${STOW_BOUNDARY}`;

/** One part of a STOW-RS body (default Content-Type application/dicom). */
export interface StowPart {
  readonly bytes: Uint8Array;
  readonly contentType?: string;
}

/** The multipart/related body, part by part (never whole in memory when `parts` is lazy). */
export async function* stowBody(parts: Iterable<StowPart | Uint8Array> | AsyncIterable<StowPart | Uint8Array>, boundary = STOW_BOUNDARY): AsyncGenerator<Buffer> {
  for await (const p of parts) {
    const part = p instanceof Uint8Array ? { bytes: p } : p;
    yield Buffer.from(`--${boundary}\r\nContent-Type: ${part.contentType ?? 'application/dicom'}\r\n\r\n`, 'latin1');
    yield Buffer.from(part.bytes.buffer, part.bytes.byteOffset, part.bytes.byteLength);
    yield Buffer.from('\r\n', 'latin1');
  }
  yield Buffer.from(`--${boundary}--\r\n`, 'latin1');
}

/** POSTs a STOW-RS body (streamed) to `url` with fetch. */
export function stow(url: string, body: AsyncIterable<Uint8Array>, init: { token?: string; contentType?: string; accept?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { 'Content-Type': init.contentType ?? STOW_CONTENT_TYPE, Accept: init.accept ?? 'application/dicom+json' };
  if (init.token) headers.Authorization = `Bearer ${init.token}`;
  return fetch(url, { method: 'POST', headers, body: Readable.from(body) as unknown as ReadableStream, duplex: 'half' } as RequestInit);
}
