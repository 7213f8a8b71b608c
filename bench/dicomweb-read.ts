// DICOMweb reads (PS3.18): WADO-RS metadata of a 300-instance CT study and QIDO-RS study searches over 200 studies,
// p50/p95 against our server as a child process, on the workload of ../shared/bench (same data as the Orthanc runs).
import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { foldPersonName } from '../src/imaging/dicom-matching.js';
import { prepareBackend } from './lib/backend.js';
import { COMMON_USAGE, parseBenchArgs } from './lib/cli.js';
import { waitQuiet } from './lib/proc.js';
import { startServer } from './lib/server.js';
import { fmt, log, printTable, summarize } from './lib/stats.js';

const run = promisify(execFile);
const USAGE = `Usage: node --import tsx bench/dicomweb-read.ts -- [options]

Generates (once) the workload of ../shared/bench/gen/gen-dicom.mjs in /tmp/bench-data, sends it to a fresh server by
storescu (one association per folder), then times sequential requests after a warm-up: WADO-RS /studies/{ct}/metadata,
and QIDO-RS /studies searches whose match counts are checked against the generator's manifest.

${COMMON_USAGE}
  --requests <n>   timed requests per measurement (default 100)`;

const args = parseBenchArgs(USAGE, { requests: 100 });
const DATA = process.env.BENCH_DATA ?? '/tmp/bench-data';

interface Manifest {
  ct: { studyInstanceUid: string; studyDate: string; instances: unknown[] };
  small: { studyInstanceUid: string; patientName: string; studyDate: string }[];
}

async function manifest(): Promise<Manifest> {
  const file = join(DATA, 'manifest.json');
  try {
    await access(file);
  } catch {
    log(`generating the workload in ${DATA}`);
    await run(process.execPath, [join(process.cwd(), '../shared/bench/gen/gen-dicom.mjs'), '--out', DATA], { maxBuffer: 1 << 24 });
  }
  return JSON.parse(await readFile(file, 'utf8')) as Manifest;
}

async function timed(url: string, token: string, check: (body: string) => void, n: number): Promise<number[]> {
  const once = async () => {
    const t0 = performance.now();
    const res = await fetch(url, { headers: { Authorization: `Bearer ${token}`, Accept: 'application/dicom+json' } });
    const body = await res.text();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`${url}: ${res.status} ${body.slice(0, 200)}`);
    check(body);
    return ms;
  };
  for (let i = 0; i < 5; i++) await once();
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await once());
  return out;
}

const m = await manifest();
const expectCount = (n: number) => (body: string) => {
  const got = (JSON.parse(body) as unknown[]).length;
  if (got !== n) throw new Error(`expected ${n} matches, got ${got}`);
};
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const rows: string[][] = [];
for (const name of args.backends) {
  const backend = await prepareBackend(name, args.databaseUrl, 'dicomweb-read');
  const dicomPort = await freePort();
  const server = await startServer({
    dataDir: backend.dataDir, databaseUrl: backend.databaseUrl, scope: 'system/*.cruds',
    env: { DICOM_PORT: String(dicomPort), DICOM_KNOWN_AES: JSON.stringify([{ aeTitle: 'BENCHSCU', host: '127.0.0.1', operations: ['echo', 'store'] }]) },
  });
  try {
    for (const folder of ['ct', 'small']) {
      const t0 = performance.now();
      await run('storescu', ['-aet', 'BENCHSCU', '-aec', 'TELEO', '+sd', '+r', '127.0.0.1', String(dicomPort), join(DATA, folder)], { maxBuffer: 1 << 26 });
      log(`${name}: stored ${folder} in ${fmt((performance.now() - t0) / 1000)} s`);
    }
    const base = `${server.origin}/dicomweb`;
    const total = m.small.length + 1;
    // Every study counted once stored (the index commits before each C-STORE response).
    await timed(`${base}/studies?limit=1000`, server.token, expectCount(total), 1);
    const martin = m.small.filter((s) => foldPersonName(s.patientName).startsWith('martin')).length;
    // The ImagingStudy sync jobs of the new studies run in the background: measure once the server is idle.
    log(`${name}: server idle after ${fmt((await waitQuiet(server.pid, 5, 2000, 180_000)) / 1000)} s`);
    const in2024 = [...m.small, m.ct].filter((s) => s.studyDate >= '20240101' && s.studyDate <= '20241231').length;
    const one = m.small[Math.floor(m.small.length / 2)];
    const measures: [string, string, (b: string) => void][] = [
      ['WADO-RS study metadata (300 instances)', `${base}/studies/${m.ct.studyInstanceUid}/metadata`, expectCount(m.ct.instances.length)],
      ['QIDO-RS /studies (all, 201)', `${base}/studies`, expectCount(total)],
      ['QIDO-RS /studies?PatientName=MARTIN*', `${base}/studies?PatientName=MARTIN*`, expectCount(martin)],
      ['QIDO-RS /studies?StudyDate=2024 range', `${base}/studies?StudyDate=20240101-20241231`, expectCount(in2024)],
      ['QIDO-RS /studies?StudyInstanceUID=…', `${base}/studies?StudyInstanceUID=${one.studyInstanceUid}`, expectCount(1)],
    ];
    for (const [label, url, check] of measures) {
      const s = summarize(await timed(url, server.token, check, args.num.requests));
      rows.push([name, label, fmt(s.p50, 2), fmt(s.p95, 2), fmt(s.max, 2)]);
      log(`${name}: ${label}: p50 ${fmt(s.p50, 2)} ms, p95 ${fmt(s.p95, 2)} ms`);
    }
  } finally {
    await server.stop();
    await backend.cleanup();
  }
}
printTable(`DICOMweb reads, ${args.num.requests} sequential requests after 5 warm-up (ms)`, ['backend', 'request', 'p50', 'p95', 'max'], rows);
