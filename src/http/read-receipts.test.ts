// Read receipts over HTTP: the requis opens the AVC dossier, the requérant sees "lu par Dr Durand le … à …".
import { expect } from 'chai';
import type { AuditEvent, Bundle, Task } from '@medplum/fhirtypes';
import { httpBackends, startTestServer, type TestServer } from './test-server.js';
import { DOSSIER_STATUS_SYSTEM, WORKFLOW_SYSTEM } from '../workflow/teleexpertise/workflow-definition.js';
import { receiptsOf } from '../workflow/teleexpertise/read-receipts.js';
import { READ_RECEIPT_URL } from '../workflow/teleexpertise/dossier-model.js';

for (const backend of httpBackends()) {
  describe(`read receipts over HTTP (${backend})`, () => {
    let server: TestServer;
    let expert: string;
    let requester: string;
    let expertToken: string;
    let requesterToken: string;
    let outsiderToken: string;

    before(async () => {
      server = await startTestServer(backend);
      const post = async (body: object) => (await (await server.fhir('/' + (body as { resourceType: string }).resourceType, { method: 'POST', body: JSON.stringify(body) })).json()) as { id: string };
      const org = await post({ resourceType: 'Organization', name: 'CHU' });
      const durand = await post({ resourceType: 'Practitioner', name: [{ family: 'Durand', given: ['Paul'], prefix: ['Dr'] }] });
      const robert = await post({ resourceType: 'Practitioner', name: [{ family: 'Robert' }] });
      const martin = await post({ resourceType: 'Practitioner', name: [{ family: 'Martin' }] });
      expert = `PractitionerRole/${(await post({ resourceType: 'PractitionerRole', practitioner: { reference: `Practitioner/${durand.id}` }, organization: { reference: `Organization/${org.id}` } })).id}`;
      requester = `PractitionerRole/${(await post({ resourceType: 'PractitionerRole', practitioner: { reference: `Practitioner/${robert.id}` } })).id}`;
      const outsider = `PractitionerRole/${(await post({ resourceType: 'PractitionerRole', practitioner: { reference: `Practitioner/${martin.id}` } })).id}`;
      const user = (practitioner: string, role: string) => server.token({ fhirUser: `Practitioner/${practitioner}`, role, scope: 'user/*.cruds' });
      expertToken = await user(durand.id, expert);
      requesterToken = await user(robert.id, requester);
      outsiderToken = await user(martin.id, outsider);
    });
    after(() => server.close());

    const newDossier = async (): Promise<Task> => {
      const res = await server.fhir('/Task', { method: 'POST', token: requesterToken, body: JSON.stringify({
        resourceType: 'Task', status: 'requested', intent: 'order',
        code: { coding: [{ system: WORKFLOW_SYSTEM, code: 'avis-avc' }] },
        businessStatus: { coding: [{ system: DOSSIER_STATUS_SYSTEM, code: 'demandee' }] },
        requester: { reference: requester }, owner: { reference: expert },
      } satisfies Task) });
      expect(res.status).to.equal(201);
      return (await res.json()) as Task;
    };
    const read = async (id: string, token: string) => server.fhir(`/Task/${id}`, { token });

    it("records the requis' first read once, with who, in which role and when, for the requérant to see", async () => {
      const task = await newDossier();
      const before = Date.now();
      expect((await read(task.id as string, expertToken)).status).to.equal(200);
      expect((await read(task.id as string, expertToken)).status).to.equal(200);
      const seen = (await (await read(task.id as string, requesterToken)).json()) as Task;
      const receipts = receiptsOf(seen);
      expect(receipts).to.have.length(1);
      expect(receipts[0]).to.include({ reader: expert, display: 'Dr Durand', role: 'requis' });
      const at = Date.parse(receipts[0].time);
      expect(at).to.be.within(before - 1000, Date.now() + 1000);
      // The dossier's worklist can ask who read it.
      const byReader = (await (await server.fhir(`/Task?_id=${task.id}&read-by=${expert}`, { token: requesterToken })).json()) as Bundle;
      expect(byReader.entry).to.have.length(1);
    });

    it('records nothing when the requérant reads their own dossier, or when an outsider tries', async () => {
      const task = await newDossier();
      expect((await read(task.id as string, requesterToken)).status).to.equal(200);
      expect((await read(task.id as string, outsiderToken)).status).to.equal(404);
      const seen = (await (await read(task.id as string, requesterToken)).json()) as Task;
      expect(receiptsOf(seen)).to.deep.equal([]);
      expect(seen.meta?.versionId).to.equal('1');
    });

    it('leaves an AuditEvent of subtype first-read naming the reader', async () => {
      const task = await newDossier();
      await read(task.id as string, expertToken);
      await server.platform.jobs.drain();
      const events = (await (await server.fhir(`/AuditEvent?entity=Task/${task.id}&_count=100`)).json()) as Bundle<AuditEvent>;
      const first = (events.entry ?? []).map((e) => e.resource as AuditEvent)
        .filter((e) => e.subtype?.some((c) => c.code === 'first-read'));
      expect(first).to.have.length(1);
      expect(first[0].agent?.[0]?.role?.[0]?.coding?.[0]?.code).to.equal(expert);
    });

    it('refuses a client write that forges or removes a receipt (409)', async () => {
      const task = await newDossier();
      const forged = { ...task, extension: [{ url: READ_RECEIPT_URL, extension: [
        { url: 'reader', valueReference: { reference: expert } }, { url: 'role', valueCode: 'requis' }, { url: 'time', valueDateTime: '2024-08-08T05:34:00+02:00' },
      ] }] };
      const res = await server.fhir(`/Task/${task.id}`, { method: 'PUT', body: JSON.stringify(forged), token: requesterToken });
      expect(res.status).to.equal(409);
      await read(task.id as string, expertToken);
      const withReceipt = (await (await read(task.id as string, requesterToken)).json()) as Task;
      const stripped = { ...withReceipt, extension: [] };
      expect((await server.fhir(`/Task/${task.id}`, { method: 'PUT', body: JSON.stringify(stripped), token: requesterToken })).status).to.equal(409);
    });
  });
}
