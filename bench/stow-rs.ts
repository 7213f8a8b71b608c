// Measures STOW-RS ingest (PS3.18 §10.5): N generated CT-like instances (512×512, 16-bit, ~0.5 MiB each) POSTed to
// /dicomweb/studies in batches of K per request, instances/s; then one large streamed request and the server's RSS.
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { prepareBackend, type BackendName } from './lib/backend.js';
import { COMMON_USAGE, parseBenchArgs } from './lib/cli.js';
import { RssSampler, rssMb, waitQuiet } from './lib/proc.js';
import { serverFate, startServer, type ServerHandle } from './lib/server.js';
import { fmt, log, median, printTable } from './lib/stats.js';
import { ctSeries, stowBody, STOW_CONTENT_TYPE } from '../src/http/dicomweb/test-stow-client.js';

const USAGE = `Usage: npm run bench:stow -- [options]

Starts the server (child process, temporary DATA_DIR), generates CT-like Part 10 files in memory (the client does not
measure its own disk), POSTs them to /dicomweb/studies as multipart/related; type="application/dicom" bodies of
--batch instances, --concurrency requests at a time; prints instances/s and MB/s (median of --reps, each on a fresh
server), then streams one --big-mib MiB request generated on the fly and reports the server's RSS growth.

${COMMON_USAGE}
  --instances <n>    instances per measurement (default 300, the issue's CT study)
  --batch <k>        instances per request (default 50)
  --concurrency <c>  requests in flight (default 1)
  --big-mib <m>      size of the large streamed request in MiB (default 1024; 0 to skip)`;

const args = parseBenchArgs(USAGE, { instances: 300, batch: 50, concurrency: 1, 'big-mib': 1024 });

interface Posted { status: number; body: string; ms: number }

/** POSTs one body (chunks written in order, with back-pressure) and reads the answer. */
function post(server: ServerHandle, body: AsyncIterable<Uint8Array>): Promise<Posted> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const url = new URL(server.origin);
    const req = request({
      host: url.hostname, port: url.port, method: 'POST', path: '/dicomweb/studies',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': STOW_CONTENT_TYPE, accept: 'application/dicom+json' },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    Readable.from(body).on('error', reject).pipe(req);
  });
}

async function* fromArray(parts: readonly Buffer[]): AsyncGenerator<Uint8Array> {
  yield* stowBody(parts);
}

interface Rep { instPerS: number; mbPerS: number; statuses: string; failed: number; peakMb: number }

async function ingestRep(name: BackendName): Promise<Rep> {
  const be = await prepareBackend(name, args.databaseUrl, 'stow');
  const server = await startServer({ dataDir: be.dataDir, databaseUrl: be.databaseUrl, scope: 'system/*.cruds' });
  try {
    const series = ctSeries();
    const files = Array.from({ length: args.num.instances }, () => series.next());
    const batches: Buffer[][] = [];
    for (let i = 0; i < files.length; i += args.num.batch) batches.push(files.slice(i, i + args.num.batch));
    await waitQuiet(server.pid);
    const rss = new RssSampler(server.pid);
    const t0 = performance.now();
    const results: Posted[] = [];
    let next = 0;
    try {
      await Promise.all(Array.from({ length: Math.max(1, args.num.concurrency) }, async () => {
        while (next < batches.length) results.push(await post(server, fromArray(batches[next++])));
      }));
    } catch (e) {
      rss.stop();
      throw new Error(`${String(e)}; ${await serverFate(server)}`);
    }
    const seconds = (performance.now() - t0) / 1000;
    const { peakMb } = rss.stop();
    const statuses = [...new Set(results.map((r) => r.status))].join(',');
    const failed = results.reduce((n, r) => n + ((JSON.parse(r.body) as Record<string, { Value?: unknown[] }>)['00081198']?.Value?.length ?? 0), 0);
    const bytes = files.reduce((n, f) => n + f.length, 0);
    return { instPerS: files.length / seconds, mbPerS: bytes / 1e6 / seconds, statuses, failed, peakMb };
  } finally {
    await server.stop();
    await be.cleanup();
  }
}

interface Big { mib: number; instances: number; seconds: number; status: number; beforeMb: number; minMb: number; peakMb: number }

async function bigRequest(name: BackendName): Promise<Big> {
  const be = await prepareBackend(name, args.databaseUrl, 'stow-big');
  const server = await startServer({ dataDir: be.dataDir, databaseUrl: be.databaseUrl, scope: 'system/*.cruds' });
  try {
    const series = ctSeries();
    const count = Math.ceil((args.num['big-mib'] * 1024 * 1024) / series.size);
    async function* lazy(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < count; i++) yield series.next();
    }
    // Warm-up (not measured): its allocations make V8 collect the start-up garbage (PGlite's throw-away initdb WASM
    // instance, ~400 MB external), which would otherwise inflate the baseline and hide the growth.
    const warm = await post(server, fromArray(Array.from({ length: 32 }, () => ctSeries().next())));
    if (warm.status !== 200) throw new Error(`warm-up STOW-RS answered ${warm.status}: ${warm.body.slice(0, 300)}`);
    await waitQuiet(server.pid);
    const beforeMb = rssMb(server.pid);
    const rss = new RssSampler(server.pid);
    const t0 = performance.now();
    let res: Posted;
    try {
      res = await post(server, stowBody(lazy()));
    } catch (e) {
      rss.stop();
      throw new Error(`${String(e)} after ${fmt((performance.now() - t0) / 1000)} s; ${await serverFate(server)}`);
    }
    const seconds = (performance.now() - t0) / 1000;
    const { peakMb, minMb, gone } = rss.stop();
    if (gone) throw new Error(`answered ${res.status} but ${await serverFate(server)}`);
    if (res.status !== 200) log(`  answered ${res.status} after ${fmt(seconds)} s: ${res.body.slice(0, 300)}`);
    return { mib: (count * series.size) / 1024 / 1024, instances: count, seconds, status: res.status, beforeMb, minMb, peakMb };
  } finally {
    await server.stop();
    await be.cleanup();
  }
}

for (const name of args.backends) {
  const reps: Rep[] = [];
  for (let r = 0; r < args.reps; r++) {
    log(`${name}: STOW-RS of ${args.num.instances} instances, batches of ${args.num.batch}, concurrency ${args.num.concurrency} (rep ${r + 1}/${args.reps})`);
    reps.push(await ingestRep(name));
    log(`  ${fmt(reps[r].instPerS)} instances/s, statuses ${reps[r].statuses}, ${reps[r].failed} failed`);
  }
  printTable(`STOW-RS ingest (${name}, ${args.num.instances} CT instances of ~0.5 MiB, batch ${args.num.batch}, concurrency ${args.num.concurrency})`,
    ['instances/s (median)', 'min–max', 'MB/s', 'HTTP statuses', 'failed instances', 'server RSS peak MB'],
    [[fmt(median(reps.map((x) => x.instPerS))), `${fmt(Math.min(...reps.map((x) => x.instPerS)))}–${fmt(Math.max(...reps.map((x) => x.instPerS)))}`,
      fmt(median(reps.map((x) => x.mbPerS))), [...new Set(reps.map((x) => x.statuses))].join(' '), String(reps.reduce((n, x) => n + x.failed, 0)),
      fmt(Math.max(...reps.map((x) => x.peakMb)))]]);
  if (args.num['big-mib'] > 0) {
    log(`${name}: one streamed STOW-RS request of ${args.num['big-mib']} MiB`);
    const big = await bigRequest(name).catch((e: unknown) => {
      log(`  FAILED: ${e instanceof Error ? e.message : String(e)}`);
      process.exitCode = 1;
      return undefined;
    });
    // Growth from the lowest RSS seen: the one before the request may still hold garbage (PGlite's initdb instance).
    if (big) printTable(`STOW-RS memory (${name}): one streamed request`, ['MiB', 'instances', 'HTTP status', 'seconds', 'instances/s', 'server RSS before MB', 'lowest MB', 'peak MB', 'growth MB'],
      [[fmt(big.mib, 0), String(big.instances), String(big.status), fmt(big.seconds), fmt(big.instances / big.seconds), fmt(big.beforeMb), fmt(big.minMb), fmt(big.peakMb),
        fmt(big.peakMb - Math.min(big.beforeMb, big.minMb))]]);
  }
}
