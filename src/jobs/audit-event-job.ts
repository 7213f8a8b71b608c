// Writes queued AuditEvents (IHE BALP / FHIR R4 AuditEvent) as resources, off the request path.
import type { AuditEvent } from '@medplum/fhirtypes';
import type { ResourceStore } from '../store/resource-store.js';
import type { JobHandler } from './job-runner.js';

export function auditEventHandler(store: ResourceStore): JobHandler {
  return async (job) => {
    const event = job.payload.event as AuditEvent;
    // The job id makes the write idempotent: a retried job rewrites the same AuditEvent.
    await store.update({ ...event, id: job.id });
  };
}
