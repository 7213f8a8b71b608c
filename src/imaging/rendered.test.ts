// The renderer (PS3.18 §8.3.5) against dcmtk's dcmj2pnm on the pydicom test files and on images generated here,
// compressed by dcmtk (dcmcrle, dcmcjpeg, dcmcjpls) or by OpenJPEG: the rendered pixels must match dcmtk's.
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import dcmjs from 'dcmjs';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { OperationOutcomeError } from '../kernel/errors.js';
import { describeWithDicomPeers, run } from '../dicom/test-dicom-peers.js';
import { parsePart10Metadata } from './dicom-json.js';
import { createPixelDecoder } from './pixel-data-decoding.js';
import { negotiateRenderedType, renderFrame, wadoUriRenderOptions, type RenderOptions } from './rendered.js';
import { writeTestImage, type TestImage } from './test-images.js';

const FIXTURES = join(process.cwd(), '../shared/fixtures/pydicom-testdata');
const decoder = createPixelDecoder();

interface Pixels { width: number; height: number; channels: number; data: Uint8Array }

function fromPng(bytes: Buffer): Pixels {
  const png = PNG.sync.read(bytes);
  const gray = png.data.every((_, i) => i % 4 !== 0 || (png.data[i] === png.data[i + 1] && png.data[i] === png.data[i + 2]));
  const channels = gray ? 1 : 3;
  const data = new Uint8Array(png.width * png.height * channels);
  for (let p = 0; p < png.width * png.height; p++) for (let c = 0; c < channels; c++) data[p * channels + c] = png.data[p * 4 + c];
  return { width: png.width, height: png.height, channels, data };
}

async function render(path: string, options: Partial<RenderOptions> = {}): Promise<Pixels & { body: Buffer }> {
  const part10 = await readFile(path);
  const parsed = parsePart10Metadata(part10, { whole: true });
  const r = await renderFrame(decoder, { part10, transferSyntaxUid: parsed.transferSyntaxUid, metadata: parsed.metadata }, { mediaType: 'image/png', frame: 1, ...options });
  expect(r.contentType).to.equal(options.mediaType ?? 'image/png');
  return { ...(r.contentType === 'image/png' ? fromPng(r.body) : { width: r.width, height: r.height, channels: 0, data: new Uint8Array() }), body: r.body };
}

function maxDiff(a: Pixels, b: Pixels): number {
  expect([a.width, a.height, a.channels]).to.deep.equal([b.width, b.height, b.channels]);
  let max = 0;
  for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i] - b.data[i]));
  return max;
}

describeWithDicomPeers('rendered images (PS3.18 8.3.5) compared with dcmtk dcmj2pnm', function () {
  this.timeout(60_000);
  let dir: string;
  let seq = 0;
  const tmp = (name: string) => join(dir, `${++seq}-${name}`);

  async function dcmtk(path: string, args: string[] = []): Promise<Pixels> {
    const out = tmp('dcmtk.png');
    const r = await run('dcmj2pnm', ['+on', ...args, path, out]);
    expect(r.code, r.output).to.equal(0);
    return fromPng(await readFile(out));
  }
  async function tool(cmd: string, args: string[], input: string): Promise<string> {
    const out = tmp(`${cmd}.dcm`);
    const r = await run(cmd, [...args, input, out]);
    expect(r.code, r.output).to.equal(0);
    return out;
  }
  async function image(img: TestImage): Promise<string> {
    const path = tmp('img.dcm');
    await writeTestImage(path, img);
    return path;
  }

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'teleo-rendered-')); });
  after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

  it('applies the data set window (MR_small, signed 16-bit) as dcmtk does', async () => {
    const path = join(FIXTURES, 'MR_small.dcm');
    expect(maxDiff(await render(path), await dcmtk(path, ['+Wi', '1']))).to.be.at.most(1);
  });

  it('applies Rescale Slope/Intercept and a min/max window without a data set window (CT_small)', async () => {
    const path = join(FIXTURES, 'CT_small.dcm');
    expect(maxDiff(await render(path), await dcmtk(path, ['+Wm']))).to.be.at.most(1);
  });

  it('applies the window asked for, linear and sigmoid, in modality units', async () => {
    const path = join(FIXTURES, 'CT_small.dcm');
    expect(maxDiff(await render(path, { window: { center: 40, width: 400, fn: 'LINEAR' } }), await dcmtk(path, ['+Ww', '40', '400']))).to.be.at.most(1);
    expect(maxDiff(await render(path, { window: { center: 40, width: 400, fn: 'SIGMOID' } }), await dcmtk(path, ['+Ww', '40', '400', '+Wfs']))).to.be.at.most(1);
    const a = await render(path, { window: { center: 40, width: 400, fn: 'LINEAR' } });
    const b = await render(path, { window: { center: 1000, width: 400, fn: 'LINEAR' } });
    expect(maxDiff(a, b)).to.be.greaterThan(100);
  });

  it('decodes big endian, implicit VR and RLE to the same image as explicit little endian', async () => {
    const reference = await render(join(FIXTURES, 'MR_small.dcm'));
    for (const f of ['MR_small_bigendian.dcm', 'MR_small_implicit.dcm', 'MR_small_RLE.dcm']) {
      expect(maxDiff(await render(join(FIXTURES, f)), reference), f).to.equal(0);
    }
  });

  it('inverts MONOCHROME1', async () => {
    const path = tmp('mono1.dcm');
    await copyFile(join(FIXTURES, 'MR_small.dcm'), path);
    expect((await run('dcmodify', ['-nb', '-m', '(0028,0004)=MONOCHROME1', path])).code).to.equal(0);
    const inverted = await render(path);
    const normal = await render(join(FIXTURES, 'MR_small.dcm'));
    expect(inverted.data.every((v, i) => v === 255 - normal.data[i])).to.equal(true);
    expect(maxDiff(inverted, await dcmtk(path, ['+Wi', '1']))).to.be.at.most(1);
  });

  it('renders RGB colour-by-pixel and colour-by-plane, native and RLE', async () => {
    const rgb = await image({ rows: 48, columns: 64, samplesPerPixel: 3 });
    const planar = await image({ rows: 48, columns: 64, samplesPerPixel: 3, planarConfiguration: 1 });
    const expected = await dcmtk(rgb);
    expect(expected.channels).to.equal(3);
    expect(maxDiff(await render(rgb), expected)).to.equal(0);
    expect(maxDiff(await render(planar), expected)).to.equal(0);
    expect(maxDiff(await render(await tool('dcmcrle', [], rgb)), expected)).to.equal(0);
  });

  it('selects frames of a multi-frame image (12 bits stored in 16), native and RLE, as dcmtk does', async () => {
    const path = await image({ rows: 32, columns: 40, frames: 3, bitsAllocated: 16, bitsStored: 12 });
    const rle = await tool('dcmcrle', [], path);
    for (const frame of [1, 2, 3]) {
      const expected = await dcmtk(path, ['+F', String(frame), '+Wm']);
      expect(maxDiff(await render(path, { frame }), expected), `frame ${frame}`).to.be.at.most(1);
      expect(maxDiff(await render(rle, { frame }), expected), `RLE frame ${frame}`).to.be.at.most(1);
    }
    expect(maxDiff(await render(path, { frame: 1 }), await render(path, { frame: 2 }))).to.be.greaterThan(0);
    const err = await render(path, { frame: 4 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(OperationOutcomeError);
    expect((err as OperationOutcomeError).outcome.issue[0].details?.text).to.match(/Frame 4 does not exist: the instance has 3 frame/);
  });

  it('decodes JPEG lossless (processes 14 and 14 SV1) and JPEG-LS lossless exactly', async () => {
    const path = join(FIXTURES, 'CT_small.dcm');
    const reference = await render(path);
    expect(maxDiff(await render(await tool('dcmcjpeg', ['+el'], path)), reference)).to.equal(0);
    expect(maxDiff(await render(await tool('dcmcjpeg', ['+e1'], path)), reference)).to.equal(0);
    expect(maxDiff(await render(await tool('dcmcjpls', ['+el'], path)), reference)).to.equal(0);
    const rgb = await image({ rows: 48, columns: 64, samplesPerPixel: 3 });
    expect(maxDiff(await render(await tool('dcmcjpls', ['+el'], rgb)), await render(rgb))).to.equal(0);
  });

  it('decodes JPEG baseline, grey and colour, close to dcmtk', async () => {
    const grey = await tool('dcmcjpeg', ['+eb'], await image({ rows: 64, columns: 64 }));
    expect(maxDiff(await render(grey), await dcmtk(grey))).to.be.at.most(3);
    // dcmtk subsamples chroma (YBR_FULL_422); jpeg-js upsamples it by replication, libjpeg by interpolation.
    const rgb = await tool('dcmcjpeg', ['+eb'], await image({ rows: 48, columns: 64, samplesPerPixel: 3, pattern: 'smooth' }));
    const ours = await render(rgb);
    expect(ours.channels).to.equal(3);
    expect(maxDiff(ours, await dcmtk(rgb))).to.be.at.most(3);
  });

  it('decodes JPEG 2000 (lossless, encoded by OpenJPEG) exactly, and the pydicom JPEG 2000 file', async () => {
    const source = join(FIXTURES, 'CT_small.dcm');
    const part10 = await readFile(source);
    const parsed = parsePart10Metadata(part10, { whole: true });
    const pixels = dcmjs.data.DicomMessage.readFile(part10.buffer.slice(part10.byteOffset, part10.byteOffset + part10.byteLength) as ArrayBuffer).dict['7FE00010'].Value as ArrayBuffer[];
    type Encoder = { getDecodedBuffer(i: object): Uint8Array; setQuality(lossless: boolean, q: number): void; encode(): void; getEncodedBuffer(): Uint8Array; delete(): void };
    const factory = createRequire(import.meta.url)('@cornerstonejs/codec-openjpeg/wasmjs') as (o: object) => Promise<{ J2KEncoder: new () => Encoder }>;
    const codec = await factory({ print: () => undefined, printErr: () => undefined });
    const encoder = new codec.J2KEncoder();
    encoder.getDecodedBuffer({ width: 128, height: 128, bitsPerSample: 16, componentCount: 1, isSigned: true, isUsingColorTransform: false }).set(new Uint8Array(pixels[0]));
    encoder.setQuality(true, 0);
    encoder.encode();
    const encoded = Uint8Array.from(encoder.getEncodedBuffer());
    encoder.delete();
    const j2k = '1.2.840.10008.1.2.4.90';
    const metadata = { ...parsed.metadata, '7FE00010': { vr: 'OB' } };
    const file = new dcmjs.data.DicomDict({ ...dcmjs.data.DicomMessage.readFile(part10.buffer.slice(part10.byteOffset) as ArrayBuffer).meta, '00020010': { vr: 'UI', Value: [j2k] } });
    file.dict = { ...dcmjs.data.DicomMessage.readFile(part10.buffer.slice(part10.byteOffset) as ArrayBuffer).dict, '7FE00010': { vr: 'OB', Value: [encoded.buffer] } };
    const wrapped = new Uint8Array(file.write({ fragmentMultiframe: false }));
    const r = await renderFrame(decoder, { part10: wrapped, transferSyntaxUid: j2k, metadata }, { mediaType: 'image/png', frame: 1 });
    expect(maxDiff(fromPng(r.body), await render(source))).to.equal(0);

    const pydicom = await render(join(FIXTURES, 'JPEG2000.dcm'));
    expect([pydicom.width, pydicom.height]).to.deep.equal([256, 1024]);
    expect(new Set(pydicom.data).size).to.be.greaterThan(100); // a real image, not a flat one
  });

  it('answers 406 naming the transfer syntax it cannot decode (12-bit JPEG extended)', async () => {
    const err = await render(join(FIXTURES, 'JPEG-lossy.dcm')).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(OperationOutcomeError);
    const o = (err as OperationOutcomeError).outcome;
    expect(o.id).to.equal('406');
    expect(o.issue[0].details?.text).to.contain('JPEG Extended (Process 2 & 4) (1.2.840.10008.1.2.4.51)').and.contain('12-bit');
  });

  it('scales to the viewport keeping the aspect ratio, crops and flips a source region', async () => {
    const path = join(FIXTURES, 'CT_small.dcm');
    const full = await render(path);
    const half = await render(path, { viewport: { width: 64, height: 100 } });
    expect([half.width, half.height]).to.deep.equal([64, 64]);
    // Each output pixel is the mean of a 2×2 source block.
    const at = (p: Pixels, x: number, y: number) => p.data[y * p.width + x];
    const mean = (x: number, y: number) => (at(full, 2 * x, 2 * y) + at(full, 2 * x + 1, 2 * y) + at(full, 2 * x, 2 * y + 1) + at(full, 2 * x + 1, 2 * y + 1)) / 4;
    expect(Math.abs(at(half, 10, 20) - mean(10, 20))).to.be.at.most(1);
    const region = await render(path, { viewport: { width: 32, height: 32, region: { x: 10, y: 20, width: 32, height: 32 } } });
    expect(at(region, 0, 0)).to.equal(at(full, 10, 20));
    const flipped = await render(path, { viewport: { width: 128, height: 128, region: { x: 128, y: 0, width: -128, height: 128 } } });
    expect(at(flipped, 0, 5)).to.equal(at(full, 127, 5));
    const bigger = await render(path, { viewport: { width: 256, height: 256 } });
    expect([bigger.width, bigger.height]).to.deep.equal([256, 256]);
  });

  it('encodes JPEG at the quality asked for', async () => {
    const path = join(FIXTURES, 'CT_small.dcm');
    const low = await render(path, { mediaType: 'image/jpeg', quality: 10 });
    const high = await render(path, { mediaType: 'image/jpeg', quality: 95 });
    expect(low.body.byteLength).to.be.lessThan(high.body.byteLength);
    const decoded = jpeg.decode(high.body, { useTArray: true });
    expect([decoded.width, decoded.height]).to.deep.equal([128, 128]);
    let max = 0;
    const png = await render(path);
    for (let p = 0; p < 128 * 128; p++) max = Math.max(max, Math.abs(decoded.data[p * 4] - png.data[p]));
    expect(max).to.be.lessThan(40);
  });
});

describe('rendered media type negotiation and WADO-URI parameters', () => {
  it('prefers JPEG for */* and image/*, honours q-values and the accept parameter, refuses others', () => {
    expect(negotiateRenderedType(undefined)).to.equal('image/jpeg');
    expect(negotiateRenderedType('image/*')).to.equal('image/jpeg');
    expect(negotiateRenderedType('image/png')).to.equal('image/png');
    expect(negotiateRenderedType('image/jpeg;q=0.5, image/png')).to.equal('image/png');
    expect(negotiateRenderedType('image/jpeg', 'image/png')).to.equal('image/png');
    expect(() => negotiateRenderedType('application/dicom')).to.throw(OperationOutcomeError).with.property('outcome').that.has.property('id', '406');
  });

  it('maps WADO-URI rows, columns, region, window and frame to render options', () => {
    const md = { '7FE00010': { vr: 'OW' }, '00280010': { vr: 'US', Value: [100] }, '00280011': { vr: 'US', Value: [200] }, '00280100': { vr: 'US', Value: [16] } };
    const o = wadoUriRenderOptions({ rows: '50', region: '0.5,0,1,1', windowCenter: '40', windowWidth: '400', frameNumber: '2', imageQuality: '70' }, 'image/jpeg', md);
    expect(o).to.deep.equal({
      mediaType: 'image/jpeg', frame: 2, quality: 70, window: { center: 40, width: 400, fn: 'LINEAR' },
      viewport: { width: 50, height: 50, region: { x: 100, y: 0, width: 100, height: 100 } },
    });
    expect(() => wadoUriRenderOptions({ windowCenter: '40' }, 'image/jpeg', md)).to.throw(/go together/);
    expect(() => wadoUriRenderOptions({ region: '0.5,0,0.2,1' }, 'image/jpeg', md)).to.throw(/Invalid region/);
  });
});
