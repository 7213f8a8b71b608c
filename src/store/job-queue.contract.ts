// Behavioural contract every Storage backend must pass (memory twin, PGlite, PostgreSQL): the durable job queue: claim, ordering keys, idempotency, retries, recovery, purge.
// Same tests everywhere, so the twins agree.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { StorageContext } from './test-storages.js';
import { pause } from './storage-contract-fixture.js';

export function jobQueueContract(_name: string, ctx: StorageContext): void {


  describe('job queue', () => {
    const jobs = () => ctx.storage().jobs;
    let type: string;
    beforeEach(() => {
      type = `test-${randomUUID()}`;
    });

    it('claims a due job once, running, and completes it', async () => {
      await jobs().enqueue(type, { hello: 'world' });
      const claimed = await jobs().claim([type], 10);
      expect(claimed).to.have.length(1);
      expect(claimed[0]).to.include({ type, status: 'running', attempts: 1 });
      expect(claimed[0].payload).to.deep.equal({ hello: 'world' });
      expect(await jobs().claim([type], 10)).to.deep.equal([]);
      await jobs().complete(claimed[0].id);
      const [done] = await jobs().list({ type });
      expect(done.status).to.equal('done');
      expect(await jobs().list({ type, status: 'pending' })).to.deep.equal([]);
    });

    it('enqueues many in one call, in order, skipping idempotency keys already queued', async () => {
      await jobs().enqueue(type, { n: 0 }, { idempotencyKey: `${type}-k0` });
      await jobs().enqueueMany([
        { type, payload: { n: 1 } },
        { type, payload: { n: 2 }, options: { idempotencyKey: `${type}-k0` } },
        { type, payload: { n: 3 }, options: { orderingKey: `${type}-o` } },
        { type, payload: { n: 4 }, options: { runAt: new Date(Date.now() + 3_600_000) } },
      ]);
      await jobs().enqueueMany([]);
      const claimed = await jobs().claim([type], 10);
      expect(claimed.map((j) => j.payload.n)).to.deep.equal([0, 1, 3]);
      expect(claimed[2].orderingKey).to.equal(`${type}-o`);
      expect((await jobs().list({ type })).map((j) => j.payload.n)).to.deep.equal([0, 1, 3, 4]);
    });

    it('claims only the requested types, oldest first, up to the limit', async () => {
      const other = `test-${randomUUID()}`;
      await jobs().enqueue(type, { n: 1 });
      await jobs().enqueue(other, { n: 2 });
      await jobs().enqueue(type, { n: 3 });
      await jobs().enqueue(type, { n: 4 });
      const first = await jobs().claim([type], 2);
      expect(first.map((j) => j.payload.n)).to.deep.equal([1, 3]);
      const rest = await jobs().claim([type, other], 10);
      expect(rest.map((j) => j.payload.n)).to.deep.equal([2, 4]);
    });

    it('does not claim a job before its runAt', async () => {
      const now = Date.now();
      await jobs().enqueue(type, {}, { runAt: new Date(now + 3_600_000) });
      expect(await jobs().claim([type], 10)).to.deep.equal([]);
      expect(await jobs().claim([type], 10, new Date(now + 1_800_000))).to.deep.equal([]);
      const later = await jobs().claim([type], 10, new Date(now + 7_200_000));
      expect(later).to.have.length(1);
    });

    it('retries a failed job at retryAt and records the error', async () => {
      const now = Date.now();
      await jobs().enqueue(type, { x: 1 });
      const [job] = await jobs().claim([type], 1);
      await jobs().fail(job.id, 'boom', new Date(now + 60_000));
      const [pending] = await jobs().list({ type });
      expect(pending).to.include({ status: 'pending', lastError: 'boom', attempts: 1 });
      expect(pending.runAt.getTime()).to.equal(now + 60_000);
      expect(await jobs().claim([type], 1, new Date(now + 30_000))).to.deep.equal([]);
      const [again] = await jobs().claim([type], 1, new Date(now + 61_000));
      expect(again.id).to.equal(job.id);
      expect(again.attempts).to.equal(2);
      await jobs().fail(again.id, 'fatal');
      const [failed] = await jobs().list({ type });
      expect(failed).to.include({ status: 'failed', lastError: 'fatal', attempts: 2 });
      expect(await jobs().claim([type], 1, new Date(now + 3_600_000))).to.deep.equal([]);
      expect((await jobs().list({ type, status: 'failed' })).map((j) => j.id)).to.deep.equal([job.id]);
    });

    it('ignores a second enqueue with the same idempotency key', async () => {
      const idempotencyKey = `idem-${randomUUID()}`;
      await jobs().enqueue(type, { first: true }, { idempotencyKey });
      await jobs().enqueue(type, { first: false }, { idempotencyKey });
      const listed = await jobs().list({ type });
      expect(listed).to.have.length(1);
      expect(listed[0].payload).to.deep.equal({ first: true });
      // still deduplicated once the first job is done
      const [j] = await jobs().claim([type], 1);
      await jobs().complete(j.id);
      await jobs().enqueue(type, { first: false }, { idempotencyKey });
      expect(await jobs().list({ type })).to.have.length(1);
    });

    it('runs jobs with the same ordering key one at a time, in order', async () => {
      const orderingKey = `key-${randomUUID()}`;
      await jobs().enqueue(type, { n: 1 }, { orderingKey });
      await jobs().enqueue(type, { n: 2 }, { orderingKey });
      await jobs().enqueue(type, { n: 3 });
      const first = await jobs().claim([type], 10);
      expect(first.map((j) => j.payload.n)).to.deep.equal([1, 3]);
      expect(first[0].orderingKey).to.equal(orderingKey);
      expect(await jobs().claim([type], 10)).to.deep.equal([]);
      // a retry keeps the key blocked
      await jobs().fail(first[0].id, 'later', new Date(Date.now() - 1000));
      const retried = await jobs().claim([type], 10);
      expect(retried.map((j) => j.payload.n)).to.deep.equal([1]);
      await jobs().complete(retried[0].id);
      const second = await jobs().claim([type], 10);
      expect(second.map((j) => j.payload.n)).to.deep.equal([2]);
    });

    it('unblocks the next job of a key once the previous one failed for good', async () => {
      const orderingKey = `key-${randomUUID()}`;
      await jobs().enqueue(type, { n: 1 }, { orderingKey });
      await jobs().enqueue(type, { n: 2 }, { orderingKey });
      const [first] = await jobs().claim([type], 10);
      await jobs().fail(first.id, 'fatal');
      expect((await jobs().claim([type], 10)).map((j) => j.payload.n)).to.deep.equal([2]);
    });

    it('completes several jobs at once', async () => {
      for (let n = 1; n <= 3; n++) await jobs().enqueue(type, { n });
      const claimed = await jobs().claim([type], 10);
      await jobs().complete(claimed.slice(0, 2).map((j) => j.id));
      expect((await jobs().list({ type })).map((j) => [j.payload.n, j.status])).to.deep.equal([[1, 'done'], [2, 'done'], [3, 'running']]);
    });

    it('purges done jobs done before a cutoff, keeping pending, running and failed ones', async () => {
      for (let n = 1; n <= 4; n++) await jobs().enqueue(type, { n });
      const [a, b, c] = await jobs().claim([type], 3);
      await jobs().complete([a.id, b.id]);
      await jobs().fail(c.id, 'fatal');
      expect(await jobs().purgeDone(new Date(Date.now() - 60_000))).to.equal(0);
      expect(await jobs().list({ type })).to.have.length(4);
      await pause(5);
      expect(await jobs().purgeDone(new Date(Date.now() + 1000))).to.be.at.least(2);
      expect((await jobs().list({ type })).map((j) => [j.payload.n, j.status])).to.deep.equal([[3, 'failed'], [4, 'pending']]);
    });

    it('moves running jobs back to pending on recover', async () => {
      await jobs().enqueue(type, {});
      await jobs().enqueue(type, {});
      const claimed = await jobs().claim([type], 1);
      expect(claimed).to.have.length(1);
      expect(await jobs().recover()).to.be.at.least(1);
      expect((await jobs().list({ type })).map((j) => j.status)).to.deep.equal(['pending', 'pending']);
      const again = await jobs().claim([type], 10);
      expect(again.map((j) => j.id)).to.include(claimed[0].id);
      expect(again.find((j) => j.id === claimed[0].id)?.attempts).to.equal(2);
      for (const j of again) await jobs().complete(j.id);
    });
  });
}
