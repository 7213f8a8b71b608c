// Study forwarding (issue 4 deliverable 8) with real peers: instances stored through the DIMSE gateway (storescu), the
// forwarding's jobs run by the real job runner, sent by the C-STORE SCU to a dcmtk storescp; identity rewrite checked
// with dcmdump and dciodvfy; retry after the destination comes up; a restart in the middle resends nothing already done.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, ImagingStudy, Patient, Task } from '@medplum/fhirtypes';
import { expect } from 'chai';
import { createValidator } from '../../fhir/validation.js';
import { createLogger } from '../../kernel/logger.js';
import { SYSTEM_PRINCIPAL } from '../../kernel/principal.js';
import { createJobRunner, type JobRunner } from '../../jobs/job-runner.js';
import { testRegistry } from '../../store/test-storages.js';
import { createScopeAccessPolicy } from '../access-policy.js';
import { AUDIT_JOB } from '../audit.js';
import { createResourceService, type ResourceService } from '../resource-service.js';
import { createDimseStudySender, datasetOf } from '../../dicom/c-store-scu.js';
import { openGatewayHarness, type GatewayHarness } from '../../dicom/test-gateway-harness.js';
import {
  describeWithDicomPeers, freePort, newUid, run, startStoreScp, writeGeneratedDicom, type StoreScpPeer,
} from '../../dicom/test-dicom-peers.js';
import { DOSSIER_CONTENT_SYSTEM } from '../teleexpertise/dossier-model.js';
import { WORKFLOW_SYSTEM } from '../teleexpertise/workflow-definition.js';
import { countsOf, createStudyForwarding, FORWARD_INSTANCE_JOB, FORWARD_PLAN_JOB, FORWARD_TRIGGER_JOB, type StudyForwarding } from './study-forwarding.js';
import { forwardingTrigger, forwardingTriggerHandler } from './forwarding-trigger.js';

const ctx = { principal: SYSTEM_PRINCIPAL };
const INS = 'urn:oid:1.2.250.1.213.1.4.8';

describeWithDicomPeers('Study forwarding to a PACS (C-STORE SCU → storescp)', function () {
  this.timeout(90_000);
  let dir: string;
  let h: GatewayHarness;
  let svc: ResourceService;
  let pacs: StoreScpPeer;
  let latePort: number;
  const runners: JobRunner[] = [];

  const sopsOf = async (study: string) => (await h.index.listStudy(study)).map((i) => i.sopInstanceUid);
  /** SOP Instance UID of each file storescp wrote (one file per reception: +uf). */
  async function receptions(peer: StoreScpPeer): Promise<string[]> {
    const files = await peer.files();
    if (files.length === 0) return [];
    const dump = (await run('dcmdump', ['+P', '0002,0003', ...files])).output;
    return [...dump.matchAll(/\(0002,0003\) UI \[([0-9.]+)\]/g)].map((m) => m[1]);
  }

  function forwardingOver(port: number, maxAttempts = 5): { forwarding: StudyForwarding; runner: JobRunner } {
    const forwarding = createStudyForwarding({
      svc, index: h.index, blobs: h.blobs, logger: createLogger('silent'), quietMs: 0, maxAttempts,
      sender: createDimseStudySender({ aeTitle: 'TELEO', knownAes: [
        { aeTitle: 'PACS', host: '127.0.0.1', port: pacs.port, operations: ['echo'] },
        { aeTitle: 'LATE', host: '127.0.0.1', port, operations: ['echo'] },
      ], timeoutMs: 2000 }),
    });
    const runner = createJobRunner(h.storage.jobs, { ...forwarding.handlers, [FORWARD_TRIGGER_JOB]: forwardingTriggerHandler(forwarding) },
      createLogger('silent'), { backoffBaseMs: 200, backoffMaxMs: 400, maxAttempts: 20 });
    runners.push(runner);
    return { forwarding, runner };
  }

  /** A study of `n` generated instances stored through the gateway, and its ImagingStudy (subject: a Patient with an INS). */
  async function storedStudy(n: number): Promise<{ uid: string; study: ImagingStudy; patient: Patient }> {
    const uid = newUid();
    const files: string[] = [];
    for (let i = 0; i < n; i++) {
      files.push(join(dir, 'in', `${uid}-${i}.dcm`));
      await writeGeneratedDicom(files[i], { studyInstanceUid: uid, pixel: i });
    }
    const sent = await run('storescu', ['-aet', 'MODALITY', '-aec', 'TELEO', '127.0.0.1', String(h.port), ...files]);
    expect(sent.code, sent.output).to.equal(0);
    const patient = (await svc.create<Patient>(ctx, {
      resourceType: 'Patient', identifier: [{ system: INS, value: '285017512345678' }], name: [{ use: 'official', family: 'DURAND', given: ['Marie', 'Anne'] }],
      birthDate: '1970-01-02', gender: 'female',
    })).resource;
    const study = (await svc.create<ImagingStudy>(ctx, {
      resourceType: 'ImagingStudy', status: 'available', subject: { reference: `Patient/${patient.id}` }, identifier: [{ system: 'urn:dicom:uid', value: `urn:oid:${uid}` }],
    })).resource;
    return { uid, study, patient };
  }

  const task = (id: string) => svc.read<Task>(ctx, 'Task', id);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'teleo-forward-'));
    await mkdir(join(dir, 'in'));
    await mkdir(join(dir, 'pacs'));
    pacs = await startStoreScp(join(dir, 'pacs'), 'PACS', { uniqueNames: true });
    latePort = await freePort();
    h = await openGatewayHarness(dir, 'memory');
    svc = createResourceService({
      storage: h.storage, registry: testRegistry, validator: createValidator(new Map()), access: createScopeAccessPolicy(),
      logger: createLogger('silent'), searchDefaults: { defaultCount: 20, maxCount: 100 }, afterWrite: [forwardingTrigger({ 'rcp-greffe-renale': { destination: 'PACS' } })],
    });
  });

  after(async () => {
    for (const r of runners) await r.stop();
    await h?.close();
    await pacs?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends every instance of the study as stored, byte for byte, and completes its Task with the counts (audited)', async () => {
    const { uid, study } = await storedStudy(3);
    const { forwarding, runner } = forwardingOver(latePort);
    const created = await forwarding.request(ctx, { study: study.id as string, destination: 'PACS', useDossierIdentity: false });
    expect(created).to.include({ status: 'requested' });
    expect(created.focus?.reference).to.equal(`ImagingStudy/${study.id}`);
    await runner.drain();
    const done = await task(created.id as string);
    expect(done.status).to.equal('completed');
    expect(countsOf(done)).to.include({ total: 3, sent: 3, failed: 0 });
    const sops = await sopsOf(uid);
    expect((await receptions(pacs)).filter((s) => sops.includes(s)).sort()).to.deep.equal([...sops].sort());
    for (const file of await pacs.files()) {
      const sop = (await receptions({ ...pacs, files: async () => [file] }))[0];
      if (!sops.includes(sop)) continue;
      const stored = await h.index.get(sop);
      expect(datasetOf(await readFile(file)).equals(datasetOf(await h.blobBytes(stored?.blobKey ?? ''))), sop).to.equal(true);
    }
    const audits = (await h.storage.jobs.list({ type: AUDIT_JOB })).map((j) => j.payload.event as AuditEvent);
    expect(audits.some((a) => a.subtype?.[1]?.code === '110104' && a.outcomeDesc === 'to PACS: 3 sent, 0 failed')).to.equal(true);
    expect(audits.some((a) => a.subtype?.[1]?.code === '110102' && a.entity?.some((e) => e.what?.reference === `urn:oid:${uid}`))).to.equal(true);
  });

  it('writes the dossier\'s patient identity into the copies, keeping the UIDs (dcmdump, dciodvfy)', async () => {
    const { uid, study } = await storedStudy(1);
    const { forwarding, runner } = forwardingOver(latePort);
    const created = await forwarding.request(ctx, { study: study.id as string, destination: 'PACS', useDossierIdentity: true });
    await runner.drain();
    expect((await task(created.id as string)).status).to.equal('completed');
    const [sop] = await sopsOf(uid);
    const files = await pacs.files();
    const copy = (await Promise.all(files.map(async (f) => ((await run('dcmdump', ['+P', '0008,0018', f])).output.includes(sop) ? f : undefined)))).find(Boolean) as string;
    const dump = (await run('dcmdump', ['+U8', copy])).output;
    expect(dump).to.match(/\(0010,0010\) PN \[DURAND\^Marie\^Anne\]/);
    expect(dump).to.match(/\(0010,0020\) LO \[285017512345678\]/);
    expect(dump).to.match(/\(0010,0021\) LO \[ASIP-SANTE-INS-NIR\]/);
    expect(dump).to.match(/\(0040,0032\) UT \[1\.2\.250\.1\.213\.1\.4\.8\]/);
    expect(dump).to.match(/\(0010,0030\) DA \[19700102\]/);
    expect(dump).to.match(/\(0010,0040\) CS \[F\]/);
    expect(dump).to.include(`(0020,000d) UI [${uid}]`);
    const stored = await h.index.get(sop);
    const original = join(dir, 'original.dcm');
    await writeFile(original, await h.blobBytes(stored?.blobKey ?? ''));
    const errorsOf = async (f: string) => (await run('dciodvfy', [f])).output.split('\n').filter((l) => l.startsWith('Error')).map((l) => l.trim()).sort();
    // No error of its own: the generated original lacks some Type 2 attributes, and the rewrite fills the Patient ones.
    const copyErrors = await errorsOf(copy);
    const originalErrors = await errorsOf(original);
    expect(copyErrors.filter((e) => !originalErrors.includes(e))).to.deep.equal([]);
    expect(copyErrors.filter((e) => e.includes('Module=<Patient>'))).to.deep.equal([]);
    expect(originalErrors.filter((e) => e.includes('Module=<Patient>'))).to.have.length(2);
  });

  it('retries while the destination is down, then sends when it comes up', async () => {
    const { uid, study } = await storedStudy(2);
    const { forwarding, runner } = forwardingOver(latePort);
    const created = await forwarding.request(ctx, { study: study.id as string, destination: 'LATE', useDossierIdentity: false });
    await runner.drain();
    const waiting = await task(created.id as string);
    expect(waiting.status).to.equal('in-progress');
    expect(countsOf(waiting).lastError).to.match(/LATE@127\.0\.0\.1:\d+ failed/);
    await mkdir(join(dir, 'late'));
    const late = await startStoreScp(join(dir, 'late'), 'LATE', { port: latePort, uniqueNames: true });
    try {
      for (let i = 0; i < 50 && (await task(created.id as string)).status === 'in-progress'; i++) {
        await new Promise((r) => setTimeout(r, 200));
        await runner.drain();
      }
      const done = await task(created.id as string);
      expect(done.status).to.equal('completed');
      expect((await receptions(late)).sort()).to.deep.equal((await sopsOf(uid)).sort());
    } finally {
      await late.close();
    }
  });

  it('after a restart in the middle, sends only what was not done (the one in flight at the crash again)', async () => {
    const { uid, study } = await storedStudy(4);
    const before = await receptions(pacs);
    const first = forwardingOver(latePort);
    const created = await first.forwarding.request(ctx, { study: study.id as string, destination: 'PACS', useDossierIdentity: false });
    const [planJob] = await h.storage.jobs.claim([FORWARD_PLAN_JOB], 1);
    await first.forwarding.handlers[FORWARD_PLAN_JOB](planJob);
    await h.storage.jobs.complete(planJob.id);
    for (let i = 0; i < 2; i++) {
      const [job] = await h.storage.jobs.claim([FORWARD_INSTANCE_JOB], 1);
      await first.forwarding.handlers[FORWARD_INSTANCE_JOB](job);
      await h.storage.jobs.complete(job.id);
    }
    const [inFlight] = await h.storage.jobs.claim([FORWARD_INSTANCE_JOB], 1);
    await first.forwarding.handlers[FORWARD_INSTANCE_JOB](inFlight); // sent; the process dies before marking it done
    await first.forwarding.close();
    expect(await h.storage.jobs.recover()).to.equal(1);
    const second = forwardingOver(latePort);
    await second.runner.drain();
    expect((await task(created.id as string)).status).to.equal('completed');
    const sent = (await receptions(pacs)).filter((s) => !before.includes(s));
    const sops = await sopsOf(uid);
    const times = (sop: string) => sent.filter((s) => s === sop).length;
    expect(times(String(inFlight.payload.sop))).to.equal(2);
    expect(sops.filter((s) => s !== inFlight.payload.sop).map(times)).to.deep.equal([1, 1, 1]);
  });

  it('refuses a destination that is not a configured AE with a host and a port (422)', async () => {
    const { study } = await storedStudy(1);
    const { forwarding } = forwardingOver(latePort);
    const e = await forwarding.request(ctx, { study: study.id as string, destination: 'NOWHERE', useDossierIdentity: false }).catch((x: unknown) => x);
    expect((e as { outcome?: { id?: string } }).outcome?.id).to.equal('422');
  });

  it('forwards a study as soon as it is attached to a dossier of a workflow with a rule (RCP → the recipient\'s PACS)', async () => {
    const { uid, study, patient } = await storedStudy(2);
    const { runner } = forwardingOver(latePort);
    const dossier = (await svc.create<Task>(ctx, {
      resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${patient.id}` },
      code: { coding: [{ system: WORKFLOW_SYSTEM, code: 'rcp-greffe-renale' }] },
    })).resource;
    await svc.update(ctx, { ...dossier, input: [{ type: { coding: [{ system: DOSSIER_CONTENT_SYSTEM, code: 'exam' }] }, valueReference: { reference: `ImagingStudy/${study.id}` } }] });
    await runner.drain();
    const tasks = (await svc.search(ctx, 'Task', { focus: [`ImagingStudy/${study.id}`] })).resources as Task[];
    expect(tasks).to.have.length(1);
    expect(tasks[0].status).to.equal('completed');
    expect(tasks[0].input?.find((i) => i.valueString)?.valueString).to.equal('PACS');
    const received = await receptions(pacs);
    for (const sop of await sopsOf(uid)) expect(received).to.include(sop);
  });
});
