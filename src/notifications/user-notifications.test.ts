// User notifications end to end: a workflow transition (or an unread urgent dossier) gives each recipient a
// Communication (partOf the Task, category notification, French text) and an e-mail through a real SMTP server.
import { expect } from 'chai';
import type { Bundle, Communication, Parameters, Task } from '@medplum/fhirtypes';
import { httpBackends, startTestServer, type TestServer } from '../http/test-server.js';
import { DOSSIER_STATUS_SYSTEM, WORKFLOW_SYSTEM } from '../workflow/teleexpertise/workflow-definition.js';
import { READ_RECEIPT_URL } from '../workflow/teleexpertise/dossier-model.js';
import { NOTIFICATION_ID_SYSTEM } from './communication-notice.js';
import { OUTBOX_JOB } from './outbox.js';
import { until } from './test-receiver.js';
import { startSmtpServer, type TestSmtpServer } from './test-smtp-server.js';

const DIRECTORY = [
  { resourceType: 'Organization', id: 'chu', name: 'CHU' },
  { resourceType: 'Practitioner', id: 'robert', telecom: [{ system: 'email', value: 'robert@chiva.example' }] },
  { resourceType: 'Practitioner', id: 'durand', telecom: [{ system: 'email', value: 'durand@chu.example' }, { system: 'phone', use: 'mobile', value: '06 12 34 56 78' }] },
  { resourceType: 'Practitioner', id: 'simon' },
  { resourceType: 'PractitionerRole', id: 'robert-chiva', practitioner: { reference: 'Practitioner/robert' } },
  { resourceType: 'PractitionerRole', id: 'durand-chu', practitioner: { reference: 'Practitioner/durand' }, organization: { reference: 'Organization/chu' } },
  { resourceType: 'PractitionerRole', id: 'simon-chu', practitioner: { reference: 'Practitioner/simon' }, organization: { reference: 'Organization/chu' },
    telecom: [{ system: 'email', value: 'simon@chu.example' }] },
  { resourceType: 'PractitionerRole', id: 'garde-chu', telecom: [{ system: 'email', value: 'garde@chu.example' }] },
  { resourceType: 'CareTeam', id: 'neuro-chu', managingOrganization: [{ reference: 'Organization/chu' }],
    participant: [{ member: { reference: 'PractitionerRole/simon-chu' } }] },
];

for (const backend of httpBackends()) {
  describe(`User notifications: Communication + e-mail outbox, escalation (${backend})`, () => {
    let server: TestServer;
    let smtp: TestSmtpServer;
    let robert: string;
    let durand: string;

    before(async () => {
      smtp = await startSmtpServer();
      server = await startTestServer(backend, {
        smtpUrl: smtp.url, smtpFrom: 'TéléO <no-reply@teleo.example>',
        escalation: { 'avis-urgences': { delaySeconds: 1, backup: ['PractitionerRole/garde-chu'] }, 'avis-avc': { delaySeconds: 3 } },
      });
      for (const r of DIRECTORY) expect((await server.fhir(`/${r.resourceType}/${r.id}`, { method: 'PUT', body: JSON.stringify(r) })).status).to.be.oneOf([200, 201]);
      robert = await server.token({ sub: 'robert', fhirUser: 'Practitioner/robert', role: 'PractitionerRole/robert-chiva', scope: 'user/*.cruds' });
      durand = await server.token({ sub: 'durand', fhirUser: 'Practitioner/durand', role: 'PractitionerRole/durand-chu', scope: 'user/*.cruds' });
    });
    after(async () => {
      await server.close();
      await smtp.close();
    });

    const dossier = async (workflow: string, owner: string): Promise<Task> => {
      const res = await server.fhir('/Task', { method: 'POST', token: robert, body: JSON.stringify({
        resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: 'Patient/p1' },
        code: { coding: [{ system: WORKFLOW_SYSTEM, code: workflow }] },
        businessStatus: { coding: [{ system: DOSSIER_STATUS_SYSTEM, code: 'demandee' }] },
        requester: { reference: 'PractitionerRole/robert-chiva' }, owner: { reference: owner },
      } satisfies Task) });
      expect(res.status, await res.clone().text()).to.equal(201);
      return (await res.json()) as Task;
    };
    const transition = async (task: Task, code: string, token: string, reason?: string) => {
      const res = await server.fhir(`/Task/${task.id}/$transition`, { method: 'POST', token, body: JSON.stringify({ resourceType: 'Parameters',
        parameter: [{ name: 'transition', valueCode: code }, ...(reason ? [{ name: 'reason', valueString: reason }] : [])] } satisfies Parameters) });
      expect(res.status, await res.clone().text()).to.equal(200);
    };
    const communications = async (task: Task) =>
      ((await (await server.fhir(`/Communication?part-of=Task/${task.id}`)).json()) as Bundle<Communication>).entry?.map((e) => e.resource as Communication) ?? [];

    it('tells the requérant, by Communication and e-mail, that the requis took the dossier in charge', async () => {
      const task = await dossier('avis-avc', 'PractitionerRole/durand-chu');
      await transition(task, 'prendre-en-charge', durand);
      const [c] = await until(async () => { const cs = await communications(task); return cs.length ? cs : undefined; }, 10_000, 'a Communication');
      expect(c.recipient).to.deep.equal([{ reference: 'PractitionerRole/robert-chiva' }]);
      expect(c.category?.[0]?.coding?.[0]?.code).to.equal('notification');
      expect(c.identifier?.[0]?.system).to.equal(NOTIFICATION_ID_SYSTEM);
      expect(c.payload?.[0]?.contentString).to.contain('Votre demande de télé-expertise').and.to.contain('Prise en charge');
      // The role has no telecom: the practitioner's address is used.
      const mail = await smtp.mailTo('robert@chiva.example');
      const body = mail.raw.replace(/=\r?\n/g, ''); // quoted-printable soft line breaks
      expect(body).to.contain('Subject:').and.to.contain(`/Task/${task.id}`);
      const sent = await until(async () => {
        const jobs = (await server.platform.storage.jobs.list({ type: OUTBOX_JOB })).filter((j) => j.payload.communication === `Communication/${c.id}`);
        return jobs.length && jobs.every((j) => j.status === 'done') ? jobs : undefined;
      }, 10_000, 'the outbox job done');
      expect(sent.map((j) => j.payload.to)).to.deep.equal(['robert@chiva.example']);
    });

    it('tells each member of the owning community when the requérant cancels', async () => {
      const task = await dossier('avis-avc', 'CareTeam/neuro-chu');
      await transition(task, 'annuler', robert, 'Patient transféré');
      const cs = await until(async () => { const all = await communications(task); return all.some((c) => c.recipient?.[0]?.reference === 'PractitionerRole/simon-chu') ? all : undefined; }, 10_000, 'a Communication');
      const toSimon = cs.find((c) => c.recipient?.[0]?.reference === 'PractitionerRole/simon-chu') as Communication;
      expect(toSimon.payload?.[0]?.contentString).to.contain('Motif : Patient transféré');
      await smtp.mailTo('simon@chu.example');
    });

    it('escalates an urgent dossier still unread after the configured delay to the community and the backup', async () => {
      const task = await dossier('avis-urgences', 'CareTeam/neuro-chu');
      const cs = await until(async () => { const all = await communications(task); return all.length >= 2 ? all : undefined; }, 10_000, 'the escalation');
      expect(cs.map((c) => c.recipient?.[0]?.reference).sort()).to.deep.equal(['PractitionerRole/garde-chu', 'PractitionerRole/simon-chu']);
      expect(cs.every((c) => c.priority === 'urgent' && c.payload?.[0]?.contentString?.includes("n'a pas été lu"))).to.equal(true);
      await smtp.mailTo('garde@chu.example', 'URGENT');
    });

    it('does not escalate an urgent dossier the requis has read', async () => {
      const task = await dossier('avis-avc', 'PractitionerRole/durand-chu');
      // The requis opens the dossier: the platform records the read receipt.
      expect((await server.fhir(`/Task/${task.id}`, { token: durand })).status).to.equal(200);
      const seen = (await (await server.fhir(`/Task/${task.id}`)).json()) as Task;
      expect(seen.extension?.some((e) => e.url === READ_RECEIPT_URL)).to.equal(true);
      const unread = await dossier('avis-avc', 'PractitionerRole/durand-chu');
      await until(async () => ((await communications(unread)).length > 0 ? true : undefined), 10_000, 'the escalation of the unread one');
      expect(await communications(task)).to.deep.equal([]);
    });
  });
}
