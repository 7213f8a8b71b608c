// Test harness: the real DICOM peers (dcmtk echoscu/storescu, dicom3tools dciodvfy) and DICOM files generated with dcmjs.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import dcmjs from 'dcmjs';

const TOOLS = ['echoscu', 'storescu', 'storescp', 'movescu', 'getscu', 'dcmdump', 'dciodvfy'];

function missingTools(): string[] {
  return TOOLS.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
}

/**
 * `describe` when dcmtk and dicom3tools are installed; otherwise a visibly skipped suite, or (CI=true) a failing one:
 * `.ci/run` installs them.
 */
export function describeWithDicomPeers(name: string, fn: (this: Mocha.Suite) => void): void {
  const missing = missingTools();
  if (missing.length === 0) {
    describe(name, fn);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('has the DICOM peers installed', () => {
        throw new Error(`missing ${missing.join(', ')}: apt-get install dcmtk dicom3tools`);
      });
    });
  } else {
    describe(`${name} (skipped: ${missing.join(', ')} not installed; apt-get install dcmtk dicom3tools)`, function () {
      before(function () {
        this.skip();
      });
      it('runs against dcmtk and dicom3tools');
    });
  }
}

export interface ToolRun { code: number; output: string }

export function run(cmd: string, args: string[]): Promise<ToolRun> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

export function echoscu(port: number, callingAe: string, calledAe = 'TELEO'): Promise<ToolRun> {
  return run('echoscu', ['-v', '-aet', callingAe, '-aec', calledAe, '127.0.0.1', String(port)]);
}

/** `proposal` is a storescu transfer syntax option: `-x=` explicit, `-xi` implicit, `-xd` deflate, `-xx` JPEG… */
export async function storescu(port: number, file: string, proposal = '-x=', callingAe = 'MODALITY'): Promise<ToolRun & { response?: string }> {
  const res = await run('storescu', ['-v', proposal, '-aet', callingAe, '-aec', 'TELEO', '127.0.0.1', String(port), file]);
  return { ...res, response: /Received Store Response \(([^)]*)\)/.exec(res.output)?.[1] };
}

export const IMPLICIT_LE = '1.2.840.10008.1.2';
export const EXPLICIT_LE = '1.2.840.10008.1.2.1';

export function newUid(): string {
  return dcmjs.data.DicomMetaDictionary.uid();
}

export interface GeneratedInstance {
  sopInstanceUid?: string;
  studyInstanceUid?: string;
  patientName?: string;
  transferSyntaxUid?: string;
  /** A byte of the 16×16 8-bit image, so that two files can differ only in pixels. */
  pixel?: number;
}

/** Writes a small Secondary Capture image (PS3.3 A.8.1) with a UTF-8 (ISO_IR 192) patient name, as a Part 10 file. */
export async function writeGeneratedDicom(path: string, g: GeneratedInstance = {}): Promise<{ sopInstanceUid: string; studyInstanceUid: string }> {
  const sopInstanceUid = g.sopInstanceUid ?? newUid();
  const studyInstanceUid = g.studyInstanceUid ?? newUid();
  const transferSyntaxUid = g.transferSyntaxUid ?? EXPLICIT_LE;
  const sopClassUid = '1.2.840.10008.5.1.4.1.1.7';
  const dataset = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    SpecificCharacterSet: 'ISO_IR 192', SOPClassUID: sopClassUid, SOPInstanceUID: sopInstanceUid,
    StudyInstanceUID: studyInstanceUid, SeriesInstanceUID: newUid(), PatientName: g.patientName ?? 'Dupré^Élodie',
    PatientID: 'IPP-42', IssuerOfPatientID: 'CHU-TOULOUSE', AccessionNumber: 'ACC-7', Modality: 'OT', ConversionType: 'WSD',
    StudyDate: '20250102', SeriesNumber: '1', InstanceNumber: '1', SamplesPerPixel: 1, PhotometricInterpretation: 'MONOCHROME2',
    Rows: 16, Columns: 16, BitsAllocated: 8, BitsStored: 8, HighBit: 7, PixelRepresentation: 0,
  });
  const pixels = new Uint8Array(256).fill(g.pixel ?? 7);
  dataset['7FE00010'] = { vr: 'OB', Value: [pixels.buffer] };
  const file = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer, MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid, TransferSyntaxUID: transferSyntaxUid,
    ImplementationClassUID: '2.25.1',
  }));
  file.dict = dataset;
  await writeFile(path, Buffer.from(file.write()));
  return { sopInstanceUid, studyInstanceUid };
}

/** Offset of the data set in a Part 10 file: 128 + 4 + the File Meta Information group (its group length + 12). */
export function datasetOffset(file: Buffer): number {
  return 132 + 12 + file.readUInt32LE(132 + 8);
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * dcmtk's storescp in bit-preserving mode (+B: "write data exactly as read"): the reference for what storescu puts on
 * the wire (storescu re-encodes a file: it drops trailing padding, may turn undefined lengths into defined ones).
 */
export interface ReferenceScp {
  readonly port: number;
  /** Removes what it received so far. */
  clear(): Promise<void>;
  /** The one file received since the last clear. */
  received(): Promise<Buffer>;
  close(): Promise<void>;
}

export async function startReferenceScp(dir: string): Promise<ReferenceScp> {
  const port = await freePort();
  const child = spawn('storescp', ['+B', '+xa', '-od', dir, '-aet', 'TELEO', String(port)], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 50 && (await echoscu(port, 'MODALITY')).code !== 0; i++) await new Promise((r) => setTimeout(r, 100));
  return {
    port,
    async clear() {
      for (const f of await readdir(dir)) await rm(join(dir, f), { force: true });
    },
    async received() {
      const files = await readdir(dir);
      if (files.length !== 1) throw new Error(`storescp holds ${files.length} files: ${files.join(', ')}`);
      return readFile(join(dir, files[0]));
    },
    async close() {
      child.kill();
      await exited;
    },
  };
}

/** A Query/Retrieve identifier for movescu/getscu: `-k Key=value` pairs, the level first. */
export type RetrieveKeys = Record<string, string>;

const keyArgs = (keys: RetrieveKeys): string[] => Object.entries(keys).flatMap(([k, v]) => ['-k', `${k}=${v}`]);

export interface RetrieveRun extends ToolRun {
  /** Final status as movescu/getscu print it (e.g. `Success`, `Warning`, `Failed: …`). */
  readonly final?: string;
}

/**
 * dcmtk's movescu: `-S` (Study Root, default) or `-P` (Patient Root). `incomingPort` makes movescu its own move
 * destination (it listens there and writes the received files to `outputDir`).
 */
export async function movescu(port: number, keys: RetrieveKeys, o: { callingAe?: string; destination: string; model?: '-S' | '-P'; incomingPort?: number; outputDir?: string; extra?: string[] }): Promise<RetrieveRun> {
  const args = ['-v', o.model ?? '-S', '-aet', o.callingAe ?? 'VIEWER', '-aec', 'TELEO', '-aem', o.destination, ...keyArgs(keys)];
  if (o.incomingPort) args.push('+P', String(o.incomingPort), '-od', o.outputDir ?? '.');
  const res = await run('movescu', [...args, ...(o.extra ?? []), '127.0.0.1', String(port)]);
  return { ...res, final: finalStatusOf(res.output) };
}

/** dcmtk's getscu writing what it receives to `outputDir`. */
export async function getscu(port: number, keys: RetrieveKeys, o: { callingAe?: string; model?: '-S' | '-P'; outputDir: string; extra?: string[] }): Promise<RetrieveRun> {
  const res = await run('getscu', ['-v', o.model ?? '-S', '-aet', o.callingAe ?? 'VIEWER', '-aec', 'TELEO', ...keyArgs(keys), '-od', o.outputDir, ...(o.extra ?? []), '127.0.0.1', String(port)]);
  return { ...res, final: finalStatusOf(res.output) };
}

/**
 * The status of the last C-MOVE/C-GET response dcmtk logged: `-v` prints "Received Final Move Response (Success)" or
 * "Received C-GET Response (Success)"; `-d` prints "DIMSE Status : 0xfe00: Cancel: …" under it.
 */
function finalStatusOf(output: string): string | undefined {
  const short = [...output.matchAll(/Received (?:Final Move|C-GET) Response \(([^)]*)\)/g)].at(-1)?.[1];
  return short ?? [...output.matchAll(/DIMSE Status\s*:\s*0x[0-9a-f]{4}: ([^\n]*)/gi)].at(-1)?.[1];
}

/** A dcmtk storescp with its own AE title, keeping every file received (bit-preserving) in `dir`. */
export interface StoreScpPeer {
  readonly port: number;
  readonly aeTitle: string;
  /** Paths of the files received so far. */
  files(): Promise<string[]>;
  close(): Promise<void>;
}

/** `uniqueNames`: every reception gets its own file (storescp +uf), so that a resent instance shows as two files. */
export async function startStoreScp(dir: string, aeTitle: string, o: { port?: number; uniqueNames?: boolean } = {}): Promise<StoreScpPeer> {
  const listen = o.port ?? await freePort();
  const child = spawn('storescp', ['+B', '+xa', ...(o.uniqueNames ? ['+uf'] : []), '-od', dir, '-aet', aeTitle, String(listen)], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 50 && (await echoscu(listen, 'PROBE', aeTitle)).code !== 0; i++) await new Promise((r) => setTimeout(r, 100));
  return {
    port: listen,
    aeTitle,
    files: async () => (await readdir(dir)).filter((f) => !f.startsWith('.')).map((f) => join(dir, f)),
    async close() {
      child.kill();
      await exited;
    },
  };
}
