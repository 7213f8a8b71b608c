// C-STORE (PS3.4 B.2.3) of every pydicom test file through the gateway on port 0: storescu for what dcmtk will send,
// dcmjs-dimse's SCU with raw data set bytes for what storescu refuses to read (MR_truncated.dcm, no_meta.dcm: "premature
// end of stream"). Malformed objects get 0xC000 with an Error Comment naming the problem; their bytes wait in quarantine.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import dimse from 'dcmjs-dimse';
import { openGatewayHarness, type GatewayHarness } from './test-gateway-harness.js';
import { datasetOffset, describeWithDicomPeers, echoscu, IMPLICIT_LE, storescu } from './test-dicom-peers.js';

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/pydicom-testdata/', import.meta.url));

/** Sends `bytes` as they are (dcmjs-dimse encodes a Dataset through getDenaturalizedDataset). */
class RawDataset extends dimse.Dataset {
  constructor(private readonly bytes: Buffer, elements: Record<string, unknown>, transferSyntaxUid: string) {
    super(elements, transferSyntaxUid);
  }
  override getDenaturalizedDataset(): Buffer {
    return this.bytes;
  }
}

/**
 * C-STORE of raw data set bytes in Implicit VR Little Endian (the transfer syntax dcmjs-dimse proposes first: any other
 * is transcoded from the placeholder elements, not sent as given); resolves to the status and error comment.
 */
function cStoreRaw(port: number, bytes: Buffer, sopClassUid: string, sopInstanceUid: string): Promise<{ status: number; comment?: string }> {
  const client = new dimse.Client();
  const request = new dimse.requests.CStoreRequest(new RawDataset(bytes, { SOPClassUID: sopClassUid, SOPInstanceUID: sopInstanceUid }, IMPLICIT_LE));
  return new Promise((resolve, reject) => {
    request.on('response', (response: InstanceType<typeof dimse.responses.CStoreResponse>) =>
      resolve({ status: response.getStatus(), comment: response.getErrorComment?.() }));
    client.on('networkError', reject);
    client.addRequest(request);
    client.send('127.0.0.1', port, 'MODALITY', 'TELEO');
  });
}

const MR_SMALL_UID = '1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457';

describeWithDicomPeers('C-STORE of every pydicom test file (dcmtk storescu, raw SCU)', function () {
  this.timeout(60_000);
  let dir: string;
  let h: GatewayHarness;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'c-store-bad-input-'));
    h = await openGatewayHarness(dir, 'memory');
  });
  afterEach(async () => {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  const stored: [file: string, proposal: string][] = [
    ['CT_small.dcm', '-x='], ['JPEG-lossy.dcm', '-xx'], ['JPEG2000.dcm', '-xw'], ['MR_small.dcm', '-x='], ['MR_small_RLE.dcm', '-xr'],
    ['MR_small_bigendian.dcm', '-xb'], ['MR_small_implicit.dcm', '-xi'], ['test-SR.dcm', '-x='],
    // dcmtk sends its data set, whose SOP Instance UID (1.9.999…) is what it announces: the File Meta's is not on the wire.
    ['badVR.dcm', '-x='],
  ];
  for (const [file, proposal] of stored) {
    it(`stores ${file} (Success)`, async () => {
      const res = await storescu(h.port, join(FIXTURES, file), proposal);
      expect(res.response, res.output).to.equal('Success');
      expect(await h.index.listQuarantine()).to.deep.equal([]);
    });
  }

  it('answers 0xC000 to the MR_truncated.dcm truncation, naming the truncated Pixel Data, and quarantines its bytes', async () => {
    // MR_truncated.dcm is MR_small.dcm cut 8130 bytes into its Pixel Data; the same cut of MR_small_implicit.dcm.
    const truncated = await readFile(join(FIXTURES, 'MR_truncated.dcm'));
    const whole = await readFile(join(FIXTURES, 'MR_small.dcm'));
    expect(whole.subarray(0, truncated.length).equals(truncated)).to.equal(true);
    const implicit = await readFile(join(FIXTURES, 'MR_small_implicit.dcm'));
    const pixelValue = implicit.lastIndexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x00, 0x20, 0x00, 0x00])) + 8; // (7FE0,0010), 8192
    const dataset = implicit.subarray(datasetOffset(implicit), pixelValue + 8130);
    const res = await cStoreRaw(h.port, dataset, '1.2.840.10008.5.1.4.1.1.4', MR_SMALL_UID);
    expect(res.status).to.equal(0xc000);
    expect(res.comment).to.equal('Pixel Data (7FE0,0010) declares 8192 bytes, 8130 present');
    const [q] = await h.index.listQuarantine();
    expect(q).to.deep.include({ reason: 'unparseable', detail: 'Pixel Data (7FE0,0010) declares 8192 bytes, 8130 present', sopInstanceUid: MR_SMALL_UID });
    const kept = await h.blobBytes(q.blobKey);
    expect(kept.subarray(datasetOffset(kept)).equals(dataset)).to.equal(true);
    expect(await h.index.get(MR_SMALL_UID)).to.equal(undefined);
  });

  it('answers 0xC000 to the bytes of no_meta.dcm sent raw, naming the element that overruns, and goes on serving', async () => {
    const bytes = await readFile(join(FIXTURES, 'no_meta.dcm'));
    const uid = '1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322';
    const res = await cStoreRaw(h.port, bytes, '1.2.840.10008.5.1.4.1.1.2', uid);
    expect(res.status).to.equal(0xc000);
    const [q] = await h.index.listQuarantine();
    // A stray byte before its first element: read from there, (0820,0500) declares what dcmdump reports too.
    expect(q.detail).to.equal(`element (0820,0500) declares 173228800 bytes, ${bytes.length - 8} present`);
    expect((await echoscu(h.port, 'MODALITY')).code).to.equal(0);
    expect((await storescu(h.port, join(FIXTURES, 'CT_small.dcm'))).response).to.equal('Success');
  });
});
