// Image stored → its télédossier updated and the requis notified: the time from sending one instance by C-STORE
// (storescu, a study announced on a dossier by $create-teledossier) to the websocket notification of the dossier Task
// carrying the exam, for the requis' Subscription.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Parameters, Subscription, Task } from '@medplum/fhirtypes';
import dcmjs from 'dcmjs';
import WebSocket from 'ws';
import { loadOrCreateDevSigningKey, signDevToken } from '../src/http/auth/dev-keys.js';
import { prepareBackend } from './lib/backend.js';
import { COMMON_USAGE, parseBenchArgs } from './lib/cli.js';
import { httpClient, type HttpClient } from './lib/load.js';
import { sleep } from './lib/proc.js';
import { startServer } from './lib/server.js';
import { fmt, log, printTable, summarize, verdict, type Row } from './lib/stats.js';

const USAGE = `Usage: npm run bench:dicom-attach -- [options]

For each of --studies studies: a dossier announcing its StudyInstanceUID, then one CT instance sent by storescu;
measures send → websocket notification of the dossier Task holding the exam. Prints a Markdown table.

${COMMON_USAGE.split('\n').filter((l) => !l.includes('--reps')).join('\n')}
  --studies <n>      studies (default 100)
  --interval <ms>    between two sends (default 300)`;

const args = parseBenchArgs(USAGE, { studies: 100, interval: 300 });

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const uid = (): string => `2.25.${BigInt(`0x${crypto.randomUUID().replace(/-/g, '')}`).toString()}`;

async function writeCt(path: string, study: string, ins: string): Promise<void> {
  const sop = uid();
  const ds = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    SpecificCharacterSet: 'ISO_IR 192', SOPClassUID: '1.2.840.10008.5.1.4.1.1.2', SOPInstanceUID: sop, StudyInstanceUID: study,
    SeriesInstanceUID: uid(), PatientName: 'BENCH^Imagerie', PatientID: ins, Modality: 'CT', StudyDate: '20251123', SeriesNumber: '1',
    InstanceNumber: '1', SamplesPerPixel: 1, PhotometricInterpretation: 'MONOCHROME2', Rows: 64, Columns: 64, BitsAllocated: 16,
    BitsStored: 12, HighBit: 11, PixelRepresentation: 0,
    OtherPatientIDsSequence: [{ PatientID: ins, IssuerOfPatientID: 'ASIP-SANTE-INS-NIR', TypeOfPatientID: 'TEXT', IssuerOfPatientIDQualifiersSequence: [{ UniversalEntityID: '1.2.250.1.213.1.4.8', UniversalEntityIDType: 'ISO' }] }],
  });
  ds['7FE00010'] = { vr: 'OW', Value: [new Uint8Array(64 * 64 * 2).buffer] };
  const file = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer, MediaStorageSOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
    MediaStorageSOPInstanceUID: sop, TransferSyntaxUID: '1.2.840.10008.1.2.1', ImplementationClassUID: '2.25.1',
  }));
  file.dict = ds;
  await writeFile(path, Buffer.from(file.write()));
}

function storescu(port: number, file: string): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn('storescu', ['-aet', 'MODALITY', '-aec', 'TELEO', '127.0.0.1', String(port), file], { env: { ...process.env, TCP_NODELAY: '1' } });
    p.on('exit', (code) => resolve(code ?? 1));
  });
}

async function put(client: HttpClient, r: { resourceType: string; id: string }): Promise<void> {
  const res = await client.json('PUT', `/fhir/${r.resourceType}/${r.id}`, r);
  if (res.status >= 300) throw new Error(`${r.resourceType}/${r.id}: HTTP ${res.status}`);
}

for (const name of args.backends) {
  const be = await prepareBackend(name, args.databaseUrl, 'attach');
  const dicomPort = await freePort();
  const files = await mkdtemp(join(tmpdir(), 'teleo-attach-'));
  const server = await startServer({
    dataDir: be.dataDir, databaseUrl: be.databaseUrl, scope: 'system/*.cruds',
    env: { DICOM_PORT: String(dicomPort), DICOM_KNOWN_AES: JSON.stringify([{ aeTitle: 'MODALITY', host: '127.0.0.1', operations: ['echo', 'store'] }]) },
  });
  const admin = httpClient(server.origin, server.token, 8);
  const key = await loadOrCreateDevSigningKey(be.dataDir);
  const sign = (who: string, role: string) => signDevToken({ secret: key.secret, issuer: key.issuer, sub: who, fhirUser: `Practitioner/${who}`, role, scope: 'user/*.cruds', expiresIn: '2h' });
  let ws: WebSocket | undefined;
  try {
    for (const r of [
      { resourceType: 'Practitioner', id: 'requerant' }, { resourceType: 'Practitioner', id: 'requis' },
      { resourceType: 'PractitionerRole', id: 'requerant', practitioner: { reference: 'Practitioner/requerant' } },
      { resourceType: 'PractitionerRole', id: 'requis', practitioner: { reference: 'Practitioner/requis' } },
    ]) await put(admin, r);
    const requerant = httpClient(server.origin, await sign('requerant', 'PractitionerRole/requerant'), 4);
    const requisToken = await sign('requis', 'PractitionerRole/requis');
    const requis = httpClient(server.origin, requisToken, 2);
    const sub = await requis.json<Subscription>('POST', '/fhir/Subscription', {
      resourceType: 'Subscription', status: 'requested', reason: 'bench', criteria: 'Task?owner=PractitionerRole/requis',
      channel: { type: 'websocket', payload: 'application/fhir+json' },
    });
    if (sub.status !== 201) throw new Error(`Subscription: HTTP ${sub.status}`);
    const subId = sub.body.id as string;
    for (let i = 0; i < 100 && (await requis.json<Subscription>('GET', `/fhir/Subscription/${subId}`)).body.status !== 'active'; i++) await sleep(50);
    const sentAt = new Map<string, number>(); // Task id → send time
    const latency = new Map<string, number>();
    ws = new WebSocket(`${server.origin.replace(/^http/, 'ws')}/fhir/websocket`, { headers: { Authorization: `Bearer ${requisToken}` } });
    await new Promise<void>((resolve, reject) => { ws?.once('open', () => resolve()); ws?.once('error', reject); });
    ws.on('message', (data) => {
      const text = data.toString();
      if (!text.startsWith(`payload ${subId} `)) return;
      const task = JSON.parse(text.slice(`payload ${subId} `.length)) as Task;
      const at = Date.now();
      const hasExam = (task.input ?? []).some((i) => i.valueReference?.reference?.startsWith('ImagingStudy/'));
      if (task.id && hasExam && sentAt.has(task.id) && !latency.has(task.id)) latency.set(task.id, at - (sentAt.get(task.id) as number));
    });
    ws.send(`bind ${subId}`);
    await sleep(500);
    const codes: number[] = [];
    log(`${name}: ${args.num.studies} studies, one every ${args.num.interval} ms`);
    for (let i = 0; i < args.num.studies; i++) {
      const study = uid();
      const ins = `2${String(1e13 + i).slice(1)}${i % 10}`.slice(0, 15);
      const body: Parameters = {
        resourceType: 'Parameters', parameter: [
          { name: 'patient', part: [{ name: 'ins', valueString: ins }, { name: 'family', valueString: 'BENCH' }, { name: 'given', valueString: 'Imagerie' }] },
          { name: 'workflow', valueCode: 'avis-programme' },
          { name: 'requester', valueReference: { reference: 'PractitionerRole/requerant' } },
          { name: 'owner', valueReference: { reference: 'PractitionerRole/requis' } },
          { name: 'exam', valueIdentifier: { system: 'urn:dicom:uid', value: `urn:oid:${study}` } },
        ],
      };
      const created = await requerant.json<Parameters>('POST', '/fhir/Task/$create-teledossier', body);
      if (created.status !== 201) throw new Error(`$create-teledossier: HTTP ${created.status} ${JSON.stringify(created.body)}`);
      const task = created.body.parameter?.find((p) => p.name === 'task')?.resource as Task;
      const file = join(files, `${i}.dcm`);
      await writeCt(file, study, ins);
      await sleep(args.num.interval);
      sentAt.set(task.id as string, Date.now());
      codes.push(await storescu(dicomPort, file));
    }
    for (let i = 0; i < 100 && latency.size < args.num.studies; i++) await sleep(100);
    const lat = summarize([...latency.values()]);
    const failedSends = codes.filter((c) => c !== 0).length;
    printTable(`${name}: C-STORE sent → dossier notified (websocket), ${args.num.studies} studies`, ['notified', 'storescu failures', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'target p99 < 1 s'],
      [[`${latency.size}/${args.num.studies}`, String(failedSends), fmt(lat.p50), fmt(lat.p95), fmt(lat.p99), fmt(lat.max), verdict(lat.p99 < 1000 && latency.size === args.num.studies)]] as Row[]);
  } finally {
    ws?.close();
    await server.stop();
    await rm(files, { recursive: true, force: true });
    await be.cleanup();
  }
}
