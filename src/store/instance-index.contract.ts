// Contract every InstanceIndex implementation passes (memory twin, PGlite, PostgreSQL): PS3.4 Annex B storage semantics.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { IndexedInstance, InstanceIndex, NewQuarantinedObject } from './instance-index.js';

export interface OpenedIndex { index: InstanceIndex; cleanup(): Promise<void> }

const uid = (): string => `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString()}`;
const key = (): string => `sha256-${randomUUID().replace(/-/g, '').padEnd(64, '0')}`;

function instance(overrides: Partial<IndexedInstance> = {}): IndexedInstance {
  return {
    sopInstanceUid: uid(), sopClassUid: '1.2.840.10008.5.1.4.1.1.2', studyInstanceUid: uid(), seriesInstanceUid: uid(),
    transferSyntaxUid: '1.2.840.10008.1.2.1', blobKey: key(), blobSize: 1234, patientId: 'IPP-1', issuerOfPatientId: 'CHU-T',
    accessionNumber: 'ACC-1', callingAe: 'MODALITY', calledAe: 'TELEO', remoteAddress: '127.0.0.1',
    receivedAt: new Date('2025-01-02T03:04:05.678Z').toISOString(),
    metadata: { '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Élodie^Dupré' }] }, '7FE00010': { vr: 'OW' } },
    ...overrides,
  };
}

function quarantined(overrides: Partial<NewQuarantinedObject> = {}): NewQuarantinedObject {
  return {
    reason: 'conflict', detail: 'different bytes', sopInstanceUid: uid(), sopClassUid: '1.2.840.10008.5.1.4.1.1.4',
    transferSyntaxUid: '1.2.840.10008.1.2', blobKey: key(), blobSize: 99, callingAe: 'MODALITY', calledAe: 'TELEO',
    receivedAt: new Date().toISOString(), ...overrides,
  };
}

export function instanceIndexContract(name: string, open: () => Promise<OpenedIndex>): void {
  describe(`InstanceIndex contract: ${name}`, function () {
    let opened: OpenedIndex;
    before(async function () {
      this.timeout(120_000);
      opened = await open();
    });
    after(() => opened?.cleanup());
    const index = (): InstanceIndex => opened.index;

    it('indexes an instance with its metadata and source, readable after commit', async () => {
      const i = instance();
      const res = await index().transaction((tx) => tx.insert(i));
      expect(res.kind).to.equal('inserted');
      expect(await index().get(i.sopInstanceUid)).to.deep.equal(i);
    });

    it('returns the indexed instance when the SOP Instance UID is offered again, without replacing it', async () => {
      const first = instance();
      await index().transaction((tx) => tx.insert(first));
      const res = await index().transaction((tx) => tx.insert({ ...first, blobKey: key(), callingAe: 'OTHER' }));
      expect(res).to.deep.equal({ kind: 'exists', existing: first });
      expect((await index().get(first.sopInstanceUid))?.blobKey).to.equal(first.blobKey);
    });

    it('lists the instances of a study in SOP Instance UID order', async () => {
      const study = uid();
      const uids = ['1.2.3.10', '1.2.3.9', '1.2.3.100'].map((u) => `${u}.${randomUUID().slice(0, 8).replace(/[a-f]/g, '1')}`);
      for (const u of uids) await index().transaction((tx) => tx.insert(instance({ sopInstanceUid: u, studyInstanceUid: study })));
      const listed = (await index().listStudy(study)).map((i) => i.sopInstanceUid);
      expect(listed).to.deep.equal([...uids].sort());
    });

    it('rolls back index rows, quarantine records and jobs together', async () => {
      const i = instance();
      const q = quarantined();
      const jobType = `test-${randomUUID()}`;
      const failed = await index().transaction(async (tx) => {
        await tx.insert(i);
        await tx.quarantine(q);
        await tx.jobs.enqueue(jobType, { n: 1 });
        throw new Error('boom');
      }).then(() => undefined, (e: unknown) => e);
      expect(failed).to.be.instanceOf(Error);
      expect(await index().get(i.sopInstanceUid)).to.equal(undefined);
      expect((await index().listQuarantine({ limit: 1000 })).some((x) => x.blobKey === q.blobKey)).to.equal(false);
      const jobs = await index().transaction((tx) => tx.jobs.list({ type: jobType }));
      expect(jobs).to.deep.equal([]);
    });

    it('commits the jobs enqueued in the transaction', async () => {
      const jobType = `test-${randomUUID()}`;
      await index().transaction(async (tx) => {
        await tx.insert(instance());
        await tx.jobs.enqueue(jobType, { n: 2 });
      });
      const jobs = await index().transaction((tx) => tx.jobs.list({ type: jobType }));
      expect(jobs.map((j) => j.payload)).to.deep.equal([{ n: 2 }]);
    });

    it('keeps a quarantined object with its reason, listed newest first', async () => {
      const older = quarantined({ receivedAt: new Date(Date.now() - 60_000).toISOString(), reason: 'unparseable', sopInstanceUid: undefined });
      const newer = quarantined();
      const a = await index().transaction((tx) => tx.quarantine(older));
      const b = await index().transaction((tx) => tx.quarantine(newer));
      expect(a).to.deep.include({ reason: 'unparseable', detail: older.detail, blobKey: older.blobKey });
      expect(a.sopInstanceUid).to.equal(undefined);
      const listed = (await index().listQuarantine({ limit: 1000 })).map((x) => x.id);
      expect(listed.indexOf(b.id)).to.be.lessThan(listed.indexOf(a.id));
    });

    it('quarantines the same bytes for the same reason once', async () => {
      const q = quarantined();
      const first = await index().transaction((tx) => tx.quarantine(q));
      const again = await index().transaction((tx) => tx.quarantine({ ...q, receivedAt: new Date().toISOString(), detail: 'again' }));
      expect(again).to.deep.equal(first);
      expect((await index().listQuarantine({ limit: 1000 })).filter((x) => x.blobKey === q.blobKey)).to.have.length(1);
    });
  });
}
