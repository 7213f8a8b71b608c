// Writes queued AuditEvents (IHE BALP / FHIR R4 AuditEvent) as resources, off the request path, a batch per transaction.
import type { AuditEvent } from '@medplum/fhirtypes';
import type { Storage } from '../store/resource-store.js';
import type { BatchJobHandler } from './job-runner.js';

export function auditEventHandler(storage: Storage): BatchJobHandler {
  return {
    // One transaction (one commit) for the whole batch; the AuditEvent's id is the job's id. A job on its first
    // attempt has never been written: a plain create (one statement). A retried job may have been written by an
    // attempt whose completion was lost: update rewrites the same AuditEvent (idempotent). Should a first attempt
    // ever meet its id (409), the batch fails, its jobs are retried alone and then as updates.
    batch: (jobs) => storage.transaction(async (tx) => {
      for (const job of jobs) {
        const event = job.payload.event as AuditEvent;
        if (job.attempts <= 1) await tx.resources.create(event, { id: job.id });
        else await tx.resources.update({ ...event, id: job.id });
      }
    }),
  };
}
