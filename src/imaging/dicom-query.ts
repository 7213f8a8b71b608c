// PS3.4 C.2–C.6 Query/Retrieve queries (shared by the C-FIND SCP and QIDO-RS): a level, matching keys and return
// keys in DICOM JSON; the matches read from the instance index and answered at the requested level (C.3 attributes,
// "Number of … Related …" and "… in Study" keys computed over the entity's instances).
import type { IndexQuery, IndexQueryMatch, InstanceIndex, QueryLevel } from '../store/instance-index.js';
import type { DicomJson, DicomJsonAttribute } from './dicom-json.js';
import { filterOf, stringValues, type AttributeFilter } from './dicom-matching.js';

export type { QueryLevel } from '../store/instance-index.js';

/** PS3.4 C.6.1 Patient Root and C.6.2 Study Root Query/Retrieve Information Models. */
export type InformationModel = 'PATIENT_ROOT' | 'STUDY_ROOT';

export const QUERY_RETRIEVE_LEVEL = '00080052';
export const SPECIFIC_CHARACTER_SET = '00080005';

const LEVELS: readonly QueryLevel[] = ['PATIENT', 'STUDY', 'SERIES', 'IMAGE'];

/** Unique keys of each level (PS3.4 C.6.1.1 / C.6.2.1: Patient ID, Study / Series / SOP Instance UID). */
export const UNIQUE_KEY: Record<QueryLevel, string> = {
  PATIENT: '00100020', STUDY: '0020000D', SERIES: '0020000E', IMAGE: '00080018',
};

/** Attributes of each level (PS3.4 Tables C.6-1 to C.6-4, C.6-5 to C.6-8). Unlisted attributes are matched anyway. */
const LEVEL_OF: Record<string, QueryLevel> = {
  '00100010': 'PATIENT', '00100020': 'PATIENT', '00100021': 'PATIENT', '00100030': 'PATIENT', '00100040': 'PATIENT',
  '00201200': 'PATIENT', '00201202': 'PATIENT', '00201204': 'PATIENT',
  '0020000D': 'STUDY', '00080020': 'STUDY', '00080030': 'STUDY', '00080050': 'STUDY', '00200010': 'STUDY',
  '00081030': 'STUDY', '00080090': 'STUDY', '00080061': 'STUDY', '00080062': 'STUDY', '00201206': 'STUDY', '00201208': 'STUDY',
  '0020000E': 'SERIES', '00080060': 'SERIES', '00200011': 'SERIES', '0008103E': 'SERIES', '00201209': 'SERIES',
  '00080018': 'IMAGE', '00080016': 'IMAGE', '00200013': 'IMAGE',
};

/** Return keys computed over the entity's instances: the level they are defined at, and their value. */
const COMPUTED: Record<string, { level: QueryLevel; vr: string; value: (m: IndexQueryMatch) => unknown[] }> = {
  '00201200': { level: 'PATIENT', vr: 'IS', value: (m) => [m.studies] },
  '00201202': { level: 'PATIENT', vr: 'IS', value: (m) => [m.series] },
  '00201204': { level: 'PATIENT', vr: 'IS', value: (m) => [m.instances] },
  '00201206': { level: 'STUDY', vr: 'IS', value: (m) => [m.series] },
  '00201208': { level: 'STUDY', vr: 'IS', value: (m) => [m.instances] },
  '00080061': { level: 'STUDY', vr: 'CS', value: (m) => [...m.modalities] },
  '00080062': { level: 'STUDY', vr: 'UI', value: (m) => [...m.sopClasses] },
  '00201209': { level: 'SERIES', vr: 'IS', value: (m) => [m.instances] },
};

/** "… in Study" keys match on the instances' own attribute (C.6.2.1.2: a study matches if one of its series does). */
const MATCHED_AS: Record<string, string> = { '00080061': '00080060', '00080062': '00080016' };

/** Why a query is refused: PS3.4 Table C.4-1 A900 (identifier does not match SOP class) or Cxxx (unable to process). */
export class DicomQueryError extends Error {
  constructor(readonly kind: 'identifier-does-not-match' | 'unable-to-process', message: string) {
    super(message);
  }
}

export interface DicomQuery {
  readonly level: QueryLevel;
  readonly filters: readonly AttributeFilter[];
  /** The keys to answer (the identifier's attributes), in DICOM JSON. */
  readonly returnKeys: DicomJson;
  /** Unique keys answered in every match: those of the level and the levels above it in the model. */
  readonly uniqueKeys: readonly string[];
}

const rank = (level: QueryLevel): number => LEVELS.indexOf(level);
const tagName = (tag: string): string => `(${tag.slice(0, 4)},${tag.slice(4)})`;

/** The levels of a model down to `level` (Study Root has no PATIENT level; its STUDY level holds the patient's keys). */
function levelsAbove(model: InformationModel | undefined, level: QueryLevel): QueryLevel[] {
  const first = model === 'PATIENT_ROOT' ? 0 : 1;
  return LEVELS.slice(first, rank(level));
}

function checkValue(tag: string, attr: DicomJsonAttribute): void {
  if (attr.vr !== 'DA' && attr.vr !== 'TM') return;
  const shape = attr.vr === 'DA' ? /^\d{8}$/ : /^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$/;
  for (const value of stringValues(attr)) {
    const bounds = value.includes('-') ? value.split('-') : [value];
    if (bounds.length > 2 || bounds.some((b) => b.trim() !== '' && !shape.test(b.trim()))) {
      throw new DicomQueryError('unable-to-process', `invalid ${attr.vr} matching value ${tagName(tag)}: ${value}`);
    }
  }
}

/**
 * Reads a query. `model` set: a C-FIND identifier under baseline hierarchical search (PS3.4 C.4.1.3.1): the level
 * comes from Query/Retrieve Level (0008,0052) and each level above it must be given its unique key with single value
 * matching. Without `model` (QIDO-RS, relational): `level` is given and no key is required.
 * Keys of levels below the query level are answered empty and not matched (C.4.1.2.1 says they are not to be sent).
 */
export function parseDicomQuery(identifier: DicomJson, options: { model?: InformationModel; level?: QueryLevel }): DicomQuery {
  const { model } = options;
  const levelText = stringValues(identifier[QUERY_RETRIEVE_LEVEL])[0]?.toUpperCase();
  const level = options.level ?? (levelText as QueryLevel | undefined);
  if (!level || !LEVELS.includes(level)) {
    throw new DicomQueryError('identifier-does-not-match', `Query/Retrieve Level (0008,0052) missing or unknown: ${levelText ?? ''}`);
  }
  if (model === 'STUDY_ROOT' && level === 'PATIENT') {
    throw new DicomQueryError('identifier-does-not-match', 'the Study Root information model has no PATIENT level');
  }
  const above = levelsAbove(model, level);
  if (model) {
    for (const upper of above) {
      const tag = UNIQUE_KEY[upper];
      const values = stringValues(identifier[tag]);
      if (values.length !== 1 || /[*?]/.test(values[0])) {
        throw new DicomQueryError('identifier-does-not-match', `${upper} level unique key ${tagName(tag)} needs a single value at ${level} level`);
      }
    }
  }
  const filters: AttributeFilter[] = [];
  const returnKeys: DicomJson = {};
  for (const [tag, attr] of Object.entries(identifier)) {
    if (tag === QUERY_RETRIEVE_LEVEL || tag === SPECIFIC_CHARACTER_SET || tag.endsWith('0000')) continue;
    returnKeys[tag] = attr;
    const keyLevel = COMPUTED[tag]?.level ?? LEVEL_OF[tag];
    if (keyLevel && rank(keyLevel) > rank(level)) continue;
    if (attr.vr === 'SQ') continue; // sequence matching (C.2.2.2.6) is not supported: the key is only returned
    if (COMPUTED[tag] && !MATCHED_AS[tag]) continue; // counts are return keys only
    checkValue(tag, attr);
    const filter = filterOf(MATCHED_AS[tag] ?? tag, attr);
    if (filter) filters.push(filter);
  }
  const uniqueKeys = [...(model === 'STUDY_ROOT' ? [] : [UNIQUE_KEY.PATIENT]), ...[...above, level].filter((l) => l !== 'PATIENT').map((l) => UNIQUE_KEY[l])];
  return { level, filters, returnKeys, uniqueKeys: [...new Set(uniqueKeys)] };
}

/** The answer for one match: each return key with its value (empty if none), the unique keys, and the level. */
export function answerOf(query: DicomQuery, match: IndexQueryMatch): DicomJson {
  const out: DicomJson = { [QUERY_RETRIEVE_LEVEL]: { vr: 'CS', Value: [query.level] } };
  for (const tag of [...query.uniqueKeys, ...Object.keys(query.returnKeys)]) {
    const requested = query.returnKeys[tag];
    const computed = COMPUTED[tag];
    const keyLevel = computed?.level ?? LEVEL_OF[tag];
    if (keyLevel && rank(keyLevel) > rank(query.level)) out[tag] = { vr: requested?.vr ?? match.metadata[tag]?.vr ?? 'UN' };
    else if (computed) out[tag] = { vr: computed.vr, Value: computed.value(match) };
    else out[tag] = structuredClone(match.metadata[tag]) ?? { vr: requested?.vr ?? 'UN' };
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export function indexQueryOf(query: DicomQuery, page: { limit?: number; offset?: number } = {}): IndexQuery {
  return { level: query.level, filters: query.filters, ...page };
}

/** Runs a query against the index: the answers at the query's level, in the order of their unique key. */
export async function runDicomQuery(index: InstanceIndex, query: DicomQuery, page?: { limit?: number; offset?: number }): Promise<DicomJson[]> {
  const matches = await index.query(indexQueryOf(query, page));
  return matches.map((m) => answerOf(query, m));
}
