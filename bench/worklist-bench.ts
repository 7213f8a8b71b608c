// Times GET /fhir/Task/$worklist (requis, unread, workflow + status, sent, secretariat) over ~1M SQL-seeded Tasks.
import type { Bundle, Task } from '@medplum/fhirtypes';
import { migrate } from '../src/postgres/migrations.js';
import { loadOrCreateDevSigningKey, signDevToken } from '../src/http/auth/dev-keys.js';
import { parseSearch } from '../src/fhir/search-request.js';
import { compileSearch } from '../src/postgres/search-sql.js';
import type { SqlClient } from '../src/postgres/sql-client.js';
import { searchPredicates } from '../src/workflow/resource-service.js';
import { dossierPredicate, type Party } from '../src/workflow/teleexpertise/dossier-visibility.js';
import { parseWorklist, worklistPredicates } from '../src/workflow/teleexpertise/worklist.js';
import { DOSSIER_AUTHOR_URL, READ_RECEIPT_URL } from '../src/workflow/teleexpertise/dossier-model.js';
import { postmasterPidOf, prepareBackend, versionOf, type BackendName } from './lib/backend.js';
import { COMMON_USAGE, parseBenchArgs } from './lib/cli.js';
import { benchRegistry } from './lib/explain.js';
import { STATUSES } from './lib/fixtures.js';
import { closedLoop, httpClient, type HttpClient } from './lib/load.js';
import { cpuSnapshot, cpuUse, setPostmasterPid, sleep, waitMachineQuiet, waitQuiet } from './lib/proc.js';
import { seedPatients, verifyIndexRows } from './lib/seed.js';
import { startServer } from './lib/server.js';
import { fmt, log, medianOf, printTable, summarize, verdict, type LatencySummary, type Row } from './lib/stats.js';
import { directory, indexSamples, insertResources, PERSONAS, seedDossierTasks, WORKFLOWS } from './lib/worklist-seed.js';

const USAGE = `Usage: npm run bench:worklist -- [options]

Seeds a directory (Practitioners, PractitionerRoles, CareTeams, Organizations), Patients and télédossier Tasks in bulk
SQL, verifies the seed, times each worklist's SQL directly (the floor), then GET /fhir/Task/$worklist over HTTP as
an expert (~1,000 dossiers: own roles + two communities), a requérant and a secretariat. Prints Markdown tables.

${COMMON_USAGE}
  --tasks <n>          Tasks to seed (default 1000000); Patients = tasks / 10
  --batch <n>          rows per INSERT … SELECT statement (default 50000)
  --seed-budget-s <s>  stop seeding after this many seconds, keeping whole batches (default 900)
  --searches <n>       searches per view, repetition and concurrency (default 200; for a slow view fewer, at
                       least 20: about 15 s of its SQL's median time)
  --concurrency <n>    the second concurrency level (default 10)
  --print-plans <0|1|2> print EXPLAIN (ANALYZE, BUFFERS) of each view's SQL; 2: also with the visibility filter ANDed (default 1)`;

const args = parseBenchArgs(USAGE, { tasks: 1_000_000, batch: 50_000, 'seed-budget-s': 900, searches: 200, concurrency: 10, 'print-plans': 1 });
const registry = benchRegistry();
type Who = keyof typeof PERSONAS;

/** The parties of the personas, as resolveParty finds them in the seeded directory (checked over HTTP below). */
const PARTIES: Record<Who, Party> = {
  expert: { refs: ['Practitioner/bpr0', 'PractitionerRole/br0', 'PractitionerRole/br1'], teams: ['CareTeam/bct0', 'CareTeam/bct1'], adminOrgs: [] },
  requerant: { refs: ['Practitioner/bpr5', 'PractitionerRole/br10', 'PractitionerRole/br11'], teams: [], adminOrgs: [] },
  secretariat: { refs: ['Practitioner/bpr-sec', 'PractitionerRole/br-sec'], teams: [], adminOrgs: ['Organization/bo0'] },
};

interface View { name: string; who: Who; query: (i: number) => string; expectedSql: (q: Record<string, string>) => [string, unknown[]] }

const EXPERT_OWNERS = [...PARTIES.expert.refs, ...PARTIES.expert.teams];
/** Whether the Task's read receipts name one of the references in the text[] parameter `param`. */
const readBy = (param: string) => `EXISTS (SELECT 1 FROM unnest(${param}::text[]) AS rd(ref) WHERE content -> 'extension' @> jsonb_build_array(
  jsonb_build_object('url', '${READ_RECEIPT_URL}', 'extension', jsonb_build_array(jsonb_build_object('url', 'reader', 'valueReference', jsonb_build_object('reference', rd.ref))))))`;
const TASKS = `SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Task' AND NOT deleted`;

/** The views measured; `expectedSql` counts the matches from the JSON content (independent of the index tables). */
const VIEWS: View[] = [
  { name: 'requis', who: 'expert', query: () => 'view=requis',
    expectedSql: () => [`${TASKS} AND content -> 'owner' ->> 'reference' = ANY($1::text[])`, [EXPERT_OWNERS]] },
  { name: 'requis + unread', who: 'expert', query: () => 'view=requis&unread=true',
    expectedSql: () => [`${TASKS} AND content -> 'owner' ->> 'reference' = ANY($1::text[]) AND NOT ${readBy('$2')}`, [EXPERT_OWNERS, PARTIES.expert.refs]] },
  { name: 'requis + workflow + status', who: 'expert', query: (i) => `view=requis&workflow=${WORKFLOWS[i % 4]}&status=${STATUSES[Math.floor(i / 4) % 5]}`,
    expectedSql: (q) => [`${TASKS} AND content -> 'owner' ->> 'reference' = ANY($1::text[]) AND content -> 'code' -> 'coding' -> 0 ->> 'code' = $2 AND content ->> 'status' = $3`,
      [EXPERT_OWNERS, q.workflow, q.status]] },
  { name: 'sent', who: 'requerant', query: () => 'view=sent',
    expectedSql: () => [`${TASKS} AND NOT content ? 'partOf' AND (content -> 'requester' ->> 'reference' = ANY($1::text[])
      OR EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(content -> 'extension', '[]')) e WHERE e ->> 'url' = '${DOSSIER_AUTHOR_URL}' AND e -> 'valueReference' ->> 'reference' = ANY($1::text[])))`,
    [PARTIES.requerant.refs]] },
  { name: 'secretariat', who: 'secretariat', query: () => 'view=secretariat',
    expectedSql: () => [`WITH owners AS MATERIALIZED (SELECT unnest($1::text[]) AS ref
        UNION SELECT 'PractitionerRole/' || id FROM resource WHERE resource_type = 'PractitionerRole' AND content -> 'organization' ->> 'reference' = ANY($1::text[])
        UNION SELECT 'CareTeam/' || id FROM resource WHERE resource_type = 'CareTeam' AND content -> 'managingOrganization' -> 0 ->> 'reference' = ANY($1::text[]))
      ${TASKS} AND NOT content ? 'partOf' AND content -> 'owner' ->> 'reference' IN (SELECT ref FROM owners)`,
    [PARTIES.secretariat.adminOrgs]] },
];

const queryOf = (qs: string) => Object.fromEntries(new URLSearchParams(qs)) as Record<string, string>;

/** The page SQL of a view: what the server runs (searchPredicates), or with the visibility filter always ANDed. */
function compiled(view: View, i: number, mode: 'server' | 'with-visibility') {
  const raw = Object.fromEntries(Object.entries(queryOf(view.query(i))).map(([k, v]) => [k, [v]]));
  const wl = parseWorklist(raw);
  const parsed = parseSearch(registry, 'Task', wl.query, { defaultCount: 20, maxCount: 1000 });
  const party = PARTIES[view.who];
  const where = worklistPredicates(wl, party);
  const filter = dossierPredicate('Task', party);
  const predicates = mode === 'server' ? searchPredicates(parsed.predicates, where, filter) : [...parsed.predicates, ...where, ...filter ? [filter] : []];
  return compileSearch({ ...parsed, predicates });
}

interface Floor { server: LatencySummary; withVisibility: LatencySummary; runs: number; skipped: boolean; firstPage: string[] }

async function floors(db: SqlClient, view: View): Promise<Floor> {
  const server: number[] = [];
  const withVisibility: number[] = [];
  const start = performance.now();
  // 60 runs of each (the first 10 are warm-up), or fewer for slow views: at most ~20 s per view and backend.
  for (let i = 0; i < 60 && (i < 14 || performance.now() - start < 20_000); i++) {
    for (const [mode, lat] of [['server', server], ['with-visibility', withVisibility]] as const) {
      const q = compiled(view, i, mode);
      const t0 = performance.now();
      await db.query(q.sql, q.params);
      lat.push(performance.now() - t0);
    }
  }
  const q = compiled(view, 0, 'server');
  const rows = await db.query<{ content: Task }>(q.sql, q.params);
  const warm = Math.min(10, server.length - 4);
  return { server: summarize(server.slice(warm)), withVisibility: summarize(withVisibility.slice(warm)), runs: server.length - warm,
    skipped: q.sql.length < compiled(view, 0, 'with-visibility').sql.length, firstPage: rows.slice(0, 20).map((r) => String(r.content.id)) };
}

async function explain(db: SqlClient, view: View, mode: 'server' | 'with-visibility'): Promise<string> {
  const q = compiled(view, 0, mode);
  const plan = (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${q.sql}`, q.params)).map((r) => r['QUERY PLAN']);
  return `-- ${view.name} (${mode}):\n${q.sql}\n${plan.join('\n')}`;
}

interface Rep { p50: number; p95: number; p99: number; perS: number; serverPct: number; postgresPct: number; othersPct: number; errors: number }
interface ViewResult { view: string; expected: number; check: string; floor: Floor; levels: { c: number; searches: number; reps: Rep[] }[] }
interface Result { name: BackendName; version: string; seed: string; verified: string; views: ViewResult[] }

async function crossCheck(client: HttpClient, view: View, expected: number, floor: Floor): Promise<string> {
  const r = await client.json<Bundle<Task>>('GET', `/fhir/Task/$worklist?${view.query(0)}&_total=accurate`);
  const ids = (r.body.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => String(e.resource?.id));
  const sorted = (r.body.entry ?? []).every((e, i, all) => i === 0 || String(all[i - 1].resource?.meta?.lastUpdated) >= String(e.resource?.meta?.lastUpdated));
  const same = JSON.stringify(ids) === JSON.stringify(floor.firstPage);
  const ok = r.status === 200 && r.body.total === expected && same && sorted && ids.length === Math.min(20, expected);
  const line = `HTTP ${r.status} total ${r.body.total} vs ${expected} from content, page = direct SQL's ${same}, sorted ${sorted} → ${ok ? 'OK' : 'MISMATCH'}`;
  log(`  cross-check ${view.name}: ${line}`);
  return line;
}

/** Searches per repetition: --searches, or for a slow view fewer (at least 20): about 15 s of its SQL's median. */
const searchesFor = (floor: Floor) => Math.max(20, Math.min(args.num.searches, Math.round(15_000 / Math.max(1, floor.server.p50))));

async function level(pid: number, client: HttpClient, view: View, c: number, searches: number): Promise<Rep[]> {
  const reps: Rep[] = [];
  for (let rep = 0; rep < args.reps; rep++) {
    await waitMachineQuiet(25, 30_000);
    const c0 = cpuSnapshot(pid);
    const res = await closedLoop(searches, c, async (i) => (await client.send('GET', `/fhir/Task/$worklist?${view.query(i + rep)}`)).status);
    const cpu = cpuUse(c0, cpuSnapshot(pid));
    await waitQuiet(pid);
    const l = summarize(res.latMs);
    const r: Rep = { p50: l.p50, p95: l.p95, p99: l.p99, perS: (res.latMs.length / res.wallMs) * 1000, serverPct: cpu.serverPct,
      postgresPct: cpu.postgresPct, othersPct: cpu.othersPct, errors: res.errors };
    log(`  ${view.name} c=${c} rep ${rep + 1}: ${fmt(r.perS)} /s p50 ${fmt(l.p50, 2)} p95 ${fmt(l.p95, 2)} p99 ${fmt(l.p99, 2)} ms, CPU server ${fmt(cpu.serverPct, 0)} % ` +
      `postgres ${fmt(cpu.postgresPct, 0)} % others ${fmt(cpu.othersPct, 0)} %${res.firstError ? `, errors ${res.errors}: ${res.firstError}` : ''}`);
    reps.push(r);
  }
  return reps;
}

async function runBackend(name: BackendName): Promise<Result> {
  log(`== ${name}`);
  const be = await prepareBackend(name, args.databaseUrl, 'worklist');
  setPostmasterPid(be.databaseUrl ? await postmasterPidOf(be.databaseUrl) : undefined);
  try {
    const db = await be.open();
    await migrate(db);
    const version = await versionOf(db);
    const t0 = performance.now();
    const dir = directory();
    await insertResources(db, registry, dir);
    const patients = Math.max(1, Math.floor(args.num.tasks / 10));
    await seedPatients(db, patients, args.num.batch);
    log(`  ${dir.length} directory resources and ${fmt(patients, 0)} Patients seeded in ${fmt((performance.now() - t0) / 1000)} s`);
    const seeded = await seedDossierTasks(db, args.num.tasks, patients, args.num.batch, args.num['seed-budget-s'],
      (done, s) => log(`  ${fmt(done, 0)} Tasks seeded (${fmt(s, 0)} s)`));
    const seedS = (performance.now() - t0) / 1000;
    let t = performance.now();
    await db.exec('VACUUM (ANALYZE)');
    const seed = `${fmt(seeded.tasks, 0)} Tasks${seeded.budgetHit ? ' (budget hit)' : ''}, ${fmt(seedS)} s + VACUUM ANALYZE ${fmt((performance.now() - t) / 1000)} s`;
    log(`  seeded ${seed}`);
    const problems = await verifyIndexRows(db, registry, indexSamples(seeded.tasks));
    if (problems.length > 0) throw new Error(`seeded index rows differ from extractIndexRows:\n${problems.join('\n')}`);
    const prepared: { view: View; expected: number; floor: Floor }[] = [];
    for (const view of VIEWS) {
      t = performance.now();
      const [sql, params] = view.expectedSql(queryOf(view.query(0)));
      const [{ n }] = await db.query<{ n: number }>(sql, params);
      const floor = await floors(db, view);
      log(`  ${view.name}: ${n} matches (from content, ${fmt(performance.now() - t, 0)} ms); direct SQL p50 ${fmt(floor.server.p50, 2)} p95 ${fmt(floor.server.p95, 2)} ms` +
        ` (visibility ${floor.skipped ? 'implied, skipped' : 'ANDed'}); always ANDing visibility: p50 ${fmt(floor.withVisibility.p50, 2)} p95 ${fmt(floor.withVisibility.p95, 2)} ms`);
      if (args.num['print-plans']) {
        console.log(await explain(db, view, 'server'));
        if (floor.skipped && args.num['print-plans'] > 1) console.log(await explain(db, view, 'with-visibility'));
      }
      prepared.push({ view, expected: n, floor });
    }
    await db.close(); // PGlite has a single writer: the server opens the database next

    const server = await startServer({ dataDir: be.dataDir, databaseUrl: be.databaseUrl });
    const key = await loadOrCreateDevSigningKey(be.dataDir);
    const clients = {} as Record<Who, HttpClient>;
    for (const who of Object.keys(PERSONAS) as Who[]) {
      const token = await signDevToken({ secret: key.secret, issuer: key.issuer, sub: `bench-${who}`, ...PERSONAS[who], scope: 'user/*.cruds', expiresIn: '12h' });
      clients[who] = httpClient(server.origin, token, Math.max(10, args.num.concurrency));
    }
    try {
      await waitQuiet(server.pid);
      const views: ViewResult[] = [];
      for (const p of prepared) views.push({ view: p.view.name, expected: p.expected, floor: p.floor, check: await crossCheck(clients[p.view.who], p.view, p.expected, p.floor), levels: [] });
      for (const [k, p] of prepared.entries()) {
        const client = clients[p.view.who];
        await closedLoop(30, 1, async (i) => (await client.send('GET', `/fhir/Task/$worklist?${p.view.query(i)}`)).status); // warm-up
        await waitQuiet(server.pid);
        for (const c of [1, args.num.concurrency]) views[k].levels.push({ c, searches: searchesFor(p.floor), reps: await level(server.pid, client, p.view, c, searchesFor(p.floor)) });
      }
      await sleep(1000);
      const verified = `OK (${indexSamples(seeded.tasks).length} resources)`;
      return { name, version, seed, verified, views };
    } finally {
      for (const c of Object.values(clients)) c.close();
      await server.stop();
    }
  } finally {
    await be.cleanup();
  }
}

function report(results: Result[]): void {
  printTable('Seeding (bulk SQL, before the server starts)', ['backend', 'database', 'seed', 'index rows vs extractIndexRows'],
    results.map((r) => [r.name, r.version, r.seed, r.verified]));
  printTable('Checks: HTTP total (_total=accurate) vs a count from the JSON content; first page vs the direct SQL', ['backend', 'view', 'check'],
    results.flatMap((r) => r.views.map((v) => [r.name, v.view, v.check])));
  printTable('Each view\'s page SQL run directly (floor; sequential, after warm-up)',
    ['backend', 'view', 'matches', 'runs', 'visibility filter', 'p50 ms', 'p95 ms', 'always ANDing visibility: p50 ms', 'p95 ms'],
    results.flatMap((r) => r.views.map((v) => [r.name, v.view, String(v.expected), String(v.floor.runs), v.floor.skipped ? 'implied, skipped' : 'ANDed',
      fmt(v.floor.server.p50, 2), fmt(v.floor.server.p95, 2), fmt(v.floor.withVisibility.p50, 2), fmt(v.floor.withVisibility.p95, 2)])));
  const rows: Row[] = [];
  for (const r of results) {
    for (const v of r.views) {
      for (const l of v.levels) {
        const p95 = medianOf(l.reps, 'p95');
        rows.push([r.name, v.view, String(l.c), String(l.searches), fmt(medianOf(l.reps, 'perS')), fmt(medianOf(l.reps, 'p50'), 2), fmt(p95, 2), fmt(medianOf(l.reps, 'p99'), 2),
          verdict(p95 < 30), fmt(medianOf(l.reps, 'serverPct'), 0), r.name === 'postgres' ? fmt(medianOf(l.reps, 'postgresPct'), 0) : '—',
          fmt(medianOf(l.reps, 'othersPct'), 0), String(l.reps.reduce((n, x) => n + x.errors, 0))]);
      }
    }
  }
  printTable(`GET /fhir/Task/$worklist over HTTP: median of ${args.reps} repetitions`,
    ['backend', 'view', 'clients', 'searches per rep', 'searches/s', 'p50 ms', 'p95 ms', 'p99 ms', 'p95 < 30 ms', 'CPU % server', 'postgres', 'others', 'errors'], rows);
}

const results: Result[] = [];
for (const name of args.backends) results.push(await runBackend(name));
report(results);
