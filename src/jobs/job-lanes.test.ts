// Job lanes over one queue: a long job in one lane does not hold back the jobs of another; recovery happens once.
import { expect } from 'chai';
import { loadDefinitions, PLATFORM_RESOURCE_TYPES } from '../fhir/definitions.js';
import { createSearchRegistry } from '../fhir/search-registry.js';
import { createLogger } from '../kernel/logger.js';
import { createMemoryStorage } from '../store/memory-storage.js';
import { createJobLanes } from './job-lanes.js';

describe('job lanes', () => {
  loadDefinitions();
  const registry = createSearchRegistry(PLATFORM_RESOURCE_TYPES);
  const logger = createLogger('silent');

  it('runs the short jobs of one lane while a long job of another lane is still running', async () => {
    const storage = createMemoryStorage(registry);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const done: string[] = [];
    const lanes = createJobLanes(storage.jobs, [
      { name: 'short', handlers: { audit: async () => { done.push('audit'); } } },
      { name: 'long', handlers: { retrieve: async () => { await gate; done.push('retrieve'); } } },
    ], logger, { pollMs: 5 });
    await storage.jobs.enqueue('retrieve', {});
    await lanes.start();
    await new Promise((r) => setTimeout(r, 30)); // the retrieve is claimed and blocked
    await storage.jobs.enqueue('audit', {});
    lanes.wake();
    for (let i = 0; i < 100 && !done.includes('audit'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(done).to.deep.equal(['audit']);
    release();
    await lanes.drain();
    expect(done).to.deep.equal(['audit', 'retrieve']);
    await lanes.stop();
  });

  it('resumes the jobs a dead process left running, once, and drains jobs one lane enqueues for another', async () => {
    const storage = createMemoryStorage(registry);
    await storage.jobs.enqueue('a', {});
    expect(await storage.jobs.claim(['a'], 10)).to.have.length(1); // claimed by a process that then died
    const runs: string[] = [];
    const lanes = createJobLanes(storage.jobs, [
      { name: 'one', handlers: { a: async () => { runs.push('a'); await storage.jobs.enqueue('b', {}); } } },
      { name: 'two', handlers: { b: async () => { runs.push('b'); } } },
    ], logger, { pollMs: 60_000 });
    await lanes.start();
    expect(await lanes.drain()).to.equal(2);
    expect(runs).to.deep.equal(['a', 'b']);
    await lanes.stop();
  });

  it('refuses a job type given to two lanes', () => {
    const storage = createMemoryStorage(registry);
    expect(() => createJobLanes(storage.jobs, [{ name: 'x', handlers: { a: async () => undefined } }, { name: 'y', handlers: { a: async () => undefined } }], logger))
      .to.throw(/job type a is in two lanes/);
  });
});
