// Test data: small studies (PS3.3 A.8.1 Secondary Capture images, generated with dcmjs) with the patient, date,
// modality and accession a hospital PACS query filters on, as Part 10 bytes ready for Orthanc or storescu.
import dcmjs from 'dcmjs';

export interface StudySpec {
  readonly patientName: string;
  readonly patientId: string;
  readonly issuerOfPatientId?: string;
  /** YYYYMMDD */
  readonly birthDate: string;
  readonly sex?: 'M' | 'F' | 'O';
  /** YYYYMMDD */
  readonly studyDate: string;
  readonly modality: string;
  readonly accessionNumber: string;
  readonly description?: string;
  /** Instances in its one series; default 2. */
  readonly instances?: number;
  readonly studyInstanceUid?: string;
}

export interface GeneratedStudy {
  readonly studyInstanceUid: string;
  readonly sopInstanceUids: readonly string[];
  /** One Part 10 file per instance (Explicit VR Little Endian, UTF-8 names). */
  readonly files: readonly Uint8Array[];
}

const uid = (): string => dcmjs.data.DicomMetaDictionary.uid();
const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

export function generateStudy(spec: StudySpec): GeneratedStudy {
  const studyInstanceUid = spec.studyInstanceUid ?? uid();
  const seriesInstanceUid = uid();
  const sopInstanceUids: string[] = [];
  const files: Uint8Array[] = [];
  for (let n = 1; n <= (spec.instances ?? 2); n++) {
    const sopInstanceUid = uid();
    const dataset = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
      SpecificCharacterSet: 'ISO_IR 192', SOPClassUID: SECONDARY_CAPTURE, SOPInstanceUID: sopInstanceUid,
      StudyInstanceUID: studyInstanceUid, SeriesInstanceUID: seriesInstanceUid, PatientName: spec.patientName,
      PatientID: spec.patientId, ...(spec.issuerOfPatientId ? { IssuerOfPatientID: spec.issuerOfPatientId } : {}),
      PatientBirthDate: spec.birthDate, PatientSex: spec.sex ?? 'O', AccessionNumber: spec.accessionNumber,
      Modality: spec.modality, ConversionType: 'WSD', StudyDate: spec.studyDate, StudyTime: '101500',
      StudyDescription: spec.description ?? `${spec.modality} ${spec.studyDate}`, StudyID: '1',
      SeriesNumber: '1', InstanceNumber: String(n), SamplesPerPixel: 1, PhotometricInterpretation: 'MONOCHROME2',
      Rows: 8, Columns: 8, BitsAllocated: 8, BitsStored: 8, HighBit: 7, PixelRepresentation: 0,
    });
    dataset['7FE00010'] = { vr: 'OB', Value: [new Uint8Array(64).fill(n).buffer] };
    const file = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
      FileMetaInformationVersion: new Uint8Array([0, 1]).buffer, MediaStorageSOPClassUID: SECONDARY_CAPTURE,
      MediaStorageSOPInstanceUID: sopInstanceUid, TransferSyntaxUID: EXPLICIT_LE, ImplementationClassUID: '2.25.1',
    }));
    file.dict = dataset;
    sopInstanceUids.push(sopInstanceUid);
    files.push(new Uint8Array(file.write() as ArrayBuffer));
  }
  return { studyInstanceUid, sopInstanceUids, files };
}
