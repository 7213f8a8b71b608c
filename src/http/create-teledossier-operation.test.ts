// Task/$create-teledossier over HTTP: a DPI opens a télédossier in one call (patient matched, never duplicated;
// documents, exams, author on behalf; atomic; errors naming the parameter).
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type {
  Binary, Bundle, DocumentReference, OperationOutcome, Parameters, ParametersParameter, Patient, Provenance, ServiceRequest, Task,
} from '@medplum/fhirtypes';
import { httpBackends, startTestServer, type TestServer } from './test-server.js';
import { DOSSIER_AUTHOR_URL } from '../workflow/teleexpertise/dossier-model.js';
import { DOSSIER_STATUS_SYSTEM } from '../workflow/teleexpertise/workflow-definition.js';

const INS = 'urn:oid:1.2.250.1.213.1.4.8';
const IPP_RODEZ = 'urn:oid:1.2.250.1.999.12.1';
const PDF = Buffer.from('%PDF-1.4 lettre de demande d\'avis').toString('base64');
let nirSeq = 0;
/** A fictitious, well-formed 15-character NIR, unique per test run. */
const nir = () => `2850512${String(Date.now() % 1e6).padStart(6, '0')}${String(++nirSeq).padStart(2, '0')}`.slice(0, 15);

interface Dir { requester: string; author: string; expert: string; community: string; requesterToken: string; authorToken: string }

const ref = (reference: string) => ({ valueReference: { reference } });

function params(d: Dir, patient: ParametersParameter[], extra: ParametersParameter[] = [], workflow = 'avis-programme'): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'patient', part: patient },
      { name: 'workflow', valueCode: workflow },
      { name: 'requester', ...ref(d.requester) },
      { name: 'owner', ...ref(d.expert) },
      ...extra,
    ],
  };
}

const identity = (ins?: string, ipp?: string): ParametersParameter[] => [
  ...(ins ? [{ name: 'ins', valueString: ins }] : []),
  ...(ipp ? [{ name: 'ipp', valueIdentifier: { system: IPP_RODEZ, value: ipp } }] : []),
  { name: 'family', valueString: 'FABRE' }, { name: 'given', valueString: 'Léa' },
  { name: 'birthDate', valueDate: '1985-05-12' }, { name: 'gender', valueCode: 'female' },
];

for (const backend of httpBackends()) {
  describe(`Task/$create-teledossier over HTTP (${backend})`, () => {
    let server: TestServer;
    let d: Dir;

    before(async () => {
      server = await startTestServer(backend);
      const post = async (body: object) => {
        const res = await server.fhir(`/${(body as { resourceType: string }).resourceType}`, { method: 'POST', body: JSON.stringify(body) });
        expect(res.status, JSON.stringify(await res.clone().json())).to.equal(201);
        return `${(body as { resourceType: string }).resourceType}/${((await res.json()) as { id: string }).id}`;
      };
      const chu = await post({ resourceType: 'Organization', name: 'CHU de Toulouse', identifier: [{ system: 'https://finess.esante.gouv.fr', value: '310781406' }] });
      const rodez = await post({ resourceType: 'Organization', name: 'CH de Rodez', identifier: [{ system: 'https://finess.esante.gouv.fr', value: '120780044' }] });
      const robert = await post({ resourceType: 'Practitioner', name: [{ family: 'Robert' }] });
      const petit = await post({ resourceType: 'Practitioner', name: [{ family: 'Petit' }] });
      const durand = await post({ resourceType: 'Practitioner', name: [{ family: 'Durand' }] });
      const requester = await post({ resourceType: 'PractitionerRole', practitioner: { reference: robert }, organization: { reference: rodez } });
      const author = await post({ resourceType: 'PractitionerRole', practitioner: { reference: petit }, organization: { reference: rodez } });
      const expert = await post({ resourceType: 'PractitionerRole', practitioner: { reference: durand }, organization: { reference: chu } });
      const community = await post({ resourceType: 'CareTeam', name: 'Neurologie CHU', managingOrganization: [{ reference: chu }], participant: [{ member: { reference: expert } }] });
      d = {
        requester, author, expert, community,
        requesterToken: await server.token({ fhirUser: robert, role: requester }),
        authorToken: await server.token({ fhirUser: petit, role: author }),
      };
    });
    after(() => server?.close());

    const create = (body: Parameters, token = d.requesterToken) =>
      server.fhir('/Task/$create-teledossier', { method: 'POST', body: JSON.stringify(body), token });
    const outcomeOf = async (res: Response) => ((await res.json()) as OperationOutcome).issue[0];
    const resultOf = async (res: Response) => {
      const out = (await res.json()) as Parameters;
      return {
        task: out.parameter?.find((p) => p.name === 'task')?.resource as Task,
        bundle: out.parameter?.find((p) => p.name === 'transaction')?.resource as Bundle,
      };
    };
    const patients = async (system: string, value: string) =>
      ((await (await server.fhir(`/Patient?identifier=${encodeURIComponent(`${system}|${value}`)}`)).json()) as Bundle<Patient>).entry ?? [];

    it('creates Patient, ServiceRequest, Task, DocumentReference and Binary in one call, answering 201 with the Task', async () => {
      const ins = nir();
      const study = await server.fhir('/ImagingStudy', { method: 'POST', body: JSON.stringify({ resourceType: 'ImagingStudy', status: 'available', subject: { display: 'à rattacher' } }) });
      const studyRef = `ImagingStudy/${((await study.json()) as { id: string }).id}`;
      const res = await create(params(d, identity(ins, 'R123456'), [
        { name: 'reason', valueString: 'Céphalées inhabituelles, avis neurologique' },
        { name: 'comment', valueString: 'Patiente sous anticoagulants' },
        { name: 'document', valueAttachment: { contentType: 'application/pdf', data: PDF, title: 'Lettre de demande' } },
        { name: 'exam', ...ref(studyRef) },
        { name: 'exam', valueIdentifier: { system: 'urn:dicom:uid', value: 'urn:oid:1.2.250.1.59.3.1.42' } },
        { name: 'exam', valueIdentifier: { system: 'urn:oid:1.2.250.1.999.12.2', value: 'ACC-2024-0815' } },
      ]));
      expect(res.status, JSON.stringify(await res.clone().json())).to.equal(201);
      const { task, bundle } = await resultOf(res);
      expect(res.headers.get('location')).to.match(new RegExp(`/Task/${task.id}/_history/1$`));
      expect(task.status).to.equal('requested');
      expect(task.businessStatus?.coding?.[0]).to.include({ system: DOSSIER_STATUS_SYSTEM, code: 'demandee' });
      expect(bundle.type).to.equal('transaction-response');
      expect(bundle.entry?.every((e) => /^20[01]/.test(e.response?.status ?? ''))).to.equal(true);

      const [patient] = await patients(INS, ins);
      expect(task.for?.reference).to.equal(`Patient/${patient.resource?.id}`);
      const read = await server.fhir(`/Task/${task.id}`, { token: d.requesterToken });
      expect(read.status).to.equal(200);
      const sr = (await (await server.fhir(`/${task.focus?.reference}`)).json()) as ServiceRequest;
      expect(sr.requester?.reference).to.equal(d.requester);
      expect(sr.reasonCode?.[0].text).to.match(/Céphalées/);
      expect(sr.identifier?.map((i) => i.value)).to.have.members(['urn:oid:1.2.250.1.59.3.1.42', 'ACC-2024-0815']);

      const inputs = (task.input ?? []).map((i) => [i.type.coding?.[0].code, i.valueReference?.reference?.split('/')[0]]);
      expect(inputs).to.deep.equal([['document', 'DocumentReference'], ['exam', 'ImagingStudy']]);
      expect(task.input?.[1].valueReference?.reference).to.equal(studyRef);
      const doc = (await (await server.fhir(`/${task.input?.[0].valueReference?.reference}`)).json()) as DocumentReference;
      expect(doc.subject?.reference).to.equal(task.for?.reference);
      const binary = (await (await server.fhir(`/${doc.content[0].attachment.url}`, { headers: { Accept: 'application/fhir+json' } })).json()) as Binary;
      expect(binary.data).to.equal(PDF);
      expect(doc.content[0].attachment.size).to.equal(Buffer.from(PDF, 'base64').length);
    });

    it('matches the patient by INS when a second dossier is opened, never duplicating them', async () => {
      const ins = nir();
      const first = await resultOf(await create(params(d, identity(ins, 'R2'))));
      const res = await create(params(d, identity(ins, 'R2'), [], 'avis-avc'));
      expect(res.status).to.equal(201);
      const second = await resultOf(res);
      expect(second.task.for?.reference).to.equal(first.task.for?.reference);
      expect(await patients(INS, ins)).to.have.length(1);
    });

    it('matches by IPP + issuer a patient first known without INS', async () => {
      const ipp = `R${randomUUID().slice(0, 7)}`;
      const first = await resultOf(await create(params(d, identity(undefined, ipp))));
      const second = await resultOf(await create(params(d, identity(nir(), ipp))));
      expect(second.task.for?.reference).to.equal(first.task.for?.reference);
      expect(await patients(IPP_RODEZ, ipp)).to.have.length(1);
    });

    it('creates the patient once when two requests for them arrive together', async () => {
      const ins = nir();
      const results = await Promise.all([1, 2, 3].map(() => create(params(d, identity(ins, 'R9')))));
      expect(results.map((r) => r.status)).to.deep.equal([201, 201, 201]);
      expect(await patients(INS, ins)).to.have.length(1);
    });

    it('records an author acting on behalf of the requester: dossier-author and Provenance.agent.onBehalfOf', async () => {
      const res = await create(params(d, identity(nir()), [{ name: 'author', ...ref(d.author) }, { name: 'senderCommunity', ...ref(d.community) }]), d.authorToken);
      expect(res.status, JSON.stringify(await res.clone().json())).to.equal(201);
      const { task } = await resultOf(res);
      expect(task.extension?.find((e) => e.url === DOSSIER_AUTHOR_URL)?.valueReference?.reference).to.equal(d.author);
      const provs = (await (await server.fhir(`/Provenance?target=Task/${task.id}`)).json()) as Bundle<Provenance>;
      const agent = provs.entry?.[0].resource?.agent[0];
      expect(agent?.who?.reference).to.equal(d.author);
      expect(agent?.onBehalfOf?.reference).to.equal(d.requester);
    });

    it('rolls everything back when one write is refused (no Provenance scope): no patient, no dossier', async () => {
      const ins = nir();
      const token = await server.token({ scope: 'user/Patient.crus user/ServiceRequest.crus user/Task.crus user/PractitionerRole.rs user/CareTeam.rs' });
      const res = await create(params(d, identity(ins), [{ name: 'author', ...ref(d.author) }]), token);
      expect(res.status).to.equal(403);
      expect((await outcomeOf(res)).details?.text).to.match(/Provenance/);
      expect(await patients(INS, ins)).to.have.length(0);
    });

    it('names the bad parameter: unknown workflow, missing identity, wrong or absent owner, unknown parameter', async () => {
      let res = await create(params(d, identity(nir()), [], 'avis-inconnu'));
      expect(res.status).to.equal(400);
      expect((await outcomeOf(res)).details?.text).to.match(/'workflow'.*avis-inconnu/);

      res = await create(params(d, identity()));
      expect(res.status).to.equal(400);
      expect((await outcomeOf(res)).expression).to.deep.equal(['patient']);

      res = await create(params(d, identity('123')));
      expect((await outcomeOf(res)).expression).to.deep.equal(['patient.ins']);

      const wrongOwner = params(d, identity(nir()));
      wrongOwner.parameter = wrongOwner.parameter?.map((p) => (p.name === 'owner' ? { name: 'owner', ...ref('Patient/x') } : p));
      res = await create(wrongOwner);
      expect(res.status).to.equal(400);
      expect((await outcomeOf(res)).expression).to.deep.equal(['owner']);

      const ins = nir();
      const absentOwner = params(d, identity(ins));
      absentOwner.parameter = absentOwner.parameter?.map((p) => (p.name === 'owner' ? { name: 'owner', ...ref('PractitionerRole/absent') } : p));
      res = await create(absentOwner);
      expect(res.status).to.equal(422);
      expect((await outcomeOf(res)).details?.text).to.match(/'owner'.*does not exist/);
      expect(await patients(INS, ins)).to.have.length(0);

      res = await create(params(d, identity(nir()), [{ name: 'urgence', valueString: 'oui' }]));
      expect(res.status).to.equal(400);
      expect((await outcomeOf(res)).expression).to.deep.equal(['urgence']);

      res = await create(params(d, identity(nir()), [{ name: 'document', valueAttachment: { contentType: 'application/pdf' } }]));
      expect(res.status).to.equal(400);
      expect((await outcomeOf(res)).expression).to.deep.equal(['document[0]']);
    });
  });
}
