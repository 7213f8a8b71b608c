// C-FIND SCP (PS3.4 C.4.1, Patient Root and Study Root) through a real listener on port 0, queried by dcmtk's findscu
// after storescu of generated studies with French names, over the memory and PGlite instance indexes.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { AuditEvent } from '@medplum/fhirtypes';
import { AUDIT_JOB } from '../workflow/audit.js';
import dcmjs from 'dcmjs';
import { openGatewayHarness, TEST_POLICY, type GatewayHarness } from './test-gateway-harness.js';
import { describeWithDicomPeers, EXPLICIT_LE, newUid, run, storescu } from './test-dicom-peers.js';

interface Generated {
  patientName: string; patientId: string; birthDate: string; sex: string; studyUid: string; studyDate: string;
  studyTime: string; accession: string; studyDescription: string; seriesUid: string; seriesNumber: string;
  modality: string; sopUid: string; instanceNumber: string;
}

/** A small Secondary Capture image (PS3.3 A.8.1) in UTF-8 (ISO_IR 192) with the given identity, as a Part 10 file. */
async function writeInstance(path: string, g: Generated): Promise<void> {
  const sopClassUid = '1.2.840.10008.5.1.4.1.1.7';
  const { DicomMetaDictionary, DicomDict } = dcmjs.data;
  const dataset = DicomMetaDictionary.denaturalizeDataset({
    SpecificCharacterSet: 'ISO_IR 192', SOPClassUID: sopClassUid, SOPInstanceUID: g.sopUid, StudyInstanceUID: g.studyUid,
    SeriesInstanceUID: g.seriesUid, PatientName: g.patientName, PatientID: g.patientId, IssuerOfPatientID: 'CHU-TOULOUSE',
    PatientBirthDate: g.birthDate, PatientSex: g.sex, AccessionNumber: g.accession, StudyDate: g.studyDate, StudyTime: g.studyTime,
    StudyDescription: g.studyDescription, ReferringPhysicianName: 'MARTIN^Paul', Modality: g.modality, ConversionType: 'WSD',
    SeriesNumber: g.seriesNumber, SeriesDescription: `Série ${g.seriesNumber}`, InstanceNumber: g.instanceNumber,
    SamplesPerPixel: 1, PhotometricInterpretation: 'MONOCHROME2', Rows: 4, Columns: 4, BitsAllocated: 8, BitsStored: 8,
    HighBit: 7, PixelRepresentation: 0,
  });
  dataset['7FE00010'] = { vr: 'OB', Value: [new Uint8Array(16).fill(3).buffer] };
  const file = new DicomDict(DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer, MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: g.sopUid, TransferSyntaxUID: EXPLICIT_LE, ImplementationClassUID: '2.25.1',
  }));
  file.dict = dataset;
  await writeFile(path, Buffer.from(file.write()));
}

/** Three patients, four studies, six instances; patients 1 and 3 are both "Lefèvre" (accents and case differ). */
function corpus(): Generated[] {
  const hl = { patientName: 'LEFÈVRE^Hélène', patientId: 'IPP-100', birthDate: '19620314', sex: 'F' };
  const jd = { patientName: 'DUPONT^Jean', patientId: 'IPP-200', birthDate: '19500101', sex: 'M' };
  const ml = { patientName: 'Lefevre^Marc', patientId: 'IPP-300', birthDate: '19801224', sex: 'M' };
  const study = (p: typeof hl, studyDate: string, studyTime: string, accession: string, studyDescription: string) =>
    ({ ...p, studyUid: newUid(), studyDate, studyTime, accession, studyDescription });
  const a1 = study(hl, '20250110', '083000', 'ACC-A1', 'IRM cérébrale');
  const a2 = study(hl, '20250220', '141500', 'ACC-A2', 'Scanner thoracique');
  const b1 = study(jd, '20250115', '100000', 'ACC-B1', 'IRM genou');
  const c1 = study(ml, '20241231', '230000', 'ACC-C1', 'Scanner abdominal');
  const series = (s: typeof a1, seriesNumber: string, modality: string, n: number): Generated[] => {
    const seriesUid = newUid();
    return Array.from({ length: n }, (_, i) => ({ ...s, seriesUid, seriesNumber, modality, sopUid: newUid(), instanceNumber: String(i + 1) }));
  };
  return [...series(a1, '1', 'MR', 2), ...series(a1, '2', 'CT', 1), ...series(a2, '1', 'CT', 1), ...series(b1, '1', 'MR', 1), ...series(c1, '1', 'CT', 1)];
}

/** A findscu argument as the shell's printf writes its bytes: lets a key carry ISO 8859-1 (Latin-1) bytes. */
const shellBytes = (arg: string, encoding: BufferEncoding): string =>
  `"$(printf '${[...Buffer.from(arg, encoding)].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('')}')"`;

interface FindResult { code: number; output: string; status?: string; matches: Record<string, unknown>[] }

async function findscu(port: number, dir: string, model: '-S' | '-P', keys: string[], opts: { callingAe?: string; latin1?: boolean } = {}): Promise<FindResult> {
  const out = await mkdtemp(join(dir, 'find-'));
  const args = [model, '-aet', opts.callingAe ?? 'QUERIER', '-aec', 'TELEO', '-X', '-od', out, ...keys.flatMap((k) => ['-k', k]), '127.0.0.1', String(port)];
  const res = await run('sh', ['-c', ['findscu', '-d', ...args.map((a) => shellBytes(a, opts.latin1 ? 'latin1' : 'utf8'))].join(' ')]);
  const files = (await readdir(out)).filter((f) => f.startsWith('rsp')).sort();
  const matches: Record<string, unknown>[] = [];
  for (const f of files) {
    const bytes = await readFile(join(out, f));
    const parsed = dcmjs.data.DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    matches.push(dcmjs.data.DicomMetaDictionary.naturalizeDataset(parsed.dict));
  }
  return { ...res, status: [...res.output.matchAll(/DIMSE Status\s*:\s*(0x[0-9a-f]{4})/gi)].at(-1)?.[1], matches };
}

const pn = (v: unknown): string | undefined => (Array.isArray(v) ? (v[0] as { Alphabetic?: string })?.Alphabetic : typeof v === 'string' ? v : undefined);
const values = (m: Record<string, unknown>, k: string): unknown[] => { const v = m[k]; return Array.isArray(v) ? v : v === undefined ? [] : [v]; };

for (const backend of ['memory', 'pglite'] as const) {
  describeWithDicomPeers(`C-FIND SCP over ${backend} (findscu)`, function () {
    this.timeout(120_000);
    let dir: string;
    let h: GatewayHarness;
    let data: Generated[];
    const find = (model: '-S' | '-P', keys: string[], opts?: { callingAe?: string; latin1?: boolean }): Promise<FindResult> => findscu(h.port, dir, model, keys, opts);
    const studyOf = (accession: string): Generated => data.find((g) => g.accession === accession) as Generated;
    const accessions = (r: FindResult): string[] => r.matches.map((m) => String(m.AccessionNumber)).sort();

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'c-find-test-'));
      h = await openGatewayHarness(dir, backend, {
        knownAes: [...TEST_POLICY.knownAes, { aeTitle: 'QUERIER', host: '127.0.0.1', operations: ['echo', 'find'] }],
      });
      data = corpus();
      await mkdir(join(dir, 'files'));
      for (const g of data) {
        const path = join(dir, 'files', `${g.sopUid}.dcm`);
        await writeInstance(path, g);
        expect((await storescu(h.port, path)).response).to.equal('Success');
      }
    });
    after(async () => {
      await h?.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('answers a Study Root STUDY query with the study attributes and the counts computed over its instances', async () => {
      const r = await find('-S', ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID', 'AccessionNumber', 'PatientName', 'PatientID', 'IssuerOfPatientID',
        'PatientBirthDate', 'PatientSex', 'StudyDate', 'StudyTime', 'StudyDescription', 'ReferringPhysicianName', 'ModalitiesInStudy',
        'NumberOfStudyRelatedSeries', 'NumberOfStudyRelatedInstances']);
      expect(r.status).to.equal('0x0000');
      expect(accessions(r)).to.deep.equal(['ACC-A1', 'ACC-A2', 'ACC-B1', 'ACC-C1']);
      const a1 = r.matches.find((m) => m.AccessionNumber === 'ACC-A1') as Record<string, unknown>;
      expect(a1).to.deep.include({ StudyInstanceUID: studyOf('ACC-A1').studyUid, PatientID: 'IPP-100', IssuerOfPatientID: 'CHU-TOULOUSE',
        PatientBirthDate: '19620314', PatientSex: 'F', StudyDate: '20250110', StudyTime: '083000', StudyDescription: 'IRM cérébrale',
        NumberOfStudyRelatedSeries: 2, NumberOfStudyRelatedInstances: 3, QueryRetrieveLevel: 'STUDY', SpecificCharacterSet: 'ISO_IR 192' });
      expect(pn(a1.PatientName)).to.equal('LEFÈVRE^Hélène');
      expect(pn(a1.ReferringPhysicianName)).to.equal('MARTIN^Paul');
      expect(values(a1, 'ModalitiesInStudy')).to.deep.equal(['CT', 'MR']);
    });

    it('audits each query (PS3.15 Query, DCM 110112) with the caller and the studies answered', async () => {
      const before = (await h.storage.jobs.list({ type: AUDIT_JOB })).length;
      const r = await find('-S', ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID', 'AccessionNumber=ACC-B1']);
      expect(r.status).to.equal('0x0000');
      const jobs = await h.storage.jobs.list({ type: AUDIT_JOB });
      const events = jobs.slice(before).map((j) => j.payload.event as AuditEvent)
        .filter((e) => e.subtype?.some((c) => c.code === '110112'));
      expect(events).to.have.length(1);
      expect(events[0].agent?.[0]?.altId).to.equal('dicom:QUERIER');
      expect(events[0].entity?.map((e) => e.what?.reference).filter(Boolean)).to.deep.equal([`urn:oid:${studyOf('ACC-B1').studyUid}`]);
    });

    it('answers a Study Root SERIES query within a study, and an IMAGE query within a series', async () => {
      const a1 = studyOf('ACC-A1');
      const series = await find('-S', ['QueryRetrieveLevel=SERIES', `StudyInstanceUID=${a1.studyUid}`, 'SeriesInstanceUID', 'Modality',
        'SeriesNumber', 'SeriesDescription', 'NumberOfSeriesRelatedInstances']);
      expect(series.status).to.equal('0x0000');
      const bySeries = series.matches.map((m) => [m.Modality, m.SeriesNumber, m.SeriesDescription, m.NumberOfSeriesRelatedInstances]).sort();
      expect(bySeries).to.deep.equal([['CT', 2, 'Série 2', 1], ['MR', 1, 'Série 1', 2]]);
      const mr = data.filter((g) => g.studyUid === a1.studyUid && g.modality === 'MR');
      const images = await find('-S', ['QueryRetrieveLevel=IMAGE', `StudyInstanceUID=${a1.studyUid}`, `SeriesInstanceUID=${mr[0].seriesUid}`,
        'SOPInstanceUID', 'SOPClassUID', 'InstanceNumber']);
      expect(images.status).to.equal('0x0000');
      expect(images.matches.map((m) => m.SOPInstanceUID).sort()).to.deep.equal(mr.map((g) => g.sopUid).sort());
      expect(images.matches.map((m) => m.InstanceNumber).sort()).to.deep.equal([1, 2]);
      expect(images.matches[0].SOPClassUID).to.equal('1.2.840.10008.5.1.4.1.1.7');
    });

    it('answers Patient Root PATIENT and STUDY queries, the latter within the given patient', async () => {
      const patients = await find('-P', ['QueryRetrieveLevel=PATIENT', 'PatientID', 'PatientName', 'NumberOfPatientRelatedStudies', 'NumberOfPatientRelatedInstances']);
      expect(patients.status).to.equal('0x0000');
      expect(patients.matches.map((m) => [m.PatientID, pn(m.PatientName), m.NumberOfPatientRelatedStudies, m.NumberOfPatientRelatedInstances]))
        .to.deep.equal([['IPP-100', 'LEFÈVRE^Hélène', 2, 4], ['IPP-200', 'DUPONT^Jean', 1, 1], ['IPP-300', 'Lefevre^Marc', 1, 1]]);
      const studies = await find('-P', ['QueryRetrieveLevel=STUDY', 'PatientID=IPP-100', 'StudyInstanceUID', 'AccessionNumber']);
      expect(studies.status).to.equal('0x0000');
      expect(accessions(studies)).to.deep.equal(['ACC-A1', 'ACC-A2']);
    });

    it('matches wildcards (case-sensitive except in person names), single values and lists of UIDs', async () => {
      const q = (...keys: string[]): Promise<FindResult> => find('-S', ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID', 'AccessionNumber', ...keys]);
      expect(accessions(await q('PatientName=DUP*'))).to.deep.equal(['ACC-B1']);
      expect(accessions(await q('PatientName=?upont^j?an'))).to.deep.equal(['ACC-B1']);
      expect(accessions(await q('StudyDescription=IRM*'))).to.deep.equal(['ACC-A1', 'ACC-B1']);
      expect(accessions(await q('StudyDescription=irm*'))).to.deep.equal([]);
      expect(accessions(await q('AccessionNumber=ACC-A2'))).to.deep.equal(['ACC-A2']);
      expect(accessions(await q('PatientName=*'))).to.have.length(4);
      const list = await q(`StudyInstanceUID=${studyOf('ACC-A1').studyUid}\\${studyOf('ACC-C1').studyUid}`);
      expect(accessions(list)).to.deep.equal(['ACC-A1', 'ACC-C1']);
      expect(accessions(await q('ModalitiesInStudy=MR'))).to.deep.equal(['ACC-A1', 'ACC-B1']);
    });

    it('matches date and time ranges, open or closed', async () => {
      const q = (...keys: string[]): Promise<FindResult> => find('-S', ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID', 'AccessionNumber', ...keys]);
      expect(accessions(await q('StudyDate=20250101-20250131'))).to.deep.equal(['ACC-A1', 'ACC-B1']);
      expect(accessions(await q('StudyDate=-20241231'))).to.deep.equal(['ACC-C1']);
      expect(accessions(await q('StudyDate=20250201-'))).to.deep.equal(['ACC-A2']);
      expect(accessions(await q('StudyTime=0800-1000'))).to.deep.equal(['ACC-A1', 'ACC-B1']);
      expect(accessions(await q('StudyDate=20250101-20250131', 'StudyTime=-0900'))).to.deep.equal(['ACC-A1']);
    });

    it('matches person names case- and accent-insensitively, queried in ISO_IR 192 or ISO_IR 100', async () => {
      const keys = ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID', 'AccessionNumber'];
      const utf8 = await find('-S', [...keys, 'SpecificCharacterSet=ISO_IR 192', 'PatientName=lefèvre*']);
      expect(accessions(utf8)).to.deep.equal(['ACC-A1', 'ACC-A2', 'ACC-C1']);
      const latin1 = await find('-S', [...keys, 'SpecificCharacterSet=ISO_IR 100', 'PatientName=LEFÈVRE^Hélène'], { latin1: true });
      expect(latin1.status).to.equal('0x0000');
      expect(accessions(latin1)).to.deep.equal(['ACC-A1', 'ACC-A2']);
      expect(latin1.matches.map((m) => [m.SpecificCharacterSet, pn(m.PatientName)])).to.deep.equal([['ISO_IR 192', 'LEFÈVRE^Hélène'], ['ISO_IR 192', 'LEFÈVRE^Hélène']]);
      const ascii = await find('-S', [...keys, 'PatientName=DUPONT^JEAN']);
      expect(ascii.matches.map((m) => m.SpecificCharacterSet)).to.deep.equal([undefined]);
    });

    it('fails with A900 when a unique key of a higher level is missing or the level does not exist in the model', async () => {
      const noPatient = await find('-P', ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID']);
      expect(noPatient.status).to.equal('0xa900');
      expect(noPatient.matches).to.deep.equal([]);
      const noStudy = await find('-S', ['QueryRetrieveLevel=SERIES', 'SeriesInstanceUID']);
      expect(noStudy.status).to.equal('0xa900');
      const patientInStudyRoot = await find('-S', ['QueryRetrieveLevel=PATIENT', 'PatientID']);
      expect(patientInStudyRoot.status).to.equal('0xa900');
    });

    it('fails with C000 (unable to process) on a date it cannot match', async () => {
      const r = await find('-S', ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID', 'StudyDate=2025-01']);
      expect(r.status).to.equal('0xc000');
      expect(r.matches).to.deep.equal([]);
    });

    it('refuses the FIND presentation contexts to a known AE not allowed to find', async () => {
      const r = await find('-S', ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID'], { callingAe: 'MODALITY' });
      expect(r.code).to.not.equal(0);
      expect(r.status).to.equal(undefined);
      expect(r.matches).to.deep.equal([]);
    });
  });
}
