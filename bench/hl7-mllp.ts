// HL7 v2 over MLLP: CI-SIS flux 1 (ORM^O01 NW) in → ACK, latency and sustained rate on one connection, side by side
// with a bare MLLP echo floor in the same run; then N messages with a kill -9 of the server in the middle: none lost,
// none applied twice (checked in the database: message log and ServiceRequests).
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { createMllpDecoder, mllpFrame } from '../src/hl7v2/mllp-framing.js';
import { prepareBackend, type Backend } from './lib/backend.js';
import { COMMON_USAGE, parseBenchArgs } from './lib/cli.js';
import { httpClient } from './lib/load.js';
import { REPO_ROOT, startServer, type ServerHandle } from './lib/server.js';
import { fmt, log, printTable, summarize, verdict, type Row } from './lib/stats.js';

const USAGE = `Usage: npm run bench:hl7 -- [options]

Sends CI-SIS Téléradiologie flux 1 orders (each a new patient and dossier) over one MLLP connection: --latency
messages one at a time (send → ACK latency), then --messages pipelined with --window in flight (sustained rate);
the same against a bare MLLP echo server (the floor). Then --restart messages with the server killed (SIGKILL) halfway
and restarted; the client resends what was not acknowledged; the database is checked for losses and double applications.

${COMMON_USAGE.split('\n').filter((l) => !l.includes('--reps')).join('\n')}
  --latency <n>      sequential messages for the latency figures (default 300)
  --messages <n>     pipelined messages for the rate (default 2000)
  --window <n>       messages in flight on the connection (default 32)
  --restart <n>      messages of the crash test (default 2000; 0 = skip)`;

const args = parseBenchArgs(USAGE, { latency: 300, messages: 2000, window: 32, restart: 2000 });
const RUN = Date.now().toString(36).toUpperCase();
const PARTNER = { name: 'ris-bench', application: 'RIS', facility: 'CHU-BENCH', orderOwner: 'CareTeam/bench-tlr' };

/** One flux 1 order: its own patient (IPP), placer order number and control id. */
function flux1(tag: string, i: number, enhanced = false): string {
  const id = `${tag}${i}`;
  return [
    `MSH|^~\\&|RIS|CHU-BENCH|TELEO|TELEO|20261123101500||ORM^O01^ORM_O01|${id}|P|2.5.1|||${enhanced ? 'AL|NE' : '|'}|FRA|UNICODE UTF-8|||1.0^CISIS_TLR_HL7_V2`,
    `PID|||IPP${id}^^^CHU-BENCH&1.2.250.1.999.77&ISO^PI||BENCH^PATIENT^^^^^L||19790328|F|||||||||||||||||||||||||N|PROV`,
    `PV1||O|||||||||||||||||V${id}^^^CHU-BENCH&1.2.250.1.999.77&ISO^VN|||||||||||||||||||||||||20261123101500`,
    `ORC|NW|OPN${id}^^1.2.250.1.999.78^ISO|||||||20261123101500||801234567897^Hoda^Adam^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS|801234567897^Hoda^Adam^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS||^PRN^CP^^^^^^^^^+3360708091|||STRUCTURE_IMAGERIE^^TLR_TYPE_ORGANISATION||||Structure-B^^^^^ASIP-SANTE-ST&1.2.250.1.71.4.2.2&ISO^FINEG^^^300017985`,
    `OBR||OPN${id}^^1.2.250.1.999.78^ISO||TRANSMISSION_DEMANDE^Transmission d'une demande d'examen d'imagerie^TLR_OBR_PROCEDURE|||||||||Céphalées brutales|||801234567897^Hoda^Adam^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS|`,
    'OBX|1|CE|MODALITE_IMAGERIE^Modalité d\'imagerie^TLR_OBSERVATION||MR^IRM^DCM||||||O',
    'OBX|2|CE|REGION_ANATOMIQUE^Localisation anatomique^TLR_OBSERVATION|1.1|774007^tête et/ou cou^SCT||||||O',
  ].join('\r');
}

interface Drive { latencies: number[]; elapsedMs: number; codes: Map<string, string> }

/**
 * Sends `messages` on one connection with at most `window` unacknowledged; resolves when all are acknowledged, or
 * when the connection breaks (with what was acknowledged so far).
 */
function drive(port: number, messages: readonly { id: string; text: string }[], window: number, onAck?: (acked: number) => void): Promise<Drive> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    const sentAt = new Map<string, number>();
    const codes = new Map<string, string>();
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    const finish = () => {
      socket.destroy();
      resolve({ latencies, elapsedMs: performance.now() - started, codes });
    };
    const pump = () => {
      while (next < messages.length && sentAt.size < window) {
        const m = messages[next++];
        sentAt.set(m.id, performance.now());
        socket.write(mllpFrame(Buffer.from(m.text, 'utf8')));
      }
      if (sentAt.size === 0 && next >= messages.length) finish();
    };
    const decoder = createMllpDecoder({
      frame: (content) => {
        const text = content.toString('utf8');
        const m = /\rMSA\|([A-Z]{2})\|([^|\r]*)/.exec(text);
        if (!m) return;
        const t0 = sentAt.get(m[2]);
        if (t0 === undefined) return;
        sentAt.delete(m[2]);
        latencies.push(performance.now() - t0);
        codes.set(m[2], m[1]);
        onAck?.(codes.size);
        pump();
      },
      problem: () => undefined,
    }, 1024 * 1024);
    socket.on('connect', pump);
    socket.on('data', (c: Buffer) => decoder.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ latencies, elapsedMs: performance.now() - started, codes }));
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function startEcho(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/mllp-echo.ts'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  return { port, child };
}

async function startPlatform(be: Backend, mllpPort: number): Promise<ServerHandle> {
  const server = await startServer({
    dataDir: be.dataDir, databaseUrl: be.databaseUrl, scope: 'system/*.cruds',
    env: { MLLP_PORT: String(mllpPort), HL7V2_PARTNERS: JSON.stringify([PARTNER]) },
  });
  const admin = httpClient(server.origin, server.token, 2);
  const res = await admin.json('PUT', '/fhir/CareTeam/bench-tlr', { resourceType: 'CareTeam', id: 'bench-tlr', name: 'Téléradiologie (bench)', status: 'active' });
  if (res.status >= 300) throw new Error(`CareTeam: HTTP ${res.status}`);
  return server;
}

const messagesOf = (tag: string, n: number, enhanced = false) => Array.from({ length: n }, (_, i) => ({ id: `${tag}${i}`, text: flux1(tag, i, enhanced) }));

/** Waits until the platform has applied every message it accepted (enhanced mode applies after the CA). */
async function appliedAll(server: ServerHandle): Promise<void> {
  for (;;) {
    const res = await fetch(`${server.origin}/operator/hl7/messages?status=received&limit=1`, { headers: { Authorization: `Bearer ${server.token}` } });
    const body = await res.json() as { entries: unknown[] };
    if (body.entries.length === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
const rate = (d: Drive) => (d.codes.size / d.elapsedMs) * 1000;

for (const name of args.backends) {
  const echo = await startEcho();
  const be = await prepareBackend(name, args.databaseUrl, 'hl7');
  const mllpPort = await freePort();
  let server = await startPlatform(be, mllpPort);
  try {
    if (args.num.messages > 0) {
    log(`${name}: warm-up`);
    await drive(mllpPort, messagesOf(`W${RUN}-`, 100), 8);
    await drive(echo.port, messagesOf(`WE${RUN}-`, 100), 8);
    log(`${name}: ${args.num.latency} sequential, ${args.num.messages} pipelined (window ${args.num.window})`);
    const floorSeq = await drive(echo.port, messagesOf(`FS${RUN}-`, args.num.latency), 1);
    const oursSeq = await drive(mllpPort, messagesOf(`S${RUN}-`, args.num.latency), 1);
    const floorPipe = await drive(echo.port, messagesOf(`FP${RUN}-`, args.num.messages), args.num.window);
    const oursPipe = await drive(mllpPort, messagesOf(`P${RUN}-`, args.num.messages), args.num.window);
    const t0 = performance.now();
    const oursEnh = await drive(mllpPort, messagesOf(`E${RUN}-`, args.num.messages, true), args.num.window);
    await appliedAll(server);
    const enhancedApplied = (args.num.messages / (performance.now() - t0)) * 1000;
    const aa = (d: Drive) => [...d.codes.values()].filter((c) => c === 'AA' || c === 'CA').length;
    const le = summarize(oursEnh.latencies);
    const ls = summarize(oursSeq.latencies);
    const fs = summarize(floorSeq.latencies);
    const lp = summarize(oursPipe.latencies);
    printTable(`${name}: flux 1 (ORM^O01 NW → Patient + ServiceRequest + Task) in → ACK over one MLLP connection`,
      ['', 'AA (CA) / sent', 'p50 ms', 'p99 ms', 'msg/s', 'target'],
      [
        ['echo floor, one at a time', `${aa(floorSeq)}/${args.num.latency}`, fmt(fs.p50, 2), fmt(fs.p99, 2), fmt(rate(floorSeq), 0), ''],
        ['platform, one at a time', `${aa(oursSeq)}/${args.num.latency}`, fmt(ls.p50), fmt(ls.p99), fmt(rate(oursSeq), 0), `p99 < 50 ms ${verdict(ls.p99 < 50)}`],
        ['echo floor, pipelined', `${aa(floorPipe)}/${args.num.messages}`, '', '', fmt(rate(floorPipe), 0), ''],
        ['platform, pipelined, original mode (AA after application)', `${aa(oursPipe)}/${args.num.messages}`, fmt(lp.p50), fmt(lp.p99), fmt(rate(oursPipe), 0), `≥ 1,000 msg/s ${verdict(rate(oursPipe) >= 1000)}`],
        ['platform, pipelined, enhanced mode (CA once stored)', `${aa(oursEnh)}/${args.num.messages}`, fmt(le.p50), fmt(le.p99), fmt(rate(oursEnh), 0), `≥ 1,000 msg/s ${verdict(rate(oursEnh) >= 1000)}`],
        ['  … of which applied (all applied)', '', '', '', fmt(enhancedApplied, 0), ''],
      ] as Row[]);

    }

    if (args.num.restart > 0) {
      const n = args.num.restart;
      const all = messagesOf(`R${RUN}-`, n);
      log(`${name}: ${n} messages, server killed with SIGKILL after ${Math.floor(n / 2)} ACKs`);
      const acked = new Map<string, string>();
      let killed = false;
      const first = drive(mllpPort, all, args.num.window, (count) => {
        if (!killed && count >= Math.floor(n / 2)) {
          killed = true;
          process.kill(server.pid, 'SIGKILL');
        }
      });
      const before = await first;
      for (const [k, v] of before.codes) acked.set(k, v);
      log(`${name}: killed after ${acked.size} ACKs; restarting`);
      server = await startPlatform(be, mllpPort);
      const rest = all.filter((m) => !acked.has(m.id));
      const after = await drive(mllpPort, rest, args.num.window);
      for (const [k, v] of after.codes) acked.set(k, v);
      await server.stop();
      const db = await be.open();
      try {
        const [log1] = await db.query<{ applied: string; distinct_applied: string; duplicates: string }>(
          `SELECT count(*) FILTER (WHERE status = 'applied') AS applied, count(DISTINCT control_id) FILTER (WHERE status = 'applied') AS distinct_applied,
             count(*) FILTER (WHERE status = 'duplicate') AS duplicates FROM message_log WHERE control_id LIKE $1`, [`R${RUN}-%`]);
        const [srs] = await db.query<{ n: string; distinct_placer: string }>(
          `SELECT count(*) AS n, count(DISTINCT v) AS distinct_placer FROM (
             SELECT (SELECT i->>'value' FROM jsonb_array_elements(content->'identifier') i WHERE i->>'value' LIKE $1 LIMIT 1) AS v
             FROM resource WHERE resource_type = 'ServiceRequest' AND NOT deleted) s WHERE v IS NOT NULL`, [`OPNR${RUN}-%`]);
        const ok = Number(log1.applied) === n && Number(log1.distinct_applied) === n && Number(srs.n) === n && Number(srs.distinct_placer) === n;
        printTable(`${name}: ${n} flux 1 messages, server killed (SIGKILL) after ${before.codes.size} ACKs, restarted, unacknowledged ones resent`,
          ['ACKed AA', 'resent', 'applied (log)', 'distinct applied', 'duplicates recognised', 'ServiceRequests', 'distinct placer numbers', 'none lost, none twice'],
          [[String([...acked.values()].filter((c) => c === "AA").length), String(rest.length), String(log1.applied), String(log1.distinct_applied), String(log1.duplicates), String(srs.n), String(srs.distinct_placer), verdict(ok)]] as Row[]);
      } finally {
        await db.close();
      }
    }
  } finally {
    await server.stop().catch(() => undefined);
    echo.child.kill();
    await be.cleanup();
  }
}
