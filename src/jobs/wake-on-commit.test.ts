// Job latency: the runner is woken after the commit of a chosen job type, instead of waiting for its next poll.
import { expect } from 'chai';
import { loadDefinitions, PLATFORM_RESOURCE_TYPES } from '../fhir/definitions.js';
import { createSearchRegistry } from '../fhir/search-registry.js';
import { createLogger } from '../kernel/logger.js';
import { createMemoryStorage } from '../store/memory-storage.js';
import { createJobRunner } from './job-runner.js';
import { wakeOnCommit } from './wake-on-commit.js';

describe('waking the job runner on commit', () => {
  loadDefinitions();
  const registry = createSearchRegistry(PLATFORM_RESOURCE_TYPES);

  it('wakes after the commit of a transaction that enqueued a chosen type, not before, and not for other types', async () => {
    const storage = createMemoryStorage(registry);
    const wakes: number[] = [];
    const wrapped = wakeOnCommit(storage, (t) => t === 'fast', () => wakes.push(Date.now()));
    await wrapped.transaction(async (tx) => {
      await tx.jobs.enqueue('fast', {});
      await tx.transaction(async (inner) => inner.jobs.enqueue('fast', {}));
      expect(wakes).to.have.length(0); // not committed yet
    });
    expect(wakes).to.have.length(1);
    await wrapped.transaction(async (tx) => tx.jobs.enqueue('slow', {}));
    await wrapped.jobs.enqueue('slow', {});
    expect(wakes).to.have.length(1);
    await wrapped.jobs.enqueue('fast', {});
    expect(wakes).to.have.length(2);
    await wrapped.transaction(async (tx) => { await tx.jobs.enqueue('fast', {}); throw new Error('rollback'); }).catch(() => undefined);
    expect(wakes).to.have.length(2);
    expect((await wrapped.jobs.list()).length).to.equal(5);
  });

  it('runs a woken job at once although the poll interval is long, and one enqueued during a busy round right after it', async () => {
    const storage = createMemoryStorage(registry);
    const ran: number[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => { release = r; });
    const holder: { wake?: () => void } = {};
    const wrapped = wakeOnCommit(storage, () => true, () => holder.wake?.());
    const runner = createJobRunner(wrapped.jobs, {
      slow: async () => { await gate; },
      fast: async () => { ran.push(Date.now()); },
    }, createLogger('silent'), { pollMs: 60_000 });
    holder.wake = () => runner.wake();
    await runner.start();
    try {
      const t0 = Date.now();
      await wrapped.jobs.enqueue('fast', {});
      for (let i = 0; i < 100 && ran.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(ran).to.have.length(1);
      expect(ran[0] - t0).to.be.lessThan(500);
      // Enqueued (and waking) while a round is busy: it runs as soon as that round ends, not a poll interval later.
      await wrapped.jobs.enqueue('slow', {});
      await new Promise((r) => setTimeout(r, 30));
      await wrapped.jobs.enqueue('fast', {});
      release();
      for (let i = 0; i < 100 && ran.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(ran).to.have.length(2);
    } finally {
      await runner.stop();
    }
  });
});
