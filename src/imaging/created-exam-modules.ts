// The modules shared by the objects the platform creates from other files (the kit's "Créer un examen"): PS3.3 C.7.1.1
// Patient (with the CI-SIS usage of the INS: Other Patient IDs Sequence qualified by the INS-NIR OID), C.7.2.1 General
// Study, C.7.3.1 General Series, C.7.5.1 General Equipment, C.8.6.1 SC Equipment, C.12.1 SOP Common; UUID-derived UIDs
// (PS3.5 B.2); and the data set encoded in a transfer syntax, without File Meta Information (PS3.10 §7.1).
import { randomUUID } from 'node:crypto';
import dcmjs from 'dcmjs';

/** A UID under the 2.25 root from a random UUID (PS3.5 B.2). */
export function uuidDerivedUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString()}`;
}

/** The patient as the dossier knows it, in DICOM terms. */
export interface ExamPatient {
  /** PN: family^given (UTF-8). */
  readonly name?: string;
  /** IPP and its assigning authority (an OID, or a name), when the dossier's Patient has one. */
  readonly ipp?: { readonly value: string; readonly issuerOid?: string; readonly issuer?: string };
  /** INS (NIR) and the OID qualifying it (1.2.250.1.213.1.4.8, or the test NIR's). */
  readonly ins?: { readonly value: string; readonly oid: string };
  /** DA (YYYYMMDD). */
  readonly birthDate?: string;
  /** CS M, F or O. */
  readonly sex?: 'M' | 'F' | 'O';
}

/** One study created by one call: its UIDs, descriptions and creation time. */
export interface ExamStudy {
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly studyDescription?: string;
  readonly seriesDescription?: string;
  readonly accessionNumber?: string;
  readonly modality: string;
  readonly createdAt: Date;
}

const INS_ISSUER = 'ASIP-SANTE-INS-NIR';
const qualifiers = (oid: string) => [{ UniversalEntityID: oid, UniversalEntityIDType: 'ISO' }];
export const MANUFACTURER = 'TéléO';

/** DICOM DA and TM of an instant, in the platform's local time. */
export function dicomDateTime(d: Date): { date: string; time: string } {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return { date: `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}`, time: `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}` };
}

/**
 * Patient module: Patient ID is the IPP (with Issuer of Patient ID and its qualifiers) and the INS goes to Other Patient
 * IDs Sequence, as the CI-SIS does; without an IPP the INS is the Patient ID. Without either, Patient ID is empty (type 2).
 */
function patientModule(p: ExamPatient): Record<string, unknown> {
  const insItem = p.ins && { PatientID: p.ins.value, IssuerOfPatientID: INS_ISSUER, TypeOfPatientID: 'TEXT', IssuerOfPatientIDQualifiersSequence: qualifiers(p.ins.oid) };
  const main = p.ipp
    ? { PatientID: p.ipp.value, IssuerOfPatientID: p.ipp.issuerOid ?? p.ipp.issuer, ...(p.ipp.issuerOid ? { IssuerOfPatientIDQualifiersSequence: qualifiers(p.ipp.issuerOid) } : {}) }
    : insItem ? { PatientID: insItem.PatientID, IssuerOfPatientID: INS_ISSUER, IssuerOfPatientIDQualifiersSequence: insItem.IssuerOfPatientIDQualifiersSequence } : { PatientID: '' };
  return {
    PatientName: p.name ?? '', ...main, PatientBirthDate: p.birthDate ?? '', PatientSex: p.sex ?? '',
    ...(p.ipp && insItem ? { OtherPatientIDsSequence: [insItem] } : {}),
  };
}

/** The attributes every created object carries (naturalized, for dcmjs): SOP Common to SC Equipment. */
export function commonModules(sopClassUid: string, sopInstanceUid: string, patient: ExamPatient, study: ExamStudy, seriesNumber: number): Record<string, unknown> {
  const { date, time } = dicomDateTime(study.createdAt);
  return {
    SpecificCharacterSet: 'ISO_IR 192', SOPClassUID: sopClassUid, SOPInstanceUID: sopInstanceUid,
    InstanceCreationDate: date, InstanceCreationTime: time,
    ...patientModule(patient),
    StudyInstanceUID: study.studyInstanceUid, StudyDate: date, StudyTime: time, ReferringPhysicianName: '', StudyID: `${date}${time}`,
    AccessionNumber: study.accessionNumber ?? '', ...(study.studyDescription ? { StudyDescription: study.studyDescription } : {}),
    Modality: study.modality, SeriesInstanceUID: study.seriesInstanceUid, SeriesNumber: String(seriesNumber),
    ...(study.seriesDescription ? { SeriesDescription: study.seriesDescription } : {}),
    Manufacturer: MANUFACTURER, ConversionType: 'WSD',
  };
}

/** The data set (no preamble, no File Meta Information) encoded in `transferSyntaxUid` by dcmjs. */
export function encodeDataset(naturalized: Record<string, unknown>, binary: Record<string, { vr: string; Value: unknown[] }>, transferSyntaxUid: string): Buffer {
  const dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(naturalized);
  Object.assign(dict, binary);
  const file = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer, MediaStorageSOPClassUID: naturalized.SOPClassUID,
    MediaStorageSOPInstanceUID: naturalized.SOPInstanceUID, TransferSyntaxUID: transferSyntaxUid, ImplementationClassUID: '2.25.1',
  }));
  file.dict = dict;
  const part10 = Buffer.from(file.write({ fragmentMultiframe: false }));
  // Preamble (128) + DICM (4) + (0002,0000) UL element (12) + the group length's value.
  return part10.subarray(132 + 12 + part10.readUInt32LE(132 + 8));
}
