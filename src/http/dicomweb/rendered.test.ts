// DICOMweb rendered and thumbnail resources (PS3.18 §10.4.1.1.2–3) through a real platform on port 0: instances sent
// by dcmtk's storescu to its DIMSE listener, read back over HTTP with fetch, compared with dcmtk's dcmj2pnm.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { describeWithDicomPeers, newUid, run, storescu } from '../../dicom/test-dicom-peers.js';
import { writeTestImage } from '../../imaging/test-images.js';
import { httpBackends, startTestServer, type TestServer } from '../test-server.js';

const CT_SMALL = join(process.cwd(), '../shared/fixtures/pydicom-testdata/CT_small.dcm');
const CT = { study: '1.3.6.1.4.1.5962.1.2.1.20040119072730.12322', series: '1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322', instance: '1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322' };

for (const backend of httpBackends()) {
  describeWithDicomPeers(`DICOMweb rendered and thumbnails (${backend})`, function () {
    this.timeout(120_000);
    let server: TestServer;
    let dir: string;
    let root: string;
    const study = newUid();
    const series = newUid();
    const instances: string[] = [];

    before(async () => {
      server = await startTestServer(backend, {
        dicomPort: 0, dicomAeTitle: 'TELEO', dicomKnownAes: [{ aeTitle: 'MODALITY', host: '127.0.0.1', operations: ['echo', 'store'] }],
      });
      root = server.platform.url;
      dir = await mkdtemp(join(tmpdir(), 'teleo-rendered-http-'));
      const send = async (file: string) => {
        const sent = await storescu(server.platform.dicomPort as number, file);
        expect(sent.response, sent.output).to.equal('Success');
      };
      await send(CT_SMALL);
      // A series of three multi-frame images: the series thumbnail shows the middle one (Instance Number 2).
      for (const n of [3, 1, 2]) {
        const path = join(dir, `mf-${n}.dcm`);
        const { sopInstanceUid } = await writeTestImage(path, { rows: 32, columns: 40, frames: 2, bitsAllocated: 16, bitsStored: 12, studyInstanceUid: study, seriesInstanceUid: series, instanceNumber: n, pattern: n === 2 ? 'smooth' : undefined });
        instances[n] = sopInstanceUid;
        await send(path);
      }
    });
    after(async () => {
      await server?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    const get = async (path: string, init: { accept?: string; token?: string | null } = {}) => {
      const headers: Record<string, string> = {};
      if (init.accept) headers.Accept = init.accept;
      if (init.token !== null) headers.Authorization = `Bearer ${init.token ?? await server.token()}`;
      return fetch(`${root}/dicomweb${path}`, { headers });
    };
    const png = async (res: Response) => {
      expect(res.status, res.status === 200 ? '' : await res.clone().text()).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('image/png');
      return PNG.sync.read(Buffer.from(await res.arrayBuffer()));
    };
    const instancePath = (s: string, se: string, i: string) => `/studies/${s}/series/${se}/instances/${i}`;
    const ctPath = instancePath(CT.study, CT.series, CT.instance);

    it('renders an instance as JPEG by default and as PNG on request, the pixels those of dcmtk', async () => {
      const res = await get(`${ctPath}/rendered`);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('image/jpeg');
      const j = jpeg.decode(Buffer.from(await res.arrayBuffer()), { useTArray: true });
      expect([j.width, j.height]).to.deep.equal([128, 128]);

      const ours = await png(await get(`${ctPath}/rendered?window=40,400`, { accept: 'image/png' }));
      const out = join(dir, 'ct.png');
      expect((await run('dcmj2pnm', ['+on', '+Ww', '40', '400', CT_SMALL, out])).code).to.equal(0);
      const ref = PNG.sync.read(await readFile(out));
      let max = 0;
      for (let i = 0; i < ref.data.length; i += 4) max = Math.max(max, Math.abs(ref.data[i] - ours.data[i]));
      expect(max).to.be.at.most(1);
      expect((await png(await get(`${ctPath}/rendered?accept=image/png&viewport=64,64`))).width).to.equal(64);
    });

    it('renders the frame asked for, and refuses a frame that does not exist or a list of frames', async () => {
      const path = instancePath(study, series, instances[1]);
      const f1 = await png(await get(`${path}/frames/1/rendered`, { accept: 'image/png' }));
      const f2 = await png(await get(`${path}/frames/2/rendered`, { accept: 'image/png' }));
      expect(Buffer.compare(f1.data, f2.data)).to.not.equal(0);
      const missing = await get(`${path}/frames/3/rendered`);
      expect(missing.status).to.equal(400);
      expect(JSON.stringify(await missing.json())).to.contain('the instance has 2 frame');
      expect((await get(`${path}/frames/1,2/rendered`)).status).to.equal(400);
    });

    it('serves instance, frame, series and study thumbnails; the series one shows its middle instance', async () => {
      const instanceThumb = await png(await get(`${ctPath}/thumbnail`, { accept: 'image/png' }));
      expect([instanceThumb.width, instanceThumb.height]).to.deep.equal([128, 128]);
      const small = await png(await get(`${ctPath}/thumbnail?viewport=32,32`, { accept: 'image/png' }));
      expect(small.width).to.equal(32);
      expect((await png(await get(`${instancePath(study, series, instances[3])}/frames/2/thumbnail`, { accept: 'image/png' }))).width).to.equal(128);

      const seriesThumb = await png(await get(`/studies/${study}/series/${series}/thumbnail?viewport=40,32`, { accept: 'image/png' }));
      const middle = await png(await get(`${instancePath(study, series, instances[2])}/rendered?viewport=40,32`, { accept: 'image/png' }));
      expect(Buffer.compare(seriesThumb.data, middle.data)).to.equal(0);
      const studyThumb = await png(await get(`/studies/${study}/thumbnail?viewport=40,32`, { accept: 'image/png' }));
      expect(Buffer.compare(studyThumb.data, middle.data)).to.equal(0);
      expect((await get(`/studies/${study}/thumbnail`)).headers.get('content-type')).to.equal('image/jpeg');
    });

    it('answers 406 for a media type it cannot render to, 404 for an instance elsewhere, 400 for a bad window', async () => {
      const notAcceptable = await get(`${ctPath}/rendered`, { accept: 'image/gif' });
      expect(notAcceptable.status).to.equal(406);
      expect(JSON.stringify(await notAcceptable.json())).to.contain('image/jpeg or image/png');
      expect((await get(instancePath(CT.study, series, CT.instance) + '/rendered')).status).to.equal(404);
      expect((await get(`/studies/${newUid()}/thumbnail`)).status).to.equal(404);
      const bad = await get(`${ctPath}/rendered?window=40`);
      expect(bad.status).to.equal(400);
      expect(JSON.stringify(await bad.json())).to.contain('center,width');
    });

    it('requires authentication and the right to read imaging studies, and hides studies a user cannot see', async () => {
      expect((await get(`${ctPath}/rendered`, { token: null })).status).to.equal(401);
      expect((await get(`${ctPath}/rendered`, { token: await server.token({ scope: 'user/Patient.read' }) })).status).to.equal(403);
      // A user (not a system client) who takes part in no dossier holding the study does not see it.
      const user = await server.token({ scope: 'user/*.cruds', fhirUser: 'Practitioner/nobody' });
      expect((await get(`${ctPath}/rendered`, { token: user })).status).to.equal(404);
    });
  });
}
