// Bulk seeding in SQL (INSERT … SELECT generate_series) of Tasks and Patients with the rows the app writes, and its check.
import type { Resource } from '@medplum/fhirtypes';
import { extractIndexRows, type IndexRows } from '../../src/fhir/search-index.js';
import type { SearchRegistry } from '../../src/fhir/search-registry.js';
import type { SqlClient } from '../../src/postgres/sql-client.js';
import { OWNERS, STATUSES } from './fixtures.js';
import { log, fmt } from './stats.js';

/** Task i: id bt<i>, owner role-<i mod 1000>, status cycling every 1000 ids (so each owner gets every status), 1 s apart. */
const TASK_BATCH_SQL = `
WITH g AS (
  SELECT i, 'bt' || i AS id, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' AS ts,
    ($3::text[])[1 + (i / ${OWNERS}) % 5] AS status, 'role-' || (i % ${OWNERS}) AS owner, 'bp' || ((i::bigint * 7919) % $4) AS patient
  FROM generate_series($1::int, $2::int) AS i
), c AS MATERIALIZED (
  SELECT g.*, floor(extract(epoch FROM ts) * 1000)::float8 AS ms, jsonb_build_object(
    'resourceType', 'Task', 'id', id,
    'meta', jsonb_build_object('versionId', '1', 'lastUpdated', to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
    'status', status, 'intent', 'order', 'for', jsonb_build_object('reference', 'Patient/' || patient),
    'owner', jsonb_build_object('reference', 'PractitionerRole/' || owner),
    'authoredOn', to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')) AS content
  FROM g
), r AS (INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content) SELECT 'Task', id, 1, ts, false, content FROM c),
h AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, method, content) SELECT 'Task', id, 1, ts, 'POST', content FROM c),
tk AS (INSERT INTO sp_token (resource_type, resource_id, code, system, value, text)
  SELECT 'Task', id, v.code, NULL, v.value, NULL FROM c, LATERAL (VALUES ('intent', 'order'), ('status', status)) AS v(code, value)),
rf AS (INSERT INTO sp_reference (resource_type, resource_id, code, target_type, target_id, ref, last_updated)
  SELECT 'Task', id, v.code, v.tt, v.tid, v.tt || '/' || v.tid, ts FROM c,
  LATERAL (VALUES ('owner', 'PractitionerRole', owner), ('patient', 'Patient', patient), ('subject', 'Patient', patient)) AS v(code, tt, tid)),
dt AS (INSERT INTO sp_date (resource_type, resource_id, code, low, high) SELECT 'Task', id, 'authored-on', ms, ms + 999 FROM c)
SELECT count(*)::int AS n FROM c`;

/** Patient j: id bp<j>, INS identifier, name Bench/P<j>, gender, birthDate. */
const PATIENT_BATCH_SQL = `
WITH g AS (
  SELECT j, 'bp' || j AS id, timestamptz '2023-06-01 00:00:00+00' + j * interval '1 second' AS ts,
    CASE WHEN j % 2 = 0 THEN 'female' ELSE 'male' END AS gender, date '1940-01-01' + (j % 25000) AS birth,
    lpad(j::text, 13, '0') AS ins, 'P' || j AS given
  FROM generate_series($1::int, $2::int) AS j
), c AS MATERIALIZED (
  SELECT g.*, ((birth - date '1970-01-01')::bigint * 86400000)::float8 AS ms, jsonb_build_object(
    'resourceType', 'Patient', 'id', id,
    'meta', jsonb_build_object('versionId', '1', 'lastUpdated', to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
    'identifier', jsonb_build_array(jsonb_build_object('system', 'urn:oid:1.2.250.1.213.1.4.8', 'value', ins)),
    'name', jsonb_build_array(jsonb_build_object('family', 'Bench', 'given', jsonb_build_array(given))),
    'gender', gender, 'birthDate', to_char(birth, 'YYYY-MM-DD')) AS content
  FROM g
), r AS (INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content) SELECT 'Patient', id, 1, ts, false, content FROM c),
h AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, method, content) SELECT 'Patient', id, 1, ts, 'POST', content FROM c),
tk AS (INSERT INTO sp_token (resource_type, resource_id, code, system, value, text)
  SELECT 'Patient', id, v.code, v.sys, v.value, NULL FROM c, LATERAL (VALUES ('deceased', NULL, 'false'), ('gender', NULL, gender),
    ('identifier', 'urn:oid:1.2.250.1.213.1.4.8', ins), ('ins', 'urn:oid:1.2.250.1.213.1.4.8', ins)) AS v(code, sys, value)),
st AS (INSERT INTO sp_string (resource_type, resource_id, code, value, norm)
  SELECT 'Patient', id, v.code, v.value, lower(v.value) FROM c, LATERAL (VALUES ('family', 'Bench'), ('given', given), ('name', 'Bench'),
    ('name', given), ('phonetic', 'Bench'), ('phonetic', given)) AS v(code, value)),
dt AS (INSERT INTO sp_date (resource_type, resource_id, code, low, high) SELECT 'Patient', id, 'birthdate', ms, ms + 86399999 FROM c)
SELECT count(*)::int AS n FROM c`;

/** Patients bp0 … bp<patients − 1> with their history and index rows. */
export async function seedPatients(db: SqlClient, patients: number, batch: number): Promise<void> {
  for (let from = 0; from < patients; from += batch) {
    await db.query(PATIENT_BATCH_SQL, [from, Math.min(patients, from + batch) - 1]);
  }
}

export interface SeedResult { tasks: number; patients: number; seconds: number; budgetHit: boolean }

/**
 * Seeds `patients` Patients then Tasks in batches until `tasks` are written or `budgetS` seconds have passed
 * (whole batches only). Returns what was actually written.
 */
export async function seed(db: SqlClient, tasks: number, patients: number, batch: number, budgetS: number): Promise<SeedResult> {
  const start = performance.now();
  const elapsed = () => (performance.now() - start) / 1000;
  await seedPatients(db, patients, batch);
  log(`  ${fmt(patients, 0)} Patients seeded in ${fmt(elapsed())} s`);
  let done = 0;
  let lastLog = 0;
  while (done < tasks) {
    if (elapsed() > budgetS) return { tasks: done, patients, seconds: elapsed(), budgetHit: true };
    const to = Math.min(tasks, done + batch) - 1;
    await db.query(TASK_BATCH_SQL, [done, to, [...STATUSES], patients]);
    done = to + 1;
    if (elapsed() - lastLog > 30) {
      lastLog = elapsed();
      log(`  ${fmt(done, 0)} Tasks seeded (${fmt(elapsed(), 0)} s, ${fmt(done / elapsed(), 0)} Tasks/s)`);
    }
  }
  return { tasks: done, patients, seconds: elapsed(), budgetHit: false };
}

/** The index rows stored for one resource, in the shape `extractIndexRows` returns. */
async function storedRows(db: SqlClient, type: string, id: string): Promise<IndexRows> {
  const q = <R>(sql: string) => db.query<R>(`${sql} WHERE resource_type = $1 AND resource_id = $2`, [type, id]);
  return {
    token: await q('SELECT code, system, value, text FROM sp_token'),
    string: await q('SELECT code, value, norm FROM sp_string'),
    reference: await q('SELECT code, target_type AS "targetType", target_id AS "targetId", ref FROM sp_reference'),
    date: await q('SELECT code, low, high FROM sp_date'),
    number: await q('SELECT code, value FROM sp_number'),
    quantity: await q('SELECT code, value, system, unit FROM sp_quantity'),
    uri: await q('SELECT code, value FROM sp_uri'),
  };
}

/** Order-independent canonical form: each row as JSON with sorted keys, rows sorted. */
function canonical(rows: IndexRows): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, list] of Object.entries(rows) as [string, object[]][]) {
    out[k] = list.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b))))).sort();
  }
  return out;
}

/**
 * Compares, for each sample, the index rows in the database with `extractIndexRows(content)` (what the app writes).
 * Returns the mismatches (empty when the seed is faithful).
 */
export async function verifyIndexRows(db: SqlClient, registry: SearchRegistry, samples: [string, string][]): Promise<string[]> {
  const problems: string[] = [];
  for (const [type, id] of samples) {
    const [row] = await db.query<{ content: Resource }>('SELECT content FROM resource WHERE resource_type = $1 AND id = $2', [type, id]);
    if (!row) { problems.push(`${type}/${id}: missing`); continue; }
    const want = canonical(extractIndexRows(row.content, registry));
    const got = canonical(await storedRows(db, type, id));
    const total = Object.values(want).reduce((n, l) => n + l.length, 0);
    if (JSON.stringify(want) !== JSON.stringify(got)) problems.push(`${type}/${id}: expected ${JSON.stringify(want)} got ${JSON.stringify(got)}`);
    else log(`  index rows of ${type}/${id} match extractIndexRows (${total} rows)`);
  }
  return problems;
}

/** Matches counted from the JSON content itself (independent of the index tables the search uses). */
export async function countFromContent(db: SqlClient, owner: string, status: string): Promise<number> {
  const [{ n }] = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Task' AND NOT deleted
     AND content -> 'owner' ->> 'reference' = $1 AND content ->> 'status' = $2`, [`PractitionerRole/${owner}`, status]);
  return n;
}
