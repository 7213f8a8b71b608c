// Job lanes: several runners over one durable queue, each with its own job types and loop, so that long jobs (a PACS
// retrieve, a study forwarding: seconds to minutes) never hold back short ones (audit, ImagingStudy sync,
// notifications: milliseconds) — a runner runs its jobs one round at a time.
import type { Logger } from '../kernel/logger.js';
import type { JobQueue } from '../store/job-queue.js';
import { createJobRunner, type JobHandlers, type JobRunner, type JobRunnerOptions } from './job-runner.js';

export interface JobLane {
  readonly name: string;
  readonly handlers: JobHandlers;
}

/** One JobRunner over all lanes: start, wake, drain and stop apply to every lane. */
export function createJobLanes(queue: JobQueue, lanes: readonly JobLane[], logger: Logger, options: JobRunnerOptions = {}): JobRunner {
  if (lanes.length === 0) throw new Error('at least one job lane');
  const seen = new Set<string>();
  for (const type of lanes.flatMap((l) => Object.keys(l.handlers))) {
    if (seen.has(type)) throw new Error(`job type ${type} is in two lanes`);
    seen.add(type);
  }
  // Only the first lane recovers interrupted jobs, and it starts first: the others never take back a claimed job.
  // Only the first lane purges done jobs (every lane purging the same rows at once deadlocked on PostgreSQL).
  const runners = lanes.map((lane, i) => createJobRunner(queue, lane.handlers, logger.child({ lane: lane.name }),
    { ...options, recoverOnStart: i === 0, ...(i === 0 ? {} : { purgeEveryMs: Number.POSITIVE_INFINITY }) }));
  return {
    async start() {
      for (const runner of runners) await runner.start();
    },
    /** Until no lane has anything left: a job of one lane may enqueue jobs of another. */
    async drain() {
      let total = 0;
      for (;;) {
        let n = 0;
        for (const runner of runners) n += await runner.drain();
        total += n;
        if (n === 0) return total;
      }
    },
    purge: () => runners[0].purge(),
    wake() {
      for (const runner of runners) runner.wake();
    },
    async stop() {
      await Promise.all(runners.map((r) => r.stop()));
    },
  };
}
