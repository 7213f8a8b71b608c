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

  it('drain waits for the jobs a background poll has claimed, and for the jobs they enqueue', async () => {
    const storage = createMemoryStorage(registry);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    let claimed: () => void = () => undefined;
    const started = new Promise<void>((resolve) => { claimed = resolve; });
    const done: string[] = [];
    const runner = createJobRunner(storage.jobs, {
      slow: async () => { claimed(); await gate; await storage.jobs.enqueue('follow-up', {}); done.push('slow'); },
      'follow-up': async () => { done.push('follow-up'); },
    }, logger, { pollMs: 5 });
    await runner.start();
    await storage.jobs.enqueue('slow', {});
    await started; // the background poll holds the job ('running')
    let drained = false;
    const draining = runner.drain().then(() => { drained = true; });
    await new Promise((r) => setTimeout(r, 30));
    expect(drained).to.equal(false);
    release();
    await draining;
    expect(done).to.deep.equal(['slow', 'follow-up']);
    await runner.stop();
  });

  it('retries a failing job with backoff and records the last error', async () => {
    const storage = createMemoryStorage(registry);
    await storage.jobs.enqueue('t', {});
    let calls = 0;
    const runner = createJobRunner(storage.jobs, { t: async () => { calls++; if (calls < 3) throw new Error(`boom ${calls}`); } }, logger,
      { backoffBaseMs: 200, backoffMaxMs: 400 });
    await runner.drain();
    const [pending] = await storage.jobs.list();
    expect(pending.status).to.equal('pending');
    expect(pending.lastError).to.equal('boom 1');
    for (let i = 0; i < 100 && calls < 3; i++) {
      await new Promise((r) => setTimeout(r, 20));
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

  it('gives a batch handler the due jobs of its type in one call, oldest first, and marks them done', async () => {
    const storage = createMemoryStorage(registry);
    for (let n = 1; n <= 5; n++) await storage.jobs.enqueue('b', { n });
    await storage.jobs.enqueue('t', { n: 6 });
    const calls: unknown[][] = [];
    const single: unknown[] = [];
    const runner = createJobRunner(storage.jobs, {
      b: { batch: async (jobs: readonly Job[]) => { calls.push(jobs.map((j) => j.payload.n)); } },
      t: async (j: Job) => { single.push(j.payload.n); },
    }, logger, { batchSize: 3 });
    expect(await runner.drain()).to.equal(6);
    expect(calls).to.deep.equal([[1, 2, 3], [4, 5]]);
    expect(single).to.deep.equal([6]);
    expect((await storage.jobs.list({ status: 'done' })).length).to.equal(6);
  });

  it('runs the jobs of a failed batch one by one, so only the bad job is retried', async () => {
    const storage = createMemoryStorage(registry);
    for (let n = 1; n <= 4; n++) await storage.jobs.enqueue('b', { n });
    const written: unknown[] = [];
    const runner = createJobRunner(storage.jobs, {
      b: {
        batch: async (jobs: readonly Job[]) => {
          if (jobs.some((j) => j.payload.n === 3)) throw new Error('bad 3');
          written.push(...jobs.map((j) => j.payload.n));
        },
      },
    }, logger, { maxAttempts: 1 });
    await runner.drain();
    expect(written).to.deep.equal([1, 2, 4]);
    expect((await storage.jobs.list({ status: 'done' })).map((j) => j.payload.n)).to.deep.equal([1, 2, 4]);
    const [failed] = await storage.jobs.list({ status: 'failed' });
    expect(failed.payload.n).to.equal(3);
    expect(failed.lastError).to.equal('bad 3');
  });

  it('purges done jobs past their retention and keeps failed and pending ones', async () => {
    const storage = createMemoryStorage(registry);
    await storage.jobs.enqueue('ok', {});
    await storage.jobs.enqueue('ko', {});
    const runner = createJobRunner(storage.jobs, { ok: async () => undefined, ko: async () => { throw new Error('no'); } }, logger,
      { maxAttempts: 1, doneRetentionMs: 20 });
    await runner.drain();
    await storage.jobs.enqueue('ok', { later: true }, { runAt: new Date(Date.now() + 3_600_000) });
    expect(await runner.purge()).to.equal(0); // done just now: still within the retention
    await new Promise((r) => setTimeout(r, 30));
    expect(await runner.purge()).to.equal(1);
    expect((await storage.jobs.list()).map((j) => j.status).sort()).to.deep.equal(['failed', 'pending']);
  });

  it('writes queued AuditEvents as resources in one transaction, idempotently when a job is retried', async () => {
    const storage = createMemoryStorage(registry);
    const principal = { sub: 's', iss: 'i', scopes: [], fhirUser: 'Practitioner/p' };
    for (const id of ['x', 'y']) {
      const event = buildAuditEvent({ principal }, { interaction: 'read', action: 'R', entities: [`Patient/${id}`] });
      await storage.jobs.enqueue(AUDIT_JOB, { event: event as unknown as Record<string, unknown> });
    }
    // A process claims the jobs and writes their AuditEvents, then dies before marking the jobs done.
    const jobs = await storage.jobs.claim([AUDIT_JOB], 10);
    await auditEventHandler(storage).batch(jobs);
    // The next start resumes them: the retry rewrites the same AuditEvents instead of adding others.
    const runner = createJobRunner(storage.jobs, { [AUDIT_JOB]: auditEventHandler(storage) }, logger);
    expect(await storage.jobs.recover()).to.equal(2);
    expect(await runner.drain()).to.equal(2);
    expect((await storage.jobs.list({ status: 'done' })).map((j) => j.attempts)).to.deep.equal([2, 2]);
    const found = await storage.resources.search(parseSearch(registry, 'AuditEvent', { entity: ['Patient/x,Patient/y'], _total: ['accurate'] },
      { defaultCount: 10, maxCount: 10 }));
    expect(found.total).to.equal(2);
    expect(found.resources.map((r) => r.id).sort()).to.deep.equal(jobs.map((j) => j.id).sort());
    expect(found.resources.map((r) => r.meta?.versionId)).to.deep.equal(['2', '2']);
  });
  it('recovers when a first attempt meets an AuditEvent already written under its id: retried as an update', async () => {
    const storage = createMemoryStorage(registry);
    const event = buildAuditEvent({ principal: { sub: 's', iss: 'i', scopes: [], fhirUser: 'Practitioner/p' } },
      { interaction: 'read', action: 'R', entities: ['Patient/w'] });
    await storage.jobs.enqueue(AUDIT_JOB, { event: event as unknown as Record<string, unknown> });
    const [queued] = await storage.jobs.list({ type: AUDIT_JOB });
    await storage.resources.create(event, { id: queued.id });
    const runner = createJobRunner(storage.jobs, { [AUDIT_JOB]: auditEventHandler(storage) }, logger, { backoffBaseMs: 1, backoffMaxMs: 1 });
    await runner.drain();
    for (let i = 0; i < 100 && (await storage.jobs.list({ status: 'done' })).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
      await runner.drain();
    }
    const [done] = await storage.jobs.list({ type: AUDIT_JOB });
    expect(done).to.include({ status: 'done', attempts: 2 });
    expect((await storage.resources.read('AuditEvent', queued.id)).meta?.versionId).to.equal('2');
  });
});
