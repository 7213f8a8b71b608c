// The operator's DICOM quarantine API through a real platform on port 0: entries made by STOW-RS (conflict, wrong
// study, not a Part 10 file) listed, downloaded byte for byte, replayed through the store service; access and audit.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { expect } from 'chai';
import type { QuarantinedObject } from '../store/instance-index.js';
import { ctSeries, stow, stowBody } from './dicomweb/test-stow-client.js';
import { httpBackends, startTestServer, type TestServer } from './test-server.js';

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/pydicom-testdata/', import.meta.url));

interface Listed { entries: (QuarantinedObject & { links: { content: string; replay: string } })[]; next?: string }

for (const backend of httpBackends()) {
  describe(`Operator DICOM quarantine (${backend})`, function () {
    this.timeout(120_000);
    let server: TestServer;
    let base: string;
    before(async () => {
      server = await startTestServer(backend);
      base = `${server.platform.url}/operator/dicom-quarantine`;
    });
    after(() => server?.close());

    const get = async (path: string, token?: string | null) =>
      fetch(`${base}${path}`, { headers: token === null ? {} : { Authorization: `Bearer ${token ?? await server.token()}` } });
    const replay = async (id: string, token?: string) =>
      fetch(`${base}/${id}/replay`, { method: 'POST', headers: { Authorization: `Bearer ${token ?? await server.token()}` } });
    const send = async (parts: Uint8Array[], path = '') =>
      (await stow(`${server.platform.url}/dicomweb/studies${path}`, stowBody(parts), { token: await server.token() })).status;

    it('lists entries newest first, by reason, page by page, and serves their bytes', async () => {
      const series = ctSeries({ rows: 16, columns: 16 });
      const a = series.next();
      const b = Buffer.from(a);
      b.writeUInt8(b[b.length - 1] ^ 1, b.length - 1);
      expect(await send([a])).to.equal(200);
      expect(await send([b])).to.equal(202);
      const noMeta = await readFile(`${FIXTURES}no_meta.dcm`);
      expect(await send([noMeta])).to.equal(409);

      const all = await (await get('')).json() as Listed;
      expect(all.entries[0]).to.deep.include({ reason: 'unparseable', callingAe: 'STOW-RS', blobSize: noMeta.length });
      expect(all.entries[0].detail).to.match(/^part 1: not a DICOM Part 10 file: no "DICM" prefix/);
      const conflicts = await (await get('?reason=conflict')).json() as Listed;
      const conflict = conflicts.entries.find((e) => e.sopInstanceUid === series.sopInstanceUids[0]);
      expect(conflict).to.deep.include({ reason: 'conflict', sopClassUid: '1.2.840.10008.5.1.4.1.1.2' });

      const raw = await fetch(`${server.platform.url}${all.entries[0].links.content}`, { headers: { Authorization: `Bearer ${await server.token()}` } });
      expect(raw.headers.get('content-type')).to.equal('application/octet-stream');
      expect(Buffer.from(await raw.arrayBuffer()).equals(noMeta)).to.equal(true);
      const dicom = await get(`/${conflict?.id}/content`);
      expect(dicom.headers.get('content-type')).to.equal('application/dicom');
      const kept = Buffer.from(await dicom.arrayBuffer());
      const datasetAt = (f: Buffer): number => 132 + 12 + f.readUInt32LE(140);
      expect(kept.subarray(datasetAt(kept)).equals(b.subarray(datasetAt(b)))).to.equal(true); // the newcomer's data set

      const page1 = await (await get('?limit=1')).json() as Listed;
      expect(page1.entries.map((e) => e.id)).to.deep.equal([all.entries[0].id]);
      expect(page1.next).to.match(/offset=1/);
      const page2 = await (await get('?limit=1&offset=1')).json() as Listed;
      expect(page2.entries.map((e) => e.id)).to.deep.equal([all.entries[1].id]);
      expect((await get('?reason=bogus')).status).to.equal(400);
      expect((await get('?limit=0')).status).to.equal(400);
      expect((await get('/no-such-entry')).status).to.equal(404);
    });

    it('replays entries through the store service: a wrong-study instance is stored, a conflict stays one, raw bytes stay unreadable', async () => {
      const series = ctSeries({ rows: 16, columns: 16 });
      expect(await send([series.next()], '/1.2.3.4')).to.equal(409); // sent to the wrong study: quarantined as a mismatch
      const [mismatch] = (await (await get('?reason=mismatch&limit=1')).json() as Listed).entries;
      expect(mismatch.detail).to.equal(`not of the target study 1.2.3.4: Study Instance UID ${series.studyInstanceUid}`);
      const res = await replay(mismatch.id);
      expect(res.status).to.equal(200);
      const done = await res.json() as { entry: QuarantinedObject; outcome: { kind: string; sopInstanceUid: string } };
      expect(done.outcome).to.deep.equal({ kind: 'stored', sopInstanceUid: series.sopInstanceUids[0], studyInstanceUid: series.studyInstanceUid });
      expect(done.entry).to.deep.include({ replayOutcome: 'stored' });
      expect((await (await get(`/${mismatch.id}`)).json() as QuarantinedObject).replayedAt).to.be.a('string');
      const again = await (await replay(mismatch.id)).json() as { outcome: { kind: string } };
      expect(again.outcome.kind).to.equal('identical');

      const a = series.next();
      const b = Buffer.from(a);
      b.writeUInt8(b[b.length - 1] ^ 1, b.length - 1);
      await send([a]);
      await send([b]);
      const conflict = (await (await get('?reason=conflict')).json() as Listed).entries.find((e) => e.sopInstanceUid === series.sopInstanceUids[1]);
      const stillConflict = await (await replay(conflict?.id as string)).json() as { outcome: { kind: string; quarantineId: string } };
      expect(stillConflict.outcome).to.deep.include({ kind: 'conflict', quarantineId: conflict?.id });

      await send([Buffer.from('not dicom at all')]);
      const [raw] = (await (await get('?reason=unparseable&limit=1')).json() as Listed).entries;
      const unreadable = await (await replay(raw.id)).json() as { outcome: { kind: string; detail: string } };
      expect(unreadable.outcome.kind).to.equal('unreadable');
      expect(unreadable.outcome.detail).to.match(/not a DICOM Part 10 file/);

      await server.platform.jobs.drain();
      const events = ((await (await server.fhir('/AuditEvent?_count=1000')).json()) as Bundle<AuditEvent>).entry?.map((e) => e.resource as AuditEvent) ?? [];
      const replays = events.filter((e) => e.entity?.some((x) => x.what?.reference === `urn:teleo:dicom-quarantine:${mismatch.id}`) && e.outcomeDesc?.startsWith('quarantine replay'));
      expect(replays.map((e) => e.outcomeDesc)).to.have.members(['quarantine replay: stored', 'quarantine replay: identical instance already stored']);
      expect(replays[0].agent[0].altId).to.equal('tester');
    });

    it('needs a token (401), read on ImagingStudy to list and download, create to replay (403)', async () => {
      expect((await get('', null)).status).to.equal(401);
      expect((await get('', await server.token({ scope: 'system/Patient.rs' }))).status).to.equal(403);
      const reader = await server.token({ scope: 'system/ImagingStudy.rs' });
      const listed = await (await get('', reader)).json() as Listed;
      expect(listed.entries.length).to.be.greaterThan(0);
      expect((await get(`/${listed.entries[0].id}/content`, reader)).status).to.equal(200);
      expect((await replay(listed.entries[0].id, reader)).status).to.equal(403);
      await server.platform.jobs.drain();
      const events = ((await (await server.fhir('/AuditEvent?_count=1000')).json()) as Bundle<AuditEvent>).entry?.map((e) => e.resource as AuditEvent) ?? [];
      expect(events.some((e) => e.outcomeDesc === 'raw bytes downloaded' && e.entity?.some((x) => x.what?.reference === `urn:teleo:dicom-quarantine:${listed.entries[0].id}`))).to.equal(true);
    });
  });
}
