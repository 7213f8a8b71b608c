// Bulk seeding of a téléexpertise directory and of télédossier Tasks (dossier-model.ts layout) for the worklist bench.
//
// Directory (a few thousand resources): inserted with the index rows `extractIndexRows` computes, as the app writes.
// Tasks (a million): INSERT … SELECT generate_series, each with the index rows extractIndexRows would write (checked
// on samples by verifyIndexRows in seed.ts). Layout, for Task i (id bt<i>, last_updated 2024-01-01 + i s):
// - owner slot s = i mod 4000: PractitionerRole br<s> for s < 3500, else CareTeam bct<s − 3500> (250 Tasks per owner);
// - status cycles every 4000 ids, workflow every 20000 ids (each owner gets every status × workflow);
// - requester br<(31 i + 17) mod 3500>; dossier-author br<(17 i + 3) mod 3500> when i mod 5 = 0;
//   sender-community bct<13 i mod 500> when i mod 4 = 1; a step (partOf Task/bt<i − 1>) when i mod 50 = 49;
// - a read receipt when i mod 3 ≠ 0, by the owner (a role) or the community's first member;
// - requis-organization: the owner's organization (bo<s mod 50>, or the CareTeam's managing organization).
// Directory: Practitioner bpr<k> has the roles br<2k> and br<2k+1>; br<s> works at Organization bo<s mod 50>;
// CareTeam bct<t> (managed by bo<t mod 50>) has 10 member roles, br0 being one of bct0's and bct1's.
// So the expert bpr0 (roles br0, br1; communities bct0, bct1) is the requis of 1,000 Tasks.
import type { CareTeam, Organization, Practitioner, PractitionerRole, Resource } from '@medplum/fhirtypes';
import { extractIndexRows } from '../../src/fhir/search-index.js';
import type { SearchRegistry } from '../../src/fhir/search-registry.js';
import type { SqlClient } from '../../src/postgres/sql-client.js';
import { DOSSIER_STATUS_SYSTEM, WORKFLOW_SYSTEM } from '../../src/workflow/teleexpertise/workflow-definition.js';
import { TELEO_ROLE_SYSTEM } from '../../src/workflow/teleexpertise/dossier-roles.js';
import { DOSSIER_AUTHOR_URL, READ_RECEIPT_URL, REQUIS_ORGANIZATION_URL, SENDER_COMMUNITY_URL } from '../../src/workflow/teleexpertise/dossier-model.js';
import { STATUSES } from './fixtures.js';

export const ROLES = 3500;
export const TEAMS = 500;
export const ORGS = 50;
const SLOTS = ROLES + TEAMS;
export const WORKFLOWS = ['avis-avc', 'avis-programme', 'teleradiologie', 'avis-urgences'] as const;
const BUSINESS = ['demandee', 'recue', 'attribuee', 'repondue', 'annulee'];

/** The personas the bench acts as (fhirUser, role claim). */
export const PERSONAS = {
  expert: { fhirUser: 'Practitioner/bpr0', role: 'PractitionerRole/br0' },
  requerant: { fhirUser: 'Practitioner/bpr5', role: 'PractitionerRole/br10' },
  secretariat: { fhirUser: 'Practitioner/bpr-sec', role: 'PractitionerRole/br-sec' },
} as const;

/** Member j (0–9) of CareTeam bct<t>: br0 is the first member of bct0 and bct1, nobody else's. */
const memberOf = (t: number, j: number) => (t < 2 && j === 0 ? 0 : 2 + ((t * 37 + j * 101) % (ROLES - 2)));
const MEMBER0_SQL = (t: string) => `CASE WHEN ${t} < 2 THEN 0 ELSE 2 + ((${t} * 37) % ${ROLES - 2}) END`;

export function directory(): Resource[] {
  const out: Resource[] = [];
  for (let o = 0; o < ORGS; o++) out.push({ resourceType: 'Organization', id: `bo${o}`, active: true, name: `Etablissement ${o}` } satisfies Organization);
  const practitioner = (id: string, family: string): Practitioner => ({ resourceType: 'Practitioner', id, active: true, name: [{ family, given: ['Bench'] }] });
  for (let k = 0; k < ROLES / 2; k++) out.push(practitioner(`bpr${k}`, `Medecin${k}`));
  const role = (id: string, pr: string, org: number, code?: string): PractitionerRole => ({
    resourceType: 'PractitionerRole', id, active: true, practitioner: { reference: `Practitioner/${pr}` }, organization: { reference: `Organization/bo${org}` },
    ...(code ? { code: [{ coding: [{ system: TELEO_ROLE_SYSTEM, code }] }] } : {}),
  });
  for (let s = 0; s < ROLES; s++) out.push(role(`br${s}`, `bpr${Math.floor(s / 2)}`, s % ORGS));
  out.push(practitioner('bpr-sec', 'Secretariat'), role('br-sec', 'bpr-sec', 0, 'secretariat'));
  for (let t = 0; t < TEAMS; t++) {
    out.push({
      resourceType: 'CareTeam', id: `bct${t}`, status: 'active', name: `Communaute ${t}`, managingOrganization: [{ reference: `Organization/bo${t % ORGS}` }],
      participant: Array.from({ length: 10 }, (_, j) => ({ member: { reference: `PractitionerRole/br${memberOf(t, j)}` } })),
    } satisfies CareTeam);
  }
  return out;
}

/** Inserts resources (version 1) with their history and the index rows extractIndexRows computes, 500 per statement. */
export async function insertResources(db: SqlClient, registry: SearchRegistry, resources: Resource[], at = '2023-01-01T00:00:00.000Z'): Promise<void> {
  for (let from = 0; from < resources.length; from += 500) {
    const chunk = resources.slice(from, from + 500).map((r) => ({ ...r, meta: { versionId: '1', lastUpdated: at } }));
    const rows = chunk.map((r) => ({ r, idx: extractIndexRows(r, registry) }));
    const each = <T>(pick: (x: (typeof rows)[number]) => T[]) => rows.flatMap(pick);
    const cols = <T extends object>(list: { r: Resource; row: T }[], keys: (keyof T)[]) =>
      [list.map((x) => x.r.resourceType), list.map((x) => x.r.id), ...keys.map((k) => list.map((x) => x.row[k]))];
    await db.query(`WITH r AS (INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
        SELECT t, i, 1, $4::timestamptz, false, c FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS u(t, i, c)),
      h AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, method, content)
        SELECT t, i, 1, $4::timestamptz, 'POST', c FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS u(t, i, c)) SELECT 1`,
    [chunk.map((r) => r.resourceType), chunk.map((r) => r.id), chunk.map((r) => JSON.stringify(r)), at]);
    const tok = each((x) => x.idx.token.map((row) => ({ r: x.r, row })));
    await db.query(`INSERT INTO sp_token (resource_type, resource_id, code, system, value, text)
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])`, cols(tok, ['code', 'system', 'value', 'text']));
    const str = each((x) => x.idx.string.map((row) => ({ r: x.r, row })));
    await db.query(`INSERT INTO sp_string (resource_type, resource_id, code, value, norm)
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])`, cols(str, ['code', 'value', 'norm']));
    const ref = each((x) => x.idx.reference.map((row) => ({ r: x.r, row })));
    await db.query(`INSERT INTO sp_reference (resource_type, resource_id, code, target_type, target_id, ref, last_updated)
      SELECT *, $7::timestamptz FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])`,
    [...cols(ref, ['code', 'targetType', 'targetId', 'ref']), at]);
    const other = rows.filter((x) => x.idx.date.length + x.idx.number.length + x.idx.quantity.length + x.idx.uri.length > 0);
    if (other.length > 0) throw new Error(`directory resources with date/number/quantity/uri index rows are not handled: ${other[0].r.resourceType}`);
  }
}

/** Tasks [from, to]: content, history and index rows (see the header for the layout). */
const TASK_BATCH_SQL = `
WITH g AS (
  SELECT i, 'bt' || i AS id, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' AS ts,
    i % ${SLOTS} AS s, (i / ${SLOTS}) % 5 AS k, ($3::text[])[1 + (i / 20000) % 4] AS workflow,
    'br' || ((i::bigint * 31 + 17) % ${ROLES}) AS requester,
    CASE WHEN i % 5 = 0 THEN 'br' || ((i::bigint * 17 + 3) % ${ROLES}) END AS author,
    CASE WHEN i % 4 = 1 THEN 'bct' || ((i::bigint * 13) % ${TEAMS}) END AS community,
    CASE WHEN i % 50 = 49 THEN 'bt' || (i - 1) END AS parent,
    'bp' || ((i::bigint * 7919) % $5) AS patient
  FROM generate_series($1::int, $2::int) AS i
), o AS (
  SELECT g.*, ($4::text[])[1 + k] AS status, ($6::text[])[1 + k] AS business,
    CASE WHEN s < ${ROLES} THEN 'PractitionerRole' ELSE 'CareTeam' END AS owner_type,
    CASE WHEN s < ${ROLES} THEN 'br' || s ELSE 'bct' || (s - ${ROLES}) END AS owner,
    CASE WHEN i % 3 = 0 THEN NULL WHEN s < ${ROLES} THEN 'br' || s ELSE 'br' || (${MEMBER0_SQL(`(s - ${ROLES})`)}) END AS reader,
    'bo' || (CASE WHEN s < ${ROLES} THEN s ELSE s - ${ROLES} END % ${ORGS}) AS requis_org
  FROM g
), c AS MATERIALIZED (
  SELECT o.*, floor(extract(epoch FROM ts) * 1000)::float8 AS ms, jsonb_strip_nulls(jsonb_build_object(
    'resourceType', 'Task', 'id', id,
    'meta', jsonb_build_object('versionId', '1', 'lastUpdated', to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
    'status', status, 'intent', 'order',
    'code', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', '${WORKFLOW_SYSTEM}', 'code', workflow))),
    'businessStatus', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', '${DOSSIER_STATUS_SYSTEM}', 'code', business))),
    'partOf', CASE WHEN parent IS NOT NULL THEN jsonb_build_array(jsonb_build_object('reference', 'Task/' || parent)) END,
    'for', jsonb_build_object('reference', 'Patient/' || patient),
    'requester', jsonb_build_object('reference', 'PractitionerRole/' || requester),
    'owner', jsonb_build_object('reference', owner_type || '/' || owner),
    'authoredOn', to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'extension', NULLIF(
      CASE WHEN author IS NOT NULL THEN jsonb_build_array(jsonb_build_object('url', '${DOSSIER_AUTHOR_URL}',
        'valueReference', jsonb_build_object('reference', 'PractitionerRole/' || author))) ELSE '[]'::jsonb END
      || CASE WHEN community IS NOT NULL THEN jsonb_build_array(jsonb_build_object('url', '${SENDER_COMMUNITY_URL}',
        'valueReference', jsonb_build_object('reference', 'CareTeam/' || community))) ELSE '[]'::jsonb END
      || jsonb_build_array(jsonb_build_object('url', '${REQUIS_ORGANIZATION_URL}', 'valueReference', jsonb_build_object('reference', 'Organization/' || requis_org)))
      || CASE WHEN reader IS NOT NULL THEN jsonb_build_array(jsonb_build_object('url', '${READ_RECEIPT_URL}', 'extension', jsonb_build_array(
        jsonb_build_object('url', 'reader', 'valueReference', jsonb_build_object('reference', 'PractitionerRole/' || reader)),
        jsonb_build_object('url', 'role', 'valueCode', 'requis'),
        jsonb_build_object('url', 'time', 'valueDateTime', to_char((ts + interval '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))))) ELSE '[]'::jsonb END,
      '[]'::jsonb))) AS content
  FROM o
), r AS (INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content) SELECT 'Task', id, 1, ts, false, content FROM c),
h AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, method, content) SELECT 'Task', id, 1, ts, 'POST', content FROM c),
tk AS (INSERT INTO sp_token (resource_type, resource_id, code, system, value, text)
  SELECT 'Task', id, v.code, v.sys, v.value, NULL FROM c, LATERAL (VALUES ('intent', NULL, 'order'), ('status', NULL, status),
    ('code', '${WORKFLOW_SYSTEM}', workflow), ('business-status', '${DOSSIER_STATUS_SYSTEM}', business)) AS v(code, sys, value)),
rf AS (INSERT INTO sp_reference (resource_type, resource_id, code, target_type, target_id, ref, last_updated)
  SELECT 'Task', id, v.code, v.tt, v.tid, v.tt || '/' || v.tid, ts FROM c,
  LATERAL (VALUES ('owner', owner_type, owner), ('patient', 'Patient', patient), ('subject', 'Patient', patient),
    ('requester', 'PractitionerRole', requester), ('dossier-author', 'PractitionerRole', author), ('sender-community', 'CareTeam', community),
    ('part-of', 'Task', parent), ('read-by', 'PractitionerRole', reader), ('requis-organization', 'Organization', requis_org)) AS v(code, tt, tid) WHERE v.tid IS NOT NULL),
dt AS (INSERT INTO sp_date (resource_type, resource_id, code, low, high) SELECT 'Task', id, 'authored-on', ms, ms + 999 FROM c)
SELECT count(*)::int AS n FROM c`;

/** Seeds Tasks [0, tasks) in batches; stops early (whole batches) after `budgetS` seconds. Returns the count written. */
export async function seedDossierTasks(db: SqlClient, tasks: number, patients: number, batch: number, budgetS: number, progress: (done: number, s: number) => void): Promise<{ tasks: number; budgetHit: boolean }> {
  const start = performance.now();
  const elapsed = () => (performance.now() - start) / 1000;
  let done = 0;
  let lastLog = 0;
  while (done < tasks) {
    if (elapsed() > budgetS) return { tasks: done, budgetHit: true };
    const to = Math.min(tasks, done + batch) - 1;
    await db.query(TASK_BATCH_SQL, [done, to, [...WORKFLOWS], [...STATUSES], patients, BUSINESS]);
    done = to + 1;
    if (elapsed() - lastLog > 30) {
      lastLog = elapsed();
      progress(done, elapsed());
    }
  }
  return { tasks: done, budgetHit: false };
}

/** Samples to check against extractIndexRows: Tasks with every optional element, and directory resources. */
export function indexSamples(tasks: number): [string, string][] {
  const last = tasks - 1;
  // 0: author; 1: community, read; 49: step, read; 60: author; 3501: owned by bct1, community (0, 60, 3501: no receipt)
  const ids = [0, 1, 49, 60, 3501, Math.floor(last / 2), last].filter((i) => i <= last);
  return [...ids.map((i): [string, string] => ['Task', `bt${i}`]),
    ['Practitioner', 'bpr0'], ['PractitionerRole', 'br0'], ['PractitionerRole', 'br-sec'], ['CareTeam', 'bct0'], ['Organization', 'bo0']];
}
