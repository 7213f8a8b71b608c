// C-MOVE and C-GET SCP (PS3.4 C.4.2, C.4.3) through a real listener on port 0: dcmtk's movescu toward a dcmtk storescp
// and toward itself, getscu, C-CANCEL, refused destinations and callers; the sub-operations' files compared byte for
// byte with what was stored, and the PS3.15 A.5.3.5 / A.5.3.10 audit checked.
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { AuditEvent } from '@medplum/fhirtypes';
import { AUDIT_JOB } from '../workflow/audit.js';
import { datasetOf } from './c-store-scu.js';
import { openGatewayHarness, type GatewayHarness } from './test-gateway-harness.js';
import {
  describeWithDicomPeers, freePort, getscu, IMPLICIT_LE, movescu, newUid, run, startStoreScp, writeGeneratedDicom, type StoreScpPeer,
} from './test-dicom-peers.js';

describeWithDicomPeers('C-MOVE / C-GET SCP (movescu, getscu, storescp)', function () {
  this.timeout(60_000);
  let dir: string;
  let h: GatewayHarness;
  let pacs: StoreScpPeer;
  let viewerPort: number;
  const studyA = newUid();
  const studyB = newUid();
  const bulk = newUid();
  const sopA: string[] = [];
  const seriesOf = new Map<string, string>();

  async function storedDataset(sopInstanceUid: string): Promise<Buffer> {
    const instance = await h.index.get(sopInstanceUid);
    if (!instance) throw new Error(`not stored: ${sopInstanceUid}`);
    return datasetOf(await h.blobBytes(instance.blobKey));
  }

  /** SOP Instance UID → data set bytes of the files in `folder`. */
  async function received(folder: string): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    for (const f of await readdir(folder)) {
      const bytes = await readFile(join(folder, f));
      const sop = /\(0002,0003\) UI \[([0-9.]+)\]/.exec((await run('dcmdump', ['+P', '0002,0003', join(folder, f)])).output)?.[1];
      if (sop) out.set(sop, datasetOf(bytes));
    }
    return out;
  }

  const auditCodes = async (): Promise<{ code?: string; outcome?: string; desc?: string }[]> =>
    (await h.storage.jobs.list({ type: AUDIT_JOB })).map((j) => j.payload.event as AuditEvent)
      .map((e) => ({ code: e.subtype?.[1]?.code, outcome: e.outcome, desc: e.outcomeDesc }));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'teleo-cmove-'));
    await mkdir(join(dir, 'in'));
    await mkdir(join(dir, 'pacs'));
    pacs = await startStoreScp(join(dir, 'pacs'), 'PACS');
    viewerPort = await freePort();
    h = await openGatewayHarness(dir, 'memory', {
      knownAes: [
        { aeTitle: 'MODALITY', host: '127.0.0.1', operations: ['echo', 'store'] },
        { aeTitle: 'VIEWER', host: '127.0.0.1', port: viewerPort, operations: ['echo', 'find', 'move', 'get'] },
        { aeTitle: 'PACS', host: '127.0.0.1', port: pacs.port, operations: ['echo'] },
        { aeTitle: 'NOPORT', host: '127.0.0.1', operations: ['echo'] },
      ],
    });
    const files: string[] = [];
    for (let i = 0; i < 3; i++) {
      const f = join(dir, 'in', `a${i}.dcm`);
      const g = await writeGeneratedDicom(f, { studyInstanceUid: studyA, pixel: i, transferSyntaxUid: i === 2 ? IMPLICIT_LE : undefined });
      sopA.push(g.sopInstanceUid);
      files.push(f);
    }
    files.push(join(dir, 'in', 'b.dcm'));
    await writeGeneratedDicom(files[3], { studyInstanceUid: studyB, patientName: 'Martin^Luc' });
    for (let i = 0; i < 40; i++) {
      const f = join(dir, 'in', `bulk${i}.dcm`);
      await writeGeneratedDicom(f, { studyInstanceUid: bulk, pixel: i });
      files.push(f);
    }
    // storescu sends what it is given in the transfer syntax it proposes: the implicit VR one with -xi (proposed alone).
    const sent = await run('storescu', ['-aet', 'MODALITY', '-aec', 'TELEO', '127.0.0.1', String(h.port), ...files.filter((_, i) => i !== 2)]);
    expect(sent.code, sent.output).to.equal(0);
    const implicit = await run('storescu', ['-xi', '-aet', 'MODALITY', '-aec', 'TELEO', '127.0.0.1', String(h.port), files[2]]);
    expect(implicit.code, implicit.output).to.equal(0);
    expect((await h.index.get(sopA[2]))?.transferSyntaxUid).to.equal(IMPLICIT_LE);
    for (const sop of sopA) seriesOf.set(sop, (await h.index.get(sop))?.seriesInstanceUid ?? '');
  });

  after(async () => {
    await h?.close();
    await pacs?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('moves a study to a configured storescp: one file per instance, the stored bytes, in the stored transfer syntax', async () => {
    const res = await movescu(h.port, { QueryRetrieveLevel: 'STUDY', StudyInstanceUID: studyA }, { destination: 'PACS' });
    expect(res.final, res.output).to.equal('Success');
    const got = await received(join(dir, 'pacs'));
    expect([...got.keys()].sort()).to.deep.equal([...sopA].sort());
    for (const sop of sopA) expect(got.get(sop)?.equals(await storedDataset(sop)), sop).to.equal(true);
    const implicit = (await run('dcmdump', ['+P', '0002,0010', ...(await pacs.files())])).output;
    expect(implicit).to.include('LittleEndianImplicit');
    const codes = await auditCodes();
    expect(codes.some((c) => c.code === '110102' && c.desc?.includes('to PACS'))).to.equal(true);
    expect(codes.some((c) => c.code === '110104' && c.outcome === '0' && c.desc?.includes('to PACS: 3 instance(s)'))).to.equal(true);
  });

  it('moves a series (Study Root) and an image (Patient Root) to the caller itself', async () => {
    const out = join(dir, 'self');
    await mkdir(out);
    const series = await movescu(h.port, { QueryRetrieveLevel: 'SERIES', StudyInstanceUID: studyA, SeriesInstanceUID: seriesOf.get(sopA[1]) ?? '' },
      { destination: 'VIEWER', incomingPort: viewerPort, outputDir: out });
    expect(series.final, series.output).to.equal('Success');
    const image = await movescu(h.port, { QueryRetrieveLevel: 'IMAGE', PatientID: 'IPP-42', StudyInstanceUID: studyA, SeriesInstanceUID: seriesOf.get(sopA[0]) ?? '', SOPInstanceUID: sopA[0] },
      { destination: 'VIEWER', model: '-P', incomingPort: viewerPort, outputDir: out });
    expect(image.final, image.output).to.equal('Success');
    const got = await received(out);
    expect([...got.keys()].sort()).to.deep.equal([sopA[0], sopA[1]].sort());
    expect(got.get(sopA[1])?.equals(await storedDataset(sopA[1]))).to.equal(true);
  });

  it('moves every study of a patient (Patient Root, PATIENT level)', async () => {
    const out = join(dir, 'patient');
    await mkdir(out);
    const res = await movescu(h.port, { QueryRetrieveLevel: 'PATIENT', PatientID: 'IPP-42' }, { destination: 'VIEWER', model: '-P', incomingPort: viewerPort, outputDir: out });
    expect(res.final, res.output).to.equal('Success');
    expect((await readdir(out)).length).to.equal(44);
  });

  it('refuses an unknown destination, and a known AE without a port, with 0xA801', async () => {
    for (const destination of ['NOWHERE', 'NOPORT']) {
      const res = await movescu(h.port, { QueryRetrieveLevel: 'STUDY', StudyInstanceUID: studyB }, { destination });
      expect(res.final, destination).to.equal('Refused: MoveDestinationUnknown');
    }
  });

  it('answers an identifier without the unique key of its level with 0xA900', async () => {
    const res = await movescu(h.port, { QueryRetrieveLevel: 'SERIES', StudyInstanceUID: studyA }, { destination: 'PACS' });
    expect(res.final, res.output).to.match(/DoesNotMatchSOPClass/i); // dcmtk's name of 0xA900
  });

  it('refuses MOVE and GET to a caller not allowed to retrieve, and the association to an unknown caller', async () => {
    const forbidden = await movescu(h.port, { QueryRetrieveLevel: 'STUDY', StudyInstanceUID: studyB }, { destination: 'PACS', callingAe: 'MODALITY' });
    expect(forbidden.code).to.not.equal(0);
    expect(forbidden.output).to.match(/No Acceptable Presentation Contexts/i);
    const out = join(dir, 'forbidden');
    await mkdir(out);
    const get = await getscu(h.port, { QueryRetrieveLevel: 'STUDY', StudyInstanceUID: studyB }, { callingAe: 'MODALITY', outputDir: out });
    expect(get.code).to.not.equal(0);
    const stranger = await movescu(h.port, { QueryRetrieveLevel: 'STUDY', StudyInstanceUID: studyB }, { destination: 'PACS', callingAe: 'STRANGER' });
    expect(stranger.output).to.match(/Association Rejected/i);
    expect(await readdir(out)).to.have.length(0);
  });

  it('gets a study over the caller\'s own association (getscu): stored bytes, implicit VR re-encoded to the accepted explicit VR, audited', async () => {
    const out = join(dir, 'get');
    await mkdir(out);
    const res = await getscu(h.port, { QueryRetrieveLevel: 'STUDY', StudyInstanceUID: studyA }, { outputDir: out });
    expect(res.final, res.output).to.equal('Success');
    const got = await received(out);
    expect([...got.keys()].sort()).to.deep.equal([...sopA].sort());
    for (const sop of sopA.slice(0, 2)) expect(got.get(sop)?.equals(await storedDataset(sop)), sop).to.equal(true);
    // getscu accepted Secondary Capture in explicit VR LE first: the implicit VR instance was re-encoded for it.
    const transcoded = (await run('dcmdump', ['+P', '0002,0010', '+P', '0008,0018', ...(await readdir(out)).map((f) => join(out, f))])).output;
    expect(transcoded).to.not.include('LittleEndianImplicit');
    expect(got.get(sopA[2])?.length).to.be.greaterThan(256);
    expect((await auditCodes()).some((c) => c.code === '110104' && c.desc?.includes('to VIEWER: 3 instance(s)'))).to.equal(true);
  });

  it('sends a compressed instance as stored when the destination accepts it, and fails it (0xB000) when not', async () => {
    const jpeg = join(process.cwd(), '../shared/fixtures/pydicom-testdata/JPEG2000.dcm');
    const jpegStudy = '1.3.6.1.4.1.5962.1.2.8.20040826185059.5457';
    const stored = await run('storescu', ['-xw', '-aet', 'MODALITY', '-aec', 'TELEO', '127.0.0.1', String(h.port), jpeg]);
    expect(stored.code, stored.output).to.equal(0);
    const extra = join(dir, 'in', 'with-jpeg.dcm');
    await writeGeneratedDicom(extra, { studyInstanceUid: jpegStudy });
    expect((await run('storescu', ['-aet', 'MODALITY', '-aec', 'TELEO', '127.0.0.1', String(h.port), extra])).code).to.equal(0);
    const [compressed] = (await h.index.listStudy(jpegStudy)).filter((i) => i.transferSyntaxUid === '1.2.840.10008.1.2.4.91');
    const pacsBefore = (await pacs.files()).length;
    const moved = await movescu(h.port, { QueryRetrieveLevel: 'STUDY', StudyInstanceUID: jpegStudy }, { destination: 'PACS' });
    expect(moved.final, moved.output).to.equal('Success');
    expect((await pacs.files()).length).to.equal(pacsBefore + 2);
    const got = await received(join(dir, 'pacs'));
    expect(got.get(compressed.sopInstanceUid)?.equals(await storedDataset(compressed.sopInstanceUid))).to.equal(true);
    const out = join(dir, 'get-jpeg');
    await mkdir(out);
    const res = await getscu(h.port, { QueryRetrieveLevel: 'STUDY', StudyInstanceUID: jpegStudy }, { outputDir: out, extra: ['-d'] });
    expect(res.final, res.output).to.match(/^Warning/);
    expect(res.output).to.match(/Number of Completed Suboperations : 1/);
    expect(res.output).to.match(/Number of Failed Suboperations\s*: 1/);
    expect(await readdir(out)).to.have.length(1);
  });

  it('stops the sub-operations on C-CANCEL and answers Cancel with the remaining count', async () => {
    const out = join(dir, 'cancel');
    await mkdir(out);
    const res = await movescu(h.port, { QueryRetrieveLevel: 'STUDY', StudyInstanceUID: bulk },
      { destination: 'VIEWER', incomingPort: viewerPort, outputDir: out, extra: ['--cancel', '3', '-d'] });
    expect(res.output).to.match(/Sending Cancel Request/i);
    expect(res.final, res.output).to.match(/Cancel/i);
    const remaining = Number(/Remaining Suboperations\s*:\s*(\d+)/.exec(res.output.slice(res.output.lastIndexOf('Received Final Move Response')))?.[1]);
    expect(remaining).to.be.greaterThan(0);
    expect((await readdir(out)).length).to.equal(40 - remaining);
  });
});
