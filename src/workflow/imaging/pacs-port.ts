// The hospital PACS as the query/retrieve workflow sees it (issue 4 deliverable 7): configured peers, the kit's search
// criteria as a Study Root study-level query (PS3.4 C.6.2.1), and a retrieve into our store with its progress
// (PS3.4 C.4.2.1.6 / C.4.3.1.6 sub-operation counts). Adapters (C-FIND/QIDO-RS, C-MOVE/C-GET/WADO-RS) implement it.
import type { DicomJson } from '../../imaging/dicom-json.js';

export const RETRIEVE_METHODS = ['c-move', 'c-get', 'wado-rs'] as const;
export type RetrieveMethod = (typeof RETRIEVE_METHODS)[number];
export const QUERY_METHODS = ['c-find', 'qido-rs'] as const;
export type QueryMethod = (typeof QUERY_METHODS)[number];

/** A configured hospital PACS ("Sélectionnez un serveur"). */
export interface PacsDefinition {
  /** Symbolic name, unique: what users choose and jobs refer to. */
  readonly name: string;
  readonly aeTitle: string;
  readonly host: string;
  /** Its DIMSE port. */
  readonly port: number;
  /** Its DICOMweb base URL (QIDO-RS / WADO-RS), e.g. https://pacs.example/dicom-web; may carry user:password. */
  readonly dicomwebUrl?: string;
  /** How studies are searched; default c-find (qido-rs needs `dicomwebUrl`). */
  readonly query: QueryMethod;
  /** How a study is brought to us: C-MOVE to our AE, C-GET on the query association, or WADO-RS. */
  readonly retrieve: RetrieveMethod;
}

/**
 * Study-level matching keys (DICOM string encodings): values may use PS3.4 C.2.2.2 wildcards (`*`, `?`) and, for
 * dates, range matching (`YYYYMMDD-YYYYMMDD`, open on either side).
 */
export interface StudyQuery {
  readonly patientName?: string;
  /** DA, YYYYMMDD. */
  readonly patientBirthDate?: string;
  readonly patientId?: string;
  /** DA or DA range. */
  readonly studyDate?: string;
  /** One modality, matched against Modalities in Study (0008,0061). */
  readonly modality?: string;
  readonly accessionNumber?: string;
  readonly studyInstanceUid?: string;
  /** Most matches wanted (further ones are dropped). */
  readonly limit?: number;
}

/** Sub-operation counts of a retrieve; `total` is unknown until the peer tells it. */
export interface RetrieveProgress {
  readonly total?: number;
  readonly completed: number;
  readonly failed: number;
  readonly warning: number;
}

export interface PacsPort {
  /** Study-level matches, as DICOM JSON (PS3.18 F.2) with the return keys the PACS filled in. */
  findStudies(pacs: PacsDefinition, query: StudyQuery): Promise<DicomJson[]>;
  /**
   * Brings every instance of the study into our store; `onProgress` is called as sub-operations complete. Resolves with
   * the final counts (failures included: the caller decides); rejects when the PACS cannot be reached or refuses.
   */
  retrieveStudy(pacs: PacsDefinition, studyInstanceUid: string, onProgress: (p: RetrieveProgress) => void): Promise<RetrieveProgress>;
}

/** The study-level return keys asked for (PS3.4 Table C.6-5 / PS3.18 Table 10.6.3-3): tag → VR. */
export const STUDY_RETURN_KEYS: Readonly<Record<string, string>> = {
  '00080020': 'DA', '00080030': 'TM', '00080050': 'SH', '00080061': 'CS', '00080090': 'PN', '00081030': 'LO',
  '00100010': 'PN', '00100020': 'LO', '00100021': 'LO', '00100030': 'DA', '00100040': 'CS',
  '0020000D': 'UI', '00200010': 'SH', '00201206': 'IS', '00201208': 'IS',
};

/** Tag of each StudyQuery key. */
export const STUDY_QUERY_TAGS: Readonly<Record<Exclude<keyof StudyQuery, 'limit'>, string>> = {
  patientName: '00100010', patientBirthDate: '00100030', patientId: '00100020', studyDate: '00080020',
  modality: '00080061', accessionNumber: '00080050', studyInstanceUid: '0020000D',
};
