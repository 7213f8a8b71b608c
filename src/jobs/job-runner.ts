// Durable job runner: claims due jobs, runs their handler, retries with exponential backoff, resumes after restart.
import type { Logger } from '../kernel/logger.js';
import type { Job, JobQueue } from '../store/job-queue.js';

export type JobHandler = (job: Job) => Promise<void>;

export interface JobRunnerOptions {
  pollMs?: number;
  batchSize?: number;
  maxAttempts?: number;
  /** Backoff before retry n (1-based): base · 2^(n-1), capped. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

export interface JobRunner {
  start(): Promise<void>;
  /** Runs every due job now (tests, shutdown drain); resolves when the queue has no due job left. */
  drain(): Promise<number>;
  stop(): Promise<void>;
}

export function createJobRunner(queue: JobQueue, handlers: Record<string, JobHandler>, logger: Logger, options: JobRunnerOptions = {}): JobRunner {
  const pollMs = options.pollMs ?? 250;
  const batchSize = options.batchSize ?? 50;
  const maxAttempts = options.maxAttempts ?? 12;
  const base = options.backoffBaseMs ?? 1000;
  const cap = options.backoffMaxMs ?? 3_600_000;
  const types = Object.keys(handlers);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let stopped = true;

  async function runOnce(): Promise<number> {
    const jobs = await queue.claim(types, batchSize);
    for (const job of jobs) {
      try {
        await handlers[job.type](job);
        await queue.complete(job.id);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        const retry = job.attempts < maxAttempts ? new Date(Date.now() + Math.min(cap, base * 2 ** (job.attempts - 1))) : undefined;
        logger.warn('job failed', { jobId: job.id, type: job.type, attempts: job.attempts, error: message, willRetry: !!retry });
        await queue.fail(job.id, message, retry);
      }
    }
    return jobs.length;
  }

  async function drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await runOnce();
      total += n;
      if (n === 0) return total;
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = drain().catch((e: unknown) => {
        logger.error('job runner poll failed', { error: String(e) });
        return 0;
      });
      void running.finally(schedule);
    }, pollMs);
    timer.unref();
  }

  return {
    async start() {
      const recovered = await queue.recover();
      if (recovered > 0) logger.info('resumed interrupted jobs', { count: recovered });
      stopped = false;
      schedule();
    },
    drain,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
