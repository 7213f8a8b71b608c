// ResourceStore on PostgreSQL/PGlite: current + history tables, index rows rewritten in the same statement.
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { errors } from '../kernel/errors.js';
import { extractIndexRows, type IndexRows } from '../fhir/search-index.js';
import type { SearchRegistry } from '../fhir/search-registry.js';
import { totalWithoutCount, type ParsedSearch } from '../fhir/search-request.js';
import type { HistoryEntry, HistoryQuery, ResourceStore, SearchResult, WriteOptions } from '../store/resource-store.js';
import { parseIfMatch } from '../store/resource-store.js';
import { resolveIncludes, type IncludeFetcher } from '../store/search-includes.js';
import { compileSearch } from './search-sql.js';
import type { SqlClient } from './sql-client.js';

interface CurrentRow { version_id: number; deleted: boolean }
interface HistoryRow { resource_type: string; id: string; version_id: number; last_updated: Date; method: string; content: Resource | null }

/**
 * `INSERT … SELECT … FROM unnest(…)` CTEs writing all index rows of one resource. Reference rows also carry the
 * version's last_updated (migration 003), so a search by reference can read its matches newest first from the index.
 */
function indexCtes(rows: IndexRows, add: (v: unknown) => string, type: string, id: string, ts: string): string[] {
  const ctes: string[] = [];
  const put = (name: string, table: string, cols: [string, string, unknown[]][], withUpdated = false) => {
    if (cols[0][2].length === 0) return;
    const names = cols.map((c) => c[0]).join(', ');
    const arrays = cols.map((c) => `${add(c[2])}::${c[1]}[]`).join(', ');
    const [col, val] = withUpdated ? [', last_updated', `, ${ts}::timestamptz`] : ['', ''];
    ctes.push(`${name} AS (INSERT INTO ${table} (resource_type, resource_id${col}, ${names}) SELECT ${type}, ${id}${val}, * FROM unnest(${arrays}))`);
  };
  put('i_tok', 'sp_token', [['code', 'text', rows.token.map((r) => r.code)], ['system', 'text', rows.token.map((r) => r.system)],
    ['value', 'text', rows.token.map((r) => r.value)], ['text', 'text', rows.token.map((r) => r.text)]]);
  put('i_str', 'sp_string', [['code', 'text', rows.string.map((r) => r.code)], ['value', 'text', rows.string.map((r) => r.value)],
    ['norm', 'text', rows.string.map((r) => r.norm)]]);
  put('i_ref', 'sp_reference', [['code', 'text', rows.reference.map((r) => r.code)],
    ['target_type', 'text', rows.reference.map((r) => r.targetType)], ['target_id', 'text', rows.reference.map((r) => r.targetId)],
    ['ref', 'text', rows.reference.map((r) => r.ref)]], true);
  put('i_date', 'sp_date', [['code', 'text', rows.date.map((r) => r.code)], ['low', 'float8', rows.date.map((r) => r.low)],
    ['high', 'float8', rows.date.map((r) => r.high)]]);
  put('i_num', 'sp_number', [['code', 'text', rows.number.map((r) => r.code)], ['value', 'float8', rows.number.map((r) => r.value)]]);
  put('i_qty', 'sp_quantity', [['code', 'text', rows.quantity.map((r) => r.code)], ['value', 'float8', rows.quantity.map((r) => r.value)],
    ['system', 'text', rows.quantity.map((r) => r.system)], ['unit', 'text', rows.quantity.map((r) => r.unit)]]);
  put('i_uri', 'sp_uri', [['code', 'text', rows.uri.map((r) => r.code)], ['value', 'text', rows.uri.map((r) => r.value)]]);
  return ctes;
}

const INDEX_TABLES = ['sp_token', 'sp_string', 'sp_reference', 'sp_date', 'sp_number', 'sp_quantity', 'sp_uri'];

function deleteIndexCtes(type: string, id: string): string[] {
  return INDEX_TABLES.map((t, i) => `d${i} AS (DELETE FROM ${t} WHERE resource_type = ${type} AND resource_id = ${id})`);
}

function isUniqueViolation(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: string }).code === '23505';
}

function withMeta<T extends Resource>(resource: T, id: string, versionId: number, lastUpdated: string): T {
  return { ...resource, id, meta: { ...resource.meta, versionId: String(versionId), lastUpdated } };
}

async function writeVersion<T extends Resource>(
db: SqlClient, registry: SearchRegistry, resource: T, version: number, method: 'POST' | 'PUT', replace: boolean,
): Promise<T> {
  const id = resource.id as string;
  const stored = withMeta(resource, id, version, new Date().toISOString());
  const params: unknown[] = [];
  const add = (v: unknown) => { params.push(v); return `$${params.length}`; };
  const type = add(resource.resourceType);
  const rid = add(id);
  const ver = add(version);
  const ts = add(stored.meta?.lastUpdated);
  const json = add(JSON.stringify(stored));
  const ctes = [
    replace
      ? `w AS (UPDATE resource SET version_id = ${ver}, last_updated = ${ts}, deleted = false, content = ${json}::jsonb WHERE resource_type = ${type} AND id = ${rid})`
      : `w AS (INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content) VALUES (${type}, ${rid}, ${ver}, ${ts}, false, ${json}::jsonb))`,
    `h AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, method, content) VALUES (${type}, ${rid}, ${ver}, ${ts}, '${method}', ${json}::jsonb))`,
    ...(replace ? deleteIndexCtes(type, rid) : []),
    ...indexCtes(extractIndexRows(stored, registry), add, type, rid, ts),
  ];
  try {
    await db.query(`WITH ${ctes.join(', ')} SELECT 1`, params);
  } catch (e) {
    if (isUniqueViolation(e)) throw errors.conflict(`${resource.resourceType}/${id} was written concurrently`);
    throw e;
  }
  return stored;
}


export function createPostgresResourceStore(db: SqlClient, registry: SearchRegistry): ResourceStore {
  async function current(tx: SqlClient, type: string, id: string): Promise<CurrentRow | undefined> {
    const rows = await tx.query<CurrentRow>(
      'SELECT version_id, deleted FROM resource WHERE resource_type = $1 AND id = $2 FOR UPDATE', [type, id]);
    return rows[0];
  }

  function checkIfMatch(row: CurrentRow | undefined, options: WriteOptions | undefined, ref: string): void {
    if (options?.ifMatch === undefined) return;
    const expected = parseIfMatch(options.ifMatch);
    if (!row || String(row.version_id) !== expected) {
      throw errors.preconditionFailed(`${ref}: If-Match ${options.ifMatch} does not match current version ${row ? row.version_id : '(none)'}`);
    }
  }

  // Each included resource once: a semi-join (IN) rather than DISTINCT over the joined rows, which sorted the JSON.
  const fetcher: IncludeFetcher = {
    async forward(sourceType, code, sourceIds, targetType) {
      const rows = await db.query<{ content: Resource }>(
        `SELECT r.content FROM resource r WHERE NOT r.deleted AND (r.resource_type, r.id) IN (
           SELECT x.target_type, x.target_id FROM sp_reference x WHERE x.resource_type = $1 AND x.code = $2
           AND x.resource_id = ANY($3::text[]) AND ($4::text IS NULL OR x.target_type = $4))`, [sourceType, code, sourceIds, targetType ?? null]);
      return rows.map((r) => r.content);
    },
    async reverse(sourceType, code, targetType, targetIds) {
      const rows = await db.query<{ content: Resource }>(
        `SELECT r.content FROM resource r WHERE r.resource_type = $1 AND NOT r.deleted AND r.id IN (
           SELECT x.resource_id FROM sp_reference x WHERE x.resource_type = $1 AND x.code = $2 AND x.target_type = $3
           AND x.target_id = ANY($4::text[]))`,
        [sourceType, code, targetType, targetIds]);
      return rows.map((r) => r.content);
    },
  };

  return {
    async create(resource, options) {
      const id = options?.id ?? randomUUID();
      return writeVersion(db, registry, { ...resource, id }, 1, 'POST', false);
    },

    async read<T extends Resource>(type: string, id: string): Promise<T> {
      const rows = await db.query<{ deleted: boolean; content: T }>(
        'SELECT deleted, content FROM resource WHERE resource_type = $1 AND id = $2', [type, id]);
      if (rows.length === 0) throw errors.notFound(`${type}/${id} not found`);
      if (rows[0].deleted) throw errors.gone(`${type}/${id} was deleted`);
      return rows[0].content;
    },

    async vread<T extends Resource>(type: string, id: string, versionId: string): Promise<T> {
      const v = Number(versionId);
      if (!Number.isInteger(v)) throw errors.notFound(`${type}/${id}/_history/${versionId} not found`);
      const rows = await db.query<{ content: T | null }>(
        'SELECT content FROM resource_history WHERE resource_type = $1 AND id = $2 AND version_id = $3', [type, id, v]);
      if (rows.length === 0) throw errors.notFound(`${type}/${id}/_history/${versionId} not found`);
      if (rows[0].content === null) throw errors.gone(`${type}/${id}/_history/${versionId} is a deletion`);
      return rows[0].content;
    },

    update<T extends Resource>(resource: T, options?: WriteOptions) {
      const ref = `${resource.resourceType}/${resource.id}`;
      return db.transaction(async (tx) => {
        let row = await current(tx, resource.resourceType, resource.id as string);
        if (!row) {
          // No row to lock yet: concurrent update-as-creates of one id serialise on an advisory lock, then re-read.
          await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [ref]);
          row = await current(tx, resource.resourceType, resource.id as string);
        }
        checkIfMatch(row, options, ref);
        const saved = await writeVersion(tx, registry, resource, row ? row.version_id + 1 : 1, row ? 'PUT' : 'POST', !!row);
        return { resource: saved, created: !row || row.deleted };
      });
    },

    delete(type, id, options) {
      return db.transaction(async (tx) => {
        const row = await current(tx, type, id);
        checkIfMatch(row, options, `${type}/${id}`);
        if (!row || row.deleted) return;
        const ts = new Date().toISOString();
        await tx.query(`WITH w AS (UPDATE resource SET version_id = $3, last_updated = $4, deleted = true, content = NULL
            WHERE resource_type = $1 AND id = $2),
          h AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, method, content)
            VALUES ($1, $2, $3, $4, 'DELETE', NULL)),
          ${deleteIndexCtes('$1', '$2').join(', ')} SELECT 1`, [type, id, row.version_id + 1, ts]);
      });
    },

    async history(type: string | undefined, id: string | undefined, q: HistoryQuery) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (type) { params.push(type); where.push(`resource_type = $${params.length}`); }
      if (id) { params.push(id); where.push(`id = $${params.length}`); }
      if (q.since) { params.push(q.since); where.push(`last_updated > $${params.length}`); }
      const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
      const [{ n }] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource_history ${w}`, params);
      const rows = await db.query<HistoryRow>(
        `SELECT resource_type, id, version_id, last_updated, method, content FROM resource_history ${w}
         ORDER BY last_updated DESC, version_id DESC LIMIT ${Number(q.count)} OFFSET ${Number(q.offset ?? 0)}`, params);
      const entries: HistoryEntry[] = rows.map((r) => ({
        resourceType: r.resource_type, id: r.id, versionId: String(r.version_id),
        lastUpdated: new Date(r.last_updated).toISOString(), method: r.method as HistoryEntry['method'],
        resource: r.content ?? undefined,
      }));
      return { entries, total: n };
    },

    async search(search: ParsedSearch): Promise<SearchResult> {
      const q = compileSearch(search);
      const rows = search.count === 0 ? [] : await db.query<{ content: Resource }>(q.sql, q.params);
      const resources = rows.slice(0, search.count).map((r) => r.content);
      const hasMore = rows.length > search.count;
      // The count query costs as much as the page query: run it only when a total is asked for and not known already.
      let total = search.total === 'none' ? undefined : totalWithoutCount(search, resources.length, hasMore);
      if (total === undefined && (search.total === 'accurate' || search.total === 'estimate')) {
        total = (await db.query<{ n: number }>(q.countSql, q.countParams))[0].n;
      }
      const included = await resolveIncludes(fetcher, search, resources);
      return { resources, included, total, hasMore };
    },
  };
}
