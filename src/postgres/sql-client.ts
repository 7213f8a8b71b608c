// One SQL client seam over a PostgreSQL server (`pg` pool) and embedded PGlite, running the same SQL.
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';

export interface SqlClient {
  readonly dialect: 'postgres' | 'pglite';
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` in one database transaction; a nested call joins the enclosing transaction. */
  transaction<T>(fn: (client: SqlClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

// Numeric columns come back as JS numbers (bigint counts, double precision are safe in our ranges).
pg.types.setTypeParser(20, (v: string) => Number(v));

export function createPgClient(connectionString: string, maxConnections = 10): SqlClient {
  const pool = new pg.Pool({ connectionString, max: maxConnections });
  pool.on('error', () => { /* idle client errors are reported on the next query */ });
  const client: SqlClient = {
    dialect: 'postgres',
    async query<R>(sql: string, params?: unknown[]) {
      return (await pool.query(sql, params as unknown[])).rows as R[];
    },
    async exec(sql: string) {
      await pool.query(sql);
    },
    async transaction<T>(fn: (c: SqlClient) => Promise<T>): Promise<T> {
      const conn = await pool.connect();
      const tx: SqlClient = {
        dialect: 'postgres',
        query: async <R>(sql: string, params?: unknown[]) => (await conn.query(sql, params as unknown[])).rows as R[],
        exec: async (sql: string) => { await conn.query(sql); },
        transaction: (inner) => inner(tx),
        close: async () => undefined,
      };
      try {
        await conn.query('BEGIN');
        const result = await fn(tx);
        await conn.query('COMMIT');
        return result;
      } catch (e) {
        await conn.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        conn.release();
      }
    },
    close: () => pool.end(),
  };
  return client;
}

/** Embedded PostgreSQL (WASM); `dataDir` undefined means in memory. */
export async function createPgliteClient(dataDir?: string): Promise<SqlClient> {
  const db = await PGlite.create(dataDir);
  const wrap = (q: Pick<PGlite, 'query' | 'exec'>, inTx: boolean): SqlClient => {
    const c: SqlClient = {
      dialect: 'pglite',
      query: async <R>(sql: string, params?: unknown[]) => (await q.query<R>(sql, params)).rows,
      exec: async (sql: string) => { await q.exec(sql); },
      transaction: inTx ? (fn) => fn(c) : (fn) => db.transaction((tx) => fn(wrap(tx, true))),
      close: () => db.close(),
    };
    return c;
  };
  return wrap(db, false);
}
