// DICOM file import (PS3.10 §8 file sets: a CD-ROM with its DICOMDIR per PS3.12, a folder, a zip, one Part 10 file)
// into a running platform over HTTP (POST /imaging/import), streamed, a few files at a time, with progress and a summary.
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { DicomdirError, readDicomdir } from '../imaging/dicomdir.js';
import { hasPart10Prefix } from '../imaging/part10-stream.js';
import { ImportRecorder, mergeSummary, type ImportSummary } from '../workflow/imaging/file-import.js';
import { createImportProgress, type ImportProgress } from './import-progress.js';

const USAGE = `Usage: npm run import -- <folder|zip|DICOMDIR|file> [options]

Imports DICOM files into a running platform (POST <url>/imaging/import) and prints a summary. A folder is walked
recursively, or, when it holds a DICOMDIR (a CD-ROM), only the files its records reference are sent. A zip is
uploaded whole and read by the platform. Files that are not DICOM Part 10 are skipped here.

Options:
  --url <url>          platform base URL (default $TELEO_URL, else http://localhost:$HTTP_PORT, port 8080 by default)
  --token <jwt>        bearer token (default $TELEO_TOKEN) with a scope allowing ImagingStudy create, e.g.
                       TELEO_TOKEN=$(npm run -s token -- --fhir-user Practitioner/123 --scope "user/ImagingStudy.c")
  --token-file <path>  read the token from a file instead (default $TELEO_TOKEN_FILE)
  --concurrency <n>    files sent at once (default 4)
  --json               print the summary as JSON on stdout
  -h, --help           show this help

Exit status: 0 when every instance was imported (conflicts are listed, not failures), 1 on failures or when the
platform cannot be used, 2 on a usage error.
`;

interface LocalFile { readonly path: string; readonly name: string; readonly size: number }
type Plan =
  | { readonly kind: 'files'; readonly label: string; readonly files: LocalFile[]; readonly missing: string[]; readonly invalid: string[] }
  | { readonly kind: 'zip'; readonly label: string; readonly file: LocalFile };

class Fatal extends Error {}

function usageError(message: string): never {
  process.stderr.write(`import: ${message}\n\n${USAGE}`);
  process.exit(2);
}

async function head(path: string, n = 132): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Every regular file under `root`, depth first, in name order; symbolic links are not followed. */
async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop() as string;
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? 1 : -1));
    for (const e of entries) {
      if (e.isDirectory()) stack.push(join(dir, e.name));
      else if (e.isFile()) out.push(join(dir, e.name));
    }
  }
  return out.sort();
}

/** `name` in `dir`, matched exactly or else ignoring case (a CD-ROM's upper-case File IDs on a case-sensitive mount). */
async function findIn(dir: string, name: string): Promise<string | undefined> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const found = names.includes(name) ? name : names.find((n) => n.toUpperCase() === name.toUpperCase() || n.toUpperCase() === `${name.toUpperCase()};1`);
  return found === undefined ? undefined : join(dir, found);
}

async function localFile(root: string, path: string): Promise<LocalFile> {
  return { path, name: relative(root, path) || basename(path), size: (await stat(path)).size };
}

async function fromDicomdir(dicomdir: string): Promise<Plan> {
  const root = dirname(dicomdir);
  let contents;
  try {
    contents = readDicomdir(await readFile(dicomdir));
  } catch (e) {
    if (e instanceof DicomdirError) throw new Fatal(`${dicomdir}: ${e.message}`);
    throw e;
  }
  const files: LocalFile[] = [];
  const missing: string[] = [];
  for (const ref of contents.files) {
    let path: string | undefined = root;
    for (const c of ref.components) path = path === undefined ? undefined : await findIn(path, c);
    if (path !== undefined && (await stat(path)).isFile()) files.push(await localFile(root, path));
    else missing.push(ref.components.join('/'));
  }
  return { kind: 'files', label: `${dicomdir} (DICOMDIR: ${contents.files.length} referenced files)`, files, missing, invalid: contents.invalid.map((i) => i.fileId) };
}

async function planFor(input: string): Promise<Plan> {
  const st = await stat(input).catch(() => usageError(`${input}: no such file or folder`));
  if (st.isDirectory()) {
    const dicomdir = await findIn(input, 'DICOMDIR');
    if (dicomdir) return fromDicomdir(dicomdir);
    const files = await Promise.all((await walk(input)).map((p) => localFile(input, p)));
    return { kind: 'files', label: `${input} (folder: ${files.length} files)`, files, missing: [], invalid: [] };
  }
  if (basename(input).toUpperCase() === 'DICOMDIR') return fromDicomdir(input);
  const file = await localFile(dirname(input), input);
  if ((await head(input, 4)).toString('latin1') === 'PK\x03\x04' || /\.zip$/i.test(input)) return { kind: 'zip', label: `${input} (zip)`, file };
  return { kind: 'files', label: input, files: [file], missing: [], invalid: [] };
}

/** RFC 8187 ext-value for Content-Disposition's filename*. */
const extValue = (s: string): string => `UTF-8''${encodeURIComponent(s).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;

interface Target { readonly url: URL; readonly token: string; readonly agent: http.Agent }

function post(t: Target, type: string, f: LocalFile, onBytes: (n: number) => void): Promise<{ status: number; body: string }> {
  const send = t.url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolvePost, reject) => {
    const body: Readable = createReadStream(f.path);
    const req = send(t.url, {
      method: 'POST', agent: t.agent,
      headers: { Authorization: `Bearer ${t.token}`, 'Content-Type': type, 'Content-Length': f.size, 'Content-Disposition': `attachment; filename*=${extValue(f.name)}` },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePost({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    body.on('data', (c: Buffer | string) => onBytes(c.length));
    body.on('error', (e) => req.destroy(e));
    body.pipe(req);
  });
}

/** Sends one file (or the zip); adds the platform's summary, or the failure, to `rec`. */
async function send(t: Target, rec: ImportRecorder, type: string, f: LocalFile, progress: ImportProgress): Promise<void> {
  let res;
  try {
    res = await post(t, type, f, (n) => progress.advance(n));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH') throw new Fatal(`cannot reach the platform at ${t.url.origin} (${code})`);
    rec.fail(f.name, `upload failed: ${(e as Error).message}`);
    return;
  }
  const detail = (): string => {
    try {
      return (JSON.parse(res.body) as { issue?: { details?: { text?: string } }[] }).issue?.[0]?.details?.text ?? res.body.slice(0, 200);
    } catch {
      return res.body.slice(0, 200);
    }
  };
  if (res.status === 200) mergeSummary(rec.summary, JSON.parse(res.body) as ImportSummary);
  else if (res.status === 401 || res.status === 403 || res.status === 404) throw new Fatal(`the platform refused the import (HTTP ${res.status}): ${detail()}`);
  else rec.fail(f.name, `the platform answered HTTP ${res.status}: ${detail()}`);
}

async function runPlan(plan: Plan, t: Target, concurrency: number): Promise<ImportSummary> {
  const rec = new ImportRecorder();
  if (plan.kind === 'zip') {
    const progress = createImportProgress(plan.file.size, 1);
    let sent = 0;
    const upload: ImportProgress = {
      ...progress,
      advance(n) {
        progress.advance(n);
        if ((sent += n) === plan.file.size) progress.note('upload complete; the platform is reading the archive…');
      },
    };
    try {
      await send(t, rec, 'application/zip', plan.file, upload);
    } finally {
      progress.stop();
    }
    return rec.summary;
  }
  for (const m of plan.missing) rec.fail(m, 'referenced by the DICOMDIR but not found');
  for (const i of plan.invalid) rec.fail(i, 'DICOMDIR references an invalid File ID (PS3.10 §8.2): not read');
  const progress = createImportProgress(plan.files.reduce((n, f) => n + f.size, 0), plan.files.length);
  const queue = [...plan.files];
  const worker = async (): Promise<void> => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
      if (stopped) return;
      if (hasPart10Prefix(await head(f.path))) {
        await send(t, rec, 'application/dicom', f, progress);
      } else {
        rec.skip(f.name, 'not a DICOM Part 10 file (no "DICM" prefix after a 128-byte preamble)', true);
        progress.advance(f.size);
      }
      progress.advance(0, true);
    }
  };
  let stopped = false; // a fatal error in one worker stops the others at their next file
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(queue.length, 1)) }, () => worker().catch((e: unknown) => {
      stopped = true;
      throw e;
    })));
  } finally {
    progress.stop();
  }
  return rec.summary;
}

function printSummary(label: string, s: ImportSummary): string {
  const i = s.instances;
  const lines = [
    `Imported ${label}`,
    `  files: ${s.files}`,
    `  instances: ${i.stored} stored, ${i.alreadyPresent} already present, ${i.conflicts} conflicts, ${i.failed} failed`,
    `  skipped: ${s.skipped.nonDicom} non-DICOM, ${s.skipped.other} other`,
    `  studies: ${s.studies.length}`,
    ...s.studies.map((st) => `    ${st.studyInstanceUid}: ${st.instances} instance${st.instances === 1 ? '' : 's'}`),
  ];
  if (s.failures.length > 0) lines.push('  failures:', ...s.failures.map((f) => `    ${f.file}: ${f.reason}`));
  if (s.conflicts.length > 0) lines.push('  conflicts:', ...s.conflicts.map((f) => `    ${f.file}: ${f.reason}`));
  if (s.skippedFiles.some((f) => !f.reason.startsWith('not a DICOM'))) {
    lines.push('  skipped (other):', ...s.skippedFiles.filter((f) => !f.reason.startsWith('not a DICOM')).map((f) => `    ${f.file}: ${f.reason}`));
  }
  if (s.truncated) lines.push(`  (lists cut at their first entries; the counts are complete)`);
  return `${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, strict: true, allowPositionals: true,
      options: {
        url: { type: 'string' }, token: { type: 'string' }, 'token-file': { type: 'string' },
        concurrency: { type: 'string', default: '4' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    return usageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) usageError('give one folder, zip, DICOMDIR or file');
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32) usageError('--concurrency must be an integer from 1 to 32');
  const base = values.url ?? process.env.TELEO_URL ?? `http://localhost:${process.env.HTTP_PORT || 8080}`;
  let url: URL;
  try {
    url = new URL('imaging/import', base.endsWith('/') ? base : `${base}/`);
  } catch {
    return usageError(`invalid --url "${base}"`);
  }
  const tokenFile = values['token-file'] ?? process.env.TELEO_TOKEN_FILE;
  const token = (values.token ?? process.env.TELEO_TOKEN ?? (tokenFile ? await readFile(tokenFile, 'utf8') : '')).trim();
  if (!token) usageError('no token: give --token, --token-file, TELEO_TOKEN or TELEO_TOKEN_FILE');

  const agent = new (url.protocol === 'https:' ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: concurrency });
  try {
    const plan = await planFor(resolve(positionals[0]));
    const summary = await runPlan(plan, { url, token, agent }, concurrency);
    process.stdout.write(values.json ? `${JSON.stringify(summary, null, 2)}\n` : printSummary(plan.label, summary));
    return summary.instances.failed > 0 ? 1 : 0;
  } catch (e) {
    if (!(e instanceof Fatal)) throw e;
    process.stderr.write(`import: ${e.message}\n`);
    return 1;
  } finally {
    agent.destroy();
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`import: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
