// IHE BALP / FHIR R4 AuditEvent for every RESTful interaction on patient data, queued durably, written off-path.
import { randomUUID } from 'node:crypto';
import type { AuditEvent, Coding, Resource } from '@medplum/fhirtypes';
import type { Principal } from '../kernel/principal.js';
import type { EnqueueOptions, JobQueue } from '../store/job-queue.js';
import type { Storage } from '../store/resource-store.js';

export const AUDIT_JOB = 'audit-event';

export interface AuditContext {
  readonly principal: Principal;
  readonly remoteAddress?: string;
  readonly requestId?: string;
  /** The domain path a write comes through (e.g. 'workflow' for a Task transition), read by write guards. */
  readonly via?: string;
}

export interface AuditRecord {
  /** FHIR restful interaction code: read, vread, create, update, patch, delete, search-type, history-instance… */
  interaction: string;
  action: 'C' | 'R' | 'U' | 'D' | 'E';
  entities: string[];
  query?: string;
  outcome?: '0' | '4' | '8';
  outcomeDesc?: string;
  /** A further AuditEvent.subtype coding (e.g. a first read of a télédossier). */
  subtype?: Coding;
}

const AUDIT_TYPE = { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' };

/** Conformance resources carry no patient data: interactions on them are not audited. */
const NOT_AUDITED = new Set(['CapabilityStatement', 'StructureDefinition', 'SearchParameter', 'ValueSet', 'CodeSystem']);

export function isAudited(resourceType: string): boolean {
  return !NOT_AUDITED.has(resourceType);
}

export function buildAuditEvent(ctx: AuditContext, rec: AuditRecord, recorded = new Date()): AuditEvent {
  const who = ctx.principal.fhirUser ? { reference: ctx.principal.fhirUser } : { display: ctx.principal.sub };
  return {
    resourceType: 'AuditEvent',
    type: AUDIT_TYPE,
    subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: rec.interaction }, ...(rec.subtype ? [rec.subtype] : [])],
    action: rec.action,
    recorded: recorded.toISOString(),
    outcome: rec.outcome ?? '0',
    ...(rec.outcomeDesc ? { outcomeDesc: rec.outcomeDesc } : {}),
    agent: [{
      who,
      ...(ctx.principal.role ? { role: [{ coding: [{ system: 'urn:teleo:practitioner-role', code: ctx.principal.role }] }] } : {}),
      altId: ctx.principal.sub,
      requestor: true,
      ...(ctx.remoteAddress ? { network: { address: ctx.remoteAddress, type: '2' as const } } : {}),
    }],
    source: { observer: { display: 'teleo-platform' }, type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4' }] },
    entity: [
      ...rec.entities.slice(0, 200).map((ref) => ({ what: { reference: ref } })),
      ...(rec.query ? [{ query: Buffer.from(rec.query).toString('base64'), type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2' } }] : []),
    ],
    ...(ctx.requestId ? { extension: [{ url: 'urn:teleo:request-id', valueString: ctx.requestId }] } : {}),
  };
}

/** Queues an AuditEvent as a durable job (inside the caller's transaction when `jobs` is transactional). */
export async function queueAudit(jobs: JobQueue, ctx: AuditContext, rec: AuditRecord): Promise<void> {
  await jobs.enqueue(AUDIT_JOB, { event: buildAuditEvent(ctx, rec) as unknown as Record<string, unknown> }, { idempotencyKey: randomUUID() });
}

export function refOf(r: Resource): string {
  return `${r.resourceType}/${r.id}`;
}

/**
 * A transaction's storage whose audit jobs are held until `flush` (called just before commit): one multi-row insert
 * instead of one per interaction (a flux 1 order audits ~15 reads and writes). Other jobs go through at once.
 */
export function bufferAudits(tx: Storage): { storage: Storage; flush(): Promise<void> } {
  const held: { type: string; payload: Record<string, unknown>; options?: EnqueueOptions }[] = [];
  const jobs = new Proxy(tx.jobs, {
    get(target, prop, receiver) {
      if (prop === 'enqueue') {
        return async (type: string, payload: Record<string, unknown>, options?: EnqueueOptions) => {
          if (type === AUDIT_JOB) held.push({ type, payload, options });
          else await target.enqueue(type, payload, options);
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
    },
  });
  const storage: Storage = new Proxy(tx, {
    get(target, prop, receiver) {
      if (prop === 'jobs') return jobs;
      // A nested transaction joins this one (no savepoints): it keeps the buffer.
      if (prop === 'transaction') return <T>(fn: (t: Storage) => Promise<T>) => target.transaction(() => fn(storage));
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { storage, flush: async () => { if (held.length) await tx.jobs.enqueueMany(held.splice(0)); } };
}
