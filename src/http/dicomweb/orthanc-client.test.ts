// PS3.18 interoperability with a real DICOMweb client: Orthanc's DICOMweb plugin pointed at our server (its "servers"
// API) lists our studies (QIDO-RS), retrieves one into Orthanc (WADO-RS) and sends one of its own to us (STOW-RS).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { newUid } from '../../dicom/test-dicom-peers.js';
import { describeWithOrthanc, startOrthanc, type OrthancPeer } from '../../dicom/test-orthanc.js';
import type { TestServer } from '../test-server.js';
import { dicomweb, get, send, startDicomwebServer, writeInstance, type Generated } from './test-dicomweb-server.js';

describeWithOrthanc('Orthanc as a DICOMweb client of ours (pglite)', function () {
  this.timeout(120_000);
  let server: TestServer;
  let orthanc: OrthancPeer;
  let dir: string;
  const ours: Generated = {
    patientName: 'GARNIER^Inès', patientId: 'IPP-ORTHANC-1', studyUid: newUid(), studyDate: '20251120', accession: 'ACC-OC-1',
    seriesUid: newUid(), seriesNumber: '1', modality: 'CT', sopUid: newUid(), instanceNumber: '1',
  };

  before(async () => {
    server = await startDicomwebServer('pglite');
    dir = await mkdtemp(join(tmpdir(), 'teleo-orthanc-client-'));
    const token = await server.token({ scope: 'system/ImagingStudy.crs' });
    orthanc = await startOrthanc({
      config: { DicomWeb: { Enable: true, Root: '/dicom-web/', Servers: { teleo: { Url: `${dicomweb(server)}/`, HttpHeaders: { Authorization: `Bearer ${token}` } } } } },
    });
    await writeInstance(join(dir, 'ours.dcm'), ours);
    await send(server, join(dir, 'ours.dcm'));
  });
  after(async () => {
    await orthanc?.close();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const post = async (path: string, body: object) => {
    const res = await orthanc.rest(path, { method: 'POST', body: JSON.stringify(body) });
    expect(res.status, `${path}: ${await res.clone().text()}\n${await orthanc.log()}`).to.equal(200);
    return res.json() as Promise<unknown>;
  };

  it('lists our studies through QIDO-RS', async () => {
    const studies = await post('/dicom-web/servers/teleo/get', { Uri: '/studies', Arguments: { PatientID: ours.patientId } }) as Record<string, { Value?: unknown[] }>[];
    expect(studies.map((s) => s['0020000D']?.Value?.[0])).to.deep.equal([ours.studyUid]);
  });

  it('retrieves one of our studies through WADO-RS', async () => {
    await post('/dicom-web/servers/teleo/retrieve', { Resources: [{ Study: ours.studyUid }] });
    expect(await orthanc.sopInstanceUids()).to.include(ours.sopUid);
  });

  it('sends one of its studies to us through STOW-RS', async () => {
    const theirs: Generated = { ...ours, patientId: 'IPP-ORTHANC-2', studyUid: newUid(), seriesUid: newUid(), sopUid: newUid(), accession: 'ACC-OC-2' };
    await writeInstance(join(dir, 'theirs.dcm'), theirs);
    const [id] = await orthanc.upload(join(dir, 'theirs.dcm'));
    await post('/dicom-web/servers/teleo/stow', { Resources: [id] });
    const found = await get(server, `/dicomweb/studies?StudyInstanceUID=${theirs.studyUid}`);
    expect(found.status).to.equal(200);
    expect(((await found.json()) as unknown[]).length).to.equal(1);
  });
});
