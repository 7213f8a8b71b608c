// Measures FHIR REST create-Task throughput against a raw driver-INSERT floor, read-by-id latency at 50 clients, and server RSS.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { prepareBackend, createScratchDatabase, postmasterPidOf, tempDir, type Backend, type BackendName } from './lib/backend.js';
import { COMMON_USAGE, parseBenchArgs } from './lib/cli.js';
import { taskBody } from './lib/fixtures.js';
import { closedLoop, httpClient, type HttpClient, type LoopResult } from './lib/load.js';
import { cpuSnapshot, cpuUse, RssSampler, rssMb, setPostmasterPid, sleep, waitMachineQuiet, waitQuiet, type CpuUse } from './lib/proc.js';
import { pgliteRawFloor, pgRawFloor, type RawFloor } from './lib/raw-floor.js';
import { startServer, type ServerHandle } from './lib/server.js';
import { fmt, log, median, medianOf, pct, printTable, summarize, verdict, type Row } from './lib/stats.js';

const USAGE = `Usage: npm run bench:fhir -- [options]

Create-Task throughput (HTTP vs raw INSERT floor), read-by-id latency, server RSS. Prints Markdown tables.

${COMMON_USAGE}
  --creates <n>            Tasks created per repetition, HTTP and raw floor each (default 2000)
  --create-concurrency <n> concurrent clients for creates (default 8)
  --reads <n>              GET /fhir/Task/<id> per repetition (default 20000)
  --read-concurrency <n>   concurrent keep-alive clients for reads (default 50)`;

const args = parseBenchArgs(USAGE, { creates: 2000, 'create-concurrency': 8, reads: 20000, 'read-concurrency': 50 });
const CREATES = args.num.creates;
const CREATE_C = args.num['create-concurrency'];
const READS = args.num.reads;
const READ_C = args.num['read-concurrency'];

interface CreateRep { httpPerS: number; rawPerS: number; drainMs: number; withDrainPerS: number; p95: number; errors: number; cpu: CpuUse }
interface ReadRep { perS: number; p50: number; p95: number; p99: number; peakMb: number; drainMs: number; errors: number; cpu: CpuUse }
interface BackendResult {
  name: BackendName; creates: CreateRep[]; reads: ReadRep[]; rawLabel: string;
  rssStart3: number; rssStart: number; rssEnd5: number; rssEnd: number; createPeakMb: number;
  readC1: { p50: number; p95: number; perS: number }; health: { p50: number; p95: number; perS: number };
}

const perS = (r: LoopResult) => (r.latMs.length / r.wallMs) * 1000;

function creator(client: HttpClient, ids: string[]): (i: number) => Promise<number> {
  return async (i) => {
    const r = await client.send('POST', '/fhir/Task', JSON.stringify(taskBody(i)));
    const loc = String(r.headers.location ?? '');
    const m = /\/Task\/([^/]+)\/_history\//.exec(loc);
    if (r.status === 201 && m) ids.push(m[1]);
    return r.status;
  };
}

async function openRawFloor(be: Backend, serverUrl: string | undefined): Promise<{ floor: RawFloor; drop(): Promise<void> }> {
  if (be.name === 'postgres') {
    const db = await createScratchDatabase(serverUrl as string, 'raw');
    const floor = await pgRawFloor(db.url, CREATE_C);
    return { floor, drop: db.drop };
  }
  const dir = await tempDir('raw-pglite');
  return { floor: await pgliteRawFloor(join(dir, 'pglite')), drop: () => rm(dir, { recursive: true, force: true }) };
}

async function measureCreates(server: ServerHandle, client: HttpClient, floor: RawFloor, ids: string[]): Promise<{ reps: CreateRep[]; peakMb: number }> {
  const reps: CreateRep[] = [];
  const create = creator(client, ids);
  const sampler = new RssSampler(server.pid);
  let offset = 1_000_000;
  for (let rep = 0; rep < args.reps; rep++) {
    let raw: LoopResult | undefined;
    let http: LoopResult | undefined;
    let drainMs = 0;
    let cpu: CpuUse | undefined;
    for (const which of rep % 2 === 0 ? ['raw', 'http'] : ['http', 'raw']) {
      await waitMachineQuiet();
      if (which === 'raw') {
        raw = await floor.run(CREATES, CREATE_C, offset);
      } else {
        const c0 = cpuSnapshot(server.pid);
        http = await closedLoop(CREATES, CREATE_C, (i) => create(offset + i));
        cpu = cpuUse(c0, cpuSnapshot(server.pid));
        drainMs = await waitQuiet(server.pid); // the durable audit jobs of these creates are written after the responses
      }
      offset += CREATES;
    }
    if (!raw || !http || !cpu) throw new Error('unreachable');
    const r: CreateRep = {
      httpPerS: perS(http), rawPerS: perS(raw), drainMs, withDrainPerS: (CREATES / (http.wallMs + drainMs)) * 1000,
      p95: summarize(http.latMs).p95, errors: http.errors + raw.errors, cpu,
    };
    log(`  create rep ${rep + 1}: HTTP ${fmt(r.httpPerS)}/s (p95 ${fmt(r.p95)} ms, audit drain ${fmt(drainMs, 0)} ms), raw ${fmt(r.rawPerS)}/s, ` +
      `ratio ${pct(r.httpPerS / r.rawPerS)}, CPU server ${fmt(cpu.serverPct, 0)} % postgres ${fmt(cpu.postgresPct, 0)} % client ${fmt(cpu.clientPct, 0)} % others ${fmt(cpu.othersPct, 0)} %${http.firstError ? `, error: ${http.firstError}` : ''}`);
    reps.push(r);
  }
  return { reps, peakMb: sampler.stop().peakMb };
}

async function measureReads(server: ServerHandle, client: HttpClient, ids: string[]): Promise<ReadRep[]> {
  const reps: ReadRep[] = [];
  for (let rep = 0; rep < args.reps; rep++) {
    await waitMachineQuiet();
    const sampler = new RssSampler(server.pid);
    const c0 = cpuSnapshot(server.pid);
    const res = await closedLoop(READS, READ_C, async (i) => (await client.send('GET', `/fhir/Task/${ids[(i * 7 + rep) % ids.length]}`)).status);
    const cpu = cpuUse(c0, cpuSnapshot(server.pid));
    const { peakMb } = sampler.stop();
    const drainMs = await waitQuiet(server.pid);
    const s = summarize(res.latMs);
    const r: ReadRep = { perS: perS(res), p50: s.p50, p95: s.p95, p99: s.p99, peakMb, drainMs, errors: res.errors, cpu };
    log(`  read rep ${rep + 1}: ${fmt(r.perS)} req/s p50 ${fmt(s.p50, 2)} p95 ${fmt(s.p95, 2)} p99 ${fmt(s.p99, 2)} ms, peak RSS ${fmt(peakMb)} MB, ` +
      `CPU server ${fmt(cpu.serverPct, 0)} % postgres ${fmt(cpu.postgresPct, 0)} % client ${fmt(cpu.clientPct, 0)} % others ${fmt(cpu.othersPct, 0)} % machine ${fmt(cpu.machinePct, 0)} %, ` +
      `audit drain ${fmt(drainMs, 0)} ms${res.firstError ? `, error: ${res.firstError}` : ''}`);
    reps.push(r);
  }
  return reps;
}

async function runBackend(name: BackendName): Promise<BackendResult> {
  log(`== ${name}`);
  const be = await prepareBackend(name, args.databaseUrl, 'fhir');
  setPostmasterPid(be.databaseUrl ? await postmasterPidOf(be.databaseUrl) : undefined);
  const raw = await openRawFloor(be, args.databaseUrl);
  const server = await startServer({ dataDir: be.dataDir, databaseUrl: be.databaseUrl, scope: 'system/*.cruds' }).catch(async (e: unknown) => {
    await raw.floor.close();
    await raw.drop();
    await be.cleanup();
    throw e;
  });
  const client = httpClient(server.origin, server.token, Math.max(READ_C, CREATE_C));
  try {
    await waitQuiet(server.pid);
    await sleep(3000);
    const rssStart3 = rssMb(server.pid);
    await sleep(12_000); // V8 shrinks its heap (and, with PGlite, frees the initdb instance) only after some idle time
    const rssStart = rssMb(server.pid);
    log(`  RSS at rest after start: ${fmt(rssStart3)} MB after 3 s idle, ${fmt(rssStart)} MB after 15 s`);
    const ids: string[] = [];
    // Warm-up (JIT, connection pools, both code paths), not measured.
    await closedLoop(300, CREATE_C, creator(client, ids));
    await raw.floor.run(300, CREATE_C, 0);
    await closedLoop(2000, READ_C, async (i) => (await client.send('GET', `/fhir/Task/${ids[i % ids.length]}`)).status);
    await waitQuiet(server.pid);
    const creates = await measureCreates(server, client, raw.floor, ids);
    log(`  ${ids.length} Tasks in the database`);
    const reads = await measureReads(server, client, ids);
    const c1 = await closedLoop(2000, 1, async (i) => (await client.send('GET', `/fhir/Task/${ids[i % ids.length]}`)).status);
    await waitQuiet(server.pid);
    const health = await closedLoop(READS, READ_C, async () => (await client.send('GET', '/healthz')).status);
    await waitQuiet(server.pid);
    await sleep(5000);
    const rssEnd5 = rssMb(server.pid);
    await sleep(10_000);
    const rssEnd = rssMb(server.pid);
    log(`  RSS at rest after the loads: ${fmt(rssEnd5)} MB after 5 s idle, ${fmt(rssEnd)} MB after 15 s`);
    const c1s = summarize(c1.latMs);
    const hs = summarize(health.latMs);
    return {
      name, creates: creates.reps, reads, rawLabel: raw.floor.label, rssStart3, rssStart, rssEnd5, rssEnd, createPeakMb: creates.peakMb,
      readC1: { p50: c1s.p50, p95: c1s.p95, perS: perS(c1) }, health: { p50: hs.p50, p95: hs.p95, perS: perS(health) },
    };
  } finally {
    client.close();
    await server.stop();
    await raw.floor.close();
    await raw.drop();
    await be.cleanup();
  }
}

function report(results: BackendResult[]): void {
  const createRows: Row[] = results.map((r) => {
    const http = medianOf(r.creates, 'httpPerS');
    const raw = medianOf(r.creates, 'rawPerS');
    const ratio = median(r.creates.map((c) => c.httpPerS / c.rawPerS));
    return [r.name, fmt(http), `${fmt(raw)} (${r.rawLabel})`, pct(ratio), '≥ 40 %', verdict(ratio >= 0.4),
      fmt(medianOf(r.creates, 'withDrainPerS')), fmt(medianOf(r.creates, 'p95')), fmt(median(r.creates.map((c) => c.cpu.serverPct)), 0),
      fmt(median(r.creates.map((c) => c.cpu.postgresPct)), 0), fmt(median(r.creates.map((c) => c.cpu.othersPct)), 0)];
  });
  printTable(`Create Task: ${CREATES} per repetition, ${CREATE_C} concurrent clients, median of ${args.reps}`,
    ['backend', 'HTTP creates/s', 'raw INSERT rows/s', 'ratio (median)', 'target', 'verdict', 'creates/s incl. audit drain', 'HTTP p95 ms', 'CPU % server', 'postgres', 'others'],
    createRows);
  const readRows: Row[] = results.map((r) => {
    const p95 = medianOf(r.reads, 'p95');
    return [r.name, fmt(medianOf(r.reads, 'perS')), fmt(medianOf(r.reads, 'p50'), 2), fmt(p95, 2), fmt(medianOf(r.reads, 'p99'), 2),
      '< 5 ms', verdict(p95 < 5), fmt(median(r.reads.map((x) => x.cpu.serverPct)), 0), fmt(median(r.reads.map((x) => x.cpu.postgresPct)), 0),
      fmt(median(r.reads.map((x) => x.cpu.clientPct)), 0), fmt(median(r.reads.map((x) => x.cpu.othersPct)), 0), fmt(median(r.reads.map((x) => x.cpu.machinePct)), 0),
      fmt(medianOf(r.reads, 'drainMs'), 0)];
  });
  printTable(`Read by id: ${READS} GET /fhir/Task/<id> per repetition, ${READ_C} keep-alive clients, median of ${args.reps}`,
    ['backend', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'target p95', 'verdict', 'CPU % server', 'postgres', 'client', 'others', 'machine (of 200)', 'audit drain after, ms'],
    readRows);
  printTable('Read diagnostics (one run each)', ['backend', 'read c=1: req/s', 'p50 ms', 'p95 ms', `GET /healthz c=${READ_C}: req/s`, 'p50 ms', 'p95 ms'],
    results.map((r) => [r.name, fmt(r.readC1.perS), fmt(r.readC1.p50, 2), fmt(r.readC1.p95, 2), fmt(r.health.perS), fmt(r.health.p50, 2), fmt(r.health.p95, 2)]));
  printTable('Server RSS (VmRSS of the node process; PostgreSQL backends are separate processes, not included)',
    ['backend', 'at rest after start (3 s / 15 s idle) MB', `peak during ${READ_C}-client reads MB`, 'peak during creates MB', 'at rest after loads (5 s / 15 s idle) MB', 'targets', 'verdict'],
    results.map((r) => {
      const peak = Math.max(...r.reads.map((x) => x.peakMb));
      return [r.name, `${fmt(r.rssStart3)} / ${fmt(r.rssStart)}`, fmt(peak), fmt(r.createPeakMb), `${fmt(r.rssEnd5)} / ${fmt(r.rssEnd)}`, 'rest < 250, load < 400',
        `${verdict(r.rssStart < 250 && r.rssEnd < 250)} rest / ${verdict(peak < 400)} load`];
    }));
}

const results: BackendResult[] = [];
for (const name of args.backends) results.push(await runBackend(name));
report(results);
