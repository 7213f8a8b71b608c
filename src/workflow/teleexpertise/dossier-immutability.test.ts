// Once sent, a télédossier's documents and exams cannot be removed (409 business-rule), over HTTP: Task updates,
// deletes of held resources, DocumentReference content changes; corrections by entered-in-error or a new version.
import { expect } from 'chai';
import type { DocumentReference, OperationOutcome, Parameters, Resource, Task } from '@medplum/fhirtypes';
import { httpBackends, startTestServer, type TestServer } from '../../http/test-server.js';

const PDF = Buffer.from('%PDF-1.4 compte rendu').toString('base64');
let seq = 0;
const nir = () => `1790631${String(Date.now() % 1e6).padStart(6, '0')}${String(++seq).padStart(2, '0')}`.slice(0, 15);

for (const backend of httpBackends()) {
  describe(`télédossier immutability over HTTP (${backend})`, () => {
    let server: TestServer;
    let token: string;
    let requester: string;
    let expert: string;

    before(async () => {
      server = await startTestServer(backend);
      const post = async (body: { resourceType: string }) =>
        `${body.resourceType}/${((await (await server.fhir(`/${body.resourceType}`, { method: 'POST', body: JSON.stringify(body) })).json()) as { id: string }).id}`;
      const robert = await post({ resourceType: 'Practitioner' });
      requester = await post({ resourceType: 'PractitionerRole', practitioner: { reference: robert } } as { resourceType: string });
      expert = await post({ resourceType: 'PractitionerRole', practitioner: { reference: await post({ resourceType: 'Practitioner' }) } } as { resourceType: string });
      token = await server.token({ fhirUser: robert, role: requester });
    });
    after(() => server?.close());

    const json = async <T>(res: Response) => (await res.json()) as T;
    const put = (r: Resource) => server.fhir(`/${r.resourceType}/${r.id}`, { method: 'PUT', body: JSON.stringify(r), token });
    const del = (ref: string) => server.fhir(`/${ref}`, { method: 'DELETE', token });
    const refused = async (res: Response, text: RegExp) => {
      expect(res.status).to.equal(409);
      const issue = (await json<OperationOutcome>(res)).issue[0];
      expect(issue.code).to.equal('business-rule');
      expect(issue.details?.text).to.match(text);
    };

    /** A sent dossier (avis-programme, state demandee) holding one document and one exam. */
    async function sentDossier(): Promise<Task> {
      const study = `ImagingStudy/${(await json<{ id: string }>(await server.fhir('/ImagingStudy', { method: 'POST', body: JSON.stringify({ resourceType: 'ImagingStudy', status: 'available', subject: { display: 'x' } }) }))).id}`;
      const body: Parameters = {
        resourceType: 'Parameters',
        parameter: [
          { name: 'patient', part: [{ name: 'ins', valueString: nir() }, { name: 'family', valueString: 'ROUX' }] },
          { name: 'workflow', valueCode: 'avis-programme' },
          { name: 'requester', valueReference: { reference: requester } },
          { name: 'owner', valueReference: { reference: expert } },
          { name: 'document', valueAttachment: { contentType: 'application/pdf', data: PDF, title: 'Courrier' } },
          { name: 'exam', valueReference: { reference: study } },
        ],
      };
      const res = await server.fhir('/Task/$create-teledossier', { method: 'POST', body: JSON.stringify(body), token });
      expect(res.status).to.equal(201);
      return (await json<Parameters>(res)).parameter?.[0].resource as Task;
    }
    const held = (task: Task, i: number) => task.input?.[i].valueReference?.reference as string;

    it('refuses a Task update that drops a document or an exam, naming it', async () => {
      const task = await sentDossier();
      await refused(await put({ ...task, input: [task.input?.[1] as NonNullable<Task['input']>[number]] }), new RegExp(`Task.input\\[0\\] \\(${held(task, 0)}\\)`));
      await refused(await put({ ...task, input: [] }), /cannot be removed/);
    });

    it('refuses a Task update that changes an input reference or the focus', async () => {
      const task = await sentDossier();
      const other = { ...task.input?.[0], valueReference: { reference: 'DocumentReference/autre' } } as NonNullable<Task['input']>[number];
      await refused(await put({ ...task, input: [other, ...(task.input ?? []).slice(1)] }), /Task.input\[0\]/);
      await refused(await put({ ...task, focus: { reference: 'ServiceRequest/autre' } }), /Task.focus/);
    });

    it('accepts a correction appended to Task.input: a new DocumentReference that replaces the old one', async () => {
      const task = await sentDossier();
      const old = held(task, 0);
      const fix = await json<DocumentReference>(await server.fhir('/DocumentReference', { method: 'POST', token, body: JSON.stringify({
        resourceType: 'DocumentReference', status: 'current', relatesTo: [{ code: 'replaces', target: { reference: old } }],
        content: [{ attachment: { contentType: 'text/plain', data: Buffer.from('version corrigée').toString('base64') } }],
      } satisfies DocumentReference) }));
      const res = await put({ ...task, input: [...(task.input ?? []), { type: task.input?.[0].type ?? {}, valueReference: { reference: `DocumentReference/${fix.id}` } }] });
      expect(res.status).to.equal(200);
      expect((await json<Task>(res)).input).to.have.length(3);
    });

    it('refuses deleting a held DocumentReference, ImagingStudy or ServiceRequest, and keeps it', async () => {
      const task = await sentDossier();
      for (const ref of [held(task, 0), held(task, 1), task.focus?.reference as string]) {
        await refused(await del(ref), new RegExp(`${ref}.*Task/${task.id}`));
        expect((await server.fhir(`/${ref}`)).status).to.equal(200);
      }
    });

    it('refuses changing a held DocumentReference\'s content, but lets it be marked entered-in-error', async () => {
      const task = await sentDossier();
      const doc = await json<DocumentReference>(await server.fhir(`/${held(task, 0)}`));
      const changed = { ...doc, content: [{ attachment: { contentType: 'text/plain', data: Buffer.from('autre').toString('base64') } }] };
      await refused(await put(changed), /content cannot change/);
      const described = await put({ ...doc, description: 'Courrier du Dr Robert' });
      expect(described.status).to.equal(200);
      const voided = await put({ ...(await json<DocumentReference>(described)), status: 'entered-in-error' });
      expect(voided.status).to.equal(200);
    });

    it('leaves resources outside a sent dossier, and draft or plain Tasks, free to change', async () => {
      const doc = await json<DocumentReference>(await server.fhir('/DocumentReference', { method: 'POST', body: JSON.stringify({
        resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { contentType: 'text/plain', data: PDF } }],
      }) }));
      const plain = await json<Task>(await server.fhir('/Task', { method: 'POST', body: JSON.stringify({
        resourceType: 'Task', status: 'draft', intent: 'order', input: [{ type: { text: 'doc' }, valueReference: { reference: `DocumentReference/${doc.id}` } }],
      } satisfies Task) }));
      const updated = await server.fhir(`/Task/${plain.id}`, { method: 'PUT', body: JSON.stringify({ ...plain, input: [] }) });
      expect(updated.status).to.equal(200);
      expect((await server.fhir(`/DocumentReference/${doc.id}`, { method: 'DELETE' })).status).to.equal(204);
    });
  });
}
