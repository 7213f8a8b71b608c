// DICOM file import: a generated zip of CT-like instances POSTed to /imaging/import, and the same kind of files as a
// folder sent by `npm run import`; instances/s and the server's RSS growth (issue 4: bounded memory for 1.5 GB CDs).
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import dcmjs from 'dcmjs';
import yazl from 'yazl';
import type { ImportSummary } from '../src/workflow/imaging/file-import.js';
import { prepareBackend, type BackendName } from './lib/backend.js';
import { COMMON_USAGE, parseBenchArgs } from './lib/cli.js';
import { RssSampler, rssMb, waitQuiet } from './lib/proc.js';
import { REPO_ROOT, serverFate, startServer, type ServerHandle } from './lib/server.js';
import { fmt, log, printTable, verdict } from './lib/stats.js';

const USAGE = `Usage: npm run bench:import -- [options]

Generates CT-like Part 10 instances (one study, 16-bit noise pixels), zips them (deflate level 1), POSTs the zip to
/imaging/import of a server started for the run, then writes another set of instances to a folder and runs
\`npm run import\` on it. Reports instances/s and the server's RSS growth (sampled every 100 ms). Temp files are deleted.

${COMMON_USAGE}
  --mib <n>        uncompressed size of each set in MiB (default 200; 1024 for the 1 GB run)
  --file-kib <n>   size of one instance's pixel data in KiB (default 512, a 512×512 16-bit CT slice)
  --folder <0|1>   also measure the folder import by the command (default 1)
  --studies <n>    instances spread over n studies (default 1: one CD-ROM exam)`;

const args = parseBenchArgs(USAGE, { mib: 200, 'file-kib': 512, folder: 1, studies: 1 });
const PIXEL_BYTES = Math.round(args.num['file-kib'] * 1024) & ~1;
const COUNT = Math.max(1, Math.floor((args.num.mib * 1024 * 1024) / PIXEL_BYTES));
const STUDIES = Math.max(1, Math.floor(args.num.studies));
/** Placeholder UIDs of the template, the same length as every generated one (2.25 + 38 digits). */
const PLACEHOLDER = `2.25.${'9'.repeat(38)}`;
const STUDY_PLACEHOLDER = `2.25.${'8'.repeat(38)}`;
const SERIES_PLACEHOLDER = `2.25.${'7'.repeat(38)}`;

/** One Part 10 file whose SOP Instance UID is PLACEHOLDER; copies get their own UID by a same-length byte replacement. */
function template(studyUid: string, seriesUid: string): Buffer {
  const side = Math.floor(Math.sqrt(PIXEL_BYTES / 2));
  const pixels = new Uint16Array(PIXEL_BYTES / 2);
  let x = 12345;
  // 10-bit noise on a 16-bit sample: compressible, not trivially (deflate keeps about 70%).
  for (let i = 0; i < pixels.length; i++) pixels[i] = 1000 + ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 22);
  const ds = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.2', SOPInstanceUID: PLACEHOLDER, StudyInstanceUID: studyUid, SeriesInstanceUID: seriesUid,
    PatientName: 'Bench^Import', PatientID: 'BENCH-1', IssuerOfPatientID: 'BENCH', Modality: 'CT', StudyDate: '20250101', StudyTime: '120000', AccessionNumber: 'BENCH',
    SamplesPerPixel: 1, PhotometricInterpretation: 'MONOCHROME2', Rows: side, Columns: PIXEL_BYTES / 2 / side,
    BitsAllocated: 16, BitsStored: 16, HighBit: 15, PixelRepresentation: 0, InstanceNumber: '1',
  });
  ds['7FE00010'] = { vr: 'OW', Value: [pixels.buffer] };
  const file = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer, MediaStorageSOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
    MediaStorageSOPInstanceUID: PLACEHOLDER, TransferSyntaxUID: '1.2.840.10008.1.2.1', ImplementationClassUID: '2.25.1',
  }));
  file.dict = ds;
  return Buffer.from(file.write());
}

/** Instance `n` of set `set`: its own SOP Instance UID, in study (and series) `n % STUDIES` of the set. */
function instance(tpl: Buffer, set: number, n: number): Buffer {
  const uid = (kind: number, k: number) => Buffer.from(`2.25.${kind}${String(set).padStart(5, '0')}${String(k).padStart(32, '0')}`);
  const out = Buffer.from(tpl);
  for (const [placeholder, value] of [[PLACEHOLDER, uid(1, n)], [STUDY_PLACEHOLDER, uid(2, n % STUDIES)], [SERIES_PLACEHOLDER, uid(3, n % STUDIES)]] as const) {
    for (let i = out.indexOf(placeholder); i !== -1; i = out.indexOf(placeholder, i + 1)) value.copy(out, i);
  }
  return out;
}

async function writeZip(path: string, tpl: Buffer, set: number, count = COUNT): Promise<void> {
  const zip = new yazl.ZipFile();
  const done = pipeline(zip.outputStream, createWriteStream(path));
  // Lazy entries: each instance is made when yazl gets to it, so the generator's memory stays flat too.
  for (let n = 0; n < count; n++) {
    zip.addReadStreamLazy(`DICOM/S${set}/IM${n}`, { compress: true, compressionLevel: 1 }, (cb) => cb(null, Readable.from([instance(tpl, set, n)])));
  }
  zip.end();
  await done;
}

function post(server: ServerHandle, path: string, size: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(server.origin);
    const req = request({
      host: url.hostname, port: url.port, method: 'POST', path: '/imaging/import',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/zip', 'content-length': String(size) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    createReadStream(path).pipe(req);
  });
}

function runCli(server: ServerHandle, folder: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/import-dicom.ts', folder, '--url', server.origin, '--json'], {
      cwd: REPO_ROOT, env: { ...process.env, TELEO_TOKEN: server.token }, maxBuffer: 64 * 1024 * 1024,
    }, (err, stdout, stderr) => (err && !stdout ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout)));
  });
}

interface Row { mode: string; instances: number; mib: number; sentMib: number; seconds: number; beforeMb: number; peakMb: number }

async function measure(server: ServerHandle, mode: string, sentBytes: number, run: () => Promise<ImportSummary>): Promise<Row> {
  await waitQuiet(server.pid);
  const beforeMb = rssMb(server.pid);
  const sampler = new RssSampler(server.pid, 100);
  const t0 = performance.now();
  let summary: ImportSummary;
  try {
    summary = await run();
  } catch (e) {
    sampler.stop();
    throw new Error(`${mode}: ${e instanceof Error ? e.message : String(e)} after ${fmt((performance.now() - t0) / 1000)} s; ${await serverFate(server)}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  const { peakMb, gone } = sampler.stop();
  if (gone) throw new Error(`${mode}: ${await serverFate(server)}`);
  if (summary.instances.stored !== COUNT) throw new Error(`${mode}: ${JSON.stringify(summary).slice(0, 500)}`);
  const row = { mode, instances: summary.instances.stored, mib: (COUNT * PIXEL_BYTES) / 1024 ** 2, sentMib: sentBytes / 1024 ** 2, seconds, beforeMb, peakMb };
  log(`  ${mode}: ${row.instances} instances in ${fmt(seconds)} s (${fmt(row.instances / seconds)} /s), RSS ${fmt(beforeMb)} → peak ${fmt(peakMb)} MB`);
  return row;
}

async function runBackend(name: BackendName): Promise<Row[]> {
  const be = await prepareBackend(name, args.databaseUrl, 'import');
  const work = join(be.dataDir, '..', `${be.dataDir.split('/').pop()}-input`);
  await mkdir(work, { recursive: true });
  const server = await startServer({ dataDir: be.dataDir, databaseUrl: be.databaseUrl, scope: 'user/ImagingStudy.c' });
  const rows: Row[] = [];
  try {
    // Warm-up (not measured): the first imports grow the server's heaps (PGlite's WASM memory, V8) to their working
    // size; RSS growth is measured from there.
    const warm = join(work, 'warm-up.zip');
    await writeZip(warm, template(STUDY_PLACEHOLDER, SERIES_PLACEHOLDER), 99_999, 32);
    const res = await post(server, warm, (await stat(warm)).size);
    if (res.status !== 200) throw new Error(`warm-up import answered ${res.status}: ${res.body.slice(0, 300)}`);
    await rm(warm, { force: true });
    for (let rep = 0; rep < args.reps; rep++) {
      const zipPath = join(work, `set${rep}.zip`);
      log(`${name}: writing a zip of ${COUNT} instances of ${fmt(PIXEL_BYTES / 1024, 0)} KiB`);
      await writeZip(zipPath, template(STUDY_PLACEHOLDER, SERIES_PLACEHOLDER), rep * 2);
      const size = (await stat(zipPath)).size;
      rows.push(await measure(server, `zip upload (${name})`, size, async () => {
        const res = await post(server, zipPath, size);
        if (res.status !== 200) throw new Error(`import answered ${res.status}: ${res.body.slice(0, 300)}`);
        return JSON.parse(res.body) as ImportSummary;
      }));
      await rm(zipPath, { force: true });
      if (args.num.folder) {
        const folder = join(work, `set${rep}`);
        await mkdir(folder, { recursive: true });
        const tpl = template(STUDY_PLACEHOLDER, SERIES_PLACEHOLDER);
        for (let n = 0; n < COUNT; n++) await writeFile(join(folder, `IM${n}.dcm`), instance(tpl, rep * 2 + 1, n));
        rows.push(await measure(server, `folder, npm run import (${name})`, COUNT * tpl.length, async () => JSON.parse(await runCli(server, folder)) as ImportSummary));
        await rm(folder, { recursive: true, force: true });
      }
    }
  } finally {
    await server.stop();
    await rm(work, { recursive: true, force: true });
    await be.cleanup();
  }
  return rows;
}

const rows: Row[] = [];
for (const b of args.backends) rows.push(...(await runBackend(b)));
printTable(`DICOM file import: ${COUNT} instances × ${fmt(PIXEL_BYTES / 1024, 0)} KiB (${fmt((COUNT * PIXEL_BYTES) / 1024 ** 2, 0)} MiB) in ${STUDIES} stud${STUDIES === 1 ? 'y' : 'ies'} per set`,
  ['mode', 'instances', 'sent MiB', 'seconds', 'instances/s', 'MiB/s', 'RSS before MB', 'RSS peak MB', 'growth MB', '< 100 MB'],
  rows.map((r) => [r.mode, String(r.instances), fmt(r.sentMib, 0), fmt(r.seconds), fmt(r.instances / r.seconds), fmt(r.mib / r.seconds),
    fmt(r.beforeMb), fmt(r.peakMb), fmt(r.peakMb - r.beforeMb), verdict(r.peakMb - r.beforeMb < 100)]));
