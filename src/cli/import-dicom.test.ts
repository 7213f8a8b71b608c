// `npm run import` as a real child process against a real platform on port 0: folders, zips, a CD-ROM file set with a
// DICOMDIR written by dcmtk's dcmmkdir, the pydicom test files, re-imports, refused tokens.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { describeWithDicomPeers, newUid, run, writeGeneratedDicom } from '../dicom/test-dicom-peers.js';
import { buildZip } from '../http/test-zip.js';
import { startTestServer, type TestServer } from '../http/test-server.js';
import type { ImportSummary } from '../workflow/imaging/file-import.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/pydicom-testdata/', import.meta.url));

interface CliRun { code: number; stdout: string; stderr: string }

function importCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/import-dicom.ts', ...args], {
      cwd: REPO, timeout: 120_000, env: { PATH: process.env.PATH ?? '', ...env },
    }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

function summaryOf(r: CliRun): ImportSummary {
  try {
    return JSON.parse(r.stdout) as ImportSummary;
  } catch {
    throw new Error(`no JSON summary (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

describeWithDicomPeers('npm run import (CLI against a running platform)', function () {
  this.timeout(180_000);
  let server: TestServer;
  let dir: string;
  let token: string;
  const cli = (path: string, ...extra: string[]) => importCli([path, '--url', server.platform.url, '--json', ...extra], { TELEO_TOKEN: token });

  before(async () => {
    server = await startTestServer('pglite');
    token = await server.token({ scope: 'user/ImagingStudy.c' });
  });
  after(async () => {
    await server?.close();
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'import-cli-test-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('walks a folder recursively: DICOM files imported, non-DICOM skipped locally; a second run finds all already present', async () => {
    const study = newUid();
    await mkdir(join(dir, 'a', 'b', 'c'), { recursive: true });
    await writeGeneratedDicom(join(dir, 'one.dcm'), { studyInstanceUid: study, pixel: 1 });
    await writeGeneratedDicom(join(dir, 'a', 'two'), { studyInstanceUid: study, pixel: 2 });
    await writeGeneratedDicom(join(dir, 'a', 'b', 'c', 'three.DCM'), { studyInstanceUid: study, pixel: 3 });
    await writeFile(join(dir, 'README.txt'), 'Examen du 2 janvier\n');
    await writeFile(join(dir, 'a', 'b', 'empty'), '');
    await writeFile(join(dir, 'a', 'b', 'c', 'photo.jpg'), Buffer.alloc(300, 0xff));

    const first = await cli(dir);
    expect(first.code, first.stderr).to.equal(0);
    const s = summaryOf(first);
    expect(s.files).to.equal(6);
    expect(s.instances).to.deep.equal({ stored: 3, alreadyPresent: 0, conflicts: 0, failed: 0 });
    expect(s.skipped).to.deep.equal({ nonDicom: 3, other: 0 });
    expect(s.studies).to.deep.equal([{ studyInstanceUid: study, instances: 3 }]);
    expect(s.skippedFiles.map((f) => f.file).sort()).to.deep.equal(['README.txt', 'a/b/c/photo.jpg', 'a/b/empty']);
    // Not a terminal: plain progress lines on stderr.
    expect(first.stderr).to.match(/^import: 100% \| 6\/6 files/m);

    const second = summaryOf(await cli(dir));
    expect(second.instances).to.deep.equal({ stored: 0, alreadyPresent: 3, conflicts: 0, failed: 0 });
    expect(second.studies).to.deep.equal([{ studyInstanceUid: study, instances: 3 }]);
  });

  it('uses the DICOMDIR of a CD-ROM file set (dcmmkdir): only referenced files, found whatever their case; a missing one fails', async () => {
    const study = newUid();
    await mkdir(join(dir, 'DICOM', 'ST000001'), { recursive: true });
    for (const n of [1, 2, 3, 4]) await writeGeneratedDicom(join(dir, 'DICOM', 'ST000001', `IM00000${n}`), { studyInstanceUid: study, pixel: n });
    const mk = await run('dcmmkdir', ['+r', '+I', '+id', dir, '+D', join(dir, 'DICOMDIR'), 'DICOM']);
    expect(mk.code, mk.output).to.equal(0);
    // Mounted CD-ROMs may show lower-case names; a file added after the DICOMDIR is not part of the file set.
    await rename(join(dir, 'DICOM', 'ST000001', 'IM000002'), join(dir, 'DICOM', 'ST000001', 'im000002'));
    await rm(join(dir, 'DICOM', 'ST000001', 'IM000004'));
    await writeGeneratedDicom(join(dir, 'DICOM', 'ST000001', 'EXTRA'), { studyInstanceUid: newUid() });
    await writeFile(join(dir, 'AUTORUN.INF'), '[autorun]\n');

    const r = await cli(dir);
    expect(r.code).to.equal(1);
    const s = summaryOf(r);
    expect(s.instances).to.deep.equal({ stored: 3, alreadyPresent: 0, conflicts: 0, failed: 1 });
    expect(s.skipped).to.deep.equal({ nonDicom: 0, other: 0 });
    expect(s.studies).to.deep.equal([{ studyInstanceUid: study, instances: 3 }]);
    expect(s.failures).to.deep.equal([{ file: 'DICOM/ST000001/IM000004', reason: 'referenced by the DICOMDIR but not found' }]);

    // The DICOMDIR itself as the argument: the same file set, now already present.
    const again = summaryOf(await cli(join(dir, 'DICOMDIR')));
    expect(again.instances).to.deep.equal({ stored: 0, alreadyPresent: 3, conflicts: 0, failed: 1 });
  });

  it('uploads a zip whole and prints the platform\'s summary; a human summary without --json', async () => {
    const study = newUid();
    await writeGeneratedDicom(join(dir, 'x1.dcm'), { studyInstanceUid: study, pixel: 1 });
    await writeGeneratedDicom(join(dir, 'x2.dcm'), { studyInstanceUid: study, pixel: 2 });
    const zip = await buildZip([
      { name: 'CD/IM1', data: await readFile(join(dir, 'x1.dcm')) }, { name: 'CD/IM2', data: await readFile(join(dir, 'x2.dcm')) },
      { name: 'CD/notes.txt', data: Buffer.from('hello') },
    ]);
    await writeFile(join(dir, 'exam.zip'), zip);
    const s = summaryOf(await cli(join(dir, 'exam.zip')));
    expect(s.instances).to.deep.equal({ stored: 2, alreadyPresent: 0, conflicts: 0, failed: 0 });
    expect(s.skipped.nonDicom).to.equal(1);
    expect(s.studies).to.deep.equal([{ studyInstanceUid: study, instances: 2 }]);

    const human = await importCli([join(dir, 'exam.zip'), '--url', server.platform.url], { TELEO_TOKEN: token });
    expect(human.code).to.equal(0);
    expect(human.stdout).to.contain('instances: 0 stored, 2 already present, 0 conflicts, 0 failed');
    expect(human.stdout).to.contain(`${study}: 2 instances`);
  });

  it('imports the pydicom test files, one at a time: what becomes of each file', async () => {
    const r = await cli(FIXTURES, '--concurrency', '1');
    expect(r.code).to.equal(1); // MR_truncated and badVR fail
    const s = summaryOf(r);
    const all = await walk(FIXTURES);
    const dcm = all.filter((f) => f.endsWith('.dcm'));
    expect(s.files).to.equal(all.length);
    // Every file without a Part 10 prefix (texts, expected-dciodvfy/*.txt, no_meta.dcm) is skipped as non-DICOM.
    expect(s.skipped.nonDicom).to.equal(all.length - dcm.length + 1);
    expect(s.skippedFiles.map((f) => f.file)).to.include('no_meta.dcm');
    // The four MR_small variants share one SOP Instance UID: the first (MR_small.dcm) is kept, the others conflict.
    expect(s.conflicts.map((c) => c.file).sort()).to.deep.equal(['MR_small_RLE.dcm', 'MR_small_bigendian.dcm', 'MR_small_implicit.dcm']);
    const failures = Object.fromEntries(s.failures.map((f) => [f.file, f.reason]));
    expect(Object.keys(failures).sort()).to.deep.equal(['MR_truncated.dcm', 'badVR.dcm']);
    expect(failures['MR_truncated.dcm']).to.match(/^unreadable DICOM: .*Pixel Data.*\(quarantined\)$/);
    expect(failures['badVR.dcm']).to.match(/^inconsistent UIDs: data set SOP Instance UID .* differs from the announced .*\(quarantined\)$/);
    expect(s.instances).to.deep.equal({ stored: dcm.length - 1 - 3 - 2, alreadyPresent: 0, conflicts: 3, failed: 2 });
    expect(s.studies.reduce((n, st) => n + st.instances, 0)).to.equal(s.instances.stored);
  });

  it('stops with exit code 1 and says why when the token is refused (401) or lacks the scope (403); 2 on usage errors', async () => {
    await writeGeneratedDicom(join(dir, 'a.dcm'));
    const bad = await importCli([dir, '--url', server.platform.url], { TELEO_TOKEN: 'not-a-token' });
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.contain('the platform refused the import (HTTP 401)');
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${await server.token({ scope: 'user/Patient.r' })}\n`);
    const forbidden = await importCli([dir, '--url', server.platform.url, '--token-file', tokenFile]);
    expect(forbidden.code).to.equal(1);
    expect(forbidden.stderr).to.contain('the platform refused the import (HTTP 403)');
    const noToken = await importCli([dir, '--url', server.platform.url]);
    expect(noToken.code).to.equal(2);
    expect(noToken.stderr).to.contain('no token');
    const unreachable = await importCli([dir, '--url', 'http://127.0.0.1:1'], { TELEO_TOKEN: token });
    expect(unreachable.code).to.equal(1);
    expect(unreachable.stderr).to.contain('cannot reach the platform');
  });
});
