// WADO-URI (PS3.18 §9) through a real platform on port 0: a pydicom test file sent by dcmtk's storescu, fetched at
// /wado and /dicomweb with its stored bytes, and the parameter and access errors.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { expect } from 'chai';
import dcmjs from 'dcmjs';
import { datasetOffset, describeWithDicomPeers } from '../../dicom/test-dicom-peers.js';
import { httpBackends, type TestServer } from '../test-server.js';
import { get, PYDICOM, send, startDicomwebServer, storedFile } from './test-dicomweb-server.js';

for (const backend of httpBackends()) {
  describeWithDicomPeers(`WADO-URI (${backend})`, function () {
    this.timeout(60_000);
    let server: TestServer;
    let uids: { study: string; series: string; sop: string };
    const query = (extra = '', u = uids) => `requestType=WADO&studyUID=${u.study}&seriesUID=${u.series}&objectUID=${u.sop}${extra}`;

    before(async () => {
      server = await startDicomwebServer(backend);
      const file = join(PYDICOM, 'CT_small.dcm');
      await send(server, file);
      const b = await readFile(file);
      const dict = dcmjs.data.DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer).dict;
      const v = (tag: string) => (dict[tag].Value as string[])[0];
      uids = { study: v('0020000D'), series: v('0020000E'), sop: v('00080018') };
    });
    after(async () => {
      await server?.close();
    });

    it('answers contentType=application/dicom with the stored Part 10 file, at /wado and at /dicomweb', async () => {
      for (const base of ['/wado', '/dicomweb']) {
        const res = await get(server, `${base}?${query('&contentType=application%2Fdicom')}`);
        const body = Buffer.from(await res.arrayBuffer());
        expect(res.status, body.toString()).to.equal(200);
        expect(res.headers.get('content-type')).to.equal('application/dicom');
        expect(Number(res.headers.get('content-length'))).to.equal(body.length);
        expect((await storedFile(server, body)).equals(body)).to.equal(true);
        const parsed = dcmjs.data.DicomMessage.readFile(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer);
        expect((parsed.dict['00080018'].Value as string[])[0]).to.equal(uids.sop);
        expect(body.subarray(datasetOffset(body)).length).to.be.greaterThan(128 * 128 * 2);
      }
      const same = await get(server, `/wado?${query(`&contentType=application%2Fdicom&transferSyntax=1.2.840.10008.1.2.1`)}`);
      expect(same.status).to.equal(200);
    });

    it('renders the instance as JPEG or PNG when asked (contentType image/jpeg, image/png)', async () => {
      for (const [type, magic] of [['image/jpeg', 'ffd8ff'], ['image/png', '89504e47']] as const) {
        const res = await get(server, `/wado?${query(`&contentType=${encodeURIComponent(type)}&windowCenter=40&windowWidth=400`)}`);
        expect(res.status, await res.clone().text()).to.equal(200);
        expect(res.headers.get('content-type')).to.equal(type);
        expect(Buffer.from(await res.arrayBuffer()).subarray(0, magic.length / 2).toString('hex')).to.equal(magic);
      }
    });

    it('refuses what it cannot give: other transfer syntaxes, bad or misplaced parameters (400)', async () => {
      const status = async (q: string) => {
        const res = await get(server, `/wado?${q}`);
        return { status: res.status, text: ((await res.json()) as { issue: { details: { text: string } }[] }).issue[0].details.text };
      };
      expect(await status(query('&contentType=application%2Fdicom&transferSyntax=1.2.840.10008.1.2'))).to.deep.include({ status: 406 });
      expect((await status(query('&contentType=application%2Fdicom&windowCenter=40'))).status).to.equal(400);
      expect((await status(query('&contentType=text%2Fhtml'))).status).to.equal(406);
      expect((await status(`requestType=WADO&studyUID=${uids.study}&objectUID=${uids.sop}`)).text).to.match(/seriesUID is required/);
      expect((await status(query().replace('requestType=WADO', 'requestType=OTHER'))).text).to.match(/requestType must be WADO/);
      expect((await status(query('&contentType=application%2Fdicom', { ...uids, sop: '1.2.3' }))).status).to.equal(404);
      expect((await get(server, '/wado')).status).to.equal(404); // no requestType: not a WADO-URI request
    });

    it('checks access and audits the transfer (110104)', async () => {
      const q = `/wado?${query('&contentType=application%2Fdicom')}`;
      expect((await get(server, q, { token: null })).status).to.equal(401);
      expect((await get(server, q, { token: await server.token({ scope: 'user/Patient.read' }) })).status).to.equal(403);
      expect((await get(server, q, { token: await server.token({ sub: 'x', fhirUser: 'Practitioner/nobody', scope: 'user/*.cruds' }) })).status).to.equal(404);
      await server.platform.jobs.drain();
      const events = ((await (await server.fhir('/AuditEvent?_count=500')).json()) as Bundle<AuditEvent>).entry?.map((e) => e.resource as AuditEvent) ?? [];
      expect(events.filter((e) => e.subtype?.some((s) => s.code === '110104') && e.action === 'R'
        && e.entity?.some((x) => x.what?.reference === `urn:oid:${uids.sop}`))).to.have.length.greaterThan(0);
    });
  });
}
