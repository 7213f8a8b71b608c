// Issue 4 deliverable 5: an arriving study attaches itself to the open télédossier whose request announced it
// (dossier-model.ts: Task.focus = the ServiceRequest, Task.input[type=exam] = the ImagingStudy; the request's
// identifiers are written by $create-teledossier, teledossier-resources.ts: StudyInstanceUID as urn:dicom:uid|urn:oid:…,
// accession number with type v2-0203 ACSN). Attaching appends to Task.input and notifies the requis.
//
// Unmatched studies stay on the platform unattached: the kit's "local server" list ("À partir du serveur local") is
// `GET ImagingStudy?basedon:missing=true` (add `_sort=-started`, `patient=…` as needed); attaching one by hand is the
// same Task.input append (a Task update the dossier content guard allows).
import type { ImagingStudy, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';
import { DOSSIER_CONTENT_SYSTEM } from '../teleexpertise/dossier-model.js';
import { workflowCodeOf } from '../teleexpertise/index.js';
import { DICOM_UID_SYSTEM } from '../teleexpertise/teledossier-resources.js';
import type { TriggerJobPayload } from '../teleexpertise/transition.js';

/** Pseudo transition code of an exam attached to a dossier, in TriggerJobPayload.transition (text in user-notifications.ts). */
export const EXAM_ATTACHED = 'examen-rattache';
const NOTIFY_REQUIS = 'notify-requis';
const ACCESSION_TYPE = 'ACSN';
const CLOSED = new Set<Task['status']>(['completed', 'cancelled', 'rejected', 'failed', 'entered-in-error']);

/** What a study says about the request it answers. */
export interface StudyKeys {
  readonly studyInstanceUid: string;
  readonly accessionNumber?: string;
  /** Issuer of Accession Number (0008,0051) Universal Entity ID, as urn:oid:…, when the data set has it. */
  readonly accessionIssuer?: string;
}

/**
 * The request the study answers: the ServiceRequest announcing its StudyInstanceUID, else the one holding its accession
 * number (type ACSN, same issuer when both sides give one). The most recent wins when several match.
 */
export async function findRequest(t: ResourceService, ctx: AuditContext, keys: StudyKeys): Promise<ServiceRequest | undefined> {
  const newest = { _sort: ['-authored'], _count: ['10'] };
  const byUid = await t.search(ctx, 'ServiceRequest', { identifier: [`${DICOM_UID_SYSTEM}|urn:oid:${keys.studyInstanceUid}`], ...newest });
  if (byUid.resources[0]) return byUid.resources[0] as ServiceRequest;
  if (!keys.accessionNumber) return undefined;
  const byAccession = await t.search(ctx, 'ServiceRequest', { identifier: [keys.accessionNumber], ...newest });
  return (byAccession.resources as ServiceRequest[]).find((sr) => (sr.identifier ?? []).some((id) => id.value === keys.accessionNumber
    && (id.type?.coding ?? []).some((c) => c.code === ACCESSION_TYPE)
    && (!keys.accessionIssuer || !id.system?.startsWith('urn:oid:') || id.system === keys.accessionIssuer)));
}

/** The first open télédossier among `tasks` (a workflow's Task, not a step, not closed). */
export function openDossierIn(tasks: readonly Task[]): Task | undefined {
  return tasks.find((task) => !task.partOf?.length && workflowCodeOf(task) !== undefined && !CLOSED.has(task.status));
}

/** The open télédossier of a request (Task?focus=, not a step, not closed), the most recent when several. */
export async function openDossierOf(t: ResourceService, ctx: AuditContext, request: string): Promise<Task | undefined> {
  const { resources } = await t.search(ctx, 'Task', { focus: [request], _sort: ['-authored-on'], _count: ['20'] });
  return openDossierIn(resources as Task[]);
}

const holds = (task: Task, ref: string) => (task.input ?? []).some((i) => i.valueReference?.reference === ref);

/**
 * Appends the study to the dossier's Task.input[type=exam] (unless already there) and enqueues the requis'
 * notification, in the caller's transaction. Returns the updated Task, or undefined when it already held the study.
 */
export async function attachStudy(t: ResourceService, ctx: AuditContext, task: Task, study: ImagingStudy): Promise<Task | undefined> {
  const ref = `ImagingStudy/${study.id}`;
  if (holds(task, ref)) return undefined;
  const input = [...(task.input ?? []), { type: { coding: [{ system: DOSSIER_CONTENT_SYSTEM, code: 'exam' }] }, valueReference: { reference: ref } }];
  const updated = (await t.update(ctx, { ...task, input, lastModified: new Date().toISOString() }, { ifMatch: task.meta?.versionId })).resource;
  const version = String(updated.meta?.versionId);
  const payload: TriggerJobPayload = { task: `Task/${task.id}`, version, workflow: workflowCodeOf(task) ?? '', transition: EXAM_ATTACHED };
  await t.jobs.enqueue(NOTIFY_REQUIS, payload, {
    idempotencyKey: `Task/${task.id}/_history/${version}#${NOTIFY_REQUIS}`, orderingKey: `Task/${task.id}#${NOTIFY_REQUIS}`,
  });
  return updated;
}
