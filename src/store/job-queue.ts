// Job queue port: durable outbound work (audit, forwarding, HL7, DMP), retried with backoff, visible.
export type JobStatus = 'pending' | 'running' | 'done' | 'failed';

export interface Job {
  readonly id: string;
  readonly type: string;
  readonly payload: Record<string, unknown>;
  readonly status: JobStatus;
  readonly attempts: number;
  readonly runAt: Date;
  readonly lastError?: string;
  /** Jobs with the same ordering key run one at a time, in creation order. */
  readonly orderingKey?: string;
}

export interface EnqueueOptions {
  runAt?: Date;
  orderingKey?: string;
  /** A second enqueue with the same idempotency key is a no-op (while the first job exists: done jobs are purged). */
  idempotencyKey?: string;
}

export interface JobQueue {
  enqueue(type: string, payload: Record<string, unknown>, options?: EnqueueOptions): Promise<void>;
  /** Several enqueues in one statement, in order (same semantics as one `enqueue` each). */
  enqueueMany(jobs: readonly { type: string; payload: Record<string, unknown>; options?: EnqueueOptions }[]): Promise<void>;
  /** Claims up to `limit` due jobs of the given types (pending → running), oldest first. */
  claim(types: readonly string[], limit: number, now?: Date): Promise<Job[]>;
  /** Marks one job, or several at once, done. */
  complete(ids: string | readonly string[]): Promise<void>;
  /** Records a failure; the job goes back to pending at `retryAt`, or to failed when `retryAt` is undefined. */
  fail(id: string, error: string, retryAt?: Date): Promise<void>;
  /** Running jobs of a dead process go back to pending (called at start). */
  recover(): Promise<number>;
  /** Deletes the jobs done before `doneBefore` (pending, running and failed jobs stay); returns how many. */
  purgeDone(doneBefore: Date): Promise<number>;
  list(filter?: { status?: JobStatus; type?: string }): Promise<Job[]>;
}
