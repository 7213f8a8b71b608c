// Test harness: a real Orthanc (Debian orthanc + orthanc-dicomweb) as a hospital PACS or DICOMweb peer, one per suite:
// its own temp folder, free HTTP and DICOM ports, the DICOMweb plugin, modalities registered through its REST API.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { freePort } from './test-dicom-peers.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ORTHANC_BINARY = process.env.ORTHANC_BINARY ?? '/usr/sbin/Orthanc';
export const ORTHANC_DICOMWEB_PLUGIN = process.env.ORTHANC_DICOMWEB_PLUGIN ?? '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

/** A DICOM peer Orthanc knows (its "DicomModalities" entry): C-MOVE destinations and the callers it answers. */
export interface OrthancModality {
  readonly aeTitle: string;
  readonly host: string;
  readonly port: number;
}

export interface OrthancOptions {
  /** Orthanc's own AE title; default ORTHANC. */
  readonly aeTitle?: string;
  /** Modalities known at start, by symbolic name (more can be set later with `setModality`). */
  readonly modalities?: Readonly<Record<string, OrthancModality>>;
  /** HTTP Basic credentials required on the REST and DICOMweb API; default none (authentication disabled). */
  readonly credentials?: { readonly user: string; readonly password: string };
  /** Load the DICOMweb plugin (QIDO-RS, WADO-RS, STOW-RS under /dicom-web/); default true. */
  readonly dicomWeb?: boolean;
  /** Extra configuration keys, merged over the generated ones. */
  readonly config?: Readonly<Record<string, unknown>>;
}

export interface OrthancPeer {
  readonly aeTitle: string;
  readonly httpPort: number;
  readonly dicomPort: number;
  /** REST base, e.g. http://127.0.0.1:8042 */
  readonly url: string;
  /** DICOMweb base (QIDO-RS/WADO-RS/STOW-RS), e.g. http://127.0.0.1:8042/dicom-web */
  readonly dicomWebUrl: string;
  /** Its temp folder (configuration, storage, log). */
  readonly dir: string;
  /** fetch against the REST API, with the configured credentials. */
  rest(path: string, init?: RequestInit): Promise<Response>;
  /** Stores Part 10 files (paths or bytes) through REST POST /instances; returns their Orthanc instance ids. */
  upload(...files: (string | Uint8Array)[]): Promise<string[]>;
  /** Adds or replaces a modality (PUT /modalities/{name}), every DIMSE service allowed. */
  setModality(name: string, modality: OrthancModality): Promise<void>;
  /** SOP Instance UIDs stored in Orthanc (GET /instances?expand). */
  sopInstanceUids(): Promise<string[]>;
  /** Stops the process (the storage stays): for "PACS down" scenarios; `start` brings it back on the same ports. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Its log so far (for failure messages). */
  log(): Promise<string>;
  /** Stops it and removes its folder. */
  close(): Promise<void>;
}

/** Why Orthanc cannot run here, or undefined when it can. */
export function orthancMissing(): string | undefined {
  if (!existsSync(ORTHANC_BINARY)) return `${ORTHANC_BINARY} not found`;
  if (!existsSync(ORTHANC_DICOMWEB_PLUGIN)) return `${ORTHANC_DICOMWEB_PLUGIN} not found`;
  return undefined;
}

/**
 * `describe` when Orthanc and its DICOMweb plugin are installed; otherwise a visibly skipped suite, or (CI=true) a
 * failing one: `.ci/run` installs them.
 */
export function describeWithOrthanc(name: string, fn: (this: Mocha.Suite) => void): void {
  const missing = orthancMissing();
  if (!missing) {
    describe(name, fn);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('has Orthanc installed', () => {
        throw new Error(`${missing}: apt-get install orthanc orthanc-dicomweb`);
      });
    });
  } else {
    describe(`${name} (skipped: ${missing}; apt-get install orthanc orthanc-dicomweb)`, function () {
      before(function () {
        this.skip();
      });
      it('runs against Orthanc');
    });
  }
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const modalityJson = (m: OrthancModality) => ({
  AET: m.aeTitle, Host: m.host, Port: m.port,
  AllowEcho: true, AllowFind: true, AllowMove: true, AllowGet: true, AllowStore: true,
});

export async function startOrthanc(options: OrthancOptions = {}): Promise<OrthancPeer> {
  const dir = await mkdtemp(join(tmpdir(), 'teleo-orthanc-'));
  const [httpPort, dicomPort] = [await freePort(), await freePort()];
  const aeTitle = options.aeTitle ?? 'ORTHANC';
  const config = {
    Name: `TELEO-TEST-${httpPort}`,
    StorageDirectory: join(dir, 'storage'),
    IndexDirectory: join(dir, 'index'),
    Plugins: options.dicomWeb === false ? [] : [ORTHANC_DICOMWEB_PLUGIN],
    DicomWeb: { Enable: true, Root: '/dicom-web/', EnableWado: true, Host: '127.0.0.1', Ssl: false },
    HttpServerEnabled: true, HttpPort: httpPort, RemoteAccessAllowed: true,
    AuthenticationEnabled: !!options.credentials,
    RegisteredUsers: options.credentials ? { [options.credentials.user]: options.credentials.password } : {},
    HttpDescribeErrors: true, OrthancExplorerEnabled: false, WebDavEnabled: false,
    DicomServerEnabled: true, DicomAet: aeTitle, DicomPort: dicomPort, DicomCheckCalledAet: true,
    DicomAlwaysAllowEcho: true, DicomAlwaysAllowStore: true, DicomCheckModalityHost: false,
    DicomModalities: Object.fromEntries(Object.entries(options.modalities ?? {}).map(([k, m]) => [k, modalityJson(m)])),
    DicomModalitiesInDatabase: false, DicomScuTimeout: 10, DicomScpTimeout: 30, DicomAssociationCloseDelay: 0,
    SaveJobs: false, StableAge: 1, ConcurrentJobs: 2, SyncStorageArea: false, StorageCompression: false,
    ...options.config,
  };
  const configPath = join(dir, 'orthanc.json');
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const logPath = join(dir, 'orthanc.log');
  const url = `http://127.0.0.1:${httpPort}`;
  const auth = options.credentials
    ? `Basic ${Buffer.from(`${options.credentials.user}:${options.credentials.password}`).toString('base64')}` : undefined;
  const rest = (path: string, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    if (auth) headers.set('Authorization', auth);
    return fetch(`${url}${path}`, { ...init, headers });
  };

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const log = () => readFile(logPath, 'utf8').catch(() => '');

  async function start(): Promise<void> {
    const out = createWriteStream(logPath, { flags: 'a' });
    const proc = spawn(ORTHANC_BINARY, [configPath], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.pipe(out);
    proc.stderr?.pipe(out);
    child = proc;
    let alive = true;
    exited = new Promise<void>((resolve) => proc.once('exit', () => { alive = false; out.end(); resolve(); }));
    for (let i = 0; i < 200; i++) {
      if (!alive) throw new Error(`Orthanc exited at start:\n${(await log()).slice(-2000)}`);
      try {
        if ((await rest('/system')).ok) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`Orthanc did not answer within 20 s:\n${(await log()).slice(-2000)}`);
  }

  async function stop(): Promise<void> {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  }

  try {
    await start();
  } catch (e) {
    await stop();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }

  return {
    aeTitle, httpPort, dicomPort, url, dicomWebUrl: `${url}/dicom-web`, dir, rest, log, start, stop,
    async upload(...files) {
      const ids: string[] = [];
      for (const file of files) {
        const body = typeof file === 'string' ? await readFile(file) : Buffer.from(file);
        const res = await rest('/instances', { method: 'POST', body, headers: { 'Content-Type': 'application/dicom' } });
        if (!res.ok) throw new Error(`Orthanc refused ${typeof file === 'string' ? file : 'an instance'}: ${res.status} ${await res.text()}`);
        ids.push(((await res.json()) as { ID: string }).ID);
      }
      return ids;
    },
    async setModality(name, modality) {
      const res = await rest(`/modalities/${encodeURIComponent(name)}`, { method: 'PUT', body: JSON.stringify(modalityJson(modality)) });
      if (!res.ok) throw new Error(`Orthanc refused modality ${name}: ${res.status} ${await res.text()}`);
    },
    async sopInstanceUids() {
      const res = await rest('/instances?expand');
      const list = (await res.json()) as { MainDicomTags: { SOPInstanceUID: string } }[];
      return list.map((i) => i.MainDicomTags.SOPInstanceUID).sort();
    },
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
