// The operator's HL7 message log API through a real platform on port 0 with its MLLP listener: dead letters listed,
// read byte for byte, replayed once the cause is fixed; outbound jobs listed; access and audit.
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { expect } from 'chai';
import type { LoggedMessage } from '../store/message-log.js';
import { adtA28, field, rawClient, RIS } from '../hl7v2/test-mllp.js';
import { httpBackends, startTestServer, type TestServer } from './test-server.js';

interface Listed { entries: (LoggedMessage & { links: { self: string; raw: string; replay?: string } })[]; next?: string }

for (const backend of httpBackends()) {
  describe(`Operator HL7 message log (${backend})`, function () {
    this.timeout(120_000);
    let server: TestServer;
    let base: string;
    before(async () => {
      server = await startTestServer(backend, { mllpPort: 0, hl7Partners: [RIS] });
      base = `${server.platform.url}/operator/hl7`;
    });
    after(() => server?.close());

    const get = async (path: string, token?: string | null) =>
      fetch(`${base}${path}`, { headers: token === null ? {} : { Authorization: `Bearer ${token ?? await server.token()}` } });

    it('lists a rejected message as a dead letter, gives its bytes exactly, and replays it on demand (404 for an unknown one)', async () => {
      const c = await rawClient(server.platform.mllpPort as number);
      c.send(adtA28('OP-1').replace('ADT^A28^ADT_A05', 'ADT^A99'));
      c.send(adtA28('OP-2', { ipp: 'op-2' }).replace('ADT^A28^ADT_A05', 'ZZZ^Z01'));
      const acks = await c.replies(2);
      c.end();
      expect(acks.map((a) => field(a, 'MSA', 1))).to.deep.equal(['AR', 'AR']);
      const dead = await (await get('/messages?status=rejected&limit=1')).json() as Listed;
      expect(dead.entries).to.have.length(1);
      expect(dead.entries[0]).to.include({ controlId: 'OP-2', status: 'rejected', partner: 'ris-chu-x' });
      expect(dead.next).to.be.a('string');
      const older = await (await fetch(`${server.platform.url}${dead.next as string}`, { headers: { Authorization: `Bearer ${await server.token()}` } })).json() as Listed;
      expect(older.entries.map((e) => e.controlId)).to.deep.equal(['OP-1']);
      const raw = await get(`/messages/${dead.entries[0].id}/raw`);
      expect(raw.headers.get('content-type')).to.contain('application/hl7-v2');
      expect(Buffer.from(await raw.arrayBuffer()).toString('utf8')).to.equal(adtA28('OP-2', { ipp: 'op-2' }).replace('ADT^A28^ADT_A05', 'ZZZ^Z01'));
      const detail = await (await get(`/messages/${dead.entries[0].id}`)).json() as { text: string; ack: string; error: string };
      expect(detail.error).to.match(/Message type ZZZ is not supported/);
      expect(detail.ack).to.contain('MSA|AR|OP-2');

      // The cause is not fixed: the replay applies it again and it stays a dead letter, one attempt more.
      const replayed = await fetch(`${base}/messages/${dead.entries[0].id}/replay`, { method: 'POST', headers: { Authorization: `Bearer ${await server.token()}` } });
      expect(replayed.status).to.equal(200);
      expect(await replayed.json()).to.include({ status: 'rejected', attempts: 1 });
      const missing = await fetch(`${base}/messages/999999/replay`, { method: 'POST', headers: { Authorization: `Bearer ${await server.token()}` } });
      expect(missing.status).to.equal(404);
    });

    it('needs a token (401), Patient read to list and read (403), Task update to replay, and audits reads', async () => {
      expect((await get('/messages', null)).status).to.equal(401);
      expect((await get('/messages', await server.token({ scope: 'system/Task.rs' }))).status).to.equal(403);
      const reader = await server.token({ scope: 'system/Patient.rs' });
      const listed = await (await get('/messages', reader)).json() as Listed;
      expect(listed.entries.length).to.be.greaterThan(0);
      expect((await get(`/messages/${listed.entries[0].id}/raw`, reader)).status).to.equal(200);
      const replay = await fetch(`${base}/messages/${listed.entries[0].id}/replay`, { method: 'POST', headers: { Authorization: `Bearer ${reader}` } });
      expect(replay.status).to.equal(403);
      expect((await get('/outbound', reader)).status).to.equal(200);
      await server.platform.jobs.drain();
      const events = ((await (await server.fhir('/AuditEvent?_count=1000')).json()) as Bundle<AuditEvent>).entry?.map((e) => e.resource as AuditEvent) ?? [];
      expect(events.some((e) => e.action === 'R' && e.entity?.some((x) => x.what?.reference === `urn:teleo:hl7v2-message:${listed.entries[0].id}`))).to.equal(true);
    });
  });
}
