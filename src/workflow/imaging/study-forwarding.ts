// Issue 4 deliverable 8: forwarding a study to a configured PACS as a durable, idempotent, visible job. Each forwarding
// is a FHIR R4 Task (task.html: code forward-study, focus = the ImagingStudy, status requested → in-progress →
// completed | failed, output = counts and last error) written through the resource service (authorised, audited),
// plus jobs: a plan (which instances), one job per instance (its completion is the durable record that it was sent:
// after a restart only the unfinished ones run again), and a finish job queued behind them (same ordering key).
// The instances go through an outbound port (`StudySender`): C-STORE today (dicom/c-store-scu.ts), STOW-RS later.
import type { ImagingStudy, Patient, ServiceRequest, Task, TaskOutput } from '@medplum/fhirtypes';
import { errors, OperationOutcomeError } from '../../kernel/errors.js';
import type { Logger } from '../../kernel/logger.js';
import type { Job } from '../../store/job-queue.js';
import type { BlobStore } from '../../store/blob-store.js';
import type { IndexedInstance, InstanceIndex } from '../../store/instance-index.js';
import { rewritePatientIdentity, type PatientIdentity } from '../../imaging/patient-identity-rewrite.js';
import { queueAudit, type AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';
import { IMAGING_CTX } from './imaging-study-sync.js';
import { identityOfPatient } from './forwarding-identity.js';

export const FORWARDING_SYSTEM = 'https://teleo.fr/fhir/CodeSystem/teleo-imaging-task';
export const FORWARD_STUDY = 'forward-study';
export const FORWARD_PLAN_JOB = 'study-forwarding';
export const FORWARD_INSTANCE_JOB = 'study-forwarding-instance';
export const FORWARD_FINISH_JOB = 'study-forwarding-finish';
export const FORWARD_TRIGGER_JOB = 'study-forwarding-trigger';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';

/** One instance's outcome at the destination (PS3.4 Table B.2-1 classes). */
export interface SendOutcome {
  readonly kind: 'success' | 'warning' | 'failure';
  readonly detail?: string;
}

/** A connection to a destination carrying one study (one DICOM association). */
export interface SendSession {
  send(instance: IndexedInstance, part10: Buffer): Promise<SendOutcome>;
  close(): Promise<void>;
}

/** The outbound port: opens sessions to configured destinations. */
export interface StudySender {
  knows(destination: string): boolean;
  /** `instances`: all that the session may carry (their SOP classes and transfer syntaxes are negotiated up front). */
  open(destination: string, instances: readonly IndexedInstance[]): Promise<SendSession>;
}

/** Thrown by a sender when the destination cannot be reached or the session was lost: the job retries with backoff. */
export class DestinationUnavailable extends Error {}

/** Automatic forwarding of a workflow's studies (e.g. RCP: to the recipient's PACS). */
export interface ForwardingRule {
  readonly destination: string;
  /** Write the dossier's patient identity into the copies. */
  readonly useDossierIdentity?: boolean;
}

export interface StudyForwardingDeps {
  readonly svc: ResourceService;
  readonly index: InstanceIndex;
  readonly blobs: BlobStore;
  readonly sender: StudySender;
  readonly logger: Logger;
  /** A study is sent once no instance of it has arrived for this long (an arriving study attaches at its first instance). */
  readonly quietMs: number;
  /** Attempts of one instance before the forwarding is given up (failed); keep it below the job runner's maxAttempts. */
  readonly maxAttempts?: number;
}

export interface ForwardRequest {
  readonly study: string;
  readonly destination: string;
  readonly useDossierIdentity: boolean;
  /** Deduplicates a forwarding requested twice (a trigger job run again): the second request returns the first Task. */
  readonly key?: string;
}

const KEY_SYSTEM = 'urn:teleo:study-forwarding';

const coding = (code: string) => ({ coding: [{ system: FORWARDING_SYSTEM, code }] });
const codeOf = (x: { type?: { coding?: { system?: string; code?: string }[] } }) => x.type?.coding?.find((c) => c.system === FORWARDING_SYSTEM)?.code;
const TERMINAL = new Set<Task['status']>(['completed', 'failed', 'cancelled', 'rejected', 'entered-in-error']);
const is412 = (e: unknown) => e instanceof OperationOutcomeError && e.outcome.id === '412';

export interface ForwardingCounts { total: number; sent: number; failed: number; failedUids: string[]; lastError?: string }

export function countsOf(task: Task): ForwardingCounts {
  const out = task.output ?? [];
  const int = (code: string) => out.find((o) => codeOf(o) === code)?.valueInteger ?? 0;
  return {
    total: int('instances-total'), sent: int('instances-sent'), failed: int('instances-failed'),
    failedUids: out.filter((o) => codeOf(o) === 'failed-instance').map((o) => String(o.valueString)),
    lastError: out.find((o) => codeOf(o) === 'last-error')?.valueString,
  };
}

function outputOf(c: ForwardingCounts): TaskOutput[] {
  return [
    { type: coding('instances-total'), valueInteger: c.total },
    { type: coding('instances-sent'), valueInteger: c.sent },
    { type: coding('instances-failed'), valueInteger: c.failed },
    ...c.failedUids.slice(0, 100).map((uid) => ({ type: coding('failed-instance'), valueString: uid })),
    ...(c.lastError ? [{ type: coding('last-error'), valueString: c.lastError.slice(0, 1000) }] : []),
  ];
}

export function createStudyForwarding(deps: StudyForwardingDeps) {
  const { svc, index, sender, logger } = deps;
  const ctx = IMAGING_CTX;
  const maxAttempts = deps.maxAttempts ?? 10;
  const sessions = new Map<string, { session: Promise<SendSession>; destination: string }>();
  const sentSinceSave = new Map<string, number>();
  let lastSave = 0;

  /** Creates the forwarding Task and its plan job in one transaction of the caller (who must may read the study, create Tasks). */
  async function request(c: AuditContext, r: ForwardRequest): Promise<Task> {
    if (!sender.knows(r.destination)) throw errors.unprocessable(`Unknown forwarding destination: ${r.destination} (not a configured DICOM AE with a host and a port)`);
    return svc.transaction(async (t) => {
      const study = await t.read<ImagingStudy>(c, 'ImagingStudy', r.study);
      const uid = study.identifier?.find((i) => i.value?.startsWith('urn:oid:'))?.value?.slice('urn:oid:'.length);
      if (!uid) throw errors.unprocessable(`ImagingStudy/${r.study} has no StudyInstanceUID`);
      let patient: string | undefined = study.subject?.reference;
      let identity: PatientIdentity | undefined;
      if (r.useDossierIdentity) {
        const basedOn = study.basedOn?.[0]?.reference;
        if (basedOn?.startsWith('ServiceRequest/')) patient = (await t.read<ServiceRequest>(c, 'ServiceRequest', basedOn.slice('ServiceRequest/'.length))).subject?.reference ?? patient;
        if (!patient?.startsWith('Patient/')) throw errors.unprocessable(`ImagingStudy/${r.study}: no patient to take the identity from`);
        identity = identityOfPatient(await t.read<Patient>(c, 'Patient', patient.slice('Patient/'.length)));
      }
      const task: Task = {
        resourceType: 'Task', ...(r.key ? { identifier: [{ system: KEY_SYSTEM, value: r.key }] } : {}), status: 'requested', intent: 'order', code: { ...coding(FORWARD_STUDY), text: 'Transfert de l\'examen vers un PACS' },
        focus: { reference: `ImagingStudy/${study.id}` }, ...(patient ? { for: { reference: patient } } : {}),
        authoredOn: new Date().toISOString(), ...(c.principal.fhirUser ? { requester: { reference: c.principal.fhirUser } } : {}),
        input: [
          { type: coding('destination'), valueString: r.destination },
          { type: coding('patient-identity'), valueCode: r.useDossierIdentity ? 'dossier' : 'as-stored' },
        ],
      };
      const { resource: created, created: isNew } = await t.create(c, task, r.key ? { ifNoneExist: { identifier: [`${KEY_SYSTEM}|${r.key}`] } } : {});
      if (!isNew) return created;
      await t.jobs.enqueue(FORWARD_PLAN_JOB, { task: created.id as string, study: uid, destination: r.destination, identity: identity ?? null, covered: [] });
      return created;
    });
  }

  async function updateTask(id: string, change: (task: Task) => Task | undefined): Promise<Task | undefined> {
    for (let attempt = 1; ; attempt++) {
      const task = await svc.read<Task>(ctx, 'Task', id);
      const next = change(task);
      if (!next) return task;
      try {
        return (await svc.update(ctx, { ...next, lastModified: new Date().toISOString() }, { ifMatch: task.meta?.versionId })).resource;
      } catch (e) {
        if (!is412(e) || attempt >= 5) throw e;
      }
    }
  }

  async function closeSession(task: string): Promise<void> {
    const open = sessions.get(task);
    sessions.delete(task);
    if (open) await open.session.then((s) => s.close(), () => undefined).catch(() => undefined);
  }

  type Payload = { task: string; study: string; destination: string; identity: PatientIdentity | null; covered: string[]; sop?: string };
  const payloadOf = (job: Job) => job.payload as unknown as Payload;

  /** Plan of a round: the instances not covered yet, once the study is quiet; one job each, then the finish job. */
  async function plan(job: Job): Promise<void> {
    const p = payloadOf(job);
    const task = await svc.read<Task>(ctx, 'Task', p.task);
    if (TERMINAL.has(task.status)) return;
    const instances = await index.listStudy(p.study);
    const newest = Math.max(0, ...instances.map((i) => Date.parse(i.receivedAt)));
    if (Date.now() - newest < deps.quietMs) {
      await svc.jobs.enqueue(FORWARD_PLAN_JOB, { ...p }, { runAt: new Date(newest + deps.quietMs + 50), idempotencyKey: `${job.id}#later` });
      return;
    }
    const covered = new Set(p.covered);
    const todo = instances.filter((i) => !covered.has(i.sopInstanceUid));
    const all = [...p.covered, ...todo.map((i) => i.sopInstanceUid)];
    await svc.transaction(async (t) => {
      const current = await t.read<Task>(ctx, 'Task', p.task);
      const counts = countsOf(current);
      await t.update(ctx, { ...current, status: 'in-progress', lastModified: new Date().toISOString(), output: outputOf({ ...counts, total: all.length }) }, { ifMatch: current.meta?.versionId });
      const orderingKey = `forward:${p.task}`;
      for (const i of todo) await t.jobs.enqueue(FORWARD_INSTANCE_JOB, { ...p, covered: [], sop: i.sopInstanceUid }, { orderingKey });
      await t.jobs.enqueue(FORWARD_FINISH_JOB, { ...p, covered: all }, { orderingKey });
      if (p.covered.length === 0) {
        await queueAudit(t.jobs, ctx, { interaction: 'read', action: 'E', subtype: { system: DCM, code: '110102', display: 'Begin Transferring DICOM Instances' },
          entities: [`Task/${p.task}`, `urn:oid:${p.study}`], outcomeDesc: `to ${p.destination}: ${todo.length} instance(s)` });
      }
    });
  }

  async function recordFailure(p: Payload, sop: string, detail: string): Promise<void> {
    logger.warn('forwarding: instance not accepted', { task: `Task/${p.task}`, sopInstanceUid: sop, destination: p.destination, detail });
    await updateTask(p.task, (t) => {
      const c = countsOf(t);
      if (c.failedUids.includes(sop)) return undefined;
      return { ...t, output: outputOf({ ...c, failed: c.failed + 1, failedUids: [...c.failedUids, sop], lastError: `${sop}: ${detail}` }) };
    });
  }

  async function sendOne(job: Job): Promise<void> {
    const p = payloadOf(job);
    const sop = p.sop as string;
    const task = await svc.read<Task>(ctx, 'Task', p.task);
    if (TERMINAL.has(task.status)) return;
    const instance = await index.get(sop);
    if (!instance) return recordFailure(p, sop, 'no longer stored');
    let part10 = await readAll(deps.blobs, instance.blobKey);
    if (p.identity) part10 = rewritePatientIdentity(part10, p.identity);
    try {
      let open = sessions.get(p.task);
      if (!open) {
        const study = await index.listStudy(p.study);
        open = { destination: p.destination, session: sender.open(p.destination, study.length ? study : [instance]) };
        sessions.set(p.task, open);
      }
      const outcome = await (await open.session).send(instance, part10);
      if (outcome.kind === 'failure') return recordFailure(p, sop, outcome.detail ?? 'refused by the destination');
      await progress(p.task);
    } catch (e) {
      await closeSession(p.task);
      if (!(e instanceof DestinationUnavailable)) throw e;
      if (job.attempts < maxAttempts) {
        await updateTask(p.task, (t) => (countsOf(t).lastError === e.message ? undefined : { ...t, output: outputOf({ ...countsOf(t), lastError: e.message }) }));
        throw e;
      }
      logger.error('forwarding given up', { task: `Task/${p.task}`, destination: p.destination, attempts: job.attempts, error: e.message });
      await updateTask(p.task, (t) => ({ ...t, status: 'failed', output: outputOf({ ...countsOf(t), lastError: `${e.message} (given up after ${job.attempts} attempts)` }) }));
    }
  }

  /** The sent count shown on the Task, saved at most every 2 s (the exact count is written by the finish job). */
  async function progress(task: string): Promise<void> {
    sentSinceSave.set(task, (sentSinceSave.get(task) ?? 0) + 1);
    if (Date.now() - lastSave < 2000) return;
    lastSave = Date.now();
    const n = sentSinceSave.get(task) ?? 0;
    sentSinceSave.delete(task);
    await updateTask(task, (t) => ({ ...t, output: outputOf({ ...countsOf(t), sent: countsOf(t).sent + n }) }));
  }

  async function finish(job: Job): Promise<void> {
    const p = payloadOf(job);
    await closeSession(p.task);
    sentSinceSave.delete(p.task);
    if (TERMINAL.has((await svc.read<Task>(ctx, 'Task', p.task)).status)) return; // given up meanwhile
    const covered = new Set(p.covered);
    const late = (await index.listStudy(p.study)).filter((i) => !covered.has(i.sopInstanceUid));
    if (late.length > 0) {
      await svc.jobs.enqueue(FORWARD_PLAN_JOB, { ...p }, { idempotencyKey: `${job.id}#next` });
      return;
    }
    await svc.transaction(async (t) => {
      const current = await t.read<Task>(ctx, 'Task', p.task);
      if (TERMINAL.has(current.status)) return;
      const c = countsOf(current);
      const counts = { ...c, total: p.covered.length, sent: p.covered.length - c.failed };
      await t.update(ctx, { ...current, status: c.failed > 0 ? 'failed' : 'completed', lastModified: new Date().toISOString(), output: outputOf(counts) }, { ifMatch: current.meta?.versionId });
      await queueAudit(t.jobs, ctx, {
        interaction: 'read', action: 'R', subtype: { system: DCM, code: '110104', display: 'DICOM Instances Transferred' },
        entities: [`Task/${p.task}`, `urn:oid:${p.study}`], outcome: c.failed === 0 ? '0' : counts.sent > 0 ? '4' : '8',
        outcomeDesc: `to ${p.destination}: ${counts.sent} sent, ${c.failed} failed`,
      });
    });
    logger.info('study forwarded', { task: `Task/${p.task}`, destination: p.destination, sent: p.covered.length - countsOf(await svc.read<Task>(ctx, 'Task', p.task)).failed });
  }

  return {
    request,
    handlers: { [FORWARD_PLAN_JOB]: plan, [FORWARD_INSTANCE_JOB]: sendOne, [FORWARD_FINISH_JOB]: finish } as Record<string, (job: Job) => Promise<void>>,
    /** Closes the sessions still open (shutdown). */
    async close(): Promise<void> {
      await Promise.all([...sessions.keys()].map(closeSession));
    },
  };
}

async function readAll(blobs: BlobStore, key: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of await blobs.get(key)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

export type StudyForwarding = ReturnType<typeof createStudyForwarding>;
