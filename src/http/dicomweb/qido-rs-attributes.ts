// DICOM PS3.18 §10.6.3.3 QIDO-RS response attributes: the defaults of Tables 10.6.3-3 (study), 10.6.3-4 (series) and
// 10.6.3-5 (instance), and what `includefield=all` answers at the study and series levels (PS3.3 modules of the
// Patient, Study, Series and Equipment entities, C.7.1.1, C.7.2.1, C.7.2.2, C.7.3.1, C.7.4.1, C.7.5.1).
import type { QueryLevel } from '../../store/instance-index.js';

export type QidoLevel = Exclude<QueryLevel, 'PATIENT'>;

export const RETRIEVE_URL = '00081190';
export const INSTANCE_AVAILABILITY = '00080056';

/** Table 10.6.3-3: Study Date, Time, Accession Number, Instance Availability, Modalities in Study, Referring Physician,
 * Timezone Offset, Retrieve URL, Patient's Name, ID, Birth Date, Sex, Study Instance UID, Study ID, Number of Study
 * Related Series and Instances. */
export const STUDY_DEFAULTS = ['00080020', '00080030', '00080050', INSTANCE_AVAILABILITY, '00080061', '00080090', '00080201',
  RETRIEVE_URL, '00100010', '00100020', '00100030', '00100040', '0020000D', '00200010', '00201206', '00201208'];

/** Table 10.6.3-4: Modality, Timezone Offset, Series Description, Retrieve URL, Series Instance UID, Series Number,
 * Number of Series Related Instances, Performed Procedure Step Start Date and Time, Request Attribute Sequence. */
export const SERIES_DEFAULTS = ['00080060', '00080201', '0008103E', RETRIEVE_URL, '0020000E', '00200011', '00201209',
  '00400244', '00400245', '00400275'];

/** Table 10.6.3-5: SOP Class and Instance UID, Instance Availability, Timezone Offset, Retrieve URL, Instance Number,
 * Rows, Columns, Bits Allocated, Number of Frames. */
export const INSTANCE_DEFAULTS = ['00080016', '00080018', INSTANCE_AVAILABILITY, '00080201', RETRIEVE_URL, '00200013',
  '00280010', '00280011', '00280100', '00280008'];

export const DEFAULTS: Record<QidoLevel, readonly string[]> = { STUDY: STUDY_DEFAULTS, SERIES: SERIES_DEFAULTS, IMAGE: INSTANCE_DEFAULTS };

/** Patient (C.7.1.1), General Study (C.7.2.1) and Patient Study (C.7.2.2) attributes: the study level's "all". */
const STUDY_ALL = [
  '00100010', '00100020', '00100021', '00100022', '00100024', '00100030', '00100032', '00100040', '00101001', '00101002',
  '00102160', '00102201', '00104000', '00100200', '00102203', '0020000D', '00080020', '00080030', '00080090', '00080096',
  '00200010', '00080050', '00080051', '00081030', '00081048', '00081060', '00081032', '00081110', '00321034', '00401012',
  '00080201', '00081080', '00101010', '00101020', '00101030', '00102180', '001021B0', '00380010', '00102000', '00102110',
  '001021C0', '00380500',
];

/** General Series (C.7.3.1), Frame of Reference (C.7.4.1) and General Equipment (C.7.5.1): the series level's "all". */
const SERIES_ALL = [
  '00080060', '0020000E', '00200011', '00200060', '00080021', '00080031', '00081050', '00181030', '0008103E', '00081070',
  '00081111', '00180015', '00185100', '00400244', '00400245', '00400253', '00400254', '00400275', '00400260', '00102210',
  '00200052', '00201040', '00080070', '00080080', '00080081', '00081010', '00081040', '00081090', '00181000', '00181020',
];

export const ALL_OF: Record<Exclude<QidoLevel, 'IMAGE'>, ReadonlySet<string>> = { STUDY: new Set(STUDY_ALL), SERIES: new Set(SERIES_ALL) };

/** Return keys computed over an entity's instances, by the level of the entity they count (PS3.4 C.3.4, C.6.1.1.x). */
export const COMPUTED: Record<string, QidoLevel> = {
  '00201206': 'STUDY', '00201208': 'STUDY', '00080061': 'STUDY', '00080062': 'STUDY', '00201209': 'SERIES',
};

/** The response tables of a search (§10.6.3.3): its level's, and those of the levels above it that the path leaves open. */
export function tablesOf(level: QidoLevel, scope: { study?: string; series?: string }): QidoLevel[] {
  if (level === 'STUDY') return ['STUDY'];
  if (level === 'SERIES') return scope.study ? ['SERIES'] : ['STUDY', 'SERIES'];
  return scope.series ? ['IMAGE'] : scope.study ? ['SERIES', 'IMAGE'] : ['STUDY', 'SERIES', 'IMAGE'];
}
