// Issue 4 deliverable 7 (the kit's "Ajouter un examen — À partir du PACS"): query a configured hospital PACS for a
// télédossier with the kit's filters (PS3.4 C.6.2.1 study level), then retrieve chosen studies in the background: one
// durable job per study, its progress on a FHIR R4 Task (task.html) "retrieve-study" partOf the dossier, retried with
// backoff, resumed after a restart; on completion the study is attached to the dossier (study-attachment.ts).
import type { ImagingStudy, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { DicomJson } from '../../imaging/dicom-json.js';
import { errors } from '../../kernel/errors.js';
import type { Logger } from '../../kernel/logger.js';
import type { Job } from '../../store/job-queue.js';
import { queueAudit, type AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';
import { IMAGE_SOURCE_URL } from '../teleexpertise/dossier-model.js';
import { workflowCodeOf } from '../teleexpertise/index.js';
import { DICOM_UID_SYSTEM } from '../teleexpertise/teledossier-resources.js';
import { IMAGING_CTX } from './imaging-study-sync.js';
import type { PacsDefinition, PacsPort, StudyQuery } from './pacs-port.js';
import { PACS_TASK_SYSTEM, RETRIEVE_TASK_CODE, retrieveTaskOf, withProgress, type RetrieveState } from './retrieve-task.js';
import { attachStudy } from './study-attachment.js';
import { studyQueryOf, type PacsFilters } from './pacs-filters.js';

export const PACS_RETRIEVE_JOB = 'pacs-retrieve';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
/** DICOM audit event ID "Query" (PS3.15 A.5.3.12, DCM 110112). */
const QUERY_EVENT = { system: DCM, code: '110112', display: 'Query' };
const CLOSED = new Set<Task['status']>(['completed', 'cancelled', 'rejected', 'failed', 'entered-in-error']);
const UID = /^[0-2](\.(0|[1-9][0-9]*)){1,63}$/;

/** One study the PACS answered, as the kit lists it. */
export interface PacsStudyMatch {
  readonly studyInstanceUid: string;
  readonly json: DicomJson;
}

export interface PacsQueryResult {
  readonly pacs: string;
  /** The matching keys sent (the dossier's patient when no filter was given). */
  readonly query: StudyQuery;
  readonly matches: readonly PacsStudyMatch[];
}

export interface RetrievePayload {
  readonly task: string;
  readonly dossier: string;
  readonly pacs: string;
  readonly study: string;
  /** Whether the platform already had an ImagingStudy of it when asked (else it counts as a PACS import). */
  readonly existed: boolean;
}

export interface PacsQueryRetrieveDeps {
  readonly svc: ResourceService;
  readonly pacs: readonly PacsDefinition[];
  readonly port: PacsPort;
  /** Brings the study's ImagingStudy up to date from the index (imaging-study-sync.ts). */
  readonly syncStudy: (studyInstanceUid: string) => Promise<ImagingStudy | undefined>;
  readonly logger: Logger;
  /** Attempts before the Task is marked failed; keep it at most the job runner's maxAttempts. Default 10. */
  readonly maxAttempts?: number;
  /** Least time between two progress writes on the Task; default 1000 ms. */
  readonly progressIntervalMs?: number;
}

export interface PacsQueryRetrieve {
  /** Names of the configured PACS ("Sélectionnez un serveur"). */
  readonly names: readonly string[];
  query(ctx: AuditContext, dossierId: string, pacsName: string | undefined, filters: PacsFilters): Promise<PacsQueryResult>;
  /** One "retrieve-study" Task per study (an active one for the same dossier and study is reused), jobs enqueued. */
  retrieve(ctx: AuditContext, dossierId: string, pacsName: string | undefined, studies: readonly string[]): Promise<Task[]>;
  /** The `pacs-retrieve` job handler. */
  run(job: Job): Promise<void>;
}

const text = (json: DicomJson, tag: string): string | undefined => {
  const v = json[tag]?.Value?.[0];
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
};

export function createPacsQueryRetrieve(deps: PacsQueryRetrieveDeps): PacsQueryRetrieve {
  const { svc, port, logger } = deps;
  const maxAttempts = deps.maxAttempts ?? 10;
  const interval = deps.progressIntervalMs ?? 1000;

  function pacsNamed(name: string | undefined): PacsDefinition {
    if (deps.pacs.length === 0) throw errors.businessRule('No hospital PACS is configured on this platform (PACS setting)');
    if (name === undefined) {
      if (deps.pacs.length === 1) return deps.pacs[0];
      throw errors.badRequest(`Several PACS are configured: name one with the "pacs" parameter (${deps.pacs.map((p) => p.name).join(', ')})`, 'pacs');
    }
    const found = deps.pacs.find((p) => p.name === name);
    if (!found) throw errors.badRequest(`Unknown PACS "${name}"; configured: ${deps.pacs.map((p) => p.name).join(', ')}`, 'pacs');
    return found;
  }

  /** The télédossier, when the caller may write it (Task update scope, and it is visible to them). */
  async function writableDossier(ctx: AuditContext, id: string, t: ResourceService = svc): Promise<Task> {
    t.authorize(ctx, 'update', 'Task');
    const task = await t.read<Task>(ctx, 'Task', id);
    if (task.partOf?.length || workflowCodeOf(task) === undefined) throw errors.businessRule(`Task/${id} is not a télédossier`);
    if (CLOSED.has(task.status)) throw errors.businessRule(`Task/${id} is closed (${task.status}): no exam can be added to it`);
    return task;
  }

  async function patientOf(ctx: AuditContext, dossier: Task): Promise<Patient | undefined> {
    const m = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(dossier.for?.reference ?? '');
    return m ? svc.read<Patient>(ctx, 'Patient', m[1]) : undefined;
  }

  return {
    names: deps.pacs.map((p) => p.name),

    async query(ctx, dossierId, pacsName, filters) {
      const pacs = pacsNamed(pacsName);
      const dossier = await writableDossier(ctx, dossierId);
      const query = studyQueryOf(filters, Object.keys(filters).some((k) => k !== 'limit') ? undefined : await patientOf(ctx, dossier));
      const record = { interaction: 'search-type', action: 'E' as const, subtype: QUERY_EVENT, query: `PACS ${pacs.name} ${JSON.stringify(query)}` };
      let found: DicomJson[];
      try {
        found = await port.findStudies(pacs, query);
      } catch (e) {
        await queueAudit(svc.jobs, ctx, { ...record, entities: [`Task/${dossierId}`], outcome: '8', outcomeDesc: (e as Error).message });
        throw e;
      }
      const matches = found.map((json) => ({ studyInstanceUid: text(json, '0020000D') ?? '', json })).filter((m) => UID.test(m.studyInstanceUid));
      await queueAudit(svc.jobs, ctx, { ...record, entities: [`Task/${dossierId}`, ...matches.map((m) => `urn:oid:${m.studyInstanceUid}`)] });
      return { pacs: pacs.name, query, matches };
    },

    async retrieve(ctx, dossierId, pacsName, studies) {
      const pacs = pacsNamed(pacsName);
      if (studies.length === 0) throw errors.badRequest('Name at least one study (StudyInstanceUID) to retrieve', 'study');
      const bad = studies.find((s) => !UID.test(s));
      if (bad !== undefined) throw errors.badRequest(`Not a StudyInstanceUID: ${bad.slice(0, 80)}`, 'study');
      const tasks = await svc.transaction(async (t) => {
        const dossier = await writableDossier(ctx, dossierId, t);
        const out: { task: Task; payload?: RetrievePayload }[] = [];
        for (const study of [...new Set(studies)]) {
          const active = (await t.search(ctx, 'Task', {
            'part-of': [`Task/${dossierId}`], code: [`${PACS_TASK_SYSTEM}|${RETRIEVE_TASK_CODE}`], identifier: [`${DICOM_UID_SYSTEM}|urn:oid:${study}`],
            status: ['requested,in-progress'],
          })).resources as Task[];
          if (active[0]) { out.push({ task: active[0] }); continue; }
          const existed = (await t.search(IMAGING_CTX, 'ImagingStudy', { identifier: [`${DICOM_UID_SYSTEM}|urn:oid:${study}`], _count: ['1'] })).resources.length > 0;
          const { resource: task } = await t.create(ctx, retrieveTaskOf(dossier, pacs.name, study, ctx.principal.fhirUser));
          await announce(t, dossier, study);
          const payload: RetrievePayload = { task: task.id as string, dossier: dossierId, pacs: pacs.name, study, existed };
          await t.jobs.enqueue(PACS_RETRIEVE_JOB, { ...payload }, { idempotencyKey: `Task/${task.id}#${PACS_RETRIEVE_JOB}` });
          out.push({ task, payload });
        }
        return out.map((o) => o.task);
      });
      logger.info('PACS retrieve requested', { dossier: `Task/${dossierId}`, pacs: pacs.name, studies: tasks.length });
      return tasks;
    },

    async run(job) {
      const p = job.payload as unknown as RetrievePayload;
      let task = await svc.read<Task>(IMAGING_CTX, 'Task', p.task);
      if (CLOSED.has(task.status)) return;
      const save = async (state: RetrieveState): Promise<void> => {
        task = (await svc.update(IMAGING_CTX, withProgress(task, state))).resource;
      };
      const pacs = deps.pacs.find((d) => d.name === p.pacs);
      if (!pacs) return save({ status: 'failed', attempts: job.attempts, error: `PACS "${p.pacs}" is no longer configured` });
      await save({ status: 'in-progress', attempts: job.attempts, progress: { completed: 0, failed: 0, warning: 0 } });

      // Progress writes are serialised and spaced by `interval`; the last one always lands before the outcome.
      let pending: Promise<void> = Promise.resolve();
      let lastWrite = 0;
      let latest = { completed: 0, failed: 0, warning: 0 } as RetrieveState['progress'];
      const onProgress = (progress: NonNullable<RetrieveState['progress']>) => {
        latest = progress;
        if (Date.now() - lastWrite < interval) return;
        lastWrite = Date.now();
        pending = pending.then(() => save({ status: 'in-progress', attempts: job.attempts, progress: latest }))
          .catch((e: unknown) => logger.warn('retrieve progress not recorded', { task: p.task, error: String(e) }));
      };
      try {
        const final = await port.retrieveStudy(pacs, p.study, onProgress);
        await pending;
        latest = final;
        if (final.failed > 0) throw new Error(`${final.failed} of ${final.total ?? final.completed + final.failed + final.warning} instances failed to arrive`);
        const study = await deps.syncStudy(p.study);
        if (!study) throw new Error(`no instance of study ${p.study} reached the platform (does the PACS hold it?)`);
        const note = await attach(p, study);
        await save({ status: 'completed', attempts: job.attempts, progress: final, study: `ImagingStudy/${study.id}`, note });
      } catch (e) {
        await pending;
        const error = e instanceof Error ? e.message : String(e);
        const last = job.attempts >= maxAttempts;
        await save({ status: last ? 'failed' : 'in-progress', attempts: job.attempts, progress: latest, error, retrying: !last });
        if (!last) throw e; // the runner retries it with backoff
        logger.warn('PACS retrieve failed for good', { task: p.task, pacs: p.pacs, attempts: job.attempts, error });
      }
    },
  };

  /** The dossier's request announces the StudyInstanceUID: instances arriving before the end attach themselves too. */
  async function announce(t: ResourceService, dossier: Task, study: string): Promise<void> {
    const m = /^ServiceRequest\/([A-Za-z0-9\-.]{1,64})$/.exec(dossier.focus?.reference ?? '');
    if (!m) return;
    const request = await t.read<ServiceRequest>(IMAGING_CTX, 'ServiceRequest', m[1]);
    const value = `urn:oid:${study}`;
    if ((request.identifier ?? []).some((i) => i.system === DICOM_UID_SYSTEM && i.value === value)) return;
    await t.update(IMAGING_CTX, { ...request, identifier: [...(request.identifier ?? []), { system: DICOM_UID_SYSTEM, value }] }, { ifMatch: request.meta?.versionId });
  }

  /** Attaches the study to the dossier (if still open and not already there) and records it as a PACS import. */
  async function attach(p: RetrievePayload, study: ImagingStudy): Promise<string | undefined> {
    return svc.transaction(async (t) => {
      let current = study;
      const source = current.extension?.find((x) => x.url === IMAGE_SOURCE_URL)?.valueCode;
      if (!p.existed && source !== 'pacs-query') {
        const extension = [...(current.extension ?? []).filter((x) => x.url !== IMAGE_SOURCE_URL), { url: IMAGE_SOURCE_URL, valueCode: 'pacs-query' }];
        current = (await t.update(IMAGING_CTX, { ...current, extension }, { ifMatch: current.meta?.versionId })).resource;
      }
      const dossier = await t.read<Task>(IMAGING_CTX, 'Task', p.dossier);
      if (CLOSED.has(dossier.status)) return `the télédossier was closed (${dossier.status}) meanwhile: study not attached`;
      await attachStudy(t, IMAGING_CTX, dossier, current);
      return undefined;
    });
  }
}
