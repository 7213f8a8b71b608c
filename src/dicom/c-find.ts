// PS3.4 C.4.1 C-FIND SCP of the Patient Root and Study Root Query/Retrieve Information Models (C.6.1, C.6.2):
// the identifier read as a query, one Pending response per match, then Success, Cancel or a failure (Table C.4-1).
import dcmjs from 'dcmjs';
import type { DicomJson } from '../imaging/dicom-json.js';
import { DicomQueryError, parseDicomQuery, runDicomQuery, SPECIFIC_CHARACTER_SET, type InformationModel } from '../imaging/dicom-query.js';
import type { InstanceIndex } from '../store/instance-index.js';
import { queueAudit, type AuditRecord } from '../workflow/audit.js';
import { PATIENT_ROOT_FIND, STUDY_ROOT_FIND } from './association-policy.js';

/** C-FIND-RSP statuses, PS3.4 Table C.4-1 (and PS3.7 C.4 general statuses). */
export const C_FIND_STATUS = {
  success: 0x0000,
  /** Pending: "Matches are continuing - Current Match is supplied and any Optional Keys were supported". */
  pending: 0xff00,
  /** Cancel: "Matching terminated due to Cancel request". */
  cancel: 0xfe00,
  /** Failure: "Identifier does not match SOP Class" (no or unknown level, missing unique key of a level above). */
  identifierDoesNotMatch: 0xa900,
  /** Failure: "Unable to process" (Cxxx): a value that cannot be matched, or a failure of ours. */
  unableToProcess: 0xc000,
} as const;

const MODELS: Record<string, InformationModel> = { [PATIENT_ROOT_FIND]: 'PATIENT_ROOT', [STUDY_ROOT_FIND]: 'STUDY_ROOT' };

/** One C-FIND-RSP: its status, an Error Comment (0000,0902) for failures, and the identifier of a Pending match. */
export interface CFindAnswer {
  readonly status: number;
  readonly comment?: string;
  /** Naturalised data set (dcmjs keywords), as dcmjs-dimse sends it. */
  readonly identifier?: Record<string, unknown>;
}

const lo = (text: string): string => (text.length <= 64 ? text : `${text.slice(0, 63)}…`);

/**
 * The request identifier in DICOM JSON. dcmjs-dimse has already decoded its strings from the request's Specific
 * Character Set (ISO_IR 100, ISO_IR 192, …) to JavaScript strings.
 */
export function identifierJson(elements: Record<string, unknown>): DicomJson {
  const { _vrMap: _ignored, ...rest } = elements;
  return dcmjs.data.DicomMetaDictionary.denaturalizeDataset(rest) as DicomJson;
}

const nonAscii = (v: unknown): boolean => (typeof v === 'string' ? /[^\x20-\x7e]/.test(v)
  : Array.isArray(v) ? v.some(nonAscii)
    : v !== null && typeof v === 'object' ? Object.values(v).some(nonAscii) : false);

/**
 * A match as a naturalised data set. Its strings are written in UTF-8 by dcmjs-dimse, so that a match with any
 * non-ASCII value says so with Specific Character Set ISO_IR 192 (PS3.3 C.12.1.1.2); an ASCII one needs none.
 */
export function answerElements(match: DicomJson): Record<string, unknown> {
  const { [SPECIFIC_CHARACTER_SET]: _charset, ...rest } = match;
  const json: DicomJson = nonAscii(Object.values(rest).map((a) => a.Value ?? []))
    ? { [SPECIFIC_CHARACTER_SET]: { vr: 'CS', Value: ['ISO_IR 192'] }, ...rest } : rest;
  const { _vrMap: _ignored, ...natural } = dcmjs.data.DicomMetaDictionary.naturalizeDataset(json);
  return natural;
}

export interface CFindRequestInput {
  readonly sopClassUid: string;
  readonly identifier: Record<string, unknown> | undefined;
  /** True once a C-CANCEL-RQ for this request has arrived (PS3.7 9.3.2.3). */
  readonly cancelled: () => boolean;
  /** Who asked: the query is audited (PS3.15 A.5.3.12 Query, DCM 110112) before any response goes out. */
  readonly source: { callingAe: string; calledAe: string; remoteAddress?: string };
}

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
/** DICOM audit event ID "Query" (PS3.15 A.5.3.12, DCM 110112). */
const QUERY_EVENT = { system: DCM, code: '110112', display: 'Query' };

/** The AuditEvent of a C-FIND: the SOP class and identifier queried (base64 of its JSON), the studies answered. */
async function auditQuery(index: InstanceIndex, req: CFindRequestInput, matches: DicomJson[], outcome: Pick<AuditRecord, 'outcome' | 'outcomeDesc'>): Promise<void> {
  const studies = [...new Set(matches.map((m) => (m['0020000D'] as { Value?: string[] } | undefined)?.Value?.[0]).filter((u): u is string => !!u))];
  await index.transaction((tx) => queueAudit(tx.jobs, {
    principal: { sub: `dicom:${req.source.callingAe}`, scopes: [], iss: `dicom:${req.source.calledAe}` }, remoteAddress: req.source.remoteAddress,
  }, {
    interaction: 'search-type', action: 'E', subtype: QUERY_EVENT, entities: studies.map((u) => `urn:oid:${u}`),
    query: `${req.sopClassUid} ${JSON.stringify(req.identifier ?? {})}`, ...outcome,
  }));
}

/**
 * The responses to a C-FIND request, in order: one Pending per match then Success; or Cancel (no match) when a
 * C-CANCEL-RQ arrived while the index was searched; or a failure. Never rejects.
 * (dcmjs-dimse 0.3 sends a request's responses from one list, so a C-CANCEL-RQ arriving after the search is too late.)
 */
export async function serveCFind(index: InstanceIndex, req: CFindRequestInput): Promise<CFindAnswer[]> {
  const model = MODELS[req.sopClassUid];
  try {
    if (!model) throw new DicomQueryError('identifier-does-not-match', `not a FIND SOP class: ${req.sopClassUid}`);
    if (!req.identifier) throw new DicomQueryError('identifier-does-not-match', 'no identifier');
    const query = parseDicomQuery(identifierJson(req.identifier), { model });
    const matches = await runDicomQuery(index, query);
    await auditQuery(index, req, matches, { outcome: '0' });
    if (req.cancelled()) return [{ status: C_FIND_STATUS.cancel }];
    return [...matches.map((m) => ({ status: C_FIND_STATUS.pending, identifier: answerElements(m) })), { status: C_FIND_STATUS.success }];
  } catch (e) {
    const refused = e instanceof DicomQueryError;
    await auditQuery(index, req, [], { outcome: refused ? '4' : '8', outcomeDesc: refused ? e.message : 'unable to process' })
      .catch(() => undefined);
    return [{
      status: refused && e.kind === 'identifier-does-not-match' ? C_FIND_STATUS.identifierDoesNotMatch : C_FIND_STATUS.unableToProcess,
      comment: lo(refused ? e.message : 'Unable to process'),
    }];
  }
}
