// Measures a 1.5 GiB streamed Binary upload (throughput vs the disk's own write speed, server RSS growth) and its read-back.
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Binary } from '@medplum/fhirtypes';
import { prepareBackend, type BackendName } from './lib/backend.js';
import { ddBaseline, expectedSha256, nodeWriteBaseline, randomStream } from './lib/blob-source.js';
import { COMMON_USAGE, parseBenchArgs } from './lib/cli.js';
import { cpuSnapshot, cpuUse, RssSampler, rssMb, sleep, waitMachineQuiet, waitQuiet, type CpuUse } from './lib/proc.js';
import { startServer, type ServerHandle } from './lib/server.js';
import { fmt, log, median, medianOf, pct, printTable, verdict } from './lib/stats.js';

const USAGE = `Usage: npm run bench:binary -- [options]

Streams a pseudo-random body to POST /fhir/Binary (application/octet-stream), compares with the disk's write speed
measured in the same run on the same filesystem (DATA_DIR), samples server RSS every 100 ms, reads it back and
checks its sha256. Prints Markdown tables. Temp files are deleted.

${COMMON_USAGE}
  --mib <n>   body size in MiB (default 1536 = 1.5 GiB)`;

const args = parseBenchArgs(USAGE, { mib: 1536 });
const SIZE = args.num.mib * 1024 * 1024;
const MB = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

interface Rep {
  uploadMBs: number; tailMs: number; cpu: CpuUse; nodeDiskMBs: number; ddMBs: number; growthMb: number; beforeMb: number; peakMb: number;
  downloadMBs: number; downloadGrowthMb: number; shaOk: boolean;
}

/** POSTs the stream; `sentMs` is when the last body byte was handed to the socket (the rest is the server's tail: fsync, rename, DB). */
function upload(server: ServerHandle, body: Readable): Promise<{ status: number; binary: Binary; sentMs: number }> {
  const t0 = performance.now();
  let sentMs = Number.NaN;
  return new Promise((resolve, reject) => {
    const url = new URL(server.origin);
    const req = request({
      host: url.hostname, port: url.port, method: 'POST', path: '/fhir/Binary',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/octet-stream', 'content-length': String(SIZE), accept: 'application/fhir+json' },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, binary: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Binary, sentMs }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('finish', () => { sentMs = performance.now() - t0; });
    body.on('error', reject);
    body.pipe(req);
  });
}

function downloadSha256(server: ServerHandle, id: string): Promise<{ status: number; bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(server.origin);
    const req = request({
      host: url.hostname, port: url.port, method: 'GET', path: `/fhir/Binary/${id}`,
      headers: { authorization: `Bearer ${server.token}`, accept: 'application/octet-stream' },
    }, (res) => {
      const h = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => { h.update(c); bytes += c.length; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, sha256: h.digest('hex') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function uploadRep(server: ServerHandle, dataDir: string, seed: number): Promise<Pick<Rep, 'uploadMBs' | 'tailMs' | 'cpu' | 'growthMb' | 'beforeMb' | 'peakMb' | 'downloadMBs' | 'downloadGrowthMb' | 'shaOk'>> {
  const want = expectedSha256(SIZE, seed); // untimed
  await waitQuiet(server.pid);
  const beforeMb = rssMb(server.pid);
  const sampler = new RssSampler(server.pid, 100);
  const c0 = cpuSnapshot(server.pid);
  let t0 = performance.now();
  const up = await upload(server, randomStream(SIZE, seed));
  const uploadMs = performance.now() - t0;
  const cpu = cpuUse(c0, cpuSnapshot(server.pid));
  const { peakMb } = sampler.stop();
  if (up.status !== 201 || !up.binary.id) throw new Error(`upload answered ${up.status}: ${JSON.stringify(up.binary).slice(0, 300)}`);
  await waitQuiet(server.pid);
  const beforeDown = rssMb(server.pid);
  const downSampler = new RssSampler(server.pid, 100);
  t0 = performance.now();
  const down = await downloadSha256(server, up.binary.id);
  const downloadMs = performance.now() - t0;
  const downPeak = downSampler.stop().peakMb;
  const shaOk = down.status === 200 && down.bytes === SIZE && down.sha256 === want;
  // Delete the stored blob (content-addressed file under DATA_DIR/blobs) so the disk does not fill up.
  const key = up.binary.meta?.extension?.find((e) => e.url === 'urn:teleo:blob-key')?.valueString ?? '';
  const hex = key.replace('sha256-', '');
  if (hex.length === 64) await rm(join(dataDir, 'blobs', hex.slice(0, 2), hex.slice(2, 4), key), { force: true });
  return {
    uploadMBs: MB(SIZE, uploadMs), tailMs: uploadMs - up.sentMs, cpu, beforeMb, peakMb, growthMb: peakMb - beforeMb,
    downloadMBs: MB(down.bytes, downloadMs), downloadGrowthMb: downPeak - beforeDown, shaOk,
  };
}

async function runBackend(name: BackendName, index: number): Promise<Rep[]> {
  log(`== ${name}`);
  const be = await prepareBackend(name, args.databaseUrl, 'binary');
  const server = await startServer({ dataDir: be.dataDir, databaseUrl: be.databaseUrl, scope: 'system/*.cruds' }).catch(async (e: unknown) => {
    await be.cleanup();
    throw e;
  });
  const reps: Rep[] = [];
  try {
    await waitQuiet(server.pid);
    await sleep(2000);
    for (let rep = 0; rep < args.reps; rep++) {
      const seed = index * 100 + rep;
      const tmp = join(be.dataDir, 'disk-baseline.tmp');
      let up: Awaited<ReturnType<typeof uploadRep>> | undefined;
      let nodeDiskMBs = 0;
      for (const which of rep % 2 === 0 ? ['disk', 'upload'] : ['upload', 'disk']) {
        await waitMachineQuiet();
        if (which === 'disk') nodeDiskMBs = await nodeWriteBaseline(tmp, SIZE, seed + 50);
        else up = await uploadRep(server, be.dataDir, seed);
      }
      await waitMachineQuiet();
      const ddMBs = await ddBaseline(tmp, SIZE);
      if (!up) throw new Error('unreachable');
      const r: Rep = { ...up, nodeDiskMBs, ddMBs };
      log(`  rep ${rep + 1}: upload ${fmt(r.uploadMBs)} MB/s (last byte sent → response ${fmt(r.tailMs, 0)} ms; CPU server ${fmt(r.cpu.serverPct, 0)} % ` +
        `client ${fmt(r.cpu.clientPct, 0)} % others ${fmt(r.cpu.othersPct, 0)} %), node write+fsync ${fmt(nodeDiskMBs)} MB/s, dd ${fmt(ddMBs)} MB/s, ` +
        `ratio ${pct(r.uploadMBs / nodeDiskMBs)}; RSS ${fmt(r.beforeMb)} → peak ${fmt(r.peakMb)} MB (+${fmt(r.growthMb)}); ` +
        `download ${fmt(r.downloadMBs)} MB/s (+${fmt(r.downloadGrowthMb)} MB), sha256 ${r.shaOk ? 'matches' : 'MISMATCH'}`);
      reps.push(r);
    }
    return reps;
  } finally {
    await server.stop();
    await be.cleanup();
  }
}

const all: { name: BackendName; reps: Rep[] }[] = [];
for (const [i, name] of args.backends.entries()) all.push({ name, reps: await runBackend(name, i) });

printTable(`Binary upload of ${fmt(SIZE / 2 ** 30, 2)} GiB (${SIZE} bytes), median of ${args.reps} (MB = 10^6 bytes)`,
  ['backend', 'upload MB/s', 'CPU % server / client', 'node write+fsync MB/s', 'dd conv=fsync MB/s', 'ratio vs node write', 'ratio vs dd', 'target', 'verdict',
    'RSS before MB', 'RSS growth MB (peak − before)', 'target', 'verdict'],
  all.map(({ name, reps }) => {
    const ratio = median(reps.map((r) => r.uploadMBs / r.nodeDiskMBs));
    const ddRatio = median(reps.map((r) => r.uploadMBs / r.ddMBs));
    const growth = Math.max(...reps.map((r) => r.growthMb));
    return [name, fmt(medianOf(reps, 'uploadMBs')), `${fmt(median(reps.map((r) => r.cpu.serverPct)), 0)} / ${fmt(median(reps.map((r) => r.cpu.clientPct)), 0)}`,
      fmt(medianOf(reps, 'nodeDiskMBs')), fmt(medianOf(reps, 'ddMBs')), pct(ratio), pct(ddRatio),
      '≥ 70 %', verdict(ratio >= 0.7), fmt(medianOf(reps, 'beforeMb')), `${fmt(medianOf(reps, 'growthMb'))} (max ${fmt(growth)})`, '< 64 MB', verdict(growth < 64)];
  }));
printTable('Binary read-back (GET /fhir/Binary/<id>, application/octet-stream, hashed by the client)',
  ['backend', 'download MB/s', 'RSS growth MB', 'sha256'],
  all.map(({ name, reps }) => [name, fmt(medianOf(reps, 'downloadMBs')), fmt(Math.max(...reps.map((r) => r.downloadGrowthMb))),
    reps.every((r) => r.shaOk) ? `matches (${reps.length}/${reps.length})` : 'MISMATCH']));
