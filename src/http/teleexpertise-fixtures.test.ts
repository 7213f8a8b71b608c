// The example télédossiers of fixtures/teleexpertise/ (one FHIR R4 transaction Bundle per workflow, and a
// Task/$create-teledossier Parameters) posted to a real server: each creates its dossier in the workflow's initial
// state, validated against the TéléO profiles, and posting it again matches the patient instead of duplicating them.
import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'chai';
import type { Bundle, Parameters, Patient, Task } from '@medplum/fhirtypes';
import { httpBackends, startTestServer, type TestServer } from './test-server.js';
import { WORKFLOWS, workflowCodeOf } from '../workflow/teleexpertise/index.js';
import { DOSSIER_STATUS_SYSTEM } from '../workflow/teleexpertise/workflow-definition.js';

const DIR = new URL('../../fixtures/teleexpertise/', import.meta.url);
const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
const read = <T>(file: string) => JSON.parse(readFileSync(new URL(file, DIR), 'utf8')) as T;
const bundles = files.filter((f) => f.startsWith('Bundle-'));

for (const backend of httpBackends()) {
  describe(`example télédossiers of fixtures/teleexpertise (${backend})`, () => {
    let server: TestServer;
    let token: string;
    before(async () => {
      server = await startTestServer(backend);
      // A DPI integration posts under system scopes (no participant filter).
      token = await server.token({ scope: 'system/*.cruds', fhirUser: 'Device/dpi-rodez' });
    });
    after(() => server?.close());

    const post = async (body: object, path = '/') => {
      const res = await server.fhir(path, { method: 'POST', body: JSON.stringify(body), token });
      const json = (await res.json()) as Bundle | Parameters;
      expect(res.status, JSON.stringify(json).slice(0, 600)).to.equal(path === '/' ? 200 : 201);
      return json;
    };
    const patientsLike = async (p: Patient) => {
      const id = p.identifier?.[0];
      const res = await server.fhir(`/Patient?identifier=${encodeURIComponent(`${id?.system}|${id?.value}`)}`, { token });
      return ((await res.json()) as Bundle).total;
    };

    it('has one transaction Bundle per workflow', () => {
      const codes = bundles.map((f) => workflowCodeOf(read<Bundle>(f).entry?.find((e) => e.resource?.resourceType === 'Task')?.resource as Task));
      expect(codes.sort()).to.deep.equal(WORKFLOWS.map((w) => w.code).sort());
    });

    for (const file of bundles) {
      it(`${file}: creates the dossier in its initial state; posted twice, matches the patient`, async () => {
        const bundle = read<Bundle>(file);
        const at = (type: string) => bundle.entry?.findIndex((e) => e.resource?.resourceType === type) as number;
        const first = (await post(bundle)) as Bundle;
        expect(first.entry?.every((e) => /^20[01] /.test(e.response?.status ?? ''))).to.equal(true);
        const task = first.entry?.[at('Task')].resource as Task;
        const def = WORKFLOWS.find((w) => w.code === workflowCodeOf(task));
        expect(task.businessStatus?.coding?.find((c) => c.system === DOSSIER_STATUS_SYSTEM)?.code).to.equal(def?.states[def.initial].businessStatus);
        expect(first.entry?.[at('Patient')].response?.status).to.match(/^20[01] /);
        const patientRef = `Patient/${first.entry?.[at('Patient')].resource?.id}`;
        expect(task.for?.reference).to.equal(patientRef);

        const second = (await post(bundle)) as Bundle;
        expect(second.entry?.[at('Patient')].response?.status).to.equal('200 OK');
        const again = second.entry?.[at('Task')].resource as Task;
        expect(again.id).to.not.equal(task.id);
        expect(again.for?.reference).to.equal(patientRef);
        expect(await patientsLike(bundle.entry?.[at('Patient')].resource as Patient)).to.equal(1);
      });
    }

    for (const file of files.filter((f) => f.startsWith('Parameters-'))) {
      it(`${file}: Task/$create-teledossier creates the dossier, and matches the patient the second time`, async () => {
        for (const b of bundles) await post(read<Bundle>(b)); // the directory the example references
        const body = read<Parameters>(file);
        const first = (await post(body, '/Task/$create-teledossier')) as Parameters;
        const second = (await post(body, '/Task/$create-teledossier')) as Parameters;
        const taskOf = (p: Parameters) => p.parameter?.find((x) => x.name === 'task')?.resource as Task;
        expect(taskOf(first).status).to.equal('requested');
        expect(taskOf(second).for?.reference).to.equal(taskOf(first).for?.reference);
        const ins = body.parameter?.find((p) => p.name === 'patient')?.part?.find((p) => p.name === 'ins')?.valueString;
        expect(await patientsLike({ resourceType: 'Patient', identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: ins }] })).to.equal(1);
      });
    }
  });
}
