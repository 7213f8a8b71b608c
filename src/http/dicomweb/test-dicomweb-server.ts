// Test harness (not shipped) for the DICOMweb read services: a real platform on port 0 (PGlite) with its DIMSE listener,
// studies sent by dcmtk's storescu (the real store service), and a plain RFC 2046 multipart parser for the answers.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import dcmjs from 'dcmjs';
import { newUid, storescu } from '../../dicom/test-dicom-peers.js';
import { startTestServer, type Backend, type TestServer } from '../test-server.js';

export const PYDICOM = join(process.cwd(), '../shared/fixtures/pydicom-testdata');

export interface Generated {
  patientName: string; patientId: string; birthDate?: string; studyUid: string; studyDate: string; accession: string;
  studyDescription?: string; seriesUid: string; seriesNumber: string; modality: string; sopUid: string; instanceNumber: string;
  /** Frames of the 8×8 16-bit image (native, explicit VR LE); each frame's pixels are filled with its number. */
  frames?: number;
}

/** A small native image (Secondary Capture, or Multi-frame Grayscale Word SC with `frames`), as a Part 10 file. */
export async function writeInstance(path: string, g: Generated): Promise<void> {
  const frames = g.frames ?? 1;
  const sopClassUid = frames > 1 ? '1.2.840.10008.5.1.4.1.1.7.3' : '1.2.840.10008.5.1.4.1.1.7';
  const { DicomMetaDictionary, DicomDict } = dcmjs.data;
  const dataset = DicomMetaDictionary.denaturalizeDataset({
    SpecificCharacterSet: 'ISO_IR 192', SOPClassUID: sopClassUid, SOPInstanceUID: g.sopUid, StudyInstanceUID: g.studyUid,
    SeriesInstanceUID: g.seriesUid, PatientName: g.patientName, PatientID: g.patientId, PatientBirthDate: g.birthDate ?? '19700101',
    PatientSex: 'F', AccessionNumber: g.accession, StudyDate: g.studyDate, StudyTime: '101500', StudyDescription: g.studyDescription ?? 'Examen',
    ReferringPhysicianName: 'MARTIN^Paul', StudyID: '1', Modality: g.modality, ConversionType: 'WSD', SeriesNumber: g.seriesNumber,
    SeriesDescription: `Série ${g.seriesNumber}`, InstanceNumber: g.instanceNumber, SamplesPerPixel: 1, PhotometricInterpretation: 'MONOCHROME2',
    Rows: 8, Columns: 8, BitsAllocated: 16, BitsStored: 12, HighBit: 11, PixelRepresentation: 0,
    ...(frames > 1 ? { NumberOfFrames: String(frames) } : {}),
  });
  const pixels = new Uint16Array(64 * frames);
  for (let f = 0; f < frames; f++) pixels.fill(f + 1, f * 64, (f + 1) * 64);
  dataset['7FE00010'] = { vr: 'OW', Value: [pixels.buffer] };
  const file = new DicomDict(DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer, MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: g.sopUid, TransferSyntaxUID: '1.2.840.10008.1.2.1', ImplementationClassUID: '2.25.1',
  }));
  file.dict = dataset;
  await writeFile(path, Buffer.from(file.write()));
}

/** Three patients, four studies, six instances (as in the C-FIND tests); patients 1 and 3 are both "Lefèvre". */
export function corpus(): Generated[] {
  const hl = { patientName: 'LEFÈVRE^Hélène', patientId: 'IPP-100', birthDate: '19620314' };
  const jd = { patientName: 'DUPONT^Jean', patientId: 'IPP-200', birthDate: '19500101' };
  const ml = { patientName: 'Lefevre^Marc', patientId: 'IPP-300', birthDate: '19801224' };
  const study = (p: typeof hl, studyDate: string, accession: string, studyDescription: string) => ({ ...p, studyUid: newUid(), studyDate, accession, studyDescription });
  const a1 = study(hl, '20250110', 'ACC-A1', 'IRM cérébrale');
  const a2 = study(hl, '20250220', 'ACC-A2', 'Scanner thoracique');
  const b1 = study(jd, '20250115', 'ACC-B1', 'IRM genou');
  const c1 = study(ml, '20241231', 'ACC-C1', 'Scanner abdominal');
  const series = (s: typeof a1, seriesNumber: string, modality: string, n: number): Generated[] => {
    const seriesUid = newUid();
    return Array.from({ length: n }, (_, i) => ({ ...s, seriesUid, seriesNumber, modality, sopUid: newUid(), instanceNumber: String(i + 1) }));
  };
  return [...series(a1, '1', 'MR', 2), ...series(a1, '2', 'CT', 1), ...series(a2, '1', 'CT', 1), ...series(b1, '1', 'MR', 1), ...series(c1, '1', 'CT', 1)];
}

export async function startDicomwebServer(backend: Backend = 'pglite'): Promise<TestServer> {
  return startTestServer(backend, { dicomPort: 0, dicomAeTitle: 'TELEO', dicomKnownAes: [{ aeTitle: 'MODALITY', host: '127.0.0.1', operations: ['echo', 'store'] }] });
}

/** Sends a file by C-STORE; `proposal`: the storescu option proposing the file's transfer syntax (`-xx` JPEG, `-xr` RLE…). */
export async function send(server: TestServer, file: string, proposal = '-x='): Promise<void> {
  const sent = await storescu(server.platform.dicomPort as number, file, proposal);
  expect(sent.response, sent.output).to.equal('Success');
}

/** The DICOMweb base URL of the server. */
export const dicomweb = (server: TestServer) => server.base.replace(/\/fhir$/, '/dicomweb');

export async function get(server: TestServer, path: string, init: { token?: string | null; accept?: string } = {}): Promise<Response> {
  const headers = new Headers();
  if (init.token !== null) headers.set('Authorization', `Bearer ${init.token ?? await server.token()}`);
  if (init.accept) headers.set('Accept', init.accept);
  return fetch(`${server.base.replace(/\/fhir$/, '')}${path}`, { headers });
}

export interface Part { headers: Record<string, string>; body: Buffer }

/** Parses a multipart body (RFC 2046 §5.1.1) strictly: CRLF line breaks, the boundary of the Content-Type. */
export function parseMultipart(contentType: string, body: Buffer): Part[] {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Part[] = [];
  let at = body.indexOf(delimiter);
  if (at !== 0) throw new Error('the body does not start with the boundary');
  for (;;) {
    const after = at + delimiter.length;
    if (body.subarray(after, after + 2).toString() === '--') {
      expect(body.subarray(after + 2).toString()).to.equal('\r\n');
      return parts;
    }
    const headerEnd = body.indexOf('\r\n\r\n', after);
    const headers: Record<string, string> = {};
    for (const line of body.subarray(after + 2, headerEnd).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headerEnd + 4);
    if (next < 0) throw new Error('unterminated part');
    parts.push({ headers, body: body.subarray(headerEnd + 4, next) });
    at = next + 2;
  }
}

/** The stored file (fs blob store layout) of the bytes `part`, by its content address. */
export async function storedFile(server: TestServer, part: Buffer): Promise<Buffer> {
  const hex = createHash('sha256').update(part).digest('hex');
  return readFile(join(server.dataDir, 'blobs', hex.slice(0, 2), hex.slice(2, 4), `sha256-${hex}`));
}

