// ImagingStudy in step with the DICOM index and studies attaching themselves to télédossiers, through a real platform
// (PGlite) with dcmtk's storescu sending to its DIMSE listener and $create-teledossier over HTTP.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, Communication, Endpoint, ImagingStudy, Parameters, Patient, Task } from '@medplum/fhirtypes';
import { expect } from 'chai';
import dcmjs from 'dcmjs';
import { parsePart10Metadata } from '../../imaging/dicom-json.js';
import { eventually, httpBackends, postResource, startTestServer, type TestServer } from '../../http/test-server.js';
import { describeWithDicomPeers, newUid, run, storescu } from '../../dicom/test-dicom-peers.js';
import { DOSSIER_CONTENT_SYSTEM, IMAGE_SOURCE_URL } from '../teleexpertise/dossier-model.js';
import { patientOfDataset } from './dicom-patient-identity.js';

const INS = 'urn:oid:1.2.250.1.213.1.4.8';
const IPP_RODEZ = '1.2.250.1.999.12.1';
let seq = 0;
/** A fictitious 15-character NIR, unique per run. */
const nir = () => `1850512${String(Date.now() % 1e6).padStart(6, '0')}${String(++seq).padStart(2, '0')}`.slice(0, 15);

interface Sent { study: string; series?: string; ins?: string; ipp?: string; accession?: string; name?: string; seriesNumber?: number; instanceNumber?: number }

/**
 * A small CT image (16×16) of `s.study`, the patient identified as the CI-SIS does: IPP + Issuer of Patient ID, and the
 * INS in Other Patient IDs Sequence qualified by the INS-NIR OID.
 */
async function writeStudyFile(dir: string, s: Sent): Promise<string> {
  const sop = newUid();
  const sopClass = '1.2.840.10008.5.1.4.1.1.2';
  const qualifier = (oid: string) => [{ UniversalEntityID: oid, UniversalEntityIDType: 'ISO' }];
  const dataset = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    SpecificCharacterSet: 'ISO_IR 192', SOPClassUID: sopClass, SOPInstanceUID: sop, StudyInstanceUID: s.study,
    SeriesInstanceUID: s.series ?? newUid(), PatientName: s.name ?? 'Fabré^Léa', PatientBirthDate: '19850512', PatientSex: 'F',
    PatientID: s.ipp ?? 'IPP-1', IssuerOfPatientID: IPP_RODEZ, IssuerOfPatientIDQualifiersSequence: qualifier(IPP_RODEZ),
    ...(s.ins ? { OtherPatientIDsSequence: [{ PatientID: s.ins, IssuerOfPatientID: 'ASIP-SANTE-INS-NIR', TypeOfPatientID: 'TEXT', IssuerOfPatientIDQualifiersSequence: qualifier('1.2.250.1.213.1.4.8') }] } : {}),
    AccessionNumber: s.accession ?? '', Modality: 'CT', BodyPartExamined: 'HEAD', StudyDate: '20250102', StudyTime: '101500',
    StudyDescription: 'Scanner cérébral', SeriesNumber: String(s.seriesNumber ?? 1), InstanceNumber: String(s.instanceNumber ?? 1),
    ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'], SamplesPerPixel: 1, PhotometricInterpretation: 'MONOCHROME2',
    Rows: 16, Columns: 16, BitsAllocated: 16, BitsStored: 12, HighBit: 11, PixelRepresentation: 0, RescaleIntercept: '0', RescaleSlope: '1',
  });
  dataset['7FE00010'] = { vr: 'OW', Value: [new Uint8Array(512).buffer] };
  const file = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer, MediaStorageSOPClassUID: sopClass,
    MediaStorageSOPInstanceUID: sop, TransferSyntaxUID: '1.2.840.10008.1.2.1', ImplementationClassUID: '2.25.1',
  }));
  file.dict = dataset;
  const path = join(dir, `${sop}.dcm`);
  await writeFile(path, Buffer.from(file.write()));
  return path;
}


describe('DICOM patient identity (CI-SIS usage)', () => {
  it('reads the INS of the ANS DRIMbox KOS fixture (Issuer ASIP-SANTE-INS-NIR, qualified by the test INS-NIR OID)', async () => {
    const bytes = await readFile(join(process.cwd(), '../shared/fixtures/ansforge-drimbox/kos/drimm-kos-example.dcm'));
    const p = patientOfDataset(parsePart10Metadata(bytes, { whole: true }).metadata);
    expect(p.ins).to.include({ system: 'urn:oid:1.2.250.1.213.1.4.10', value: '162018885045327' });
    expect(p.ipp).to.equal(undefined);
    expect(p).to.include({ birthDate: '1996-01-24', gender: 'male' });
  });
});

for (const backend of httpBackends()) {
  describeWithDicomPeers(`ImagingStudy sync and study attachment (${backend})`, function () {
    this.timeout(120_000);
    let server: TestServer;
    let dir: string;
    let expert: string;
    let requesterToken: string;
    let requester: string;

    before(async () => {
      server = await startTestServer(backend, {
        dicomPort: 0, dicomAeTitle: 'TELEO',
        dicomKnownAes: [{ aeTitle: 'MODALITY', host: '127.0.0.1', operations: ['echo', 'store'] }],
        dicomAeRoutes: [{ aeTitle: 'TELEO_APROG', workflow: 'avis-programme' }],
      });
      dir = await mkdtemp(join(tmpdir(), 'teleo-study-sync-'));
      const post = (body: object) => postResource(server, body);
      const chu = await post({ resourceType: 'Organization', name: 'CHU de Toulouse' });
      const rodez = await post({ resourceType: 'Organization', name: 'CH de Rodez' });
      const robert = await post({ resourceType: 'Practitioner', name: [{ family: 'Robert' }] });
      const durand = await post({ resourceType: 'Practitioner', name: [{ family: 'Durand' }] });
      requester = await post({ resourceType: 'PractitionerRole', practitioner: { reference: robert }, organization: { reference: rodez } });
      expert = await post({ resourceType: 'PractitionerRole', practitioner: { reference: durand }, organization: { reference: chu } });
      requesterToken = await server.token({ fhirUser: robert, role: requester });
    });
    after(async () => {
      await server?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    const send = async (s: Sent) => {
      const sent = await storescu(server.platform.dicomPort as number, await writeStudyFile(dir, s));
      expect(sent.response, sent.output).to.equal('Success');
    };
    const json = async <T>(path: string): Promise<T> => {
      const res = await server.fhir(path);
      expect(res.status, await res.clone().text()).to.equal(200);
      return (await res.json()) as T;
    };
    const studiesOf = async (uid: string) =>
      (await json<Bundle<ImagingStudy>>(`/ImagingStudy?identifier=${encodeURIComponent(`urn:dicom:uid|urn:oid:${uid}`)}`)).entry?.map((e) => e.resource as ImagingStudy) ?? [];
    const oneStudy = async (uid: string, instances: number) => {
      const found = await studiesOf(uid);
      expect(found).to.have.length(1);
      expect(found[0].numberOfInstances).to.equal(instances);
      return found[0];
    };
    const createDossier = async (ins: string, exam: object): Promise<Task> => {
      const body: Parameters = {
        resourceType: 'Parameters',
        parameter: [
          { name: 'patient', part: [{ name: 'ins', valueString: ins }, { name: 'family', valueString: 'FABRE' }, { name: 'given', valueString: 'Léa' }] },
          { name: 'workflow', valueCode: 'avis-programme' },
          { name: 'requester', valueReference: { reference: requester } },
          { name: 'owner', valueReference: { reference: expert } },
          { name: 'exam', ...exam },
        ],
      };
      const res = await server.fhir('/Task/$create-teledossier', { method: 'POST', body: JSON.stringify(body), token: requesterToken });
      expect(res.status, await res.clone().text()).to.equal(201);
      return ((await res.json()) as Parameters).parameter?.find((p) => p.name === 'task')?.resource as Task;
    };
    const examsOf = (task: Task) => (task.input ?? [])
      .filter((i) => i.type.coding?.some((c) => c.system === DOSSIER_CONTENT_SYSTEM && c.code === 'exam'))
      .map((i) => i.valueReference?.reference);

    it('attaches a study announced by its StudyInstanceUID to the dossier, with its patient, counts and endpoint, and notifies the requis', async () => {
      const ins = nir();
      const uid = newUid();
      const task = await createDossier(ins, { valueIdentifier: { system: 'urn:dicom:uid', value: `urn:oid:${uid}` } });
      const series = newUid();
      await send({ study: uid, series, ins, instanceNumber: 1 });

      const study = await eventually(() => oneStudy(uid, 1));
      expect(study.subject.reference).to.equal(task.for?.reference);
      expect(study.status).to.equal('available');
      expect(study.basedOn?.[0].reference).to.equal(task.focus?.reference);
      expect(study.modality?.map((m) => m.code)).to.deep.equal(['CT']);
      expect(study.started).to.equal('2025-01-02');
      expect(study.extension?.find((e) => e.url === IMAGE_SOURCE_URL)?.valueCode).to.equal('c-store');
      expect(study.series?.[0]).to.deep.include({ uid: series, number: 1, numberOfInstances: 1 });
      expect(study.series?.[0].bodySite?.display).to.equal('HEAD');
      expect(study.series?.[0].instance?.[0].sopClass.code).to.equal('urn:oid:1.2.840.10008.5.1.4.1.1.2');
      const endpoint = await json<Endpoint>(`/${study.endpoint?.[0].reference}`);
      expect(endpoint.address).to.equal(`${server.base.replace(/\/fhir$/, '').replace('127.0.0.1', 'localhost')}/dicomweb`);
      expect(endpoint.connectionType.code).to.equal('dicom-wado-rs');

      const dossier = await eventually(async () => {
        const t = await json<Task>(`/Task/${task.id}`);
        expect(examsOf(t)).to.deep.equal([`ImagingStudy/${study.id}`]);
        return t;
      });
      expect(dossier.status).to.equal(task.status);
      const notices = await eventually(async () => {
        const found = (await json<Bundle<Communication>>(`/Communication?part-of=Task/${task.id}`)).entry?.map((e) => e.resource as Communication) ?? [];
        const toExpert = found.filter((c) => c.recipient?.some((r) => r.reference === expert));
        expect(toExpert).to.have.length(1);
        return toExpert;
      });
      expect(notices[0].payload?.[0].contentString).to.match(/examen d’imagerie rattaché/);

      // A second instance of the same study: counts grow, no second ImagingStudy, the dossier lists it once.
      await send({ study: uid, series, ins, instanceNumber: 2 });
      const updated = await eventually(() => oneStudy(uid, 2));
      expect(updated.id).to.equal(study.id);
      expect(updated.numberOfSeries).to.equal(1);
      expect(updated.series?.[0].instance?.map((i) => i.number)).to.deep.equal([1, 2]);
      expect(examsOf(await json<Task>(`/Task/${task.id}`))).to.deep.equal([`ImagingStudy/${study.id}`]);
      expect(((await json<Bundle<Patient>>(`/Patient?identifier=${encodeURIComponent(`${INS}|${ins}`)}`)).entry ?? [])).to.have.length(1);
    });

    it('attaches a study sent to the AE title dedicated to a workflow to the open dossier of that workflow for the same patient', async () => {
      const ins = nir();
      const task = await createDossier(ins, { valueIdentifier: { system: 'urn:oid:1.2.250.1.999.12.2', value: `NEVER-SENT-${seq}` } });
      const [uid, lone] = [newUid(), newUid()];
      const sendTo = async (calledAe: string, s: Sent) => {
        const file = await writeStudyFile(dir, s);
        return run('storescu', ['-v', '-aet', 'MODALITY', '-aec', calledAe, '127.0.0.1', String(server.platform.dicomPort), file]);
      };
      for (const [study, patient] of [[uid, ins], [lone, nir()]]) {
        const sent = await sendTo('TELEO_APROG', { study, ins: patient });
        expect(sent.output).to.match(/Received Store Response \(Success\)/);
      }
      const study = await eventually(() => oneStudy(uid, 1));
      expect(study.basedOn?.[0].reference).to.equal(task.focus?.reference);
      await eventually(async () => expect(examsOf(await json<Task>(`/Task/${task.id}`))).to.deep.equal([`ImagingStudy/${study.id}`]));
      // A patient without a dossier of that workflow: the study waits in the local server list.
      expect((await eventually(() => oneStudy(lone, 1))).basedOn).to.equal(undefined);
      // A title we neither have nor route is refused at association.
      expect((await sendTo('TELEO_NOWHERE', { study: newUid(), ins })).output).to.match(/Called AE Title Not Recognized/i);
    });

    it('attaches a study by its accession number', async () => {
      const ins = nir();
      const uid = newUid();
      const accession = `ACC-${seq}-${Date.now() % 1e6}`;
      const task = await createDossier(ins, { valueIdentifier: { system: 'urn:oid:1.2.250.1.999.12.2', value: accession } });
      await send({ study: uid, ins, accession });
      const study = await eventually(() => oneStudy(uid, 1));
      expect(study.basedOn?.[0].reference).to.equal(task.focus?.reference);
      await eventually(async () => expect(examsOf(await json<Task>(`/Task/${task.id}`))).to.deep.equal([`ImagingStudy/${study.id}`]));
    });

    it('keeps concurrent instances of one study in one ImagingStudy, losing none', async () => {
      const uid = newUid();
      const series = newUid();
      await Promise.all([1, 2, 3, 4].map((n) => send({ study: uid, series, ipp: 'IPP-CONC', instanceNumber: n })));
      const study = await eventually(() => oneStudy(uid, 4));
      expect(study.series?.[0].instance?.map((i) => i.number)).to.deep.equal([1, 2, 3, 4]);
    });

    it('leaves an unmatched study unattached, in the local server list, its patient matched by INS and not duplicated', async () => {
      const ins = nir();
      const [a, b] = [newUid(), newUid()];
      await send({ study: a, ins, ipp: `IPP-${seq}`, accession: 'ACC-NOWHERE' });
      const first = await eventually(() => oneStudy(a, 1));
      expect(first.basedOn).to.equal(undefined);
      const patient = await json<Patient>(`/${first.subject.reference}`);
      expect(patient.identifier?.map((i) => `${i.system}|${i.value}`)).to.include.members([`${INS}|${ins}`, `urn:oid:${IPP_RODEZ}|IPP-${seq}`]);
      expect(patient.name?.[0]).to.deep.include({ family: 'Fabré', given: ['Léa'] });
      expect(patient).to.include({ birthDate: '1985-05-12', gender: 'female' });

      // Another study of the same patient, sent under another IPP: matched by INS.
      await send({ study: b, ins, ipp: 'IPP-OTHER-SITE' });
      const second = await eventually(() => oneStudy(b, 1));
      expect(second.subject.reference).to.equal(first.subject.reference);
      expect(((await json<Bundle<Patient>>(`/Patient?identifier=${encodeURIComponent(`${INS}|${ins}`)}`)).entry ?? [])).to.have.length(1);

      const local = (await json<Bundle<ImagingStudy>>('/ImagingStudy?basedon:missing=true&_count=200')).entry?.map((e) => e.resource?.id) ?? [];
      expect(local).to.include.members([first.id, second.id]);
      const holding = await json<Bundle<Task>>(`/Task?dossier-content=ImagingStudy/${first.id}`);
      expect(holding.entry ?? []).to.have.length(0);
    });
  });
}
