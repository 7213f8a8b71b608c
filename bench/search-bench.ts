// Measures the hot Task search (owner + status + _include=Task:patient + _sort=-_lastUpdated) over ~1M SQL-seeded Tasks.
import type { Bundle, Task } from '@medplum/fhirtypes';
import { migrate } from '../src/postgres/migrations.js';
import { postmasterPidOf, prepareBackend, versionOf, type BackendName } from './lib/backend.js';
import { COMMON_USAGE, parseBenchArgs } from './lib/cli.js';
import { benchRegistry, explainHot, hotPath, timeQueries } from './lib/explain.js';
import { ownerId } from './lib/fixtures.js';
import { closedLoop, httpClient, type HttpClient } from './lib/load.js';
import { RssSampler, rssMb, setPostmasterPid, sleep, waitMachineQuiet, waitQuiet, cpuSnapshot, cpuUse } from './lib/proc.js';
import { countFromContent, seed, verifyIndexRows, type SeedResult } from './lib/seed.js';
import { startServer, type ServerHandle } from './lib/server.js';
import { fmt, log, medianOf, printTable, summarize, verdict, type Row } from './lib/stats.js';

const USAGE = `Usage: npm run bench:search -- [options]

Seeds Tasks/Patients in bulk SQL, verifies the seed, then times the hot search over HTTP. Prints Markdown tables.

${COMMON_USAGE}
  --tasks <n>          Tasks to seed (default 1000000); Patients = tasks / 10
  --batch <n>          rows per INSERT … SELECT statement (default 50000)
  --seed-budget-s <s>  stop seeding after this many seconds, keeping whole batches (default 600)
  --vacuum <0|1>       VACUUM (ANALYZE) after seeding instead of plain ANALYZE (default 1: the state PostgreSQL's
                       autovacuum reaches by itself after a bulk insert; sets the visibility map index-only scans need)
  --searches <n>       searches per repetition and concurrency (default 500)
  --concurrency <n>    the second concurrency level (default 10)
  --print-plans <0|1>  print the EXPLAIN (ANALYZE, BUFFERS) plans of the search's SQL (default 1)`;

const args = parseBenchArgs(USAGE, { tasks: 1_000_000, batch: 50_000, 'seed-budget-s': 600, searches: 500, concurrency: 10, 'print-plans': 1, vacuum: 1 });
const SEARCHES = args.num.searches;
const registry = benchRegistry();

interface Rep { p50: number; p95: number; p99: number; perS: number; serverPct: number; postgresPct: number; clientPct: number; othersPct: number; drainMs: number; errors: number }
interface Result {
  name: BackendName; version: string; seed: SeedResult; analyzeS: number; verified: string; crossCheck: string;
  db: Awaited<ReturnType<typeof timeQueries>>; levels: { c: number; reps: Rep[] }[]; rssStart: number; peakMb: number; rssEnd: number;
}

async function crossCheck(client: HttpClient, expected: Map<string, number>): Promise<string> {
  const out: string[] = [];
  for (const [owner, want] of expected) {
    // The hot path asks no total (the server gives one only when the page tells it); the check asks for a count.
    const r = await client.json<Bundle<Task>>('GET', `${hotPath(owner)}&_total=accurate`);
    const matches = (r.body.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource as Task);
    const included = new Set((r.body.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => `Patient/${e.resource?.id}`));
    const missing = matches.filter((t) => !included.has(String(t.for?.reference))).length;
    const sorted = matches.every((t, i) => i === 0 || String(matches[i - 1].meta?.lastUpdated) >= String(t.meta?.lastUpdated));
    const ok = r.status === 200 && r.body.total === want && missing === 0 && sorted;
    out.push(`${owner}: HTTP total ${r.body.total} vs SQL ${want}, ${matches.length} matches, ${included.size} included, ` +
      `${missing} unresolved, sorted ${sorted} → ${ok ? 'OK' : 'MISMATCH'}`);
  }
  out.forEach((l) => log(`  cross-check ${l}`));
  return out.every((l) => l.endsWith('OK')) ? `OK (${expected.size} owners)` : `MISMATCH: ${out.join('; ')}`;
}

async function level(server: ServerHandle, client: HttpClient, c: number, sampler: { peak: number }): Promise<Rep[]> {
  const reps: Rep[] = [];
  for (let rep = 0; rep < args.reps; rep++) {
    await waitMachineQuiet();
    const s = new RssSampler(server.pid);
    const c0 = cpuSnapshot(server.pid);
    const res = await closedLoop(SEARCHES, c, async (i) => (await client.send('GET', hotPath(ownerId(i * 37 + rep * 11 + c)))).status);
    const cpu = cpuUse(c0, cpuSnapshot(server.pid));
    sampler.peak = Math.max(sampler.peak, s.stop().peakMb);
    const drainMs = await waitQuiet(server.pid);
    const l = summarize(res.latMs);
    const r: Rep = { p50: l.p50, p95: l.p95, p99: l.p99, perS: (res.latMs.length / res.wallMs) * 1000, serverPct: cpu.serverPct,
      postgresPct: cpu.postgresPct, clientPct: cpu.clientPct, othersPct: cpu.othersPct, drainMs, errors: res.errors };
    log(`  c=${c} rep ${rep + 1}: ${fmt(r.perS)} searches/s p50 ${fmt(l.p50, 2)} p95 ${fmt(l.p95, 2)} p99 ${fmt(l.p99, 2)} ms, ` +
      `CPU server ${fmt(cpu.serverPct, 0)} % postgres ${fmt(cpu.postgresPct, 0)} % client ${fmt(cpu.clientPct, 0)} % others ${fmt(cpu.othersPct, 0)} %, audit drain ${fmt(drainMs, 0)} ms` +
      `${res.firstError ? `, errors ${res.errors}: ${res.firstError}` : ''}`);
    reps.push(r);
  }
  return reps;
}

async function runBackend(name: BackendName): Promise<Result> {
  log(`== ${name}`);
  const be = await prepareBackend(name, args.databaseUrl, 'search');
  setPostmasterPid(be.databaseUrl ? await postmasterPidOf(be.databaseUrl) : undefined);
  try {
    const db = await be.open();
    await migrate(db);
    const version = await versionOf(db);
    const seeded = await seed(db, args.num.tasks, Math.max(1, Math.floor(args.num.tasks / 10)), args.num.batch, args.num['seed-budget-s']);
    log(`  seeded ${fmt(seeded.tasks, 0)} Tasks + ${fmt(seeded.patients, 0)} Patients in ${fmt(seeded.seconds)} s${seeded.budgetHit ? ' (time budget hit)' : ''}`);
    let t = performance.now();
    await db.exec(args.num.vacuum ? 'VACUUM (ANALYZE)' : 'ANALYZE');
    const analyzeS = (performance.now() - t) / 1000;
    const last = seeded.tasks - 1;
    const problems = await verifyIndexRows(db, registry, [['Task', 'bt0'], ['Task', `bt${Math.floor(last / 2)}`], ['Task', `bt${last}`],
      ['Patient', 'bp0'], ['Patient', `bp${seeded.patients - 1}`]]);
    if (problems.length > 0) throw new Error(`seeded index rows differ from extractIndexRows:\n${problems.join('\n')}`);
    const expected = new Map<string, number>();
    t = performance.now();
    for (const owner of [ownerId(0), ownerId(417), ownerId(999)]) expected.set(owner, await countFromContent(db, owner, 'requested'));
    log(`  SQL counts from JSON content: ${[...expected].map(([o, n]) => `${o}=${n}`).join(', ')} (${fmt(performance.now() - t, 0)} ms)`);
    const plans = await explainHot(db, registry, ownerId(417));
    if (args.num['print-plans']) console.log(plans);
    const dbLat = await timeQueries(db, registry, Array.from({ length: 100 }, (_, i) => ownerId(i * 13 + 5)));
    log(`  direct SQL (what the server runs: page+include, +count if needed; 100 owners): p50 ${fmt(dbLat.all.p50, 2)} p95 ${fmt(dbLat.all.p95, 2)} ms ` +
      `(page p95 ${fmt(dbLat.page.p95, 2)}, count p95 ${fmt(dbLat.count.p95, 2)} (run only for _total=accurate), include p95 ${fmt(dbLat.include.p95, 2)})`);
    await db.close(); // PGlite has a single writer: the server opens the database next

    const server = await startServer({ dataDir: be.dataDir, databaseUrl: be.databaseUrl, scope: 'system/*.cruds' });
    const client = httpClient(server.origin, server.token, Math.max(10, args.num.concurrency));
    try {
      await waitQuiet(server.pid);
      await sleep(3000);
      const rssStart = rssMb(server.pid);
      const checked = await crossCheck(client, expected);
      await closedLoop(50, 1, async (i) => (await client.send('GET', hotPath(ownerId(i * 3 + 1)))).status); // warm-up
      await waitQuiet(server.pid);
      const peak = { peak: 0 };
      const levels = [];
      for (const c of [1, args.num.concurrency]) levels.push({ c, reps: await level(server, client, c, peak) });
      await sleep(5000);
      const rssEnd = rssMb(server.pid);
      return { name, version, seed: seeded, analyzeS, verified: 'OK (3 Tasks, 2 Patients)', crossCheck: checked, db: dbLat, levels, rssStart, peakMb: peak.peak, rssEnd };
    } finally {
      client.close();
      await server.stop();
    }
  } finally {
    await be.cleanup();
  }
}

function report(results: Result[]): void {
  printTable('Seeding (bulk SQL, before the server starts)', ['backend', 'database', 'Tasks', 'Patients', 'seed s', args.num.vacuum ? 'VACUUM ANALYZE s' : 'ANALYZE s', 'index rows vs extractIndexRows', 'HTTP total vs SQL count'],
    results.map((r) => [r.name, r.version, fmt(r.seed.tasks, 0) + (r.seed.budgetHit ? ' (budget hit)' : ''), fmt(r.seed.patients, 0),
      fmt(r.seed.seconds), fmt(r.analyzeS), r.verified, r.crossCheck]));
  printTable('The search\'s SQL run directly (what the server runs: page + include, + count when a total is asked and not known; 100 owners, sequential)', ['backend', 'p50 ms', 'p95 ms', 'page p95', 'count p95', 'include p95'],
    results.map((r) => [r.name, fmt(r.db.all.p50, 2), fmt(r.db.all.p95, 2), fmt(r.db.page.p95, 2), fmt(r.db.count.p95, 2), fmt(r.db.include.p95, 2)]));
  const rows: Row[] = [];
  for (const r of results) {
    for (const l of r.levels) {
      const p95 = medianOf(l.reps, 'p95');
      rows.push([r.name, String(l.c), fmt(medianOf(l.reps, 'perS')), fmt(medianOf(l.reps, 'p50'), 2), fmt(p95, 2), fmt(medianOf(l.reps, 'p99'), 2),
        '< 30 ms', verdict(p95 < 30), fmt(medianOf(l.reps, 'serverPct'), 0), fmt(medianOf(l.reps, 'postgresPct'), 0),
        fmt(medianOf(l.reps, 'clientPct'), 0), fmt(medianOf(l.reps, 'othersPct'), 0), fmt(medianOf(l.reps, 'drainMs'), 0)]);
    }
  }
  printTable(`Hot search over HTTP: ${SEARCHES} searches per repetition (owners vary), median of ${args.reps}`,
    ['backend', 'clients', 'searches/s', 'p50 ms', 'p95 ms', 'p99 ms', 'target p95', 'verdict', 'CPU % server', 'postgres', 'client', 'others', 'audit drain after, ms'], rows);
  printTable('Server RSS during the search bench', ['backend', 'at rest after start MB', 'peak MB', 'at rest after MB'],
    results.map((r) => [r.name, fmt(r.rssStart), fmt(r.peakMb), fmt(r.rssEnd)]));
}

const results: Result[] = [];
for (const name of args.backends) results.push(await runBackend(name));
report(results);
