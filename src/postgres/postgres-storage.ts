// Storage on PostgreSQL (DATABASE_URL) or embedded PGlite: migrations at open, one transaction seam.
import type { SearchRegistry } from '../fhir/search-registry.js';
import type { Storage } from '../store/resource-store.js';
import { migrate } from './migrations.js';
import { createPostgresJobQueue } from './postgres-job-queue.js';
import { createPostgresResourceStore } from './postgres-resource-store.js';
import { createPgClient, createPgliteClient, type SqlClient } from './sql-client.js';

export function storageOn(db: SqlClient, registry: SearchRegistry): Storage {
  return {
    resources: createPostgresResourceStore(db, registry),
    jobs: createPostgresJobQueue(db),
    transaction: (fn) => db.transaction((tx) => fn(storageOn(tx, registry))),
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
