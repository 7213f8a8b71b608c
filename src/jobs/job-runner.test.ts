// Durable job runner: runs due jobs, retries failures with backoff, gives up after maxAttempts, resumes after restart.
import { expect } from 'chai';
import { loadDefinitions, PLATFORM_RESOURCE_TYPES } from '../fhir/definitions.js';
import { createSearchRegistry } from '../fhir/search-registry.js';
import { createLogger } from '../kernel/logger.js';
import { createMemoryStorage } from '../store/memory-storage.js';
import type { Job } from '../store/job-queue.js';
import { createJobRunner } from './job-runner.js';
import { auditEventHandler } from './audit-event-job.js';
import { AUDIT_JOB, buildAuditEvent } from '../workflow/audit.js';
import { parseSearch } from '../fhir/search-request.js';

describe('job runner', () => {
  loadDefinitions();
  const registry = createSearchRegistry(PLATFORM_RESOURCE_TYPES);
  const logger = createLogger('silent');

  it('runs every due job once and marks it done', async () => {
    const storage = createMemoryStorage(registry);
    const seen: unknown[] = [];
    await storage.jobs.enqueue('t', { n: 1 });
    await storage.jobs.enqueue('t', { n: 2 });
    const runner = createJobRunner(storage.jobs, { t: async (j: Job) => { seen.push(j.payload.n); } }, logger);
    expect(await runner.drain()).to.equal(2);
    expect(seen).to.deep.equal([1, 2]);
    expect((await storage.jobs.list({ status: 'done' })).length).to.equal(2);
  });

  it('retries a failing job with backoff and records the last error', async () => {
    const storage = createMemoryStorage(registry);
    await storage.jobs.enqueue('t', {});
    let calls = 0;
    const runner = createJobRunner(storage.jobs, { t: async () => { calls++; if (calls < 3) throw new Error(`boom ${calls}`); } }, logger,
      { backoffBaseMs: 1, backoffMaxMs: 5 });
    await runner.drain();
    const [pending] = await storage.jobs.list();
    expect(pending.status).to.equal('pending');
    expect(pending.lastError).to.equal('boom 1');
    for (let i = 0; i < 20 && calls < 3; i++) {
      await new Promise((r) => setTimeout(r, 10));
      await runner.drain();
    }
    const [done] = await storage.jobs.list();
    expect(done.status).to.equal('done');
    expect(done.attempts).to.equal(3);
  });

  it('gives up after maxAttempts and leaves the job visible as failed', async () => {
    const storage = createMemoryStorage(registry);
    await storage.jobs.enqueue('t', {});
    const runner = createJobRunner(storage.jobs, { t: async () => { throw new Error('always'); } }, logger, { maxAttempts: 1 });
    await runner.drain();
    const [failed] = await storage.jobs.list();
    expect(failed.status).to.equal('failed');
    expect(failed.lastError).to.equal('always');
  });

  it('resumes jobs left running by a crashed process when it starts', async () => {
    const storage = createMemoryStorage(registry);
    await storage.jobs.enqueue('t', {});
    await storage.jobs.claim(['t'], 10); // a process claimed it, then died
    let ran = 0;
    const runner = createJobRunner(storage.jobs, { t: async () => { ran++; } }, logger, { pollMs: 5 });
    await runner.start();
    for (let i = 0; i < 50 && ran === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await runner.stop();
    expect(ran).to.equal(1);
  });

  it('writes queued AuditEvents as resources, idempotently when a job is retried', async () => {
    const storage = createMemoryStorage(registry);
    const event = buildAuditEvent({ principal: { sub: 's', iss: 'i', scopes: [], fhirUser: 'Practitioner/p' } },
      { interaction: 'read', action: 'R', entities: ['Patient/x'] });
    await storage.jobs.enqueue(AUDIT_JOB, { event: event as unknown as Record<string, unknown> });
    const [job] = await storage.jobs.claim([AUDIT_JOB], 1);
    const handler = auditEventHandler(storage.resources);
    await handler(job);
    await handler(job);
    const found = await storage.resources.search(parseSearch(registry, 'AuditEvent', { entity: ['Patient/x'] }, { defaultCount: 10, maxCount: 10 }));
    expect(found.total).to.equal(1);
  });
});
