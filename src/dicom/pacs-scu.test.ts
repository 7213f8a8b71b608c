// C-FIND, C-MOVE and C-GET SCU (PS3.4 C.4.1–C.4.3) against a real Orthanc acting as the hospital PACS; C-MOVE's
// sub-operations reach our own DIMSE gateway, C-GET's come back on the query association into the store service.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { OperationOutcomeError } from '../kernel/errors.js';
import type { DicomJson } from '../imaging/dicom-json.js';
import { createInstanceStore } from '../workflow/imaging/instance-store.js';
import type { RetrieveProgress } from '../workflow/imaging/pacs-port.js';
import { findStudies } from './c-find-scu.js';
import { getStudy } from './c-get-scu.js';
import { moveStudy } from './c-move-scu.js';
import { openGatewayHarness, TEST_POLICY, type GatewayHarness } from './test-gateway-harness.js';
import { freePort } from './test-dicom-peers.js';
import { describeWithOrthanc, startOrthanc, type OrthancPeer } from './test-orthanc.js';
import { generateStudy, type GeneratedStudy } from './test-pacs-studies.js';

const uidsOf = (matches: DicomJson[]) => matches.map((m) => m['0020000D']?.Value?.[0]).sort();
const statusOf = (e: unknown) => (e instanceof OperationOutcomeError ? e.outcome.id : String(e));

describeWithOrthanc('PACS query/retrieve SCU against Orthanc', function () {
  this.timeout(60_000);
  let dir: string;
  let gateway: GatewayHarness;
  let orthanc: OrthancPeer;
  let peer: { aeTitle: string; host: string; port: number };
  const options = { callingAe: 'TELEO' };
  let ct: GeneratedStudy;
  let mr: GeneratedStudy;
  let us: GeneratedStudy;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'teleo-pacs-scu-'));
    gateway = await openGatewayHarness(dir, 'memory', {
      knownAes: [...TEST_POLICY.knownAes, { aeTitle: 'ORTHANC', host: '127.0.0.1', operations: ['store'] }],
    });
    orthanc = await startOrthanc({ modalities: { teleo: { aeTitle: 'TELEO', host: '127.0.0.1', port: gateway.port } } });
    peer = { aeTitle: orthanc.aeTitle, host: '127.0.0.1', port: orthanc.dicomPort };
    ct = generateStudy({ patientName: 'Dupré^Élodie', patientId: 'IPP-1001', birthDate: '19800215', studyDate: '20250102', modality: 'CT', accessionNumber: 'ACC-100', instances: 3 });
    mr = generateStudy({ patientName: 'MARTIN^Paul', patientId: 'IPP-2002', birthDate: '19701120', studyDate: '20250310', modality: 'MR', accessionNumber: 'ACC-200' });
    us = generateStudy({ patientName: 'Dupré^Élodie', patientId: 'IPP-1001', birthDate: '19800215', studyDate: '20240620', modality: 'US', accessionNumber: 'ACC-300', instances: 1 });
    await orthanc.upload(...ct.files, ...mr.files, ...us.files);
  });

  after(async () => {
    await orthanc?.close();
    await gateway?.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('C-FIND (Study Root, STUDY level)', () => {
    it('finds the studies of a patient by name with a wildcard, with the study return keys filled in', async () => {
      const matches = await findStudies(peer, options, { patientName: 'DUPR*' });
      expect(uidsOf(matches)).to.deep.equal([ct.studyInstanceUid, us.studyInstanceUid].sort());
      const first = matches.find((m) => m['0020000D']?.Value?.[0] === ct.studyInstanceUid) as DicomJson;
      expect(first['00081030']?.Value).to.deep.equal(['CT 20250102']);
      expect(first['00080061']?.Value).to.deep.equal(['CT']);
      expect(first['00201208']?.Value?.map(Number)).to.deep.equal([3]);
      expect(first['00100010']?.Value).to.deep.equal([{ Alphabetic: 'Dupré^Élodie' }]);
    });

    it('matches an accented name sent in UTF-8 (ISO_IR 192)', async () => {
      expect(uidsOf(await findStudies(peer, options, { patientName: 'Dupré^Élodie' }))).to.deep.equal([ct.studyInstanceUid, us.studyInstanceUid].sort());
    });

    it('filters by birth date, patient identifier, exam date, date range, modality and accession number', async () => {
      expect(uidsOf(await findStudies(peer, options, { patientBirthDate: '19701120' }))).to.deep.equal([mr.studyInstanceUid]);
      expect(uidsOf(await findStudies(peer, options, { patientId: 'IPP-1001' }))).to.deep.equal([ct.studyInstanceUid, us.studyInstanceUid].sort());
      expect(uidsOf(await findStudies(peer, options, { studyDate: '20240620' }))).to.deep.equal([us.studyInstanceUid]);
      expect(uidsOf(await findStudies(peer, options, { studyDate: '20250101-20251231' }))).to.deep.equal([ct.studyInstanceUid, mr.studyInstanceUid].sort());
      expect(uidsOf(await findStudies(peer, options, { studyDate: '-20241231' }))).to.deep.equal([us.studyInstanceUid]);
      expect(uidsOf(await findStudies(peer, options, { modality: 'MR' }))).to.deep.equal([mr.studyInstanceUid]);
      expect(uidsOf(await findStudies(peer, options, { accessionNumber: 'ACC-300' }))).to.deep.equal([us.studyInstanceUid]);
      expect(uidsOf(await findStudies(peer, options, { patientId: 'IPP-1001', modality: 'CT' }))).to.deep.equal([ct.studyInstanceUid]);
      expect(await findStudies(peer, options, { patientId: 'NOBODY' })).to.deep.equal([]);
    });

    it('answers a 502 transient OperationOutcome when the PACS is unreachable', async () => {
      const down = { ...peer, port: await freePort() };
      const e = await findStudies(down, options, { patientId: 'IPP-1001' }).then(() => undefined, (err: unknown) => err);
      expect(statusOf(e)).to.equal('502');
      expect((e as OperationOutcomeError).outcome.issue?.[0].code).to.equal('transient');
    });

    it('answers a 502 when the PACS refuses the association (calling AE unknown to it)', async () => {
      const e = await findStudies(peer, { callingAe: 'STRANGER' }, { patientId: 'IPP-1001' }).then(() => undefined, (err: unknown) => err);
      expect((e as OperationOutcomeError).outcome.issue?.[0].details?.text).to.match(/aborted|refused|rejected/);
      expect(statusOf(e)).to.equal('502');
    });
  });

  describe('C-MOVE to our gateway', () => {
    it('has the PACS send the study to our AE, reports the sub-operation counts, and the instances are indexed', async () => {
      const seen: RetrieveProgress[] = [];
      const final = await moveStudy(peer, options, 'TELEO', ct.studyInstanceUid, (p) => seen.push(p));
      expect(final).to.deep.equal({ total: 3, completed: 3, failed: 0, warning: 0 });
      expect(seen.length).to.be.at.least(1);
      expect(seen.every((p) => p.total === 3)).to.equal(true);
      const stored = await gateway.index.listStudy(ct.studyInstanceUid);
      expect(stored.map((i) => i.sopInstanceUid).sort()).to.deep.equal([...ct.sopInstanceUids].sort());
      expect(stored[0].callingAe).to.equal('ORTHANC');
    });

    it('moving the same study again is idempotent (identical instances accepted)', async () => {
      expect(await moveStudy(peer, options, 'TELEO', ct.studyInstanceUid)).to.include({ completed: 3, failed: 0 });
      expect(await gateway.index.listStudy(ct.studyInstanceUid)).to.have.length(3);
    });

    it('is refused with a 502 when the destination AE is unknown to the PACS', async () => {
      const e = await moveStudy(peer, options, 'NOWHERE', mr.studyInstanceUid).then(() => undefined, (err: unknown) => err);
      expect(statusOf(e)).to.equal('502');
      expect((e as OperationOutcomeError).outcome.issue?.[0].details?.text).to.match(/C-MOVE failed with status [AC]/);
    });
  });

  describe('C-GET on the query association', () => {
    it('receives the C-STORE sub-operations into the store service', async () => {
      const store = createInstanceStore({ blobs: gateway.blobs, index: gateway.index });
      const seen: RetrieveProgress[] = [];
      const final = await getStudy(peer, { ...options, store }, mr.studyInstanceUid, (p) => seen.push(p));
      expect(final).to.deep.equal({ total: 2, completed: 2, failed: 0, warning: 0 });
      expect(seen.length).to.be.at.least(1);
      const stored = await gateway.index.listStudy(mr.studyInstanceUid);
      expect(stored.map((i) => i.sopInstanceUid).sort()).to.deep.equal([...mr.sopInstanceUids].sort());
      expect(stored[0]).to.include({ callingAe: 'ORTHANC', calledAe: 'TELEO' });
      // Stored as received: the blob is the Part 10 file of the data set Orthanc sent.
      expect((await gateway.blobBytes(stored[0].blobKey)).subarray(128, 132).toString()).to.equal('DICM');
    });

    it('is a 502 naming the failure status when the PACS does not have the study', async () => {
      const store = createInstanceStore({ blobs: gateway.blobs, index: gateway.index });
      const e = await getStudy(peer, { ...options, store }, '1.2.3.4.5.6.7.8.9').then(() => undefined, (err: unknown) => err);
      expect(statusOf(e)).to.equal('502');
      expect((e as OperationOutcomeError).outcome.issue?.[0]).to.deep.include({ code: 'processing' });
      expect((e as OperationOutcomeError).outcome.issue?.[0].details?.text).to.match(/C-GET failed with status C/);
    });
  });
});
