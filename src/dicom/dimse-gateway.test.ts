// The DIMSE gateway through a real listener on port 0, driven by dcmtk (echoscu, storescu) and checked with dciodvfy.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditEvent } from '@medplum/fhirtypes';
import { expect } from 'chai';
import dimse from 'dcmjs-dimse';
import { auditEventHandler } from '../jobs/audit-event-job.js';
import type { Job } from '../store/job-queue.js';
import { AUDIT_JOB } from '../workflow/audit.js';
import { C_STORE_STATUS } from './c-store.js';
import { openGatewayHarness, type GatewayHarness } from './test-gateway-harness.js';
import {
  datasetOffset, describeWithDicomPeers, echoscu, EXPLICIT_LE, IMPLICIT_LE, newUid, run, startReferenceScp, storescu,
  writeGeneratedDicom, type ReferenceScp,
} from './test-dicom-peers.js';

/** Public DICOM samples are read from the shared fixtures next to the repository (fixtures/README.md). */
const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/pydicom-testdata/', import.meta.url));

/**
 * A data set that sends the given bytes as they are (dcmjs-dimse encodes a Dataset through this method). Implicit VR
 * Little Endian: the transfer syntax dcmjs-dimse proposes first, so that it does not transcode (re-encode) it.
 */
class RawDataset extends dimse.Dataset {
  constructor(private readonly bytes: Buffer, elements: Record<string, unknown>) {
    super(elements, IMPLICIT_LE);
  }
  override getDenaturalizedDataset(): Buffer {
    return this.bytes;
  }
}

/** C-STORE of raw data set bytes with dcmjs-dimse's SCU (dcmtk will not send what it cannot parse); resolves to the status. */
function cStoreRaw(port: number, bytes: Buffer, sopInstanceUid: string): Promise<number> {
  const client = new dimse.Client();
  const request = new dimse.requests.CStoreRequest(new RawDataset(bytes, { SOPClassUID: '1.2.840.10008.5.1.4.1.1.7', SOPInstanceUID: sopInstanceUid }));
  return new Promise((resolve, reject) => {
    request.on('response', (response: InstanceType<typeof dimse.responses.CStoreResponse>) => resolve(response.getStatus()));
    client.on('networkError', reject);
    client.addRequest(request);
    client.send('127.0.0.1', port, 'MODALITY', 'TELEO');
  });
}

async function auditJobs(h: GatewayHarness): Promise<Job[]> {
  return h.storage.jobs.list({ type: AUDIT_JOB });
}

const entitiesOf = (job: Job): string[] =>
  ((job.payload.event as { entity?: { what?: { reference?: string } }[] }).entity ?? []).map((e) => e.what?.reference ?? '');

describeWithDicomPeers('DIMSE gateway (dcmtk peers)', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dimse-gateway-test-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('association', () => {
    let h: GatewayHarness;
    beforeEach(async () => {
      h = await openGatewayHarness(dir, 'memory');
    });
    afterEach(() => h.close());

    it('answers C-ECHO from a known AE', async () => {
      const res = await echoscu(h.port, 'MODALITY');
      expect(res.output).to.contain('Received Echo Response (Success)');
      expect(res.code).to.equal(0);
    });

    it('refuses an unknown calling AE with A-ASSOCIATE-RJ (calling AE title not recognized)', async () => {
      const res = await echoscu(h.port, 'STRANGER');
      expect(res.code).to.not.equal(0);
      expect(res.output).to.contain('Association Rejected').and.to.contain('Calling AE Title Not Recognized');
    });

    it('refuses a known AE title calling from another host', async () => {
      const res = await echoscu(h.port, 'ELSEWHERE');
      expect(res.output).to.contain('Calling AE Title Not Recognized');
    });

    it('refuses a call to another AE title', async () => {
      const res = await echoscu(h.port, 'MODALITY', 'NOTUS');
      expect(res.output).to.contain('Called AE Title Not Recognized');
    });

    it('rejects storage contexts for an AE allowed only to echo', async () => {
      expect((await echoscu(h.port, 'ECHOONLY')).code).to.equal(0);
      const res = await storescu(h.port, join(FIXTURES, 'CT_small.dcm'), '-x=', 'ECHOONLY');
      expect(res.code).to.not.equal(0);
      expect(res.response).to.equal(undefined);
      expect(await h.index.get('1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322')).to.equal(undefined);
    });
  });

  describe('association limit', () => {
    it('refuses associations beyond the limit (transient, local limit exceeded) and frees a slot at release', async () => {
      const none = await openGatewayHarness(dir, 'memory', { maxAssociations: 0 });
      try {
        const res = await echoscu(none.port, 'MODALITY');
        expect(res.output).to.contain('Rejected Transient').and.to.contain('Local Limit Exceeded');
      } finally {
        await none.close();
      }
      const one = await openGatewayHarness(join(dir, 'one'), 'memory', { maxAssociations: 1 });
      try {
        for (let i = 0; i < 3; i++) expect((await echoscu(one.port, 'MODALITY')).code).to.equal(0);
      } finally {
        await one.close();
      }
    });
  });

  describe('C-STORE of the fixtures, as received', () => {
    let reference: ReferenceScp;
    let referenceDir: string;
    before(async () => {
      referenceDir = await mkdtemp(join(tmpdir(), 'storescp-reference-'));
      reference = await startReferenceScp(referenceDir);
    });
    after(async () => {
      await reference?.close();
      await rm(referenceDir, { recursive: true, force: true });
    });

    const cases: [file: string, proposal: string, transferSyntax: string][] = [
      ['CT_small.dcm', '-x=', EXPLICIT_LE],
      ['MR_small_implicit.dcm', '-xi', IMPLICIT_LE],
      ['MR_small_bigendian.dcm', '-xb', '1.2.840.10008.1.2.2'],
      ['MR_small_RLE.dcm', '-xr', '1.2.840.10008.1.2.5'],
      ['JPEG-lossy.dcm', '-xx', '1.2.840.10008.1.2.4.51'],
      ['JPEG2000.dcm', '-xw', '1.2.840.10008.1.2.4.91'],
      ['test-SR.dcm', '-x=', EXPLICIT_LE],
      ['badVR.dcm', '-x=', EXPLICIT_LE],
      ['MR_small.dcm', '-xd', '1.2.840.10008.1.2.1.99'], // storescu deflates it on the way
    ];
    for (const [file, proposal, transferSyntax] of cases) {
      it(`stores ${file} in ${transferSyntax}, byte for byte as sent, with its metadata`, async () => {
        // A fresh index per file: the MR_small variants share one SOP Instance UID.
        const h = await openGatewayHarness(join(dir, file), 'memory');
        try {
          const res = await storescu(h.port, join(FIXTURES, file), proposal);
          expect(res.response, res.output).to.equal('Success');
          const uid = /\(0008,0018\) UI \[([^\]]+)\]/.exec((await run('dcmdump', ['+P', '0008,0018', join(FIXTURES, file)])).output)?.[1];
          const stored = await h.index.get(uid as string);
          expect(stored?.transferSyntaxUid).to.equal(transferSyntax);
          expect(stored?.callingAe).to.equal('MODALITY');
          const blob = await h.blobBytes(stored?.blobKey as string);
          // What dcmtk's own SCP receives from the same storescu run, written bit-preserving: the same data set bytes.
          await reference.clear();
          expect((await storescu(reference.port, join(FIXTURES, file), proposal)).response).to.equal('Success');
          const sent = await reference.received();
          expect(blob.subarray(datasetOffset(blob)).equals(sent.subarray(datasetOffset(sent)))).to.equal(true);
          const dump = await run('dcmdump', ['-Un', '+P', '0002,0010', '+P', '0010,0020', h.blobPath(stored?.blobKey as string)]);
          expect(dump.output).to.contain(`[${transferSyntax}]`);
          const patientId = stored?.metadata['00100020']?.Value?.[0];
          if (patientId !== undefined) expect(dump.output).to.contain(`[${patientId as string}]`);
          expect(stored?.patientId).to.equal(patientId);
        } finally {
          await h.close();
        }
      });
    }
  });

  describe('C-STORE outcomes', () => {
    let h: GatewayHarness;
    beforeEach(async () => {
      h = await openGatewayHarness(dir, 'memory');
    });
    afterEach(() => h.close());

    for (const [name, transferSyntax, proposal] of [['implicit', IMPLICIT_LE, '-xi'], ['explicit', EXPLICIT_LE, '-x=']]) {
      it(`stores a generated ${name} little endian instance with its UTF-8 metadata, without pixel data`, async () => {
        const file = join(dir, `${name}.dcm`);
        const { sopInstanceUid, studyInstanceUid } = await writeGeneratedDicom(file, { transferSyntaxUid: transferSyntax });
        const res = await storescu(h.port, file, proposal);
        expect(res.response, res.output).to.equal('Success');
        const stored = await h.index.get(sopInstanceUid);
        expect(stored).to.deep.include({
          studyInstanceUid, transferSyntaxUid: transferSyntax, patientId: 'IPP-42', issuerOfPatientId: 'CHU-TOULOUSE', accessionNumber: 'ACC-7',
        });
        expect(stored?.metadata['00100010']).to.deep.equal({ vr: 'PN', Value: [{ Alphabetic: 'Dupré^Élodie' }] });
        expect(stored?.metadata['7FE00010']).to.deep.equal({ vr: name === 'implicit' ? 'OW' : 'OB' });
        expect(JSON.stringify(stored?.metadata)).to.not.contain('InlineBinary');
      });
    }

    it('accepts an identical re-send idempotently: success, one index entry, nothing quarantined', async () => {
      const file = join(dir, 'again.dcm');
      const { sopInstanceUid } = await writeGeneratedDicom(file);
      expect((await storescu(h.port, file)).response).to.equal('Success');
      const first = await h.index.get(sopInstanceUid);
      expect((await storescu(h.port, file)).response).to.equal('Success');
      expect(await h.index.get(sopInstanceUid)).to.deep.equal(first);
      expect(await h.index.listQuarantine()).to.deep.equal([]);
    });

    it('keeps the first object and quarantines a different one with the same SOP Instance UID (warning B000)', async () => {
      const a = join(dir, 'a.dcm');
      const b = join(dir, 'b.dcm');
      const { sopInstanceUid } = await writeGeneratedDicom(a, { pixel: 1 });
      await writeGeneratedDicom(b, { sopInstanceUid, pixel: 2, patientName: 'Autre^Patient' });
      expect((await storescu(h.port, a)).response).to.equal('Success');
      const first = await h.index.get(sopInstanceUid);
      const res = await storescu(h.port, b);
      expect(res.response, res.output).to.equal('Warning: CoercionOfDataElements');
      expect(await h.index.get(sopInstanceUid)).to.deep.equal(first);
      const [q] = await h.index.listQuarantine();
      expect(q).to.deep.include({ reason: 'conflict', sopInstanceUid, callingAe: 'MODALITY' });
      const kept = await h.blobBytes(q.blobKey);
      expect(kept.subarray(datasetOffset(kept)).includes(Buffer.from('Autre^Patient'))).to.equal(true);
    });

    it('answers 0xC000 to an unparseable data set, keeps its bytes in quarantine, and goes on serving', async () => {
      const garbage = Buffer.from('\x08\x00\x18\x00UI\x40\x00this is not a DICOM data set, its element lengths run past the end');
      const uid = newUid();
      expect(await cStoreRaw(h.port, garbage, uid)).to.equal(C_STORE_STATUS.cannotUnderstand);
      const [q] = await h.index.listQuarantine();
      expect(q).to.deep.include({ reason: 'unparseable', sopInstanceUid: uid });
      const kept = await h.blobBytes(q.blobKey);
      expect(kept.subarray(datasetOffset(kept)).equals(garbage)).to.equal(true);
      expect(await h.index.get(uid)).to.equal(undefined);
      expect((await echoscu(h.port, 'MODALITY')).code).to.equal(0);
      expect((await storescu(h.port, join(FIXTURES, 'CT_small.dcm'))).response).to.equal('Success');
    });

    it('answers 0xC000 to a data set cut short in its attributes', async () => {
      const file = join(dir, 'whole.dcm');
      const { sopInstanceUid } = await writeGeneratedDicom(file, { transferSyntaxUid: IMPLICIT_LE });
      const bytes = await readFile(file);
      const cut = bytes.subarray(datasetOffset(bytes), datasetOffset(bytes) + 301); // inside an attribute's value
      expect(await cStoreRaw(h.port, cut, sopInstanceUid)).to.equal(C_STORE_STATUS.cannotUnderstand);
      expect(await h.index.get(sopInstanceUid)).to.equal(undefined);
      expect((await h.index.listQuarantine()).map((q) => q.sopInstanceUid)).to.deep.equal([sopInstanceUid]);
    });

    it('audits every received instance (DICOM Instances Transferred) through the audit job', async () => {
      const file = join(dir, 'audited.dcm');
      const { sopInstanceUid, studyInstanceUid } = await writeGeneratedDicom(file);
      expect((await storescu(h.port, file)).response).to.equal('Success');
      const jobs = (await auditJobs(h)).filter((j) => entitiesOf(j).includes(`urn:oid:${sopInstanceUid}`));
      expect(jobs).to.have.length(1);
      expect(entitiesOf(jobs[0])).to.deep.equal([`urn:oid:${studyInstanceUid}`, `urn:oid:${sopInstanceUid}`]);
      await auditEventHandler(h.storage).batch?.(jobs);
      const event = await h.storage.resources.read<AuditEvent>('AuditEvent', jobs[0].id);
      expect(event.subtype?.map((c) => c.code)).to.include('110104');
      expect(event.agent[0].altId).to.equal('dicom:MODALITY');
    });
  });

  describe('durability', () => {
    it('finds the index entry and the blob again after a restart (PGlite on disk)', async () => {
      const file = join(dir, 'durable.dcm');
      const { sopInstanceUid } = await writeGeneratedDicom(file);
      const before = await openGatewayHarness(dir, 'pglite');
      let stored;
      try {
        expect((await storescu(before.port, file)).response).to.equal('Success');
        stored = await before.index.get(sopInstanceUid);
      } finally {
        await before.close();
      }
      const after = await openGatewayHarness(dir, 'pglite');
      try {
        expect(await after.index.get(sopInstanceUid)).to.deep.equal(stored);
        expect(await after.blobs.stat(stored?.blobKey as string)).to.deep.equal({ key: stored?.blobKey, size: stored?.blobSize });
        expect((await storescu(after.port, file)).response).to.equal('Success'); // still idempotent after the restart
      } finally {
        await after.close();
      }
    });

    it('stores a file dciodvfy finds no more errors in than in the file sent', async () => {
      const h = await openGatewayHarness(dir, 'memory');
      try {
        const source = join(FIXTURES, 'CT_small.dcm');
        expect((await storescu(h.port, source)).response).to.equal('Success');
        const stored = await h.index.get('1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322');
        const errorsOf = async (path: string): Promise<string[]> =>
          (await run('dciodvfy', [path])).output.split('\n').filter((l) => l.startsWith('Error'));
        const storedErrors = await errorsOf(h.blobPath(stored?.blobKey as string));
        const sourceErrors = await errorsOf(source);
        expect(storedErrors.filter((e) => !sourceErrors.includes(e))).to.deep.equal([]);
      } finally {
        await h.close();
      }
    });
  });
});
