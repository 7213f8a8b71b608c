// Storage backends under test: a fresh database on a PostgreSQL server (--database-url) or PGlite in a temp DATA_DIR.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parentPid } from './proc.js';
import { createPgClient, createPgliteClient, type SqlClient } from '../../src/postgres/sql-client.js';

export type BackendName = 'postgres' | 'pglite';

export interface Backend {
  readonly name: BackendName;
  /** DATA_DIR of the server under test (keys, blobs, and for PGlite the database). */
  readonly dataDir: string;
  /** DATABASE_URL of the server under test (PostgreSQL only). */
  readonly databaseUrl?: string;
  /** A client on the server's database (for PGlite: only while the server is NOT running, single writer). */
  open(): Promise<SqlClient>;
  /** Drops the database / removes the temp directory. */
  cleanup(): Promise<void>;
}

/** Backends selected by `--backend` (default: both when a --database-url is given, else PGlite). */
export function selectedBackends(databaseUrl: string | undefined, backend: string | undefined): BackendName[] {
  const wanted = backend ?? (databaseUrl ? 'both' : 'pglite');
  const list: BackendName[] = wanted === 'both' ? ['postgres', 'pglite'] : [wanted as BackendName];
  for (const b of list) {
    if (b !== 'postgres' && b !== 'pglite') throw new Error(`--backend must be postgres, pglite or both (got ${wanted})`);
    if (b === 'postgres' && !databaseUrl) throw new Error('--backend postgres needs --database-url');
  }
  return list;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Runs one statement on the server's maintenance connection (CREATE / DROP DATABASE). */
async function admin(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A fresh, empty database `teleo_bench_<tag>_<pid>` on the server, dropped by `drop`. */
export async function createScratchDatabase(serverUrl: string, tag: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `teleo_bench_${tag}_${process.pid}`;
  await admin(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin(serverUrl, `CREATE DATABASE ${name}`);
  return { url: withDatabase(serverUrl, name), drop: () => admin(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `teleo-bench-${prefix}-`));
}

export async function prepareBackend(name: BackendName, serverUrl: string | undefined, tag: string): Promise<Backend> {
  const dataDir = await tempDir(`${tag}-${name}`);
  if (name === 'pglite') {
    return {
      name, dataDir,
      open: () => createPgliteClient(join(dataDir, 'pglite')),
      cleanup: () => rm(dataDir, { recursive: true, force: true }),
    };
  }
  const db = await createScratchDatabase(serverUrl as string, tag);
  return {
    name, dataDir, databaseUrl: db.url,
    open: async () => createPgClient(db.url, 4),
    cleanup: async () => {
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The postmaster pid of the server behind `url` (parent of our backend), when it runs on this machine. */
export async function postmasterPidOf(url: string): Promise<number | undefined> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const ppid = parentPid(rows[0].pid);
    return Number.isFinite(ppid) ? ppid : undefined;
  } finally {
    await c.end();
  }
}

/** PostgreSQL server version string (`SHOW server_version`) or the PGlite package version. */
export async function versionOf(db: SqlClient): Promise<string> {
  const [{ v }] = await db.query<{ v: string }>("SELECT current_setting('server_version') AS v");
  return db.dialect === 'pglite' ? `PGlite (PostgreSQL ${v})` : `PostgreSQL ${v}`;
}
