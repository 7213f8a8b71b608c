// The FHIR R4 Task (task.html) showing one PACS retrieve: code retrieve-study, partOf the télédossier (so its
// participants see it), input = the PACS and the StudyInstanceUID, output = instances total / completed / failed /
// warning, attempts and, once done, the ImagingStudy; statusReason = the last error; businessStatus = where it stands.
import type { CodeableConcept, Task, TaskOutput } from '@medplum/fhirtypes';
import { DICOM_UID_SYSTEM } from '../teleexpertise/teledossier-resources.js';
import type { RetrieveProgress } from './pacs-port.js';

/** Task.code, input/output types and businessStatus of imaging background work. */
export const PACS_TASK_SYSTEM = 'https://teleo.fr/fhir/CodeSystem/teleo-imaging-task';
export const RETRIEVE_TASK_CODE = 'retrieve-study';

export type RetrieveStage = 'queued' | 'retrieving' | 'retry-scheduled' | 'done' | 'failed';
const STAGE_TEXT: Record<RetrieveStage, string> = {
  queued: 'en attente', retrieving: 'récupération en cours', 'retry-scheduled': 'nouvelle tentative programmée',
  done: 'examen récupéré', failed: 'échec de la récupération',
};

export interface RetrieveState {
  readonly status: 'in-progress' | 'completed' | 'failed';
  readonly attempts: number;
  readonly progress?: RetrieveProgress;
  /** The last error (kept while retrying; cleared on success). */
  readonly error?: string;
  /** A failure that will be retried. */
  readonly retrying?: boolean;
  /** `ImagingStudy/<id>` once the study is on the platform. */
  readonly study?: string;
  /** A remark on a completed retrieve (e.g. not attached). */
  readonly note?: string;
}

const concept = (code: string, display?: string): CodeableConcept => ({ coding: [{ system: PACS_TASK_SYSTEM, code, ...(display ? { display } : {}) }] });
const typeOf = (o: { type?: CodeableConcept }) => o.type?.coding?.find((c) => c.system === PACS_TASK_SYSTEM)?.code;

/** A new retrieve Task of `study` from `pacs` for `dossier`, requested by `by` (a fhirUser reference, when known). */
export function retrieveTaskOf(dossier: Task, pacs: string, study: string, by?: string): Task {
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    code: concept(RETRIEVE_TASK_CODE, 'Récupération d’un examen depuis le PACS'),
    businessStatus: { ...concept('queued', STAGE_TEXT.queued), text: STAGE_TEXT.queued },
    identifier: [{ system: DICOM_UID_SYSTEM, value: `urn:oid:${study}` }],
    partOf: [{ reference: `Task/${dossier.id}` }],
    ...(dossier.for ? { for: dossier.for } : {}),
    authoredOn: new Date().toISOString(),
    // Who asked is in the AuditEvent of this creation; Task.requester would make it a dossier in their "sent" list.
    ...(by ? { note: [{ authorReference: { reference: by }, text: `Demandé depuis le PACS ${pacs}`, time: new Date().toISOString() }] } : {}),
    input: [
      { type: concept('pacs'), valueString: pacs },
      { type: concept('study-instance-uid'), valueOid: `urn:oid:${study}` },
    ],
  };
}

/** The Task with its status, businessStatus, statusReason and output set from `state`. */
export function withProgress(task: Task, state: RetrieveState): Task {
  const stage: RetrieveStage = state.status === 'completed' ? 'done' : state.status === 'failed' ? 'failed'
    : state.retrying ? 'retry-scheduled' : 'retrieving';
  const p = state.progress;
  const count = (code: string, n: number | undefined): TaskOutput[] => (n === undefined ? [] : [{ type: concept(code), valueUnsignedInt: n }]);
  const output: TaskOutput[] = [
    ...count('instances-total', p?.total), ...count('instances-completed', p?.completed), ...count('instances-failed', p?.failed),
    ...count('instances-warning', p?.warning), ...count('attempts', state.attempts),
    ...(state.study ? [{ type: concept('imaging-study'), valueReference: { reference: state.study } }] : []),
  ];
  const reason = state.error ?? state.note;
  const { statusReason: _old, ...rest } = task;
  return {
    ...rest,
    status: state.status,
    businessStatus: { ...concept(stage, STAGE_TEXT[stage]), text: STAGE_TEXT[stage] },
    ...(reason ? { statusReason: { text: reason } } : {}),
    lastModified: new Date().toISOString(),
    ...(state.status !== 'in-progress' ? { executionPeriod: { ...task.executionPeriod, end: new Date().toISOString() } } : {}),
    ...(task.executionPeriod?.start ? {} : { executionPeriod: { start: new Date().toISOString(), ...(state.status !== 'in-progress' ? { end: new Date().toISOString() } : {}) } }),
    output,
  };
}

/** The counts shown on a retrieve Task (for clients and tests). */
export function progressOfTask(task: Task): Record<string, number | string | undefined> {
  const out: Record<string, number | string | undefined> = {};
  for (const o of task.output ?? []) {
    const code = typeOf(o);
    if (code) out[code] = o.valueUnsignedInt ?? o.valueReference?.reference;
  }
  return out;
}
