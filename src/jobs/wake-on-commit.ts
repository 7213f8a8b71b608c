// Latency of durable jobs: a Storage decorator that wakes the job runner once jobs of chosen types are committed
// (after the transaction that enqueued them, never before: a claim before the commit would not see them).
import type { JobQueue } from '../store/job-queue.js';
import type { Storage } from '../store/resource-store.js';

/** Delegates everything to `target` except the members in `overrides` (robust to members added to the ports later). */
function override<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      if (Object.prototype.hasOwnProperty.call(overrides, prop)) return overrides[prop as keyof T];
      const v: unknown = Reflect.get(t, prop, receiver);
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(t) : v;
    },
  });
}

/**
 * Wraps `storage` so that `wake()` is called after a job whose type satisfies `wakes` is enqueued: at once for an
 * enqueue outside a transaction (it is committed when it resolves), after the commit for one inside a transaction.
 */
export function wakeOnCommit(storage: Storage, wakes: (type: string) => boolean, wake: () => void): Storage {
  function wrap(s: Storage, mark: (type: string) => void, top: boolean): Storage {
    const jobs = override<JobQueue>(s.jobs, {
      async enqueue(type, payload, options) {
        await s.jobs.enqueue(type, payload, options);
        if (wakes(type)) mark(type);
      },
      async enqueueMany(jobs) {
        await s.jobs.enqueueMany(jobs);
        for (const j of jobs) if (wakes(j.type)) mark(j.type);
      },
    });
    return override<Storage>(s, {
      jobs,
      async transaction(fn) {
        if (!top) return s.transaction((tx) => fn(wrap(tx, mark, false)));
        let enqueued = false;
        const result = await s.transaction((tx) => fn(wrap(tx, () => { enqueued = true; }, false)));
        if (enqueued) wake();
        return result;
      },
    });
  }
  return wrap(storage, () => wake(), true);
}
