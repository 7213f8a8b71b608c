// Task/[id]/$transition over HTTP: the télédossier state machine driven by a DPI through FHIR REST.
import { expect } from 'chai';
import type { OperationOutcome, Parameters, Provenance, Bundle, Task } from '@medplum/fhirtypes';
import { httpBackends, startTestServer, type TestServer } from './test-server.js';
import { DOSSIER_STATUS_SYSTEM, WORKFLOW_SYSTEM } from '../workflow/teleexpertise/workflow-definition.js';

const params = (transition: string, extra: Record<string, string> = {}): Parameters => ({
  resourceType: 'Parameters',
  parameter: [{ name: 'transition', valueCode: transition }, ...Object.entries(extra).map(([name, valueString]) => ({ name, valueString }))],
});

for (const backend of httpBackends()) {
  describe(`Task/$transition over HTTP (${backend})`, () => {
    let server: TestServer;
    let expert: string;
    let requester: string;
    let expertToken: string;
    let requesterToken: string;

    before(async () => {
      server = await startTestServer(backend);
      const put = async (body: object) => (await (await server.fhir('/' + (body as { resourceType: string }).resourceType, { method: 'POST', body: JSON.stringify(body) })).json()) as { id: string };
      const org = await put({ resourceType: 'Organization', name: 'CHU' });
      const durand = await put({ resourceType: 'Practitioner', name: [{ family: 'Durand' }] });
      const robert = await put({ resourceType: 'Practitioner', name: [{ family: 'Robert' }] });
      expert = `PractitionerRole/${(await put({ resourceType: 'PractitionerRole', practitioner: { reference: `Practitioner/${durand.id}` }, organization: { reference: `Organization/${org.id}` } })).id}`;
      requester = `PractitionerRole/${(await put({ resourceType: 'PractitionerRole', practitioner: { reference: `Practitioner/${robert.id}` } })).id}`;
      expertToken = await server.token({ fhirUser: `Practitioner/${durand.id}`, role: expert });
      requesterToken = await server.token({ fhirUser: `Practitioner/${robert.id}`, role: requester });
    });
    after(() => server.close());

    const newDossier = async (): Promise<Task> => {
      const res = await server.fhir('/Task', { method: 'POST', body: JSON.stringify({
        resourceType: 'Task', status: 'requested', intent: 'order',
        code: { coding: [{ system: WORKFLOW_SYSTEM, code: 'avis-avc' }] },
        businessStatus: { coding: [{ system: DOSSIER_STATUS_SYSTEM, code: 'demandee' }] },
        requester: { reference: requester }, owner: { reference: expert },
      } satisfies Task), token: requesterToken });
      expect(res.status).to.equal(201);
      return (await res.json()) as Task;
    };
    const transition = (id: string, body: Parameters, token: string, headers: Record<string, string> = {}) =>
      server.fhir(`/Task/${id}/$transition`, { method: 'POST', body: JSON.stringify(body), token, headers });

    it('moves a dossier when the requis takes it in charge, with a new version and a Provenance', async () => {
      const task = await newDossier();
      const res = await transition(task.id as string, params('prendre-en-charge'), expertToken, { 'If-Match': 'W/"1"' });
      expect(res.status).to.equal(200);
      expect(res.headers.get('etag')).to.equal('W/"2"');
      const moved = (await res.json()) as Task;
      expect(moved.status).to.equal('in-progress');
      const prov = (await (await server.fhir(`/Provenance?target=Task/${task.id}`)).json()) as Bundle<Provenance>;
      expect(prov.total).to.equal(1);
    });

    it('refuses the transition to a professional without the role, with 403 naming the roles needed', async () => {
      const task = await newDossier();
      const res = await transition(task.id as string, params('prendre-en-charge'), requesterToken);
      expect(res.status).to.equal(403);
      expect(((await res.json()) as OperationOutcome).issue[0].details?.text).to.match(/requis/);
    });

    it('refuses an illegal transition from the current state with 409', async () => {
      const task = await newDossier();
      const res = await transition(task.id as string, params('cloturer'), requesterToken);
      expect(res.status).to.equal(409);
    });

    it('requires a reason to refuse, then records it', async () => {
      const task = await newDossier();
      expect((await transition(task.id as string, params('refuser'), expertToken)).status).to.equal(409);
      const res = await transition(task.id as string, params('refuser', { reason: 'Hors de ma spécialité' }), expertToken);
      expect(res.status).to.equal(200);
      expect(((await res.json()) as Task).statusReason?.text).to.equal('Hors de ma spécialité');
    });

    it('answers a stale If-Match with 412', async () => {
      const task = await newDossier();
      const res = await transition(task.id as string, params('prendre-en-charge'), expertToken, { 'If-Match': 'W/"7"' });
      expect(res.status).to.equal(412);
    });

    it('refuses a plain update that changes the status of a workflow Task (409)', async () => {
      const task = await newDossier();
      const res = await server.fhir(`/Task/${task.id}`, { method: 'PUT', body: JSON.stringify({ ...task, status: 'completed' }) });
      expect(res.status).to.equal(409);
      expect(((await res.json()) as OperationOutcome).issue[0].details?.text).to.match(/\$transition/);
    });

    it('rejects malformed Parameters with 400 and is listed for Task only in the CapabilityStatement', async () => {
      const task = await newDossier();
      expect((await transition(task.id as string, { resourceType: 'Parameters', parameter: [{ name: 'colour', valueString: 'x' }] }, expertToken)).status).to.equal(400);
      expect((await server.fhir(`/Patient/x/$transition`, { method: 'POST', body: JSON.stringify(params('x')) })).status).to.equal(404);
      const cs = (await (await fetch(`${server.base}/metadata`)).json()) as { rest: { resource: { type: string; operation?: { name: string }[] }[] }[] };
      const ops = (type: string) => cs.rest[0].resource.find((r) => r.type === type)?.operation?.map((o) => o.name);
      expect(ops('Task')).to.include('transition');
      expect(ops('Patient')).to.not.include('transition');
    });
  });
}
