// JobQueue on PostgreSQL/PGlite: claim with SKIP LOCKED, per-key ordering, idempotent enqueue.
import { randomUUID } from 'node:crypto';
import type { EnqueueOptions, Job, JobQueue, JobStatus } from '../store/job-queue.js';
import type { SqlClient } from './sql-client.js';

interface JobRow {
  id: string; type: string; payload: Record<string, unknown>; status: JobStatus; attempts: number;
  run_at: Date; last_error: string | null; ordering_key: string | null;
}

function toJob(r: JobRow): Job {
  return {
    id: r.id, type: r.type, payload: r.payload, status: r.status, attempts: r.attempts, runAt: new Date(r.run_at),
    lastError: r.last_error ?? undefined, orderingKey: r.ordering_key ?? undefined,
  };
}

export function createPostgresJobQueue(db: SqlClient): JobQueue {
  return {
    async enqueue(type, payload, options: EnqueueOptions = {}) {
      await db.query(
        `INSERT INTO job (id, type, payload, run_at, ordering_key, idempotency_key) VALUES ($1, $2, $3::jsonb, $4, $5, $6)
         ON CONFLICT (idempotency_key) DO NOTHING`,
        [randomUUID(), type, JSON.stringify(payload), (options.runAt ?? new Date()).toISOString(),
          options.orderingKey ?? null, options.idempotencyKey ?? null]);
    },
    async enqueueMany(jobs) {
      if (jobs.length === 0) return;
      // unnest … WITH ORDINALITY keeps the order (seq) of the list.
      await db.query(
        `INSERT INTO job (id, type, payload, run_at, ordering_key, idempotency_key)
         SELECT id, type, payload::jsonb, run_at, ordering_key, idempotency_key
         FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[]) WITH ORDINALITY
           AS j(id, type, payload, run_at, ordering_key, idempotency_key, n) ORDER BY n
         ON CONFLICT (idempotency_key) DO NOTHING`,
        [jobs.map(() => randomUUID()), jobs.map((j) => j.type), jobs.map((j) => JSON.stringify(j.payload)),
          jobs.map((j) => (j.options?.runAt ?? new Date()).toISOString()), jobs.map((j) => j.options?.orderingKey ?? null),
          jobs.map((j) => j.options?.idempotencyKey ?? null)]);
    },
    async claim(types, limit, now = new Date()) {
      // UPDATE … RETURNING has no order of its own: the outer SELECT returns the claimed jobs oldest first.
      const rows = await db.query<JobRow>(
        `WITH claimed AS (UPDATE job SET status = 'running', attempts = attempts + 1, updated_at = now()
         WHERE seq IN (
           SELECT j.seq FROM job j WHERE j.status = 'pending' AND j.type = ANY($1::text[]) AND j.run_at <= $2
           AND (j.ordering_key IS NULL OR NOT EXISTS (
             SELECT 1 FROM job e WHERE e.ordering_key = j.ordering_key AND e.seq < j.seq AND e.status IN ('pending', 'running')))
           ORDER BY j.seq LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING seq, id, type, payload, status, attempts, run_at, last_error, ordering_key)
         SELECT id, type, payload, status, attempts, run_at, last_error, ordering_key FROM claimed ORDER BY seq`,
        [types as string[], now.toISOString(), limit]);
      return rows.map(toJob);
    },
    async complete(ids) {
      await db.query(`UPDATE job SET status = 'done', updated_at = now() WHERE id = ANY($1::text[])`,
        [typeof ids === 'string' ? [ids] : ids]);
    },
    async fail(id, error, retryAt) {
      await db.query(
        `UPDATE job SET status = $2, last_error = $3, run_at = coalesce($4, run_at), updated_at = now() WHERE id = $1`,
        [id, retryAt ? 'pending' : 'failed', error, retryAt ? retryAt.toISOString() : null]);
    },
    async recover() {
      const rows = await db.query(`UPDATE job SET status = 'pending', updated_at = now() WHERE status = 'running' RETURNING id`);
      return rows.length;
    },
    async purgeDone(doneBefore) {
      const [{ n }] = await db.query<{ n: number }>(
        // Rows another transaction holds (a claim, another purge) are skipped, never waited for: no deadlock.
        `WITH d AS (DELETE FROM job WHERE seq IN (
           SELECT seq FROM job WHERE status = 'done' AND updated_at < $1 ORDER BY seq FOR UPDATE SKIP LOCKED) RETURNING 1)
         SELECT count(*)::int AS n FROM d`,
        [doneBefore.toISOString()]);
      return n;
    },
    async list(filter = {}) {
      const rows = await db.query<JobRow>(
        `SELECT id, type, payload, status, attempts, run_at, last_error, ordering_key FROM job
         WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR type = $2) ORDER BY seq`,
        [filter.status ?? null, filter.type ?? null]);
      return rows.map(toJob);
    },
  };
}
