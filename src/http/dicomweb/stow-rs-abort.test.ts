// STOW-RS (PS3.18 §10.5) when the body never ends: a client that goes away mid-request (or a listener that cuts it)
// must leave the listener serving, the instances whose bytes had all arrived stored, and the broken one not indexed.
import { request, type ClientRequest } from 'node:http';
import { expect } from 'chai';
import { httpBackends, startTestServer, type TestServer } from '../test-server.js';
import { ctSeries, stow, stowBody, STOW_BOUNDARY, STOW_CONTENT_TYPE } from './test-stow-client.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

for (const backend of httpBackends()) {
  describe(`STOW-RS request broken mid-body (${backend})`, function () {
    this.timeout(120_000);
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend);
    });
    after(() => server?.close());

    /** SOP Instance UIDs of a study found by QIDO-RS (an empty list when the study is unknown). */
    async function stored(study: string): Promise<string[]> {
      const res = await fetch(`${server.platform.url}/dicomweb/studies/${study}/instances`, {
        headers: { Authorization: `Bearer ${await server.token()}`, Accept: 'application/dicom+json' },
      });
      if (res.status === 204 || res.status === 404) return [];
      const json = (await res.json()) as Record<string, { Value?: unknown[] }>[];
      return json.map((i) => String(i['00080018']?.Value?.[0]));
    }

    it('keeps serving after a client drops the connection inside a part; the whole parts before it are stored', async () => {
      const series = ctSeries({ rows: 128, columns: 128 });
      const whole = [series.next(), series.next(), series.next()];
      const broken = series.next();
      const url = new URL(`${server.platform.url}/dicomweb/studies`);
      const token = await server.token();
      const req: ClientRequest = request({
        host: url.hostname, port: url.port, method: 'POST', path: url.pathname,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': STOW_CONTENT_TYPE, Accept: 'application/dicom+json' },
      });
      const ended = new Promise<string>((resolve) => {
        req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        req.on('response', (res) => resolve(`answered ${res.statusCode}`));
      });
      for (const file of whole) {
        req.write(`--${STOW_BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n`);
        req.write(file);
        req.write('\r\n');
      }
      req.write(`--${STOW_BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n`);
      req.write(broken.subarray(0, broken.length >> 1));
      // Once the three whole parts are indexed, the client goes away in the middle of the fourth.
      for (let i = 0; i < 200 && (await stored(series.studyInstanceUid)).length < 3; i++) await sleep(50);
      req.destroy();
      expect(await ended).to.not.match(/^answered/);

      const after = await stored(series.studyInstanceUid);
      expect(after.sort()).to.deep.equal(series.sopInstanceUids.slice(0, 3).sort());
      // The listener still serves: the broken instance can be sent again, whole.
      const res = await stow(`${server.platform.url}/dicomweb/studies`, stowBody([broken]), { token });
      expect(res.status, await res.text()).to.equal(200);
      expect((await stored(series.studyInstanceUid)).sort()).to.deep.equal([...series.sopInstanceUids].sort());
    });
  });
}
