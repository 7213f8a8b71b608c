// Contract every InstanceIndex implementation passes (memory twin, PGlite, PostgreSQL): PS3.4 Annex B storage semantics.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { DicomJson } from '../imaging/dicom-json.js';
import { filterOf } from '../imaging/dicom-matching.js';
import type { IndexedInstance, IndexQuery, InstanceIndex, NewQuarantinedObject } from './instance-index.js';

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

/** An instance of a study with the attributes the query tests match on (PS3.4 C.2.2.2). */
function studyInstance(o: { patientId: string; name: string; study: string; series: string; date: string; modality: string; sop?: string }): IndexedInstance {
  const metadata: DicomJson = {
    '00080020': { vr: 'DA', Value: [o.date] }, '00080060': { vr: 'CS', Value: [o.modality] },
    '00100010': { vr: 'PN', Value: [{ Alphabetic: o.name }] }, '00100020': { vr: 'LO', Value: [o.patientId] },
    '0020000D': { vr: 'UI', Value: [o.study] }, '0020000E': { vr: 'UI', Value: [o.series] },
  };
  return instance({ sopInstanceUid: o.sop ?? uid(), studyInstanceUid: o.study, seriesInstanceUid: o.series, patientId: o.patientId, metadata });
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
      const full = await index().listStudy(study);
      expect((await index().studyMetadata(study)).map((t) => JSON.parse(t) as DicomJson)).to.deep.equal(full.map((i) => i.metadata));
      expect((await index().studyMetadata(study, full[1].seriesInstanceUid)).map((t) => JSON.parse(t) as DicomJson)).to.deep.equal([full[1].metadata]);
      expect(await index().studyMetadata(study, uid())).to.deep.equal([]);
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

    it('pages the quarantine newest first, filtered by reason, and finds one entry by id', async () => {
      const reason = 'mismatch';
      const base = Date.parse('2031-05-06T07:08:09.000Z'); // later than every other entry of the contract
      const made = [];
      for (let n = 0; n < 5; n++) {
        made.push(await index().transaction((tx) => tx.quarantine(quarantined({ reason, receivedAt: new Date(base + n * 1000).toISOString() }))));
      }
      await index().transaction((tx) => tx.quarantine(quarantined({ reason: 'unparseable', receivedAt: new Date(base + 10_000).toISOString() })));
      const newestFirst = [...made].reverse().map((x) => x.id);
      expect((await index().listQuarantine({ reason, limit: 2 })).map((x) => x.id)).to.deep.equal(newestFirst.slice(0, 2));
      expect((await index().listQuarantine({ reason, limit: 2, offset: 2 })).map((x) => x.id)).to.deep.equal(newestFirst.slice(2, 4));
      expect((await index().listQuarantine({ limit: 1 }))[0].reason).to.equal('unparseable');
      expect(await index().getQuarantined(made[1].id)).to.deep.equal(made[1]);
      expect(await index().getQuarantined('no-such-entry')).to.equal(undefined);
    });

    it('records the replay of a quarantined entry, the last one winning', async () => {
      const entry = await index().transaction((tx) => tx.quarantine(quarantined()));
      expect(entry.replayedAt).to.equal(undefined);
      const at = new Date('2030-01-02T03:04:05.000Z').toISOString();
      const marked = await index().transaction((tx) => tx.markReplayed(entry.id, { at, outcome: 'conflict' }));
      expect(marked).to.deep.equal({ ...entry, replayedAt: at, replayOutcome: 'conflict' });
      const later = new Date('2030-01-03T00:00:00.000Z').toISOString();
      await index().transaction((tx) => tx.markReplayed(entry.id, { at: later, outcome: 'stored' }));
      expect(await index().getQuarantined(entry.id)).to.deep.include({ replayedAt: later, replayOutcome: 'stored' });
      expect(await index().transaction((tx) => tx.markReplayed('no-such-entry', { at, outcome: 'stored' }))).to.equal(undefined);
    });

    it('rolls back a replay mark with its transaction', async () => {
      const entry = await index().transaction((tx) => tx.quarantine(quarantined()));
      await index().transaction(async (tx) => {
        await tx.markReplayed(entry.id, { at: new Date().toISOString(), outcome: 'stored' });
        throw new Error('boom');
      }).catch(() => undefined);
      expect(await index().getQuarantined(entry.id)).to.deep.equal(entry);
    });

    describe('query (PS3.4 C.2.2.2 matching, C.6 levels)', () => {
      const tagged = `T${randomUUID().slice(0, 8)}`;
      const [hl, ml, jd] = ['HL', 'ML', 'JD'].map((p) => `${tagged}-${p}`);
      const [s1, s2, s3, s4] = [uid(), uid(), uid(), uid()];
      const [se1, se2, se3, se4, se5] = [uid(), uid(), uid(), uid(), uid()];
      const ours = filterOf('00100020', { vr: 'LO', Value: [`${tagged}-*`] });
      const q = (level: IndexQuery['level'], ...keys: [string, DicomJson[string]][]): IndexQuery => ({
        level, filters: [ours, ...keys.map(([tag, attr]) => filterOf(tag, attr))].filter((f) => f !== undefined),
      });
      const studiesOf = async (query: IndexQuery): Promise<string[]> =>
        (await index().query(query)).map((m) => String(m.metadata['0020000D'].Value?.[0])).sort();
      before(async () => {
        const rows = [
          studyInstance({ patientId: hl, name: 'LEFÈVRE^Hélène', study: s1, series: se1, date: '20250110', modality: 'MR', sop: '1.2.3.1' }),
          studyInstance({ patientId: hl, name: 'LEFÈVRE^Hélène', study: s1, series: se1, date: '20250110', modality: 'MR', sop: '1.2.3.2' }),
          studyInstance({ patientId: hl, name: 'LEFÈVRE^Hélène', study: s1, series: se2, date: '20250110', modality: 'CT', sop: '1.2.3.3' }),
          studyInstance({ patientId: hl, name: 'LEFÈVRE^Hélène', study: s2, series: se3, date: '20250220', modality: 'CT' }),
          studyInstance({ patientId: ml, name: 'lefevre^marc', study: s3, series: se4, date: '20241231', modality: 'CT' }),
          studyInstance({ patientId: jd, name: 'DUPONT^Jean', study: s4, series: se5, date: '20250115', modality: 'MR' }),
        ];
        for (const r of rows) await index().transaction((tx) => tx.insert(r));
      });

      it('finds studies with counts, modalities and SOP classes computed over all their instances', async () => {
        const found = await index().query(q('STUDY', ['00080060', { vr: 'CS', Value: ['MR'] }]));
        const byStudy = new Map(found.map((m) => [m.metadata['0020000D'].Value?.[0], m]));
        expect([...byStudy.keys()].sort()).to.deep.equal([s1, s4].sort());
        expect(byStudy.get(s1)).to.deep.include({ studies: 1, series: 2, instances: 3, modalities: ['CT', 'MR'], sopClasses: ['1.2.840.10008.5.1.4.1.1.2'] });
        expect(byStudy.get(s1)?.metadata['00080060'].Value).to.deep.equal(['MR']); // the first instance (1.2.3.1)
      });

      it('matches person names case- and accent-insensitively, with or without wildcards', async () => {
        expect(await studiesOf(q('STUDY', ['00100010', { vr: 'PN', Value: [{ Alphabetic: 'lef?vre*' }] }]))).to.deep.equal([s1, s2, s3].sort());
        expect(await studiesOf(q('STUDY', ['00100010', { vr: 'PN', Value: [{ Alphabetic: 'LEFEVRE^HELENE' }] }]))).to.deep.equal([s1, s2].sort());
        expect(await studiesOf(q('STUDY', ['00100010', { vr: 'PN', Value: [{ Alphabetic: 'Dupont' }] }]))).to.deep.equal([]);
      });

      it('matches ranges, lists of UIDs and case-sensitive wildcards on other attributes', async () => {
        expect(await studiesOf(q('STUDY', ['00080020', { vr: 'DA', Value: ['20250101-20250131'] }]))).to.deep.equal([s1, s4].sort());
        expect(await studiesOf(q('STUDY', ['00080020', { vr: 'DA', Value: ['-20241231'] }]))).to.deep.equal([s3]);
        expect(await studiesOf(q('STUDY', ['00080020', { vr: 'DA', Value: ['20250201-'] }]))).to.deep.equal([s2]);
        expect(await studiesOf(q('STUDY', ['0020000D', { vr: 'UI', Value: [s2, s4] }]))).to.deep.equal([s2, s4].sort());
        expect(await studiesOf(q('STUDY', ['00100020', { vr: 'LO', Value: [`${tagged}-?L`] }]))).to.deep.equal([s1, s2, s3].sort());
        expect(await studiesOf(q('STUDY', ['00100020', { vr: 'LO', Value: [`${tagged}-?l`] }]))).to.deep.equal([]);
      });

      it('groups by patient, series and instance, ordered by unique key, with limit and offset', async () => {
        const patients = await index().query(q('PATIENT'));
        expect(patients.map((m) => [m.metadata['00100020'].Value?.[0], m.studies, m.series, m.instances]))
          .to.deep.equal([[hl, 2, 3, 4], [jd, 1, 1, 1], [ml, 1, 1, 1]]);
        expect((await index().query({ ...q('PATIENT'), limit: 1, offset: 1 })).map((m) => m.metadata['00100020'].Value?.[0])).to.deep.equal([jd]);
        const series = await index().query(q('SERIES', ['0020000D', { vr: 'UI', Value: [s1] }]));
        expect(series.map((m) => m.instances).sort()).to.deep.equal([1, 2]);
        const images = await index().query(q('IMAGE', ['0020000E', { vr: 'UI', Value: [se1] }]));
        expect(images.map((m) => m.metadata['00080060'].Value?.[0])).to.deep.equal(['MR', 'MR']);
        expect(images.map((m) => m.instances)).to.deep.equal([1, 1]);
      });

      it('answers a patient with the modalities and SOP classes of all its studies', async () => {
        const [patient] = await index().query(q('PATIENT', ['00100020', { vr: 'LO', Value: [hl] }]));
        expect(patient).to.deep.include({ studies: 2, series: 3, instances: 4, modalities: ['CT', 'MR'], sopClasses: ['1.2.840.10008.5.1.4.1.1.2'] });
        expect(patient.metadata['00080018']).to.equal(undefined); // metadata is the instance's, not a synthesis
      });

      it('matches a study whose instances disagree on a study attribute through any one of its instances', async () => {
        const prefix = `T${randomUUID().slice(0, 8)}`;
        const [study, se] = [uid(), uid()];
        await index().transaction((tx) => tx.insert(studyInstance({ patientId: `${prefix}-1`, name: 'MARTIN^Paul', study, series: se, date: '20250301', modality: 'CT', sop: '1.2.5.1' })));
        await index().transaction((tx) => tx.insert(studyInstance({ patientId: `${prefix}-1`, name: 'MARTIN^Pierre', study, series: se, date: '20250302', modality: 'MR', sop: '1.2.5.2' })));
        const mine = filterOf('00100020', { vr: 'LO', Value: [`${prefix}-*`] });
        const find = async (level: IndexQuery['level'], tag: string, attr: DicomJson[string], tag2?: string, attr2?: DicomJson[string]) =>
          index().query({ level, filters: [mine, filterOf(tag, attr), ...(tag2 && attr2 ? [filterOf(tag2, attr2)] : [])].filter((f) => f !== undefined) });
        const pierre = await find('STUDY', '00100010', { vr: 'PN', Value: [{ Alphabetic: 'martin^pierre' }] });
        expect(pierre.map((m) => m.metadata['0020000D'].Value?.[0])).to.deep.equal([study]);
        expect(pierre[0].metadata['00100010'].Value).to.deep.equal([{ Alphabetic: 'MARTIN^Paul' }]); // first instance
        expect(pierre[0]).to.deep.include({ series: 1, instances: 2, modalities: ['CT', 'MR'] });
        expect(await find('STUDY', '00080020', { vr: 'DA', Value: ['20250302'] })).to.have.length(1);
        // One instance must pass every filter: Paul is CT, Pierre is MR.
        expect(await find('STUDY', '00100010', { vr: 'PN', Value: [{ Alphabetic: 'MARTIN^Paul' }] }, '00080060', { vr: 'CS', Value: ['MR'] })).to.deep.equal([]);
        expect(await find('PATIENT', '00100010', { vr: 'PN', Value: [{ Alphabetic: 'MARTIN^Pierre' }] })).to.have.length(1);
        expect(await find('PATIENT', '00100010', { vr: 'PN', Value: [{ Alphabetic: 'MARTIN^Jacques' }] })).to.deep.equal([]);
      });

      it('counts the series and instances of a study received over concurrent transactions exactly', async function () {
        this.timeout(30_000);
        const prefix = `T${randomUUID().slice(0, 8)}`;
        const study = uid();
        const series = [uid(), uid(), uid(), uid()];
        const rows = Array.from({ length: 20 }, (_, n) => studyInstance({
          patientId: `${prefix}-C`, name: 'CONCURRENT^Test', study, series: series[n % 4], date: '20250401', modality: n % 2 ? 'CT' : 'PT',
        }));
        await Promise.all(rows.map((r) => index().transaction((tx) => tx.insert(r))));
        const mine = filterOf('00100020', { vr: 'LO', Value: [`${prefix}-C`] });
        const [found] = await index().query({ level: 'STUDY', filters: mine ? [mine] : [] });
        expect(found).to.deep.include({ studies: 1, series: 4, instances: 20, modalities: ['CT', 'PT'] });
        const [patient] = await index().query({ level: 'PATIENT', filters: mine ? [mine] : [] });
        expect(patient).to.deep.include({ studies: 1, series: 4, instances: 20 });
      });
    });
  });
}
