// Storage on PostgreSQL (DATABASE_URL) or embedded PGlite: migrations at open, one transaction seam.
import type { SearchRegistry } from '../fhir/search-registry.js';
import type { Storage } from '../store/resource-store.js';
import { migrate } from './migrations.js';
import { createPostgresJobQueue } from './postgres-job-queue.js';
import { createPostgresMessageLog } from './postgres-message-log.js';
import { createPostgresResourceStore } from './postgres-resource-store.js';
import { createPgClient, createPgliteClient, type SqlClient } from './sql-client.js';

export function storageOn(db: SqlClient, registry: SearchRegistry): Storage {
  return {
    resources: createPostgresResourceStore(db, registry),
    jobs: createPostgresJobQueue(db),
    messages: createPostgresMessageLog(db),
    transaction: (fn) => db.transaction((tx) => fn(storageOn(tx, registry))),
    // Transaction-level advisory lock on a 64-bit hash of the key, released by COMMIT/ROLLBACK (PostgreSQL
    // §9.27.10). Outside a transaction the statement is its own transaction: it waits, then releases at once.
    lock: async (key) => { await db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]); },
    close: () => db.close(),
  };
}

export interface OpenOptions {
  /** PostgreSQL server URL; when absent, PGlite is used. */
  databaseUrl?: string;
  /** PGlite data folder; undefined means in memory. */
  pgliteDir?: string;
  maxConnections?: number;
}

export async function openPostgresStorage(registry: SearchRegistry, options: OpenOptions): Promise<{ storage: Storage; db: SqlClient }> {
  const db = options.databaseUrl
    ? createPgClient(options.databaseUrl, options.maxConnections)
    : await createPgliteClient(options.pgliteDir);
  await migrate(db);
  return { storage: storageOn(db, registry), db };
}
