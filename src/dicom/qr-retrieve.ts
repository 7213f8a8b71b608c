// PS3.4 C.4.2 (C-MOVE) and C.4.3 (C-GET) SCP behaviour shared by both: the retrieve identifier (C.4.2.1.4 / C.4.3.1.3,
// unique keys of the Patient Root and Study Root models, C.6.1 / C.6.2) resolved to stored instances, the sub-operation
// counts of each response (Tables C.4-2 / C.4-3), and the audit (PS3.15 A.5.3.5 Begin Transferring, A.5.3.10 Transferred).
import type { DicomJson } from '../imaging/dicom-json.js';
import { filterOf, matchesFilter, type AttributeFilter } from '../imaging/dicom-matching.js';
import { QUERY_RETRIEVE_LEVEL, UNIQUE_KEY, type InformationModel, type QueryLevel } from '../imaging/dicom-query.js';
import type { IndexedInstance, InstanceIndex } from '../store/instance-index.js';
import { queueAudit, type AuditRecord } from '../workflow/audit.js';
import { PATIENT_ROOT_GET, PATIENT_ROOT_MOVE, STUDY_ROOT_GET, STUDY_ROOT_MOVE } from './association-policy.js';
import { identifierJson } from './c-find.js';
import { readPart10, type StoreResult } from './c-store-scu.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Logger } from '../kernel/logger.js';

/** C-MOVE-RSP / C-GET-RSP statuses, PS3.4 Tables C.4-2 and C.4-3. */
export const RETRIEVE_STATUS = {
  success: 0x0000,
  pending: 0xff00,
  /** "Sub-operations terminated due to Cancel Indication". */
  cancel: 0xfe00,
  /** "Sub-operations Complete – One or more Failures or Warnings". */
  warning: 0xb000,
  /** "Refused: Out of Resources – Unable to calculate number of matches". */
  unableToCalculateMatches: 0xa701,
  /** "Refused: Out of Resources – Unable to perform sub-operations". */
  unableToPerformSubOperations: 0xa702,
  /** "Refused: Move Destination unknown" (C-MOVE only). */
  moveDestinationUnknown: 0xa801,
  /** "Error: Identifier does not match SOP Class". */
  identifierDoesNotMatch: 0xa900,
  /** "Failed: Unable to process". */
  unableToProcess: 0xc000,
} as const;

const MODELS: Record<string, InformationModel> = {
  [PATIENT_ROOT_MOVE]: 'PATIENT_ROOT', [STUDY_ROOT_MOVE]: 'STUDY_ROOT', [PATIENT_ROOT_GET]: 'PATIENT_ROOT', [STUDY_ROOT_GET]: 'STUDY_ROOT',
};

/** One C-MOVE-RSP / C-GET-RSP. Counts absent are not sent (PS3.4 C.4.2.1.5–8: no Remaining in a final response). */
export interface RetrieveAnswer {
  readonly status: number;
  readonly comment?: string;
  readonly remaining?: number;
  readonly completed?: number;
  readonly failed?: number;
  readonly warning?: number;
  /** Failed SOP Instance UID List (0008,0058), in the identifier of a final response with failures. */
  readonly failedUids?: readonly string[];
}

export class RetrieveError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const LEVELS: Record<InformationModel, readonly QueryLevel[]> = {
  PATIENT_ROOT: ['PATIENT', 'STUDY', 'SERIES', 'IMAGE'],
  STUDY_ROOT: ['STUDY', 'SERIES', 'IMAGE'],
};

const valuesOf = (json: DicomJson, tag: string): string[] =>
  (json[tag]?.Value ?? []).filter((v): v is string => typeof v === 'string').flatMap((v) => v.split('\\')).map((v) => v.trim()).filter(Boolean);

/**
 * The stored instances a retrieve identifier names: the unique key of its level (one value or a list, C.4.2.1.4.1),
 * narrowed by the unique keys of the levels above when given. Throws RetrieveError (A900) for an identifier that
 * does not fit the SOP class.
 */
export async function resolveRetrieve(index: InstanceIndex, sopClassUid: string, identifier: Record<string, unknown> | undefined): Promise<IndexedInstance[]> {
  const model = MODELS[sopClassUid];
  if (!model) throw new RetrieveError(RETRIEVE_STATUS.identifierDoesNotMatch, `not a MOVE/GET SOP class: ${sopClassUid}`);
  if (!identifier) throw new RetrieveError(RETRIEVE_STATUS.identifierDoesNotMatch, 'no identifier');
  const json = identifierJson(identifier);
  const level = valuesOf(json, QUERY_RETRIEVE_LEVEL)[0] as QueryLevel | undefined;
  const levels = LEVELS[model];
  if (!level || !levels.includes(level)) {
    throw new RetrieveError(RETRIEVE_STATUS.identifierDoesNotMatch, `Query/Retrieve Level ${level ?? '(none)'} is not one of ${levels.join(', ')}`);
  }
  const upTo = levels.slice(0, levels.indexOf(level) + 1);
  if (valuesOf(json, UNIQUE_KEY[level]).length === 0) {
    throw new RetrieveError(RETRIEVE_STATUS.identifierDoesNotMatch, `no unique key (${UNIQUE_KEY[level]}) for level ${level}`);
  }
  const filters: AttributeFilter[] = [];
  for (const l of upTo) {
    const tag = UNIQUE_KEY[l];
    const values = valuesOf(json, tag);
    if (values.length === 0) continue;
    // C.4.2.2.1 / C.4.3.2.1: unique keys only, single value or list matching; no wildcard, no range.
    if (values.some((v) => /[*?]/.test(v))) throw new RetrieveError(RETRIEVE_STATUS.identifierDoesNotMatch, `wildcard in unique key ${tag}`);
    const filter = filterOf(tag, { vr: l === 'PATIENT' ? 'LO' : 'UI', Value: values.length > 1 ? values : [values[0]] });
    if (filter) filters.push(filter);
  }
  const studies = await index.query({ level: 'STUDY', filters });
  const instances: IndexedInstance[] = [];
  for (const study of studies) {
    const uid = study.metadata['0020000D']?.Value?.[0];
    if (typeof uid !== 'string') continue;
    for (const i of await index.listStudy(uid)) if (filters.every((f) => matchesFilter(f, i.metadata))) instances.push(i);
  }
  return instances;
}

/** The sub-operation counts of a retrieve, and the responses they make. */
export class SubOperations {
  completed = 0;
  failed = 0;
  warning = 0;
  readonly failedUids: string[] = [];
  lastFailure?: string;

  constructor(readonly total: number) {}

  get remaining(): number {
    return this.total - this.completed - this.failed - this.warning;
  }

  record(result: StoreResult): void {
    if (result.kind === 'success') this.completed++;
    else if (result.kind === 'warning') this.warning++;
    else {
      this.failed++;
      this.failedUids.push(result.sopInstanceUid);
      this.lastFailure = result.detail;
    }
  }

  /** The rest fail at once (the association to the destination was lost). */
  failRest(uids: readonly string[], detail: string): void {
    for (const uid of uids) this.record({ sopInstanceUid: uid, kind: 'failure', detail });
  }

  pending(): RetrieveAnswer {
    return { status: RETRIEVE_STATUS.pending, remaining: this.remaining, completed: this.completed, failed: this.failed, warning: this.warning };
  }

  /** Final response: Cancel (with Remaining), A702 when every sub-operation failed, B000 with any failure or warning, else Success. */
  final(cancelled: boolean): RetrieveAnswer {
    const counts = { completed: this.completed, failed: this.failed, warning: this.warning };
    const failedUids = this.failedUids.length ? { failedUids: this.failedUids } : {};
    if (cancelled) return { status: RETRIEVE_STATUS.cancel, remaining: this.remaining, ...counts, ...failedUids };
    if (this.failed > 0 && this.completed + this.warning === 0) {
      return { status: RETRIEVE_STATUS.unableToPerformSubOperations, comment: lo(this.lastFailure ?? 'all sub-operations failed'), ...counts, ...failedUids };
    }
    if (this.failed + this.warning > 0) return { status: RETRIEVE_STATUS.warning, ...counts, ...failedUids };
    return { status: RETRIEVE_STATUS.success, ...counts };
  }
}

export const lo = (text: string): string => (text.length <= 64 ? text : `${text.slice(0, 63)}…`);

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
/** PS3.15 A.5.3.5 "Begin Transferring DICOM Instances" (DCM 110102). */
const BEGIN_TRANSFERRING = { system: DCM, code: '110102', display: 'Begin Transferring DICOM Instances' };
/** PS3.15 A.5.3.10 "DICOM Instances Transferred" (DCM 110104). */
const INSTANCES_TRANSFERRED = { system: DCM, code: '110104', display: 'DICOM Instances Transferred' };

export interface RetrieveSource {
  readonly callingAe: string;
  readonly calledAe: string;
  readonly remoteAddress?: string;
}

const entitiesOf = (instances: readonly IndexedInstance[]): string[] =>
  [...new Set(instances.map((i) => `urn:oid:${i.studyInstanceUid}`))];

/** Audits a retrieve: `begin` before the first sub-operation, `transferred` after the last (outcome from the counts). */
export async function auditRetrieve(index: InstanceIndex, source: RetrieveSource, phase: 'begin' | 'transferred', instances: readonly IndexedInstance[],
  destination: string, ops?: SubOperations): Promise<void> {
  const to = `to ${destination}: ${instances.length} instance(s)`;
  const outcome: Pick<AuditRecord, 'outcome' | 'outcomeDesc'> = !ops || ops.failed === 0 ? { outcome: '0', outcomeDesc: to }
    : ops.failed < ops.total ? { outcome: '4', outcomeDesc: `${to}, ${ops.failed} failed: ${ops.lastFailure ?? ''}` }
      : { outcome: '8', outcomeDesc: `${to}, all failed: ${ops.lastFailure ?? ''}` };
  await index.transaction((tx) => queueAudit(tx.jobs, {
    principal: { sub: `dicom:${source.callingAe}`, scopes: [], iss: `dicom:${source.calledAe}` }, remoteAddress: source.remoteAddress,
  }, {
    interaction: 'read', action: phase === 'begin' ? 'E' : 'R', subtype: phase === 'begin' ? BEGIN_TRANSFERRING : INSTANCES_TRANSFERRED,
    entities: entitiesOf(instances), ...outcome,
  }));
}

/** A C-MOVE or C-GET request as the gateway received it. */
export interface RetrieveRequest {
  readonly sopClassUid: string;
  readonly messageId: number;
  readonly identifier?: Record<string, unknown>;
  readonly source: RetrieveSource;
  /** True once a C-CANCEL-RQ for this request has arrived (PS3.7 9.3.2.3): checked between sub-operations. */
  readonly cancelled: () => boolean;
  /** Sends one response (Pending ones, then the final one). */
  readonly respond: (answer: RetrieveAnswer) => void;
}

export interface RetrieveDeps {
  readonly index: InstanceIndex;
  readonly blobs: BlobStore;
  readonly logger: Logger;
}

/**
 * The instances of a request, once the first Pending response (their count) is sent; or undefined when the request
 * is already answered: refused, or nothing to send (Success with zero sub-operations). Nothing more is sent then.
 */
export async function instancesToRetrieve(deps: RetrieveDeps, req: RetrieveRequest): Promise<IndexedInstance[] | undefined> {
  try {
    const instances = await resolveRetrieve(deps.index, req.sopClassUid, req.identifier);
    if (instances.length === 0) {
      req.respond({ status: RETRIEVE_STATUS.success, completed: 0, failed: 0, warning: 0 });
      return undefined;
    }
    req.respond({ status: RETRIEVE_STATUS.pending, remaining: instances.length, completed: 0, failed: 0, warning: 0 });
    return instances;
  } catch (e) {
    if (e instanceof RetrieveError) {
      req.respond({ status: e.status, comment: lo(e.message) });
    } else {
      deps.logger.error('retrieve: the index could not be searched', { callingAe: req.source.callingAe, error: String(e) });
      req.respond({ status: RETRIEVE_STATUS.unableToCalculateMatches, comment: 'Unable to calculate number of matches' });
    }
    return undefined;
  }
}

/**
 * Runs the sub-operations of a retrieve, one instance at a time, each read from the blob store and given to `store`:
 * a Pending response after each but the last, then the final response. Stops early on C-CANCEL, or when `store`
 * throws (the association carrying the sub-operations is lost: the rest fail). Audited before and after.
 */
export async function runSubOperations(deps: RetrieveDeps, req: RetrieveRequest, instances: readonly IndexedInstance[], destination: string,
  store: (instance: IndexedInstance, part10: Buffer) => Promise<StoreResult>): Promise<SubOperations> {
  const ops = new SubOperations(instances.length);
  await auditRetrieve(deps.index, req.source, 'begin', instances, destination);
  let cancelled = false;
  for (let n = 0; n < instances.length; n++) {
    if (req.cancelled()) {
      cancelled = true;
      break;
    }
    const instance = instances[n];
    let part10: Buffer;
    try {
      part10 = await readPart10(deps.blobs, instance.blobKey);
    } catch (e) {
      ops.record({ sopInstanceUid: instance.sopInstanceUid, kind: 'failure', detail: `stored file unreadable: ${String(e)}` });
      continue;
    }
    try {
      ops.record(await store(instance, part10));
    } catch (e) {
      deps.logger.warn('retrieve: association carrying the sub-operations lost', { destination, error: String(e) });
      ops.failRest(instances.slice(n).map((i) => i.sopInstanceUid), e instanceof Error ? e.message : String(e));
      break;
    }
    const result = ops.failedUids.at(-1) === instance.sopInstanceUid ? ops.lastFailure : undefined;
    if (result) deps.logger.warn('retrieve: sub-operation failed', { destination, sopInstanceUid: instance.sopInstanceUid, detail: result });
    if (n < instances.length - 1) req.respond(ops.pending());
  }
  await auditRetrieve(deps.index, req.source, 'transferred', instances, destination, ops)
    .catch((e: unknown) => deps.logger.error('retrieve: audit failed', { error: String(e) }));
  req.respond(ops.final(cancelled && ops.remaining > 0));
  return ops;
}
