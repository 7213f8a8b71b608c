// Durable job runner: claims due jobs, runs their handler (one job, or a batch of one type at once), retries with
// exponential backoff, resumes after restart, and purges done jobs after a short retention (failed ones stay visible).
import type { Logger } from '../kernel/logger.js';
import type { Job, JobQueue } from '../store/job-queue.js';

/** A failure that retrying cannot fix (the peer refused the content): the job fails at once, without retry. */
export class PermanentJobError extends Error {}

/** Runs one job; throwing marks it failed (retried with backoff, except for a PermanentJobError). */
export type JobHandler = (job: Job) => Promise<void>;

/**
 * Runs several due jobs of one type at once (e.g. all their writes in one transaction): all succeed or the call
 * throws. After a failed batch the runner runs each job of it alone (a batch of one), so one bad job does not hold
 * back the others and retries/backoff stay per job.
 */
export interface BatchJobHandler {
  batch(jobs: readonly Job[]): Promise<void>;
}

export type JobHandlers = Record<string, JobHandler | BatchJobHandler>;

export interface JobRunnerOptions {
  pollMs?: number;
  /** Jobs claimed per round (and the largest batch given to a batch handler). */
  batchSize?: number;
  maxAttempts?: number;
  /** Backoff before retry n (1-based): base · 2^(n-1), capped. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Done jobs are deleted once they have been done this long (idempotency keys dedupe within this window). */
  doneRetentionMs?: number;
  /** How often the runner purges done jobs past their retention. */
  purgeEveryMs?: number;
  /**
   * Put the running jobs of a dead process back to pending at start (default true). Only one runner of a queue may:
   * another would take back the jobs the first has just claimed (job-lanes.ts starts them in order).
   */
  recoverOnStart?: boolean;
}

export interface JobRunner {
  start(): Promise<void>;
  /** Runs every due job now (tests, shutdown drain); resolves when the queue has no due job left. */
  drain(): Promise<number>;
  /** Deletes the done jobs older than the retention now; returns how many. */
  purge(): Promise<number>;
  /**
   * Polls now instead of at the next tick (call it once new jobs are committed): an idle runner polls at once, a
   * busy one polls again as soon as its current round ends.
   */
  wake(): void;
  stop(): Promise<void>;
}

const isBatch = (h: JobHandler | BatchJobHandler): h is BatchJobHandler => typeof h !== 'function';

export function createJobRunner(queue: JobQueue, handlers: JobHandlers, logger: Logger, options: JobRunnerOptions = {}): JobRunner {
  const pollMs = options.pollMs ?? 250;
  const batchSize = options.batchSize ?? 50;
  const maxAttempts = options.maxAttempts ?? 12;
  const base = options.backoffBaseMs ?? 1000;
  const cap = options.backoffMaxMs ?? 3_600_000;
  const retentionMs = options.doneRetentionMs ?? 60_000;
  const purgeEveryMs = options.purgeEveryMs ?? 10_000;
  const types = Object.keys(handlers);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let stopped = true;
  let lastPurge = Date.now();

  async function failed(job: Job, e: unknown): Promise<void> {
    const message = e instanceof Error ? e.message : String(e);
    const retry = job.attempts < maxAttempts && !(e instanceof PermanentJobError) ? new Date(Date.now() + Math.min(cap, base * 2 ** (job.attempts - 1))) : undefined;
    logger.warn('job failed', { jobId: job.id, type: job.type, attempts: job.attempts, error: message, willRetry: !!retry });
    await queue.fail(job.id, message, retry);
  }

  async function runAlone(job: Job, run: (j: Job) => Promise<void>): Promise<void> {
    try {
      await run(job);
    } catch (e) {
      await failed(job, e);
      return;
    }
    await queue.complete(job.id);
  }

  async function runBatch(handler: BatchJobHandler, jobs: Job[]): Promise<void> {
    if (jobs.length > 1) {
      try {
        await handler.batch(jobs);
        await queue.complete(jobs.map((j) => j.id));
        return;
      } catch (e) {
        logger.debug('job batch failed, running its jobs one by one', { type: jobs[0].type, size: jobs.length, error: String(e) });
      }
    }
    for (const job of jobs) await runAlone(job, (j) => handler.batch([j]));
  }

  async function runOnce(): Promise<number> {
    const jobs = await queue.claim(types, batchSize);
    const byType = new Map<string, Job[]>();
    for (const job of jobs) {
      const handler = handlers[job.type];
      if (isBatch(handler)) {
        const group = byType.get(job.type) ?? [];
        if (group.length === 0) byType.set(job.type, group);
        group.push(job);
      } else {
        await runAlone(job, handler);
      }
    }
    for (const [type, group] of byType) await runBatch(handlers[type] as BatchJobHandler, group);
    return jobs.length;
  }

  async function purge(): Promise<number> {
    lastPurge = Date.now();
    return queue.purgeDone(new Date(Date.now() - retentionMs));
  }

  async function runUntilEmpty(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await runOnce();
      total += n;
      if (n === 0) return total;
    }
  }

  /**
   * Runs every due job, and waits for the jobs a background poll has claimed meanwhile (they are 'running', so
   * runOnce does not see them): when it resolves, the jobs due at the call, and those they enqueued, are done.
   */
  async function drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const inFlight = running;
      if (inFlight) await inFlight;
      const n = await runUntilEmpty();
      total += n;
      if (n === 0 && running === inFlight) return total;
    }
  }

  async function poll(): Promise<number> {
    const n = await runUntilEmpty();
    if (Date.now() - lastPurge >= purgeEveryMs) await purge();
    return n;
  }

  let again = false;
  function schedule(delayMs = pollMs): void {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      again = false;
      running = poll().catch((e: unknown) => {
        logger.error('job runner poll failed', { error: String(e) });
        return 0;
      });
      void running.finally(() => schedule(again ? 0 : pollMs));
    }, delayMs);
    timer.unref();
  }

  return {
    async start() {
      const recovered = options.recoverOnStart === false ? 0 : await queue.recover();
      if (recovered > 0) logger.info('resumed interrupted jobs', { count: recovered });
      stopped = false;
      schedule();
    },
    drain,
    purge,
    wake() {
      if (stopped) return;
      if (timer) {
        clearTimeout(timer);
        schedule(0);
      } else {
        again = true;
      }
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
