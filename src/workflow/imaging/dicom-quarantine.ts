// The operator's side of the DICOM quarantine (objects the store service did not index, PS3.4 Annex B): list the
// entries, fetch one's raw bytes, and replay one through the store service once its cause is fixed. Each access is
// authorised as a read (or, for a replay, a create) of ImagingStudy and leaves an AuditEvent.
import type { Readable } from 'node:stream';
import { errors } from '../../kernel/errors.js';
import { Part10FormatError, readPart10Stream } from '../../imaging/part10-stream.js';
import type { BlobStore } from '../../store/blob-store.js';
import type { InstanceIndex, QuarantinedObject, QuarantineListOptions } from '../../store/instance-index.js';
import { queueAudit, type AuditContext, type AuditRecord } from '../audit.js';
import type { ResourceService } from '../resource-service.js';
import type { InstanceStore, StoreOutcome } from './instance-store.js';

/** What a replay made of an entry: the store service's outcome, or why its bytes are still no Part 10 file. */
export type ReplayOutcome = StoreOutcome | { readonly kind: 'unreadable'; readonly detail: string };

export interface ReplayResult {
  /** The entry, marked replayed. */
  readonly entry: QuarantinedObject;
  readonly outcome: ReplayOutcome;
}

export interface DicomQuarantine {
  list(ctx: AuditContext, options: QuarantineListOptions): Promise<QuarantinedObject[]>;
  get(ctx: AuditContext, id: string): Promise<QuarantinedObject>;
  /** The entry and its bytes exactly as kept (a Part 10 file, or the raw bytes of what was not one). */
  open(ctx: AuditContext, id: string): Promise<{ entry: QuarantinedObject; content: Readable }>;
  replay(ctx: AuditContext, id: string): Promise<ReplayResult>;
}

export interface DicomQuarantineDeps {
  readonly svc: Pick<ResourceService, 'authorize'>;
  readonly index: InstanceIndex;
  readonly blobs: BlobStore;
  readonly store: InstanceStore;
  readonly now?: () => Date;
}

/** The entry's reference in AuditEvents (no FHIR resource stands for it). */
export const quarantineRef = (id: string): string => `urn:teleo:dicom-quarantine:${id}`;

function entitiesOf(entry: QuarantinedObject): string[] {
  return [quarantineRef(entry.id), ...(entry.sopInstanceUid ? [`urn:oid:${entry.sopInstanceUid}`] : [])];
}

/** One line an operator reads in the list: what the replay did. */
export function replayOutcomeText(o: ReplayOutcome): string {
  switch (o.kind) {
    case 'stored': return 'stored';
    case 'identical': return 'identical instance already stored';
    case 'conflict': return 'conflict: the SOP Instance UID is still held by other content';
    case 'rejected': return `rejected (${o.reason}): ${o.detail}`;
    case 'unreadable': return `unreadable: ${o.detail}`;
  }
}

export function createDicomQuarantine(deps: DicomQuarantineDeps): DicomQuarantine {
  const { index, blobs, store } = deps;
  const now = deps.now ?? (() => new Date());

  async function audit(ctx: AuditContext, rec: AuditRecord): Promise<void> {
    await index.transaction((tx) => queueAudit(tx.jobs, ctx, rec));
  }

  async function find(id: string): Promise<QuarantinedObject> {
    const entry = await index.getQuarantined(id);
    if (!entry) throw errors.notFound(`No quarantine entry ${id}`);
    return entry;
  }

  return {
    async list(ctx, options) {
      deps.svc.authorize(ctx, 'read', 'ImagingStudy');
      const entries = await index.listQuarantine(options);
      const query = new URLSearchParams(Object.entries(options).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)])).toString();
      await audit(ctx, { interaction: 'search-type', action: 'E', entities: entries.flatMap(entitiesOf), query: `dicom-quarantine?${query}` });
      return entries;
    },

    async get(ctx, id) {
      deps.svc.authorize(ctx, 'read', 'ImagingStudy');
      const entry = await find(id);
      await audit(ctx, { interaction: 'read', action: 'R', entities: entitiesOf(entry) });
      return entry;
    },

    async open(ctx, id) {
      deps.svc.authorize(ctx, 'read', 'ImagingStudy');
      const entry = await find(id);
      const content = await blobs.get(entry.blobKey);
      await audit(ctx, { interaction: 'read', action: 'R', entities: entitiesOf(entry), outcomeDesc: 'raw bytes downloaded' });
      return { entry, content };
    },

    async replay(ctx, id) {
      deps.svc.authorize(ctx, 'create', 'ImagingStudy');
      const entry = await find(id);
      const bytes = await blobs.get(entry.blobKey);
      let outcome: ReplayOutcome;
      try {
        const file = await readPart10Stream(bytes);
        outcome = await store.store({
          sopClassUid: file.meta.sopClassUid, sopInstanceUid: file.meta.sopInstanceUid, transferSyntaxUid: file.meta.transferSyntaxUid,
          dataset: file.dataset, actor: ctx,
          source: { callingAe: entry.callingAe, calledAe: entry.calledAe, ...(entry.remoteAddress ? { remoteAddress: entry.remoteAddress } : {}) },
        });
      } catch (e) {
        if (!(e instanceof Part10FormatError)) throw e;
        outcome = { kind: 'unreadable', detail: e.message };
      } finally {
        bytes.destroy();
      }
      const text = replayOutcomeText(outcome);
      const marked = await index.transaction(async (tx) => {
        const m = await tx.markReplayed(id, { at: now().toISOString(), outcome: text });
        const ok = outcome.kind === 'stored' || outcome.kind === 'identical';
        await queueAudit(tx.jobs, ctx, { interaction: 'create', action: 'E', entities: entitiesOf(entry), outcome: ok ? '0' : '4', outcomeDesc: `quarantine replay: ${text}` });
        return m;
      });
      return { entry: marked ?? entry, outcome };
    },
  };
}
