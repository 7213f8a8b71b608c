// ImagingStudy/[id]/$forward through a real platform (PGlite, HTTP and DIMSE listeners on port 0): studies stored by
// storescu, forwarded to a dcmtk storescp; the forwarding Task followed over FHIR REST; bad requests and scopes refused.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, ImagingStudy, OperationOutcome, Task } from '@medplum/fhirtypes';
import { expect } from 'chai';
import { describeWithDicomPeers, newUid, run, startStoreScp, writeGeneratedDicom, type StoreScpPeer } from '../dicom/test-dicom-peers.js';
import { eventually, startTestServer, type TestServer } from './test-server.js';

const params = (...p: object[]) => JSON.stringify({ resourceType: 'Parameters', parameter: p });


describeWithDicomPeers('ImagingStudy/$forward (platform, storescu → TéléO → storescp)', function () {
  this.timeout(90_000);
  let server: TestServer;
  let pacs: StoreScpPeer;
  let dir: string;
  let study: ImagingStudy;
  const uid = newUid();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'teleo-forward-http-'));
    await mkdir(join(dir, 'pacs'));
    pacs = await startStoreScp(join(dir, 'pacs'), 'PACS_CHU');
    server = await startTestServer('pglite', {
      dicomPort: 0, dicomForwardingQuietSeconds: 0,
      dicomKnownAes: [{ aeTitle: 'MODALITY', host: '127.0.0.1', operations: ['echo', 'store'] }, { aeTitle: 'PACS_CHU', host: '127.0.0.1', port: pacs.port, operations: ['echo'] }],
    });
    const files = [join(dir, 'in-1.dcm'), join(dir, 'in-2.dcm')];
    for (const [i, f] of files.entries()) await writeGeneratedDicom(f, { studyInstanceUid: uid, pixel: i });
    const sent = await run('storescu', ['-aet', 'MODALITY', '-aec', 'TELEO', '127.0.0.1', String(server.platform.dicomPort), ...files]);
    expect(sent.code, sent.output).to.equal(0);
    study = await eventually(async () => {
      const bundle = await (await server.fhir(`/ImagingStudy?identifier=${encodeURIComponent(`urn:oid:${uid}`)}`)).json() as Bundle<ImagingStudy>;
      const found = bundle.entry?.[0]?.resource;
      if (found?.numberOfInstances !== 2) throw new Error('study not synced yet');
      return found;
    });
  });

  after(async () => {
    await server?.close();
    await pacs?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 202 with a forwarding Task, which completes once the PACS holds the study', async () => {
    const res = await server.fhir(`/ImagingStudy/${study.id}/$forward`, { method: 'POST', body: params({ name: 'destination', valueString: 'PACS_CHU' }) });
    expect(res.status).to.equal(202);
    const task = await res.json() as Task;
    expect(res.headers.get('content-location')).to.match(new RegExp(`/Task/${task.id}$`));
    expect(task.code?.coding?.[0]?.code).to.equal('forward-study');
    const done = await eventually(async () => {
      const t = await (await server.fhir(`/Task/${task.id}`)).json() as Task;
      if (t.status !== 'completed') throw new Error(`still ${t.status}`);
      return t;
    });
    expect(done.output?.find((o) => o.type?.coding?.[0]?.code === 'instances-sent')?.valueInteger).to.equal(2);
    expect((await pacs.files()).length).to.equal(2);
  });

  it('refuses an unknown destination (422), a missing one (400), and a caller who may not create Tasks (403)', async () => {
    const unknown = await server.fhir(`/ImagingStudy/${study.id}/$forward`, { method: 'POST', body: params({ name: 'destination', valueString: 'ELSEWHERE' }) });
    expect(unknown.status).to.equal(422);
    expect(((await unknown.json()) as OperationOutcome).issue?.[0]?.details?.text).to.match(/Unknown forwarding destination: ELSEWHERE/);
    const missing = await server.fhir(`/ImagingStudy/${study.id}/$forward`, { method: 'POST', body: params() });
    expect(missing.status).to.equal(400);
    const token = await server.token({ scope: 'system/ImagingStudy.rs' });
    const forbidden = await server.fhir(`/ImagingStudy/${study.id}/$forward`, { method: 'POST', token, body: params({ name: 'destination', valueString: 'PACS_CHU' }) });
    expect(forbidden.status).to.equal(403);
  });
});
