// FHIR R4 Subscription websocket channel through the real server: advertised URL, authenticated upgrade, bind → bound,
// ping (and payload) per event, and no binding to another user's Subscription.
import { expect } from 'chai';
import type { CapabilityStatement, Subscription, Task } from '@medplum/fhirtypes';
import WebSocket from 'ws';
import { httpBackends, startTestServer, type TestServer } from '../http/test-server.js';
import { CAPABILITY_WEBSOCKET_URL } from './subscription-model.js';
import { until } from './test-receiver.js';

interface Client { ws: WebSocket; messages: string[]; next(pred: (m: string) => boolean, timeoutMs?: number): Promise<string> }

function connect(url: string, token?: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
    const messages: string[] = [];
    ws.on('message', (d) => messages.push(d.toString()));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
    ws.once('open', () => resolve({
      ws, messages,
      next: (pred, timeoutMs = 10_000) => until(async () => messages.find(pred), timeoutMs, 'a websocket message'),
    }));
  });
}

for (const backend of httpBackends()) {
  describe(`FHIR Subscriptions, websocket channel (${backend})`, () => {
    let server: TestServer;
    let wsUrl: string;
    let durand: string;
    let other: string;
    const clients: WebSocket[] = [];

    before(async () => {
      server = await startTestServer(backend);
      const cs = (await (await server.fhir('/metadata', { token: null })).json()) as CapabilityStatement;
      const advertised = cs.rest?.[0]?.extension?.find((e) => e.url === CAPABILITY_WEBSOCKET_URL)?.valueUri as string;
      expect(advertised).to.match(/^ws:\/\/.*\/fhir\/websocket$/);
      wsUrl = `${server.base.replace(/^http/, 'ws')}/websocket`;
      durand = await server.token({ sub: 'durand', fhirUser: 'Practitioner/durand', scope: 'user/*.cruds' });
      other = await server.token({ sub: 'other', fhirUser: 'Practitioner/other', scope: 'user/*.cruds' });
    });
    after(async () => {
      for (const ws of clients) ws.terminate();
      await server.close();
    });

    const websocketSubscription = async (token: string, payload?: string): Promise<Subscription> => {
      const res = await server.fhir('/Subscription', { method: 'POST', token, body: JSON.stringify({
        resourceType: 'Subscription', status: 'requested', reason: 'worklist', criteria: 'Task?requester=Practitioner/durand',
        channel: { type: 'websocket', ...(payload ? { payload } : {}) } }) });
      expect(res.status).to.equal(201);
      const sub = (await res.json()) as Subscription;
      return until(async () => {
        const s = (await (await server.fhir(`/Subscription/${sub.id}`, { token })).json()) as Subscription;
        return s.status === 'active' ? s : undefined;
      }, 10_000, 'an active subscription');
    };

    it('refuses an upgrade without a valid bearer token (401)', async () => {
      const err = await connect(wsUrl).then(() => undefined, (e: Error) => e.message);
      expect(err).to.equal('HTTP 401');
      const bad = await connect(wsUrl, 'not-a-token').then(() => undefined, (e: Error) => e.message);
      expect(bad).to.equal('HTTP 401');
    });

    it('binds the owner to their Subscription and sends ping, then the resource, per matching event', async () => {
      const sub = await websocketSubscription(durand, 'application/fhir+json');
      const c = await connect(wsUrl, durand);
      clients.push(c.ws);
      c.ws.send(`bind ${sub.id}`);
      await c.next((m) => m === `bound ${sub.id}`);
      const res = await server.fhir('/Task', { method: 'POST', token: durand, body: JSON.stringify({
        resourceType: 'Task', status: 'requested', intent: 'order', requester: { reference: 'Practitioner/durand' } }) });
      const task = (await res.json()) as Task;
      await c.next((m) => m === `ping ${sub.id}`);
      const payload = await c.next((m) => m.startsWith(`payload ${sub.id} `));
      expect((JSON.parse(payload.slice(`payload ${sub.id} `.length)) as Task).id).to.equal(task.id);
      expect(c.messages.indexOf(`ping ${sub.id}`)).to.be.lessThan(c.messages.indexOf(payload));
    });

    it('sends only ping when the Subscription has no payload', async () => {
      const sub = await websocketSubscription(durand);
      const c = await connect(wsUrl, durand);
      clients.push(c.ws);
      c.ws.send(`bind ${sub.id}`);
      await c.next((m) => m === `bound ${sub.id}`);
      await server.fhir('/Task', { method: 'POST', token: durand, body: JSON.stringify({
        resourceType: 'Task', status: 'requested', intent: 'order', requester: { reference: 'Practitioner/durand' } }) });
      await c.next((m) => m === `ping ${sub.id}`);
      await new Promise((r) => setTimeout(r, 200));
      expect(c.messages.some((m) => m.startsWith('payload'))).to.equal(false);
    });

    it('does not bind another user to a Subscription they do not own', async () => {
      const sub = await websocketSubscription(durand);
      const c = await connect(wsUrl, other);
      clients.push(c.ws);
      c.ws.send(`bind ${sub.id}`);
      expect(await c.next((m) => m.startsWith('error') || m.startsWith('bound'))).to.equal(`error ${sub.id} subscription not found`);
    });
  });
}
