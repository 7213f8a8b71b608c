// FHIR R4 Subscription over HTTP, end to end: create → active/error, rest-hook deliveries (payload, headers, HMAC),
// visibility of the subscriber, ordering, error status after failures and back, $resend.
import { expect } from 'chai';
import type { Parameters, Subscription, Task } from '@medplum/fhirtypes';
import { httpBackends, startTestServer, type TestServer } from '../http/test-server.js';
import { SIGNATURE_HEADER, verifySignature } from './rest-hook.js';
import { ownerOf } from './subscription-model.js';
import { startReceiver, until, type Receiver } from './test-receiver.js';

const SECRET = 'a-test-secret-of-32-characters!!';

for (const backend of httpBackends()) {
  describe(`FHIR Subscriptions, rest-hook (${backend})`, () => {
    let server: TestServer;
    let receiver: Receiver;
    let durand: string;
    let other: string;
    /** A client allowed to manage Subscriptions but not to read Tasks. */
    const limitedToken = () => server.token({ sub: 'limited', fhirUser: 'Practitioner/other', scope: 'user/Subscription.cruds' });

    before(async () => {
      receiver = await startReceiver();
      server = await startTestServer(backend, { subscriptionSecrets: { [`${receiver.url}/signed`]: SECRET }, subscriptionErrorAfter: 2 });
      for (const body of [
        { resourceType: 'Practitioner', id: 'durand' }, { resourceType: 'Practitioner', id: 'other' },
        { resourceType: 'PractitionerRole', id: 'durand-chu', practitioner: { reference: 'Practitioner/durand' } },
      ]) expect((await server.fhir(`/${body.resourceType}/${body.id}`, { method: 'PUT', body: JSON.stringify(body) })).status).to.be.oneOf([200, 201]);
      // Users (user/ scopes): what they see is filtered by dossier participation.
      durand = await server.token({ sub: 'durand', fhirUser: 'Practitioner/durand', role: 'PractitionerRole/durand-chu', scope: 'user/*.cruds' });
      other = await server.token({ sub: 'other', fhirUser: 'Practitioner/other', scope: 'user/*.cruds' });
    });
    after(async () => {
      await server.close();
      await receiver.close();
    });

    const subscribe = async (token: string, s: Partial<Subscription>): Promise<Subscription> => {
      const res = await server.fhir('/Subscription', { method: 'POST', token, body: JSON.stringify({
        resourceType: 'Subscription', status: 'requested', reason: 'worklist', ...s,
      }) });
      expect(res.status, await res.clone().text()).to.equal(201);
      return (await res.json()) as Subscription;
    };
    const current = async (id: string, token: string) => (await (await server.fhir(`/Subscription/${id}`, { token })).json()) as Subscription;
    const settled = (id: string, token: string) => until(async () => {
      const s = await current(id, token);
      return s.status === 'requested' ? undefined : s;
    }, 10_000, 'the subscription check');
    const newTask = async (token: string, t: Partial<Task>): Promise<Task> => {
      const res = await server.fhir('/Task', { method: 'POST', token, body: JSON.stringify({ resourceType: 'Task', status: 'requested', intent: 'order', ...t }) });
      expect(res.status, await res.clone().text()).to.equal(201);
      return (await res.json()) as Task;
    };

    it('activates a requested Subscription and records who asked for it', async () => {
      const sub = await subscribe(durand, { criteria: 'Task?owner=PractitionerRole/durand-chu', channel: { type: 'rest-hook', endpoint: `${receiver.url}/a` } });
      // The owner is recorded with the create itself: the creator reads it back at once, before any activation.
      expect(ownerOf(sub)).to.include({ sub: 'durand' });
      expect((await current(sub.id as string, durand)).resourceType).to.equal('Subscription');
      const active = await settled(sub.id as string, durand);
      expect(active.status).to.equal('active');
      expect(ownerOf(active)).to.include({ sub: 'durand', fhirUser: 'Practitioner/durand', role: 'PractitionerRole/durand-chu' });
    });

    it('puts a Subscription it cannot serve in status error, with the reason in Subscription.error', async () => {
      const bad = await subscribe(durand, { criteria: 'Task?colour=blue', channel: { type: 'rest-hook', endpoint: `${receiver.url}/x` } });
      const mail = await subscribe(durand, { criteria: 'Task?status=requested', channel: { type: 'email', endpoint: 'mailto:a@b.fr' } });
      expect((await settled(bad.id as string, durand))).to.include({ status: 'error' }).and.to.have.property('error').that.contains('colour');
      expect((await settled(mail.id as string, durand)).error).to.contain('not supported');
    });

    it('refuses a client that sets the status the server owns (active) with a 409', async () => {
      const res = await server.fhir('/Subscription', { method: 'POST', token: durand, body: JSON.stringify({
        resourceType: 'Subscription', status: 'active', reason: 'x', criteria: 'Task', channel: { type: 'rest-hook', endpoint: receiver.url } }) });
      expect(res.status).to.equal(409);
    });

    it('PUTs a matching Task to the endpoint with the channel headers and a verifiable HMAC signature, and nothing for a non-matching one', async () => {
      const sub = await subscribe(durand, { criteria: 'Task?owner=PractitionerRole/durand-chu&status=requested',
        channel: { type: 'rest-hook', endpoint: `${receiver.url}/signed`, payload: 'application/fhir+json', header: ['X-Site: CHU Toulouse'] } });
      await settled(sub.id as string, durand);
      const elsewhere = await newTask(durand, { owner: { reference: 'PractitionerRole/someone-else' }, requester: { reference: 'Practitioner/durand' } });
      const task = await newTask(durand, { owner: { reference: 'PractitionerRole/durand-chu' } });
      const got = await receiver.next((r) => r.url === `/signed/Task/${task.id}`);
      expect(got.method).to.equal('PUT');
      expect(got.headers['x-site']).to.equal('CHU Toulouse');
      expect(got.headers['x-teleo-subscription']).to.equal(`Subscription/${sub.id}`);
      expect(verifySignature(SECRET, got.body, got.headers[SIGNATURE_HEADER.toLowerCase()] as string)).to.equal(true);
      expect(verifySignature(SECRET, got.body.replace('requested', 'completed'), got.headers[SIGNATURE_HEADER.toLowerCase()] as string)).to.equal(false);
      expect((JSON.parse(got.body) as Task).id).to.equal(task.id);
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.received.some((r) => r.url.includes(elsewhere.id as string))).to.equal(false);
    });

    it('sends an empty POST to the endpoint when the Subscription has no payload (R4 ping)', async () => {
      const sub = await subscribe(durand, { criteria: 'Task?owner=PractitionerRole/durand-chu', channel: { type: 'rest-hook', endpoint: `${receiver.url}/ping` } });
      await settled(sub.id as string, durand);
      const since = receiver.received.length;
      await newTask(durand, { owner: { reference: 'PractitionerRole/durand-chu' } });
      const got = await receiver.next((r) => r.url === '/ping' && receiver.received.indexOf(r) >= since);
      expect(got.method).to.equal('POST');
      expect(got.body).to.equal('');
      expect(got.headers[SIGNATURE_HEADER.toLowerCase()]).to.equal(undefined); // no secret configured for /ping
    });

    it('notifies a subscriber only about the dossiers they may see', async () => {
      const sub = await subscribe(other, { criteria: 'Task?status=requested', channel: { type: 'rest-hook', endpoint: `${receiver.url}/other`, payload: 'application/fhir+json' } });
      await settled(sub.id as string, other);
      const hidden = await newTask(durand, { owner: { reference: 'PractitionerRole/durand-chu' }, requester: { reference: 'PractitionerRole/durand-chu' } });
      const mine = await newTask(other, { requester: { reference: 'Practitioner/other' }, owner: { reference: 'PractitionerRole/durand-chu' } });
      await receiver.next((r) => r.url === `/other/Task/${mine.id}`);
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.received.some((r) => r.url === `/other/Task/${hidden.id}`)).to.equal(false);
    });

    it('does not notify a subscriber whose scopes do not cover the resource, while one whose scopes do is notified', async () => {
      const limited = await limitedToken();
      const blind = await subscribe(limited, { criteria: 'Task?owner=PractitionerRole/durand-chu', channel: { type: 'rest-hook', endpoint: `${receiver.url}/blind` } });
      const seeing = await subscribe(durand, { criteria: 'Task?owner=PractitionerRole/durand-chu', channel: { type: 'rest-hook', endpoint: `${receiver.url}/seeing` } });
      expect((await settled(blind.id as string, limited)).status).to.equal('active');
      await settled(seeing.id as string, durand);
      const since = receiver.received.length;
      await newTask(durand, { owner: { reference: 'PractitionerRole/durand-chu' } });
      await receiver.next((r) => r.url === '/seeing' && receiver.received.indexOf(r) >= since);
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.received.some((r) => r.url === '/blind')).to.equal(false);
    });

    it('delivers the versions of a resource in the order they were written', async () => {
      const sub = await subscribe(durand, { criteria: 'Task?owner=PractitionerRole/durand-chu', channel: { type: 'rest-hook', endpoint: `${receiver.url}/order`, payload: 'application/fhir+json' } });
      await settled(sub.id as string, durand);
      const task = await newTask(durand, { owner: { reference: 'PractitionerRole/durand-chu' } });
      for (const note of ['un', 'deux', 'trois']) {
        const latest = (await (await server.fhir(`/Task/${task.id}`, { token: durand })).json()) as Task;
        expect((await server.fhir(`/Task/${task.id}`, { method: 'PUT', token: durand, body: JSON.stringify({ ...latest, note: [{ text: note }] }) })).status).to.equal(200);
      }
      await receiver.next((r) => r.url === `/order/Task/${task.id}` && (JSON.parse(r.body) as Task).meta?.versionId === '4');
      const versions = receiver.received.filter((r) => r.url === `/order/Task/${task.id}`).map((r) => (JSON.parse(r.body) as Task).meta?.versionId);
      expect(versions).to.deep.equal(['1', '2', '3', '4']);
    });

    it('shows status error after repeated failures, goes back to active once a delivery succeeds, and resends on $resend', async () => {
      const sub = await subscribe(durand, { criteria: 'Task?owner=PractitionerRole/durand-chu', channel: { type: 'rest-hook', endpoint: `${receiver.url}/flaky`, payload: 'application/fhir+json' } });
      await settled(sub.id as string, durand);
      receiver.status = 503;
      const task = await newTask(durand, { owner: { reference: 'PractitionerRole/durand-chu' } });
      const failing = await until(async () => {
        const s = await current(sub.id as string, durand);
        return s.status === 'error' ? s : undefined;
      }, 15_000, 'status error');
      expect(failing.error).to.contain('HTTP 503');
      receiver.status = 200;
      await until(async () => ((await current(sub.id as string, durand)).status === 'active' ? true : undefined), 15_000, 'status active again');

      const before = receiver.received.filter((r) => r.url === `/flaky/Task/${task.id}` && r.headers['x-teleo-subscription']).length;
      const resend = (token: string) => server.fhir(`/Subscription/${sub.id}/$resend`, { method: 'POST', token, body: JSON.stringify({
        resourceType: 'Parameters', parameter: [{ name: 'resource', valueReference: { reference: `Task/${task.id}` } }] } satisfies Parameters) });
      const denied = await resend(other);
      expect(denied.status).to.be.oneOf([403, 404]);
      const ok = await resend(durand);
      expect(ok.status).to.equal(200);
      expect(((await ok.json()) as Parameters).parameter?.[0]?.valueInteger).to.equal(1);
      await until(async () => (receiver.received.filter((r) => r.url === `/flaky/Task/${task.id}`).length > before ? true : undefined), 10_000, 'the resent notification');
    });
  });
}
