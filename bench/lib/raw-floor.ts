// The raw floor: the same Task JSONB rows inserted with single-row INSERTs straight through the driver (pg / PGlite).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { closedLoop, type LoopResult } from './load.js';
import { storedTask } from './fixtures.js';
import { REPO_ROOT } from './server.js';

/** The `resource` table and its index, copied verbatim from the app's migration (so the table is identical). */
export function resourceTableDdl(): string {
  const sql = readFileSync(join(REPO_ROOT, 'src/postgres/migrations/001_resources.sql'), 'utf8');
  const statements = sql.split(';').map((s) => s.replace(/^\s*--.*$/gm, '').trim());
  const mine = statements.filter((s) => /^CREATE TABLE resource \(/.test(s) || /^CREATE INDEX \w+ ON resource \(/.test(s));
  if (mine.length !== 2) throw new Error(`expected the resource table and one index in 001_resources.sql, found ${mine.length}`);
  return mine.join(';\n') + ';';
}

const INSERT = 'INSERT INTO resource (resource_type, id, version_id, last_updated, content) VALUES ($1, $2, $3, $4, $5::jsonb)';

export interface RawFloor {
  readonly label: string;
  /** Inserts `count` Task rows with `concurrency` concurrent single-row INSERTs (autocommit). */
  run(count: number, concurrency: number, offset: number): Promise<LoopResult>;
  close(): Promise<void>;
}

/** pg driver, a pool of `concurrency` connections on a scratch database of the same server. */
export async function pgRawFloor(url: string, concurrency: number): Promise<RawFloor> {
  const pool = new pg.Pool({ connectionString: url, max: concurrency });
  await pool.query(resourceTableDdl());
  return {
    label: `pg ${concurrency} connections`,
    run: (count, c, offset) => closedLoop(count, c, async (i) => {
      const t = storedTask(offset + i);
      await pool.query(INSERT, ['Task', t.id, 1, t.lastUpdated, t.json]);
      return 201;
    }),
    close: () => pool.end(),
  };
}

/** In-process PGlite on its own temp directory (PGlite serialises the concurrent calls itself). */
export async function pgliteRawFloor(dir: string): Promise<RawFloor> {
  const db = await PGlite.create(dir);
  await db.exec(resourceTableDdl());
  return {
    label: 'in-process PGlite',
    run: (count, c, offset) => closedLoop(count, c, async (i) => {
      const t = storedTask(offset + i);
      await db.query(INSERT, ['Task', t.id, 1, t.lastUpdated, t.json]);
      return 201;
    }),
    close: () => db.close(),
  };
}
