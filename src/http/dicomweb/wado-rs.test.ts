// WADO-RS (PS3.18 §10.4) through a real platform on port 0: instances sent by dcmtk's storescu (generated ones and the
// pydicom test files, native and encapsulated), retrieved over HTTP with fetch, the multipart answers parsed and
// compared byte for byte with the stored files and with the pixel data dcmjs reads from the originals.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { expect } from 'chai';
import dcmjs from 'dcmjs';
import { datasetOffset, describeWithDicomPeers, newUid } from '../../dicom/test-dicom-peers.js';
import type { DicomJson } from '../../imaging/dicom-json.js';
import { httpBackends, type TestServer } from '../test-server.js';
import { corpus, get, parseMultipart, PYDICOM, send, startDicomwebServer, storedFile, writeInstance, type Generated } from './test-dicomweb-server.js';

/** The Pixel Data frames of a file as dcmjs reads them (encapsulated: one buffer per frame). */
async function pixelFrames(path: string): Promise<Buffer[]> {
  const b = await readFile(path);
  const file = dcmjs.data.DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
  return (file.dict['7FE00010'].Value as ArrayBuffer[]).map((v) => Buffer.from(v));
}

const uidOf = async (path: string, tag: string) => {
  const b = await readFile(path);
  const file = dcmjs.data.DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
  return (file.dict[tag].Value as string[])[0];
};

for (const backend of httpBackends()) {
  describeWithDicomPeers(`WADO-RS (${backend})`, function () {
    this.timeout(120_000);
    let server: TestServer;
    let dir: string;
    let sent: Generated[];
    let multi: Generated;
    const fixtures: Record<string, { study: string; series: string; sop: string; ts: string }> = {};
    const path = (g: { studyUid: string; seriesUid: string; sopUid: string }) => `/dicomweb/studies/${g.studyUid}/series/${g.seriesUid}/instances/${g.sopUid}`;
    const fixturePath = (name: string) => `/dicomweb/studies/${fixtures[name].study}/series/${fixtures[name].series}/instances/${fixtures[name].sop}`;
    const multipart = async (p: string, accept?: string, token?: string) => {
      const res = await get(server, p, { accept, token });
      const body = Buffer.from(await res.arrayBuffer());
      expect(res.status, body.toString()).to.equal(200);
      expect(Number(res.headers.get('content-length'))).to.equal(body.length);
      return { type: res.headers.get('content-type') as string, parts: parseMultipart(res.headers.get('content-type') as string, body) };
    };

    before(async () => {
      server = await startDicomwebServer(backend);
      dir = await mkdtemp(join(tmpdir(), 'teleo-wado-'));
      sent = corpus();
      multi = { ...sent[0], sopUid: newUid(), instanceNumber: '9', frames: 3 };
      for (const g of [...sent, multi]) {
        const file = join(dir, `${g.sopUid}.dcm`);
        await writeInstance(file, g);
        await send(server, file);
      }
      // (MR_small.dcm shares its SOP Instance UID with MR_small_RLE.dcm: the RLE one is sent.)
      for (const [name, proposal] of [['JPEG-lossy.dcm', '-xx'], ['JPEG2000.dcm', '-xw'], ['MR_small_RLE.dcm', '-xr']]) {
        const file = join(PYDICOM, name);
        await send(server, file, proposal);
        const b = await readFile(file);
        const ts = dcmjs.data.DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer).meta['00020010'].Value as string[];
        fixtures[name] = { study: await uidOf(file, '0020000D'), series: await uidOf(file, '0020000E'), sop: await uidOf(file, '00080018'), ts: ts[0] };
      }
    });
    after(async () => {
      await server?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('retrieves a study as multipart/related application/dicom, each part the stored file byte for byte', async () => {
      const study = sent[0].studyUid;
      const expected = [...sent, multi].filter((g) => g.studyUid === study);
      const { type, parts } = await multipart(`/dicomweb/studies/${study}`, 'multipart/related; type="application/dicom"');
      expect(type).to.match(/^multipart\/related; type="application\/dicom"; boundary=/);
      expect(parts).to.have.length(expected.length);
      const sops: string[] = [];
      for (const part of parts) {
        expect(part.headers['content-type']).to.equal('application/dicom; transfer-syntax=1.2.840.10008.1.2.1');
        expect((await storedFile(server, part.body)).equals(part.body)).to.equal(true);
        const parsed = dcmjs.data.DicomMessage.readFile(part.body.buffer.slice(part.body.byteOffset, part.body.byteOffset + part.body.byteLength) as ArrayBuffer);
        const sop = (parsed.dict['00080018'].Value as string[])[0];
        sops.push(sop);
        const original = await readFile(join(dir, `${sop}.dcm`));
        expect(part.body.subarray(datasetOffset(part.body)).equals(original.subarray(datasetOffset(original)))).to.equal(true);
      }
      expect(sops.sort()).to.deep.equal(expected.map((g) => g.sopUid).sort());
    });

    it('retrieves a series and an instance; transfer-syntax=* gives the stored one, another one is 406', async () => {
      const mr = sent.filter((g) => g.studyUid === sent[0].studyUid && g.modality === 'MR');
      const series = await multipart(`/dicomweb/studies/${mr[0].studyUid}/series/${mr[0].seriesUid}`, 'multipart/related; type="application/dicom"; transfer-syntax=*');
      expect(series.parts).to.have.length(mr.length + 1); // the multi-frame instance is in that series too
      const one = await multipart(fixturePath('JPEG-lossy.dcm'));
      expect(one.parts).to.have.length(1);
      expect(one.parts[0].headers['content-type']).to.equal('application/dicom; transfer-syntax=1.2.840.10008.1.2.4.51');
      // storescu re-encodes what it sends (drops padding…): the stored file is the reference.
      expect((await storedFile(server, one.parts[0].body)).equals(one.parts[0].body)).to.equal(true);
      for (const accept of ['multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1', 'application/zip', 'multipart/related; type="application/octet-stream"']) {
        const res = await get(server, fixturePath('JPEG-lossy.dcm'), { accept });
        expect(res.status, accept).to.equal(406);
      }
      expect((await get(server, `/dicomweb/studies/${mr[0].studyUid}/series/1.2.3`)).status).to.equal(404);
    });

    it('answers study, series and instance metadata from the precomputed DICOM JSON', async () => {
      const study = sent[0].studyUid;
      const res = await get(server, `/dicomweb/studies/${study}/metadata`, { accept: 'application/dicom+json' });
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^application\/dicom\+json/);
      const all = (await res.json()) as DicomJson[];
      expect(all.map((m) => m['00080018'].Value?.[0]).sort()).to.deep.equal([...sent, multi].filter((g) => g.studyUid === study).map((g) => g.sopUid).sort());
      expect(all[0]['00100010'].Value?.[0]).to.deep.equal({ Alphabetic: 'LEFÈVRE^Hélène' });
      expect(all[0]['7FE00010']).to.deep.equal({ vr: 'OW' });
      const series = (await (await get(server, `/dicomweb/studies/${study}/series/${sent[0].seriesUid}/metadata`)).json()) as DicomJson[];
      expect(series.length).to.equal(3);
      const one = (await (await get(server, `${path(multi)}/metadata`)).json()) as DicomJson[];
      expect(one.map((m) => m['00280008'].Value?.[0])).to.deep.equal([3]);
      expect((await get(server, `${path(multi)}/metadata`, { accept: 'multipart/related; type="application/dicom+xml"' })).status).to.equal(406);
    });

    it('serves native frames as byte ranges of Pixel Data (application/octet-stream), several per request', async () => {
      const { type, parts } = await multipart(`${path(multi)}/frames/3,1`);
      expect(type).to.match(/^multipart\/related; type="application\/octet-stream"/);
      expect(parts.map((p) => p.headers['content-type'])).to.deep.equal(Array(2).fill('application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1'));
      const frames = await pixelFrames(join(dir, `${multi.sopUid}.dcm`));
      expect(parts[0].body.equals(frames[0].subarray(256, 384))).to.equal(true);
      expect(parts[1].body.equals(frames[0].subarray(0, 128))).to.equal(true);
      expect(parts[0].body.readUInt16LE(0)).to.equal(3);
      expect((await get(server, `${path(multi)}/frames/4`)).status).to.equal(404);
      expect((await get(server, `${path(multi)}/frames/0`)).status).to.equal(400);
      const one = await multipart(`${path(sent[0])}/frames/1`, 'multipart/related; type="application/octet-stream"');
      expect(one.parts[0].body.equals((await pixelFrames(join(dir, `${sent[0].sopUid}.dcm`)))[0])).to.equal(true);
    });

    it('serves encapsulated frames as their fragments in the media type of the transfer syntax', async () => {
      for (const [name, media] of [['JPEG-lossy.dcm', 'image/jpeg'], ['JPEG2000.dcm', 'image/jp2'], ['MR_small_RLE.dcm', 'image/dicom-rle']]) {
        const { ts } = fixtures[name];
        const { parts } = await multipart(`${fixturePath(name)}/frames/1`);
        expect(parts[0].headers['content-type'], name).to.equal(`${media}; transfer-syntax=${ts}`);
        const [frame] = await pixelFrames(join(PYDICOM, name));
        expect(parts[0].body.equals(frame), name).to.equal(true);
        const raw = await multipart(`${fixturePath(name)}/frames/1`, 'multipart/related; type="application/octet-stream"; transfer-syntax=*');
        expect(raw.parts[0].headers['content-type']).to.equal(`application/octet-stream; transfer-syntax=${ts}`);
        expect(raw.parts[0].body.equals(frame)).to.equal(true);
        expect((await get(server, `${fixturePath(name)}/frames/1`, { accept: 'multipart/related; type="application/octet-stream"' })).status).to.equal(406);
      }
    });

    it('checks access (401, 403, 404 for a study the user does not see) and audits transfers (110104) and metadata reads (110103)', async () => {
      const p = fixturePath('JPEG2000.dcm');
      expect((await get(server, p, { token: null })).status).to.equal(401);
      expect((await get(server, p, { token: await server.token({ scope: 'user/Patient.read' }) })).status).to.equal(403);
      const stranger = await server.token({ sub: 'stranger', fhirUser: 'Practitioner/nobody', scope: 'user/*.cruds' });
      for (const suffix of ['', '/metadata', '/frames/1']) expect((await get(server, `${p}${suffix}`, { token: stranger })).status, suffix).to.equal(404);
      await multipart(p);
      await get(server, `${p}/metadata`);
      await server.platform.jobs.drain();
      const events = ((await (await server.fhir('/AuditEvent?_count=500')).json()) as Bundle<AuditEvent>).entry?.map((e) => e.resource as AuditEvent) ?? [];
      const about = (code: string) => events.filter((e) => e.subtype?.some((s) => s.code === code) && e.entity?.some((x) => x.what?.reference === `urn:oid:${fixtures['JPEG2000.dcm'].sop}`));
      expect(about('110104').length).to.be.greaterThan(0);
      expect(about('110103').length).to.be.greaterThan(0);
      expect(about('110104')[0].agent[0].altId).to.equal('tester');
    });
  });
}
