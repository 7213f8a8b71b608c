// In-memory twin of the durable job queue (same contract as postgres-job-queue.ts).
import { randomUUID } from 'node:crypto';
import type { Job, JobQueue } from './job-queue.js';

type MemJob = { -readonly [K in keyof Job]: Job[K] };
export interface MemoryJobState { jobs: (MemJob & { seq: number; idempotencyKey?: string; doneAt?: Date })[]; seq: number }

export function createMemoryJobQueue(state: MemoryJobState, guarded: <T>(fn: () => Promise<T>) => Promise<T>): JobQueue {
  const copy = (j: MemJob): Job => structuredClone({ id: j.id, type: j.type, payload: j.payload, status: j.status,
    attempts: j.attempts, runAt: j.runAt, lastError: j.lastError, orderingKey: j.orderingKey });
  return {
    enqueue: (type, payload, options = {}) => guarded(async () => {
      if (options.idempotencyKey && state.jobs.some((j) => j.idempotencyKey === options.idempotencyKey)) return;
      state.jobs.push({ seq: ++state.seq, id: randomUUID(), type, payload: structuredClone(payload), status: 'pending', attempts: 0,
        runAt: options.runAt ?? new Date(), orderingKey: options.orderingKey, idempotencyKey: options.idempotencyKey });
    }),
    enqueueMany: (jobs) => guarded(async () => {
      for (const { type, payload, options = {} } of jobs) {
        if (options.idempotencyKey && state.jobs.some((j) => j.idempotencyKey === options.idempotencyKey)) continue;
        state.jobs.push({ seq: ++state.seq, id: randomUUID(), type, payload: structuredClone(payload), status: 'pending', attempts: 0,
          runAt: options.runAt ?? new Date(), orderingKey: options.orderingKey, idempotencyKey: options.idempotencyKey });
      }
    }),
    claim: (types, limit, now = new Date()) => guarded(async () => {
      const out: Job[] = [];
      for (const j of state.jobs) {
        if (out.length >= limit) break;
        if (j.status !== 'pending' || !types.includes(j.type) || j.runAt > now) continue;
        if (j.orderingKey && state.jobs.some((e) => e.orderingKey === j.orderingKey && e.seq < j.seq
          && (e.status === 'pending' || e.status === 'running'))) continue;
        j.status = 'running';
        j.attempts += 1;
        out.push(copy(j));
      }
      return out;
    }),
    complete: (ids) => guarded(async () => {
      const wanted = new Set(typeof ids === 'string' ? [ids] : ids);
      const now = new Date();
      for (const j of state.jobs) {
        if (!wanted.has(j.id)) continue;
        j.status = 'done';
        j.doneAt = now;
      }
    }),
    fail: (id, error, retryAt) => guarded(async () => {
      const j = state.jobs.find((x) => x.id === id);
      if (!j) return;
      j.status = retryAt ? 'pending' : 'failed';
      j.lastError = error;
      if (retryAt) j.runAt = retryAt;
    }),
    recover: () => guarded(async () => {
      let n = 0;
      for (const j of state.jobs) if (j.status === 'running') { j.status = 'pending'; n++; }
      return n;
    }),
    purgeDone: (doneBefore) => guarded(async () => {
      const before = state.jobs.length;
      state.jobs = state.jobs.filter((j) => !(j.status === 'done' && j.doneAt && j.doneAt < doneBefore));
      return before - state.jobs.length;
    }),
    list: (filter = {}) => guarded(async () => state.jobs
      .filter((j) => (!filter.status || j.status === filter.status) && (!filter.type || j.type === filter.type)).map(copy)),
  };
}
