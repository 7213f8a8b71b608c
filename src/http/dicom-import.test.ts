// DICOM file import over HTTP (POST /imaging/import: application/dicom, application/zip) through a real platform on
// port 0: stored instances, summaries, idempotence, hostile zips, authentication and scopes.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, ImagingStudy } from '@medplum/fhirtypes';
import { expect } from 'chai';
import { newUid, writeGeneratedDicom } from '../dicom/test-dicom-peers.js';
import type { ImportSummary } from '../workflow/imaging/file-import.js';
import { DICOM_UID_SYSTEM } from '../workflow/teleexpertise/teledossier-resources.js';
import { httpBackends, startTestServer, type TestServer } from './test-server.js';
import { buildZip, declareSize, renameEntry } from './test-zip.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const backend of httpBackends()) {
  describe(`DICOM file import over HTTP (${backend})`, function () {
    this.timeout(60_000);
    let server: TestServer;
    let dir: string;

    before(async () => {
      server = await startTestServer(backend);
      dir = await mkdtemp(join(tmpdir(), 'dicom-import-test-'));
    });
    after(async () => {
      await server?.close();
      await rm(dir, { recursive: true, force: true });
    });

    /** A generated Part 10 file (Secondary Capture, 16×16) of `studyInstanceUid`. */
    async function dicomFile(studyInstanceUid: string, pixel = 1): Promise<{ bytes: Buffer; sopInstanceUid: string }> {
      const path = join(dir, `${newUid()}.dcm`);
      const { sopInstanceUid } = await writeGeneratedDicom(path, { studyInstanceUid, pixel });
      return { bytes: await readFile(path), sopInstanceUid };
    }

    async function post(body: Buffer, type: string, init: { token?: string | null; name?: string } = {}): Promise<Response> {
      const headers: Record<string, string> = { 'Content-Type': type };
      if (init.token !== null) headers.Authorization = `Bearer ${init.token ?? await server.token()}`;
      if (init.name) headers['Content-Disposition'] = `attachment; filename*=UTF-8''${encodeURIComponent(init.name)}`;
      return fetch(`${server.platform.url}/imaging/import`, { method: 'POST', headers, body: new Uint8Array(body) });
    }

    async function summaryOf(res: Response): Promise<ImportSummary> {
      expect(res.status, await res.clone().text()).to.equal(200);
      return (await res.json()) as ImportSummary;
    }

    it('stores one Part 10 file sent as application/dicom; sending it again finds it already present', async () => {
      const study = newUid();
      const { bytes } = await dicomFile(study);
      const first = await summaryOf(await post(bytes, 'application/dicom', { name: 'CD/IMAGES/IM1' }));
      expect(first).to.deep.include({ files: 1, instances: { stored: 1, alreadyPresent: 0, conflicts: 0, failed: 0 }, studies: [{ studyInstanceUid: study, instances: 1 }] });
      const again = await summaryOf(await post(bytes, 'application/dicom'));
      expect(again.instances).to.deep.equal({ stored: 0, alreadyPresent: 1, conflicts: 0, failed: 0 });
      expect(again.studies).to.deep.equal([{ studyInstanceUid: study, instances: 1 }]);
    });

    it('keeps the ImagingStudy of an imported study in step (the sync job sees the imported instances)', async () => {
      const study = newUid();
      const zip = await buildZip([
        { name: 'a.dcm', data: (await dicomFile(study, 1)).bytes }, { name: 'b.dcm', data: (await dicomFile(study, 2)).bytes },
      ]);
      expect((await summaryOf(await post(zip, 'application/zip'))).instances.stored).to.equal(2);
      let found: ImagingStudy | undefined;
      for (let i = 0; i < 100 && found?.numberOfInstances !== 2; i++) {
        const res = await server.fhir(`/ImagingStudy?identifier=${encodeURIComponent(`${DICOM_UID_SYSTEM}|urn:oid:${study}`)}`);
        found = ((await res.json()) as Bundle<ImagingStudy>).entry?.[0]?.resource;
        if (found?.numberOfInstances !== 2) await sleep(100);
      }
      expect(found?.numberOfInstances).to.equal(2);
    });

    it('imports a zip: DICOM entries stored, non-DICOM and the DICOMDIR skipped, folders not counted, a conflict reported', async () => {
      const study = newUid();
      const one = await dicomFile(study, 1);
      const two = await dicomFile(study, 2);
      // Another object under one's SOP Instance UID: a conflict, the first is kept.
      const clashPath = join(dir, 'clash.dcm');
      await writeGeneratedDicom(clashPath, { studyInstanceUid: study, sopInstanceUid: one.sopInstanceUid, pixel: 9 });
      const dicomdirPath = join(dir, 'DICOMDIR');
      await writeGeneratedDicom(dicomdirPath, { studyInstanceUid: study });
      // A DICOMDIR is recognised by its Media Storage SOP Class (Media Storage Directory Storage), whatever its name.
      const dicomdir = await readFile(dicomdirPath);
      const sopClassAt = dicomdir.indexOf('1.2.840.10008.5.1.4.1.1.7');
      const asDicomdir = Buffer.from(dicomdir);
      asDicomdir.write('1.2.840.10008.1.3.10\0\0\0\0\0', sopClassAt, 'latin1');
      const zip = await buildZip([
        { name: 'DICOMDIR', data: asDicomdir }, { name: 'DICOM/', data: Buffer.alloc(0) },
        { name: 'DICOM/ST1/IM1', data: one.bytes }, { name: 'DICOM/ST1/SE1/IM2', data: two.bytes, compress: false },
        { name: 'DICOM/ST1/IM3', data: await readFile(clashPath) },
        { name: 'README.TXT', data: Buffer.from('Exam CD\r\n') }, { name: 'viewer/run.exe', data: Buffer.alloc(4096, 0x4d) },
        { name: 'nested.zip', data: await buildZip([{ name: 'x.dcm', data: one.bytes }]) },
      ]);
      const s = await summaryOf(await post(zip, 'application/zip'));
      expect(s.files).to.equal(7);
      expect(s.instances).to.deep.equal({ stored: 2, alreadyPresent: 0, conflicts: 1, failed: 0 });
      expect(s.skipped).to.deep.equal({ nonDicom: 2, other: 2 });
      expect(s.studies).to.deep.equal([{ studyInstanceUid: study, instances: 2 }]);
      expect(s.conflicts).to.have.length(1);
      // Entries are stored a few at a time: whichever of the two objects sharing a SOP Instance UID comes first is kept.
      expect(s.conflicts[0].sopInstanceUid).to.equal(one.sopInstanceUid);
      expect(s.conflicts[0].file).to.be.oneOf(['DICOM/ST1/IM1', 'DICOM/ST1/IM3']);
      const reasons = Object.fromEntries(s.skippedFiles.map((f) => [f.file, f.reason]));
      expect(reasons.DICOMDIR).to.match(/^DICOMDIR/);
      expect(reasons['nested.zip']).to.match(/^nested archive/);
      expect(reasons['README.TXT']).to.match(/^not a DICOM Part 10 file/);
      expect(await readdir(join(server.dataDir, 'import-spool'))).to.deep.equal([]);
    });

    it('reads no entry whose name is absolute or climbs out of the archive, and imports the others', async () => {
      const study = newUid();
      const good = await dicomFile(study, 1);
      const evil = await dicomFile(study, 2);
      let zip = await buildZip([
        { name: 'ok/IM1', data: good.bytes }, { name: 'xx/xx/evil.dcm', data: evil.bytes },
        { name: 'xabs/evil2.dcm', data: evil.bytes }, { name: 'xy/win/evil3.dcm', data: evil.bytes },
      ]);
      zip = renameEntry(renameEntry(renameEntry(zip, 'xx/xx/evil.dcm', '../../evil.dcm'), 'xabs/evil2.dcm', '/abs/evil2.dcm'), 'xy/win/evil3.dcm', 'C:/win/evil3.dcm');
      const s = await summaryOf(await post(zip, 'application/zip'));
      expect(s.instances).to.deep.equal({ stored: 1, alreadyPresent: 0, conflicts: 0, failed: 0 });
      expect(s.skipped).to.deep.equal({ nonDicom: 0, other: 3 });
      expect(s.skippedFiles.map((f) => f.file).sort()).to.deep.equal(['../../evil.dcm', '/abs/evil2.dcm', 'C:/win/evil3.dcm']);
      for (const f of s.skippedFiles) expect(f.reason).to.match(/^unsafe entry name \((invalid relative path|absolute path)\): not read$/);
      // The SOP Instance behind the unsafe names was never stored: sending it now stores it.
      expect((await summaryOf(await post(evil.bytes, 'application/dicom'))).instances.stored).to.equal(1);
    });

    it('fails, without reading them, entries whose declared size is over the limit or whose bytes exceed their declared size', async () => {
      const study = newUid();
      const ok = await dicomFile(study, 1);
      const big = await dicomFile(study, 2);
      const liar = await dicomFile(study, 3);
      let zip = await buildZip([{ name: 'ok.dcm', data: ok.bytes }, { name: 'big.dcm', data: big.bytes }, { name: 'liar.dcm', data: liar.bytes }]);
      zip = declareSize(declareSize(zip, 'big.dcm', 0xfffffff0), 'liar.dcm', 300);
      const s = await summaryOf(await post(zip, 'application/zip'));
      expect(s.instances).to.deep.equal({ stored: 1, alreadyPresent: 0, conflicts: 0, failed: 2 });
      const reasons = Object.fromEntries(s.failures.map((f) => [f.file, f.reason]));
      expect(reasons['big.dcm']).to.match(/^expands to 4\.0 GiB, more than the 2\.0 GiB allowed per file: not read$/);
      expect(reasons['liar.dcm']).to.match(/^unreadable zip entry: too many bytes in the stream/);
    });

    it('reports a non-DICOM file as skipped and a Part 10 file with an unusable meta group as failed (quarantined), naming the element (200)', async () => {
      const text = await summaryOf(await post(Buffer.from('not dicom at all'), 'application/dicom', { name: 'notes.txt' }));
      expect(text).to.deep.include({ files: 1, skipped: { nonDicom: 1, other: 0 } });
      const noTs = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), Buffer.from([2, 0, 1, 0, 0x4f, 0x42, 0, 0, 2, 0, 0, 0, 0, 1])]);
      const malformed = await summaryOf(await post(noTs, 'application/dicom', { name: 'bad.dcm' }));
      expect(malformed.instances.failed).to.equal(1);
      expect(malformed.failures[0]).to.deep.equal({ file: 'bad.dcm', reason: 'File Meta Information lacks Transfer Syntax UID (0002,0010) (quarantined)' });
    });

    it('answers 400 to a body that is not a zip archive, 415 to another media type, 405 to GET', async () => {
      const notZip = await post(Buffer.from('PK but not really a zip'), 'application/zip');
      expect(notZip.status).to.equal(400);
      expect(JSON.stringify(await notZip.json())).to.contain('not a readable zip archive');
      expect((await post(Buffer.from('{}'), 'application/json')).status).to.equal(415);
      const get = await fetch(`${server.platform.url}/imaging/import`, { headers: { Authorization: `Bearer ${await server.token()}` } });
      expect(get.status).to.equal(405);
    });

    it('answers 401 without a valid token and 403 to a token whose scopes do not allow creating ImagingStudy', async () => {
      const { bytes } = await dicomFile(newUid());
      const anonymous = await post(bytes, 'application/dicom', { token: null });
      expect(anonymous.status).to.equal(401);
      expect((await post(bytes, 'application/dicom', { token: 'not.a.jwt' })).status).to.equal(401);
      const readOnly = await post(bytes, 'application/dicom', { token: await server.token({ scope: 'user/ImagingStudy.rs user/Patient.cruds' }) });
      expect(readOnly.status).to.equal(403);
      const allowed = await post(bytes, 'application/dicom', { token: await server.token({ scope: 'user/ImagingStudy.c' }) });
      expect((await summaryOf(allowed)).instances.stored).to.equal(1);
    });
  });

  describe(`DICOM file import over HTTP: upload limit (${backend})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend, { maxBinaryBytes: 64 * 1024 });
    });
    after(async () => {
      await server?.close();
    });

    it('answers 413 to a body over MAX_BINARY_BYTES, whether Content-Length announces it or not, and leaves no spooled file', async () => {
      const headers = { Authorization: `Bearer ${await server.token()}`, 'Content-Type': 'application/zip' };
      const big = Buffer.alloc(100 * 1024, 1);
      const announced = await fetch(`${server.platform.url}/imaging/import`, { method: 'POST', headers, body: big });
      expect(announced.status).to.equal(413);
      const chunked = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 10; i++) controller.enqueue(big.subarray(i * 10240, (i + 1) * 10240));
          controller.close();
        },
      });
      const streamed = await fetch(`${server.platform.url}/imaging/import`, { method: 'POST', headers, body: chunked, duplex: 'half' } as RequestInit);
      expect(streamed.status).to.equal(413);
      expect(await readdir(join(server.dataDir, 'import-spool'))).to.deep.equal([]);
    });
  });
}
