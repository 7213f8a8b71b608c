// Encapsulated PDF Storage (PS3.3 A.45.1 Encapsulated PDF IOD, SOP Class 1.2.840.10008.5.1.4.1.1.104.1): Patient,
// General Study, Encapsulated Document Series (C.24.1, Modality DOC), General Equipment, SC Equipment, Encapsulated
// Document (C.24.2: MIME type, the PDF as OB padded to even length, its real length in (0042,0015)), SOP Common.
import { errors } from '../kernel/errors.js';
import { commonModules, dicomDateTime, encodeDataset, type ExamPatient, type ExamStudy } from './created-exam-modules.js';
import { EXPLICIT_VR_LE, type CreatedObject } from './secondary-capture.js';

export const ENCAPSULATED_PDF = '1.2.840.10008.5.1.4.1.1.104.1';

export interface EncapsulatedDocument {
  readonly bytes: Buffer;
  readonly instanceNumber: number;
  readonly sopInstanceUid: string;
  /** Document Title (0042,0010): the file's name without its extension, when given. */
  readonly title?: string;
}

const PDF_MAGIC = Buffer.from('%PDF-');

export function encapsulatedPdf(doc: EncapsulatedDocument, patient: ExamPatient, study: ExamStudy, seriesNumber: number): CreatedObject {
  if (doc.bytes.byteLength < PDF_MAGIC.byteLength || !doc.bytes.subarray(0, 5).equals(PDF_MAGIC)) {
    throw errors.unsupportedMediaType('The document is not a PDF file (no %PDF- header)');
  }
  if (doc.bytes.byteLength > 0xfffffffe) throw errors.payloadTooLarge('A PDF larger than 4 GiB cannot be encapsulated');
  const { date, time } = dicomDateTime(study.createdAt);
  const naturalized = {
    ...commonModules(ENCAPSULATED_PDF, doc.sopInstanceUid, patient, { ...study, modality: 'DOC' }, seriesNumber),
    InstanceNumber: String(doc.instanceNumber), ContentDate: date, ContentTime: time, AcquisitionDateTime: '',
    BurnedInAnnotation: 'YES', DocumentTitle: (doc.title ?? '').slice(0, 64), ConceptNameCodeSequence: [],
    MIMETypeOfEncapsulatedDocument: 'application/pdf', EncapsulatedDocumentLength: doc.bytes.byteLength,
  };
  const padded = doc.bytes.byteLength % 2 === 0 ? doc.bytes : Buffer.concat([doc.bytes, Buffer.alloc(1)]);
  const value = padded.buffer.slice(padded.byteOffset, padded.byteOffset + padded.byteLength);
  return {
    sopClassUid: ENCAPSULATED_PDF, sopInstanceUid: doc.sopInstanceUid, transferSyntaxUid: EXPLICIT_VR_LE,
    dataset: encodeDataset(naturalized, { '00420011': { vr: 'OB', Value: [value] } }, EXPLICIT_VR_LE),
  };
}
