// Our QIDO-RS and WADO-RS driven by a third-party client: dicomweb-client (the DICOMweb client of OHIF / Slim), in Node
// 20 with `xhr2` as its XMLHttpRequest (the library is written for browsers), against a real platform on port 0.
import { createRequire } from 'node:module';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import dcmjs from 'dcmjs';
import * as dicomweb from 'dicomweb-client';
import { describeWithDicomPeers } from '../../dicom/test-dicom-peers.js';
import type { DicomJson } from '../../imaging/dicom-json.js';
import type { TestServer } from '../test-server.js';
import { corpus, dicomweb as dicomwebBase, PYDICOM, send, startDicomwebServer, storedFile, writeInstance } from './test-dicomweb-server.js';

interface Client {
  searchForStudies(o: { queryParams?: Record<string, string> }): Promise<DicomJson[]>;
  retrieveStudyMetadata(o: { studyInstanceUID: string }): Promise<DicomJson[]>;
  retrieveInstance(o: { studyInstanceUID: string; seriesInstanceUID: string; sopInstanceUID: string }): Promise<ArrayBuffer>;
  retrieveInstanceFrames(o: { studyInstanceUID: string; seriesInstanceUID: string; sopInstanceUID: string; frameNumbers: string; mediaTypes?: { mediaType: string; transferSyntaxUID?: string }[] }): Promise<ArrayBuffer[]>;
}

describeWithDicomPeers('DICOMweb reads with dicomweb-client', function () {
  this.timeout(60_000);
  let server: TestServer;
  let dir: string;
  let client: Client;
  const sent = corpus().slice(0, 3);
  const before_ = globalThis.XMLHttpRequest;

  before(async () => {
    (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest = createRequire(import.meta.url)('xhr2');
    server = await startDicomwebServer();
    dir = await mkdtemp(join(tmpdir(), 'teleo-dwc-'));
    for (const g of sent) {
      const file = join(dir, `${g.sopUid}.dcm`);
      await writeInstance(file, g);
      await send(server, file);
    }
    await send(server, join(PYDICOM, 'JPEG-lossy.dcm'), '-xx');
    const { api } = dicomweb as unknown as { api: { DICOMwebClient: new (o: object) => Client } };
    client = new api.DICOMwebClient({ url: dicomwebBase(server), headers: { Authorization: `Bearer ${await server.token()}` }, singlepart: false });
  });
  after(async () => {
    (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest = before_;
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('searches studies, reads their metadata and retrieves an instance byte for byte', async () => {
    const studies = await client.searchForStudies({ queryParams: { PatientName: 'lefèvre*' } });
    expect(studies.map((s) => s['0020000D'].Value?.[0])).to.deep.equal([sent[0].studyUid]);
    const metadata = await client.retrieveStudyMetadata({ studyInstanceUID: sent[0].studyUid });
    expect(metadata.map((m) => m['00080018'].Value?.[0]).sort()).to.deep.equal(sent.filter((g) => g.studyUid === sent[0].studyUid).map((g) => g.sopUid).sort());
    const bytes = Buffer.from(await client.retrieveInstance({ studyInstanceUID: sent[0].studyUid, seriesInstanceUID: sent[0].seriesUid, sopInstanceUID: sent[0].sopUid }));
    expect((await storedFile(server, bytes)).equals(bytes)).to.equal(true);
  });

  it('retrieves a JPEG frame in its stored form', async () => {
    const b = await readFile(join(PYDICOM, 'JPEG-lossy.dcm'));
    const dict = dcmjs.data.DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer).dict;
    const v = (tag: string) => (dict[tag].Value as string[])[0];
    const [frame] = await client.retrieveInstanceFrames({
      studyInstanceUID: v('0020000D'), seriesInstanceUID: v('0020000E'), sopInstanceUID: v('00080018'), frameNumbers: '1',
      mediaTypes: [{ mediaType: 'image/jpeg', transferSyntaxUID: '1.2.840.10008.1.2.4.51' }],
    });
    expect(Buffer.from(frame).equals(Buffer.from((dict['7FE00010'].Value as ArrayBuffer[])[0]))).to.equal(true);
  });
});
