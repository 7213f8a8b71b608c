// Times [base]/$stats (the usage statistics MeasureReport) over a year of ~10,000 télédossiers seeded over HTTP.
import type { MeasureReport } from '@medplum/fhirtypes';
import { loadOrCreateDevSigningKey, signDevToken } from '../src/http/auth/dev-keys.js';
import { datasetBundle, dossierSpecs, expectedFacts } from '../src/http/stats-test-dataset.js';
import { postmasterPidOf, prepareBackend, type BackendName } from './lib/backend.js';
import { COMMON_USAGE, parseBenchArgs } from './lib/cli.js';
import { httpClient } from './lib/load.js';
import { cpuSnapshot, cpuUse, RssSampler, setPostmasterPid, waitMachineQuiet, waitQuiet } from './lib/proc.js';
import { startServer } from './lib/server.js';
import { fmt, log, median, printTable, type Row } from './lib/stats.js';

const USAGE = `Usage: npm run bench:stats -- [options]

Seeds télédossiers spread over 2024 (each with its ServiceRequest, 0–3 ImagingStudies, read receipts and transition
Provenances) in FHIR transactions over HTTP, then times GET /fhir/$stats for the year, as an integration client
(system/*.rs: counts everything) and as one requesting physician (user/*.rs: counts the dossiers they take part in).

${COMMON_USAGE}
  --dossiers <n>   dossiers to seed (default 10000)
  --chunk <n>      dossiers per transaction Bundle (default 100)`;

const args = parseBenchArgs(USAGE, { dossiers: 10_000, chunk: 100 });
const PERIOD = '/fhir/$stats?period-start=2024-01-01&period-end=2024-12-31';

interface Result { name: BackendName; seeded: number; seedS: number; seedPerS: number; drainS: number; runs: { who: string; ms: number[]; counted: number; expected: number; cpu: number; peakMb: number }[] }

const volume = (r: MeasureReport) => r.group?.find((g) => g.code?.coding?.[0]?.code === 'volume')?.population?.[0]?.count ?? -1;

async function runBackend(name: BackendName): Promise<Result> {
  log(`== ${name}`);
  const be = await prepareBackend(name, args.databaseUrl, 'stats');
  setPostmasterPid(be.databaseUrl ? await postmasterPidOf(be.databaseUrl) : undefined);
  const server = await startServer({ dataDir: be.dataDir, databaseUrl: be.databaseUrl });
  try {
    const key = await loadOrCreateDevSigningKey(be.dataDir);
    const sign = (scope: string, fhirUser: string, role?: string) => signDevToken({ secret: key.secret, issuer: key.issuer, sub: 'bench-stats', fhirUser, role, scope, expiresIn: '12h' });
    const seeder = httpClient(server.origin, await sign('system/*.cruds', 'Device/bench'), 1);
    const specs = dossierSpecs(args.num.dossiers);
    const expected = expectedFacts(specs);
    const t0 = performance.now();
    for (let i = 0; i < specs.length; i += args.num.chunk) {
      const r = await seeder.send('POST', '/fhir', JSON.stringify(datasetBundle(specs.slice(i, i + args.num.chunk), { directory: i === 0 })));
      if (r.status !== 200) throw new Error(`seed bundle ${i}: HTTP ${r.status} ${r.body.toString('utf8').slice(0, 300)}`);
      if ((i / args.num.chunk) % 10 === 0) log(`  seeded ${Math.min(i + args.num.chunk, specs.length)} / ${specs.length} dossiers`);
    }
    const seedS = (performance.now() - t0) / 1000;
    seeder.close();
    const drainS = (await waitQuiet(server.pid)) / 1000;
    log(`  seeded ${specs.length} dossiers in ${fmt(seedS)} s, audit drain ${fmt(drainS)} s`);

    const callers = [
      { who: 'integration client (system/*.rs)', token: await sign('system/*.rs', 'Device/bench'), expected: expected.length },
      { who: 'one requérant (user/*.rs, dr-albi)', token: await sign('user/*.rs', 'Practitioner/p-dr-albi', 'PractitionerRole/dr-albi'),
        expected: expected.filter((e) => e.spec.requester === 'PractitionerRole/dr-albi').length },
    ];
    const runs: Result['runs'] = [];
    for (const c of callers) {
      const client = httpClient(server.origin, c.token, 1);
      const ms: number[] = [];
      let counted = -1;
      let cpu = 0;
      let peakMb = 0;
      for (let rep = 0; rep < args.reps; rep++) {
        await waitMachineQuiet();
        const sampler = new RssSampler(server.pid);
        const c0 = cpuSnapshot(server.pid);
        const s = performance.now();
        const r = await client.json<MeasureReport>('GET', PERIOD);
        ms.push(performance.now() - s);
        cpu = Math.max(cpu, cpuUse(c0, cpuSnapshot(server.pid)).serverPct);
        peakMb = Math.max(peakMb, sampler.stop().peakMb);
        if (r.status !== 200) throw new Error(`$stats: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
        counted = volume(r.body);
        log(`  ${c.who} rep ${rep + 1}: ${fmt(ms[ms.length - 1], 0)} ms, ${counted} dossiers counted (expected ${c.expected})`);
        await waitQuiet(server.pid);
      }
      client.close();
      runs.push({ who: c.who, ms, counted, expected: c.expected, cpu, peakMb });
    }
    return { name, seeded: specs.length, seedS, seedPerS: specs.length / seedS, drainS, runs };
  } finally {
    await server.stop();
    await be.cleanup();
  }
}

const results: Result[] = [];
for (const b of args.backends) results.push(await runBackend(b));
const rows: Row[] = results.flatMap((r) => r.runs.map((run) => [
  r.name, String(r.seeded), `${fmt(r.seedS, 0)} s (${fmt(r.seedPerS, 0)} dossiers/s)`, run.who, `${run.counted} / ${run.expected}`,
  fmt(median(run.ms), 0), fmt(Math.min(...run.ms), 0), fmt(Math.max(...run.ms), 0), fmt(run.cpu, 0), fmt(run.peakMb, 0),
]));
printTable(`$stats over one year (${args.reps} repetitions)`,
  ['backend', 'dossiers seeded', 'seed time', 'caller', 'counted / expected', 'median ms', 'min ms', 'max ms', 'server CPU % (max)', 'server RSS peak MB'], rows);
