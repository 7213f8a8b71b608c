// Escalation of urgent télédossiers not read in time (CCTP urgent workflows): a delayed durable job per urgent Task;
// if the requis side has not read the dossier (Task extension dossier-read) and it is still open, the owning community
// and the configured backup get a Communication and an e-mail/SMS.
import type { Extension, Task } from '@medplum/fhirtypes';
import type { Logger } from '../kernel/logger.js';
import type { Job } from '../store/job-queue.js';
import type { AfterWrite, ResourceService } from '../workflow/resource-service.js';
import { serviceLookup } from '../workflow/teleexpertise/dossier-roles.js';
import { READ_RECEIPT_URL } from '../workflow/teleexpertise/dossier-model.js';
import { WORKFLOWS, workflowFor } from '../workflow/teleexpertise/index.js';
import type { DossierRole, WorkflowDefinition } from '../workflow/teleexpertise/workflow-definition.js';
import { membersOf, NOTIFICATIONS_CTX, sendNotice } from './communication-notice.js';

export const ESCALATION_JOB = 'escalate-unread';

export interface EscalationConfig {
  /** Delay for urgent workflows without their own entry. */
  readonly defaultDelaySeconds: number;
  /** Per workflow code: delay, and backup recipients (PractitionerRole/…, Practitioner/…, CareTeam/…). */
  readonly workflows: Readonly<Record<string, { readonly delaySeconds?: number; readonly backup?: readonly string[] }>>;
}

export interface EscalationDeps {
  svc: ResourceService;
  logger: Logger;
  baseUrl: string;
  config: EscalationConfig;
  workflows?: readonly WorkflowDefinition[];
  now?: () => Date;
}

/** A read by one of these roles means the requis side has seen the dossier. */
const REQUIS_SIDE = new Set<DossierRole>(['requis', 'membre-communaute', 'secretariat-requis']);
/** Task.status values of an open dossier. */
const OPEN = new Set<Task['status']>(['draft', 'requested', 'received', 'accepted', 'ready', 'in-progress', 'on-hold']);

/** Whether a read receipt (complex extension reader / role / time) from the requis side is on the Task. */
export function readByRequisSide(task: Task): boolean {
  return (task.extension ?? []).some((e: Extension) => e.url === READ_RECEIPT_URL
    && REQUIS_SIDE.has(e.extension?.find((x) => x.url === 'role')?.valueCode as DossierRole));
}

export function createEscalation(deps: EscalationDeps) {
  const workflows = deps.workflows ?? WORKFLOWS;
  const now = deps.now ?? (() => new Date());
  const delayOf = (code: string) => deps.config.workflows[code]?.delaySeconds ?? deps.config.defaultDelaySeconds;

  /** At the creation of an urgent dossier (not a child step), the escalation check is scheduled. */
  const afterWrite: AfterWrite = async (tx, _ctx, event) => {
    if (event.interaction !== 'create' || event.resource.resourceType !== 'Task') return;
    const task = event.resource as Task;
    const def = workflowFor(task, workflows);
    if (!def?.urgent || task.partOf?.length) return;
    await tx.jobs.enqueue(ESCALATION_JOB, { task: `Task/${task.id}`, workflow: def.code },
      { runAt: new Date(now().getTime() + delayOf(def.code) * 1000), idempotencyKey: `escalate#Task/${task.id}` });
  };

  async function escalate(job: Job): Promise<void> {
    const { task: ref, workflow } = job.payload as { task: string; workflow: string };
    const task = await deps.svc.read<Task>(NOTIFICATIONS_CTX, 'Task', ref.split('/')[1]).catch(() => undefined);
    if (!task || !OPEN.has(task.status) || readByRequisSide(task)) return;
    const def = workflows.find((w) => w.code === workflow);
    const backup = deps.config.workflows[workflow]?.backup ?? [];
    const members = await membersOf(serviceLookup(deps.svc, NOTIFICATIONS_CTX), task.owner?.reference);
    const recipients = [...members, ...backup];
    if (recipients.length === 0 && task.owner?.reference) recipients.push(task.owner.reference);
    if (recipients.length === 0) {
      deps.logger.warn('urgent dossier unread, nobody to escalate to', { task: ref });
      return;
    }
    const minutes = Math.round(delayOf(workflow) / 60);
    const display = def?.display ?? workflow;
    const text = [
      `Alerte : le télédossier urgent « ${display} » n'a pas été lu par le requis ${minutes >= 1 ? `${minutes} min` : `${delayOf(workflow)} s`} après son envoi.`,
      'Merci de le prendre en charge ou de vérifier qu\'un médecin de garde l\'a vu.',
      `Consulter le dossier : ${deps.baseUrl}/Task/${task.id}`,
    ].join('\n');
    await sendNotice(deps.svc, { task, recipients, subject: `[TéléO] URGENT non lu : ${display}`, text, key: `${ref}#escalation`, urgent: true });
    deps.logger.info('urgent dossier escalated', { task: ref, recipients: recipients.length });
  }

  return { afterWrite, handlers: { [ESCALATION_JOB]: escalate } };
}
