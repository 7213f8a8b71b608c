// Writes queued AuditEvents (IHE BALP / FHIR R4 AuditEvent) as resources, off the request path, a batch per transaction.
// DICOM "Instances Transferred" (PS3.15 A.5.3.10) is one event per study and sender: the store service queues one per
// instance, in the instance's own transaction (so none is lost), and a batch merges those of one study into one event.
import type { AuditEvent } from '@medplum/fhirtypes';
import type { Job } from '../store/job-queue.js';
import type { Storage } from '../store/resource-store.js';
import type { BatchJobHandler } from './job-runner.js';

/** DCM 110104 "DICOM Instances Transferred". */
const INSTANCES_TRANSFERRED = '110104';

/** Events that may be merged share this key: a transfer, same outcome, agent and study (its first entity). */
function mergeKey(e: AuditEvent): string | undefined {
  const study = e.entity?.[0]?.what?.reference;
  if (!study || !e.subtype?.some((c) => c.code === INSTANCES_TRANSFERRED)) return undefined;
  return JSON.stringify([e.action, e.outcome, e.outcomeDesc ?? '', e.agent, study]);
}

/**
 * The events to write for jobs on their first attempt: transfers of one study by one sender merged into the first
 * one (entities united, `period` from the first to the last recorded), every other event as it is.
 */
export function mergeTransfers(jobs: readonly Job[]): { id: string; event: AuditEvent }[] {
  const out: { id: string; event: AuditEvent }[] = [];
  const byKey = new Map<string, { id: string; event: AuditEvent }>();
  for (const job of jobs) {
    const event = job.payload.event as AuditEvent;
    const key = mergeKey(event);
    const into = key === undefined ? undefined : byKey.get(key);
    if (!into) {
      const entry = { id: job.id, event };
      out.push(entry);
      if (key !== undefined) byKey.set(key, entry);
      continue;
    }
    const seen = new Set((into.event.entity ?? []).map((x) => x.what?.reference));
    const added = (event.entity ?? []).filter((x) => !seen.has(x.what?.reference));
    const times = [into.event.period?.start ?? into.event.recorded, into.event.period?.end ?? into.event.recorded, event.recorded].sort();
    into.event = { ...into.event, entity: [...(into.event.entity ?? []), ...added], period: { start: times[0], end: times[times.length - 1] } };
  }
  return out;
}

export function auditEventHandler(storage: Storage): BatchJobHandler {
  return {
    // One transaction (one commit) for the whole batch. A job on its first attempt has never been written: a plain
    // create (one statement), its id the job's id (merged transfers: the first job's). A retried job may have been
    // written by an attempt whose completion was lost: update rewrites the same AuditEvent (idempotent; a merged
    // event retried job by job is rewritten as the first job's own and the others are written alone — never lost).
    // Should a first attempt ever meet its id (409), the batch fails, its jobs are retried alone and then as updates.
    batch: (jobs) => storage.transaction(async (tx) => {
      for (const { id, event } of mergeTransfers(jobs.filter((j) => j.attempts <= 1))) await tx.resources.create(event, { id });
      for (const job of jobs.filter((j) => j.attempts > 1)) await tx.resources.update({ ...(job.payload.event as AuditEvent), id: job.id });
    }),
  };
}
