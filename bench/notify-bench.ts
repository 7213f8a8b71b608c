// Measures event → notification latency of FHIR R4 Subscriptions (rest-hook and websocket) under a sustained stream
// of new télédossiers: Tasks created over HTTP at a fixed rate, one rest-hook receiver and one websocket client.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Subscription, Task } from '@medplum/fhirtypes';
import WebSocket from 'ws';
import { loadOrCreateDevSigningKey, signDevToken } from '../src/http/auth/dev-keys.js';
import { verifySignature } from '../src/notifications/rest-hook.js';
import { DOSSIER_STATUS_SYSTEM, WORKFLOW_SYSTEM } from '../src/workflow/teleexpertise/workflow-definition.js';
import { postmasterPidOf, prepareBackend, type BackendName } from './lib/backend.js';
import { COMMON_USAGE, parseBenchArgs } from './lib/cli.js';
import { httpClient, type HttpClient } from './lib/load.js';
import { cpuSnapshot, cpuUse, setPostmasterPid, sleep, waitMachineQuiet, waitQuiet, type CpuUse } from './lib/proc.js';
import { startServer } from './lib/server.js';
import { fmt, log, printTable, summarize, verdict, type LatencySummary, type Row } from './lib/stats.js';

const USAGE = `Usage: npm run bench:notify -- [options]

Event (Task write committed) → notification received, for a rest-hook and a websocket Subscription, while new
télédossiers are created over HTTP at a fixed rate (open loop). Prints Markdown tables.

${COMMON_USAGE.split('\n').filter((l) => !l.includes('--reps')).join('\n')}
  --rate <n>        new dossiers per second (default 20)
  --duration <s>    seconds of sustained load (default 60)
  --grace <s>       seconds to wait for the last notifications after the load (default 10)`;

const args = parseBenchArgs(USAGE, { rate: 20, duration: 60, grace: 10 });
const RATE = args.num.rate;
const DURATION_S = args.num.duration;
const SECRET = 'bench-hmac-secret-0123456789abcdef';
const REQUIS_ROLE = 'PractitionerRole/bench-requis';

interface ChannelResult { sent: number; received: number; lat: LatencySummary; badSignatures: number }
interface BackendResult { name: BackendName; rest: ChannelResult; ws: ChannelResult; http: LatencySummary; httpErrors: number; firstError?: string; achievedRate: number; cpu: CpuUse }

/** Event time: the Task's meta.lastUpdated, stamped in the write's transaction just before it commits. */
const eventTime = (t: Task) => Date.parse(t.meta?.lastUpdated ?? '');

async function startHookReceiver(arrivals: Map<string, number>, bad: { n: number }): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const body = Buffer.concat(chunks);
      if (!verifySignature(SECRET, body, req.headers['x-teleo-signature'] as string | undefined)) bad.n++;
      if (req.method === 'PUT' && body.length > 0) {
        const task = JSON.parse(body.toString('utf8')) as Task;
        if (task.id && !arrivals.has(task.id)) arrivals.set(task.id, at - eventTime(task));
      }
      res.writeHead(200).end();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

async function subscribe(client: HttpClient, body: Partial<Subscription>): Promise<string> {
  const res = await client.json<Subscription>('POST', '/fhir/Subscription', { resourceType: 'Subscription', status: 'requested', reason: 'bench', ...body });
  if (res.status !== 201) throw new Error(`Subscription create: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  const id = res.body.id as string;
  for (let i = 0; i < 200; i++) {
    const s = await client.json<Subscription>('GET', `/fhir/Subscription/${id}`);
    if (s.body.status === 'active') return id;
    if (s.body.status === 'error') throw new Error(`Subscription ${id} error: ${s.body.error}`);
    await sleep(50);
  }
  throw new Error(`Subscription ${id} not active in time`);
}

async function bindWebsocket(origin: string, token: string, subId: string, arrivals: Map<string, number>): Promise<WebSocket> {
  const ws = new WebSocket(`${origin.replace(/^http/, 'ws')}/fhir/websocket`, { headers: { Authorization: `Bearer ${token}` } });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  const bound = new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      const text = data.toString();
      if (text === `bound ${subId}`) resolve();
      else if (text.startsWith('error')) reject(new Error(text));
      else if (text.startsWith(`payload ${subId} `)) {
        const at = Date.now();
        const task = JSON.parse(text.slice(`payload ${subId} `.length)) as Task;
        if (task.id && !arrivals.has(task.id)) arrivals.set(task.id, at - eventTime(task));
      }
    });
  });
  ws.send(`bind ${subId}`);
  await bound;
  return ws;
}

function dossier(i: number): Task {
  return {
    resourceType: 'Task', status: 'requested', intent: 'order',
    code: { coding: [{ system: WORKFLOW_SYSTEM, code: 'avis-urgences' }] },
    businessStatus: { coding: [{ system: DOSSIER_STATUS_SYSTEM, code: 'demandee' }] },
    for: { reference: `Patient/bench-${i % 1000}` }, requester: { reference: 'PractitionerRole/bench-requerant' },
    owner: { reference: REQUIS_ROLE }, authoredOn: new Date().toISOString(),
  };
}

function channel(sent: number, arrivals: Map<string, number>, badSignatures = 0): ChannelResult {
  return { sent, received: arrivals.size, lat: summarize([...arrivals.values()]), badSignatures };
}

async function runBackend(name: BackendName): Promise<BackendResult> {
  log(`== ${name}`);
  const be = await prepareBackend(name, args.databaseUrl, 'notify');
  setPostmasterPid(be.databaseUrl ? await postmasterPidOf(be.databaseUrl) : undefined);
  const restArrivals = new Map<string, number>();
  const wsArrivals = new Map<string, number>();
  const bad = { n: 0 };
  const hook = await startHookReceiver(restArrivals, bad);
  const server = await startServer({ dataDir: be.dataDir, databaseUrl: be.databaseUrl,
    env: { SUBSCRIPTION_SECRETS: JSON.stringify({ [`${hook.url}/hook`]: SECRET }) } });
  const key = await loadOrCreateDevSigningKey(be.dataDir);
  const requisToken = await signDevToken({ secret: key.secret, issuer: key.issuer, sub: 'bench-requis', fhirUser: 'Practitioner/bench-requis',
    role: REQUIS_ROLE, scope: 'user/*.cruds', expiresIn: '12h' });
  const requerant = httpClient(server.origin, server.token, 32);
  const requis = httpClient(server.origin, requisToken, 4);
  let ws: WebSocket | undefined;
  try {
    for (const r of [
      { resourceType: 'Practitioner', id: 'bench' }, { resourceType: 'Practitioner', id: 'bench-requis' },
      { resourceType: 'PractitionerRole', id: 'bench-requerant', practitioner: { reference: 'Practitioner/bench' } },
      { resourceType: 'PractitionerRole', id: 'bench-requis', practitioner: { reference: 'Practitioner/bench-requis' } },
    ]) {
      const res = await requerant.json('PUT', `/fhir/${r.resourceType}/${r.id}`, r);
      if (res.status >= 300) throw new Error(`directory ${r.resourceType}/${r.id}: HTTP ${res.status}`);
    }
    const criteria = `Task?owner=${REQUIS_ROLE}&status=requested`;
    await subscribe(requis, { criteria, channel: { type: 'rest-hook', endpoint: `${hook.url}/hook`, payload: 'application/fhir+json' } });
    const wsSub = await subscribe(requis, { criteria, channel: { type: 'websocket', payload: 'application/fhir+json' } });
    ws = await bindWebsocket(server.origin, requisToken, wsSub, wsArrivals);
    // Warm-up (JIT, pools, both channels), not measured.
    for (let i = 0; i < 50; i++) await requerant.send('POST', '/fhir/Task', JSON.stringify(dossier(i)));
    await sleep(2000);
    restArrivals.clear();
    wsArrivals.clear();
    await waitQuiet(server.pid);
    await waitMachineQuiet();

    const total = Math.round(RATE * DURATION_S);
    const httpLat: number[] = [];
    let httpErrors = 0;
    let firstError: string | undefined;
    const created = new Set<string>();
    const inflight: Promise<void>[] = [];
    log(`  ${total} dossiers at ${RATE}/s for ${DURATION_S} s`);
    const c0 = cpuSnapshot(server.pid);
    const t0 = performance.now();
    for (let i = 0; i < total; i++) {
      const wait = t0 + (i * 1000) / RATE - performance.now();
      if (wait > 0) await sleep(wait);
      const start = performance.now();
      inflight.push(requerant.send('POST', '/fhir/Task', JSON.stringify(dossier(i))).then((r) => {
        httpLat.push(performance.now() - start);
        const id = /\/Task\/([^/]+)\/_history\//.exec(String(r.headers.location ?? ''))?.[1];
        if (r.status === 201 && id) created.add(id);
        else { httpErrors++; firstError ??= `HTTP ${r.status} ${r.body.toString('utf8').slice(0, 200)}`; }
      }, (e: unknown) => { httpErrors++; firstError ??= String(e); }));
    }
    await Promise.all(inflight);
    const loadS = (performance.now() - t0) / 1000;
    const cpu = cpuUse(c0, cpuSnapshot(server.pid));
    const deadline = Date.now() + args.num.grace * 1000;
    while (Date.now() < deadline && (restArrivals.size < created.size || wsArrivals.size < created.size)) await sleep(100);
    for (const m of [restArrivals, wsArrivals]) for (const id of [...m.keys()]) if (!created.has(id)) m.delete(id);
    const result: BackendResult = {
      name, rest: channel(created.size, restArrivals, bad.n), ws: channel(created.size, wsArrivals), http: summarize(httpLat), httpErrors, firstError,
      achievedRate: total / loadS, cpu,
    };
    log(`  created ${created.size} (${fmt(result.achievedRate)}/s, HTTP p99 ${fmt(result.http.p99)} ms, errors ${httpErrors}${firstError ? `: ${firstError}` : ''}); ` +
      `rest-hook ${restArrivals.size} p99 ${fmt(result.rest.lat.p99)} ms; websocket ${wsArrivals.size} p99 ${fmt(result.ws.lat.p99)} ms; ` +
      `CPU server ${fmt(cpu.serverPct, 0)} % postgres ${fmt(cpu.postgresPct, 0)} % client ${fmt(cpu.clientPct, 0)} % others ${fmt(cpu.othersPct, 0)} %`);
    return result;
  } finally {
    ws?.terminate();
    requerant.close();
    requis.close();
    await server.stop();
    await hook.close();
    await be.cleanup();
  }
}

function report(results: BackendResult[]): void {
  const rows: Row[] = results.flatMap((r) => ([['rest-hook', r.rest], ['websocket', r.ws]] as const).map(([ch, c]) => [
    r.name, ch, String(c.sent), String(c.received), fmt(c.lat.p50), fmt(c.lat.p95), fmt(c.lat.p99), fmt(c.lat.max), '< 1000', verdict(c.lat.p99 < 1000 && c.received === c.sent),
  ]));
  printTable(`Event → notification: ${RATE} new dossiers/s for ${DURATION_S} s (Task created over HTTP; event = Task meta.lastUpdated)`,
    ['backend', 'channel', 'events', 'received', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'target p99 ms', 'verdict'], rows);
  printTable('Load side', ['backend', 'achieved dossiers/s', 'POST p50 ms', 'p95 ms', 'p99 ms', 'HTTP errors', 'bad signatures', 'CPU % server', 'postgres', 'client', 'others'],
    results.map((r) => [r.name, fmt(r.achievedRate), fmt(r.http.p50), fmt(r.http.p95), fmt(r.http.p99), String(r.httpErrors), String(r.rest.badSignatures),
      fmt(r.cpu.serverPct, 0), fmt(r.cpu.postgresPct, 0), fmt(r.cpu.clientPct, 0), fmt(r.cpu.othersPct, 0)]));
}

const results: BackendResult[] = [];
for (const name of args.backends) results.push(await runBackend(name));
report(results);
