// The SQL the server runs for the hot Task search (compiled by src/postgres/search-sql.ts), timed and EXPLAINed directly.
import { loadDefinitions, PLATFORM_RESOURCE_TYPES } from '../../src/fhir/definitions.js';
import { createSearchRegistry, type SearchRegistry } from '../../src/fhir/search-registry.js';
import { parseSearch, totalWithoutCount, type ParsedSearch } from '../../src/fhir/search-request.js';
import { compileSearch } from '../../src/postgres/search-sql.js';
import type { SqlClient } from '../../src/postgres/sql-client.js';
import { REPO_ROOT } from './server.js';
import { summarize, type LatencySummary } from './stats.js';

export function benchRegistry(): SearchRegistry {
  loadDefinitions(`${REPO_ROOT}/profiles`);
  return createSearchRegistry(PLATFORM_RESOURCE_TYPES);
}

export function hotQuery(owner: string): Record<string, string[]> {
  return { owner: [`PractitionerRole/${owner}`], status: ['requested'], _include: ['Task:patient'], _sort: ['-_lastUpdated'] };
}

export function hotPath(owner: string): string {
  return `/fhir/Task?owner=PractitionerRole/${owner}&status=requested&_include=Task:patient&_sort=-_lastUpdated`;
}

/** As `fetcher.forward` in src/postgres/postgres-resource-store.ts (the _include query). */
const INCLUDE_SQL = `SELECT r.content FROM resource r WHERE NOT r.deleted AND (r.resource_type, r.id) IN (
  SELECT x.target_type, x.target_id FROM sp_reference x WHERE x.resource_type = $1 AND x.code = $2
  AND x.resource_id = ANY($3::text[]) AND ($4::text IS NULL OR x.target_type = $4))`;

interface Compiled { page: [string, unknown[]]; count: [string, unknown[]]; parsed: ParsedSearch }

function compiled(registry: SearchRegistry, owner: string): Compiled {
  const parsed = parseSearch(registry, 'Task', hotQuery(owner), { defaultCount: 20, maxCount: 1000 });
  const q = compileSearch(parsed);
  return { page: [q.sql, q.params], count: [q.countSql, q.countParams], parsed };
}

/** Whether the server runs the count query after this page (as src/postgres/postgres-resource-store.ts decides). */
function serverCounts(parsed: ParsedSearch, rows: number): boolean {
  const page = Math.min(rows, parsed.count);
  return (parsed.total === 'accurate' || parsed.total === 'estimate') && totalWithoutCount(parsed, page, rows > parsed.count) === undefined;
}

/**
 * The statements of one hot search (page, count, include), each timed over `owners`; `all` sums those the server
 * runs (the count only when it needs one: not for the hot search's default `_total`, see search-request.ts).
 */
export async function timeQueries(db: SqlClient, registry: SearchRegistry, owners: string[]): Promise<Record<'page' | 'count' | 'include' | 'all', LatencySummary>> {
  const lat = { page: [] as number[], count: [] as number[], include: [] as number[], all: [] as number[] };
  for (const owner of owners) {
    const c = compiled(registry, owner);
    const t0 = performance.now();
    const rows = await db.query<{ content: { id: string } }>(c.page[0], c.page[1]);
    const t1 = performance.now();
    await db.query(c.count[0], c.count[1]);
    const t2 = performance.now();
    await db.query(INCLUDE_SQL, ['Task', 'patient', rows.slice(0, 20).map((r) => r.content.id), null]);
    const t3 = performance.now();
    lat.page.push(t1 - t0);
    lat.count.push(t2 - t1);
    lat.include.push(t3 - t2);
    lat.all.push(t3 - t0 - (serverCounts(c.parsed, rows.length) ? 0 : t2 - t1));
  }
  return { page: summarize(lat.page), count: summarize(lat.count), include: summarize(lat.include), all: summarize(lat.all) };
}

/** EXPLAIN (ANALYZE, BUFFERS) of the page, count and include statements for one owner. */
export async function explainHot(db: SqlClient, registry: SearchRegistry, owner: string): Promise<string> {
  const c = compiled(registry, owner);
  const plan = async (sql: string, params: unknown[]) =>
    (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params)).map((r) => r['QUERY PLAN']).join('\n');
  const rows = await db.query<{ content: { id: string } }>(c.page[0], c.page[1]);
  const ids = rows.slice(0, 20).map((r) => r.content.id);
  return [
    `-- page query:\n${c.page[0]}\n${await plan(c.page[0], c.page[1])}`,
    `-- count query:\n${await plan(c.count[0], c.count[1])}`,
    `-- include query:\n${await plan(INCLUDE_SQL, ['Task', 'patient', ids, null])}`,
  ].join('\n\n');
}
