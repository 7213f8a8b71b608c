// Rendering a 512×512 CT frame (PS3.18 §8.3.5 rendered resource) to JPEG: p50 / p95 of the whole renderer (Part 10
// parse, frame extraction, decode, Modality + VOI LUT, encode with sharp), native and compressed, and of each stage.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parsePart10Metadata } from '../src/imaging/dicom-json.js';
import { createPixelDecoder } from '../src/imaging/pixel-data-decoding.js';
import { frameBytes, imageDescriptionOf } from '../src/imaging/pixel-data-frames.js';
import { monochromeValues } from '../src/imaging/photometric-interpretation.js';
import { encodeRaster, renderFrame, type RenderOptions, type StoredImage } from '../src/imaging/rendered.js';
import { greyscaleTransform, toDisplayGrey } from '../src/imaging/voi-lut.js';
import { writeTestImage } from '../src/imaging/test-images.js';
import { fmt, log, printTable, summarize } from './lib/stats.js';

const USAGE = `Usage: npm run bench:rendered -- [--iterations N] [--size 512]

Renders frame 1 of a generated CT image (signed 16-bit, Rescale Intercept -1024, a soft-tissue window) to image/jpeg
(quality 90) N times after a warm-up, in-process; also JPEG-LS and RLE copies made by dcmtk when it is installed.
Prints Markdown tables of p50 / p95 / max in ms.`;

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '200' }, size: { type: 'string', default: '512' }, help: { type: 'boolean', default: false } } });
if (values.help) { console.log(USAGE); process.exit(0); }
const N = Math.max(10, Number(values.iterations));
const SIZE = Math.max(16, Number(values.size));

async function timeIt(fn: () => unknown | Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(20, N); i++) await fn(); // warm-up (JIT, WebAssembly instantiation)
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'teleo-bench-rendered-'));
try {
  const native = join(dir, 'ct.dcm');
  await writeTestImage(native, {
    rows: SIZE, columns: SIZE, bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 1, pattern: 'smooth',
    extra: { Modality: 'CT', RescaleIntercept: '-1024', RescaleSlope: '1', WindowCenter: '40', WindowWidth: '400' },
  });
  const variants: [string, string][] = [['Explicit VR LE (native)', native]];
  for (const [name, tool, args] of [['JPEG-LS lossless', 'dcmcjpls', ['+el']], ['RLE lossless', 'dcmcrle', []]] as const) {
    try {
      const out = join(dir, `${tool}.dcm`);
      execFileSync(tool, [...args, native, out], { stdio: 'ignore' });
      variants.push([name, out]);
    } catch {
      log(`${tool} not available: ${name} skipped`);
    }
  }
  const decoder = createPixelDecoder();
  const options: RenderOptions = { mediaType: 'image/jpeg', frame: 1, quality: 90 };
  const rows: string[][] = [];
  for (const [name, path] of variants) {
    const part10 = readFileSync(path);
    const parsed = parsePart10Metadata(part10, { whole: true });
    const stored: StoredImage = { part10, transferSyntaxUid: parsed.transferSyntaxUid, metadata: parsed.metadata };
    log(`${name}: ${N} renders of ${SIZE}×${SIZE}`);
    const s = summarize(await timeIt(() => renderFrame(decoder, stored, options)));
    rows.push([name, `${(part10.byteLength / 1024).toFixed(0)} KiB`, fmt(s.p50), fmt(s.p95), fmt(s.max)]);
  }
  printTable(`Render a ${SIZE}×${SIZE} CT frame to JPEG (q 90), ${N} iterations, in-process`, ['pixel data', 'file', 'p50 ms', 'p95 ms', 'max ms'], rows);

  // Stages of the native case.
  const part10 = readFileSync(native);
  const parsed = parsePart10Metadata(part10, { whole: true });
  const image = imageDescriptionOf(parsed.metadata);
  const frame = frameBytes(part10, parsed.transferSyntaxUid, image, 0);
  const decoded = await decoder.decode(frame, parsed.transferSyntaxUid, image);
  const values = monochromeValues(decoded, image);
  const grey = toDisplayGrey(values, greyscaleTransform(parsed.metadata, image, 'MONOCHROME2'));
  const raster = { width: SIZE, height: SIZE, channels: 1, data: grey };
  const stages: [string, () => unknown][] = [
    ['Part 10 parse + frame extraction (dcmjs)', () => frameBytes(part10, parsed.transferSyntaxUid, image, 0)],
    ['stored values (mask, sign)', () => monochromeValues(decoded, image)],
    ['Modality + VOI LUT', () => toDisplayGrey(values, greyscaleTransform(parsed.metadata, image, 'MONOCHROME2'))],
    ['JPEG encode (sharp, q 90)', () => encodeRaster(raster, 'image/jpeg', 90)],
    ['PNG encode (sharp)', () => encodeRaster(raster, 'image/png')],
  ];
  const stageRows: string[][] = [];
  for (const [name, fn] of stages) {
    const s = summarize(await timeIt(fn));
    stageRows.push([name, fmt(s.p50, 2), fmt(s.p95, 2)]);
  }
  printTable('Stages (native pixel data)', ['stage', 'p50 ms', 'p95 ms'], stageRows);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
