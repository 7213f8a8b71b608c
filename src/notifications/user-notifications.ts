// Handlers of the workflow's notification triggers (workflow-definition.ts Trigger): the people concerned by a
// télédossier transition get a FHIR R4 Communication (communication.html) and an e-mail/SMS through the outbox.
import type { Task } from '@medplum/fhirtypes';
import type { Logger } from '../kernel/logger.js';
import type { Job } from '../store/job-queue.js';
import type { ResourceService } from '../workflow/resource-service.js';
import { serviceLookup } from '../workflow/teleexpertise/dossier-roles.js';
import { DOSSIER_AUTHOR_URL } from '../workflow/teleexpertise/dossier-model.js';
import { WORKFLOWS } from '../workflow/teleexpertise/index.js';
import type { TriggerJobPayload } from '../workflow/teleexpertise/transition.js';
import type { WorkflowDefinition } from '../workflow/teleexpertise/workflow-definition.js';
import { membersOf, NOTIFICATIONS_CTX, sendNotice } from './communication-notice.js';

export const NOTIFY_TRIGGERS = ['notify-requerant', 'notify-requis', 'notify-communaute'] as const;
export type NotifyTrigger = (typeof NOTIFY_TRIGGERS)[number];

export interface UserNotificationDeps {
  svc: ResourceService;
  logger: Logger;
  /** FHIR base URL, for the link to the dossier in messages. */
  baseUrl: string;
  workflows?: readonly WorkflowDefinition[];
}

const INTRO: Record<NotifyTrigger, string> = {
  'notify-requerant': 'Votre demande de télé-expertise',
  'notify-requis': 'Un télédossier qui vous est adressé',
  'notify-communaute': 'Un télédossier adressé à votre communauté',
};

/** Who a trigger notifies, on the Task version that the transition produced. */
export async function recipientsOf(trigger: NotifyTrigger, task: Task, svc: ResourceService): Promise<string[]> {
  const refs = (xs: (string | undefined)[]) => xs.filter((r): r is string => !!r);
  switch (trigger) {
    case 'notify-requerant':
      return refs([task.requester?.reference, task.extension?.find((e) => e.url === DOSSIER_AUTHOR_URL)?.valueReference?.reference]);
    case 'notify-requis':
      return refs([task.owner?.reference]);
    case 'notify-communaute': {
      const members = await membersOf(serviceLookup(svc, NOTIFICATIONS_CTX), task.owner?.reference);
      return members.length > 0 ? members : refs([task.owner?.reference]);
    }
  }
}

/** Texts of the pseudo-transitions: steps (step-notifications.ts), an exam attached (study-attachment.ts). */
const STEP_TEXTS: Record<string, string> = {
  'etape-demandee': 'demande d’avis complémentaire',
  'etape-terminee': 'réponse à la demande d’avis complémentaire',
  // An arriving study attached itself to the dossier (workflow/imaging/study-attachment.ts EXAM_ATTACHED).
  'examen-rattache': 'nouvel examen d’imagerie rattaché au dossier',
};

/** The French text of a transition notice (no patient identity: a link to the dossier instead). */
export function noticeText(trigger: NotifyTrigger, def: WorkflowDefinition | undefined, task: Task, transitionCode: string, baseUrl: string): { subject: string; text: string } {
  const workflow = def?.display ?? 'Télé-expertise';
  const transition = def?.transitions.find((t) => t.code === transitionCode)
    ?? (STEP_TEXTS[transitionCode] ? { display: STEP_TEXTS[transitionCode] } : undefined);
  const state = task.businessStatus?.text ?? task.businessStatus?.coding?.[0]?.display ?? task.status;
  const lines = [
    `${INTRO[trigger]} (« ${workflow} ») : ${transition?.display ?? transitionCode}.`,
    `Nouvel état du dossier : ${state}.`,
    ...(task.statusReason?.text ? [`Motif : ${task.statusReason.text}`] : []),
    `Consulter le dossier : ${baseUrl}/Task/${task.id}`,
  ];
  return { subject: `[TéléO] ${workflow} : ${transition?.display ?? state}`, text: lines.join('\n') };
}

/** One handler per trigger job type (payload TriggerJobPayload from transition.ts). */
export function userNotificationHandlers(deps: UserNotificationDeps): Record<NotifyTrigger, (job: Job) => Promise<void>> {
  const handler = (trigger: NotifyTrigger) => async (job: Job): Promise<void> => {
    const p = job.payload as TriggerJobPayload;
    const [, id] = p.task.split('/');
    const task = await deps.svc.vread<Task>(NOTIFICATIONS_CTX, 'Task', id, p.version);
    const def = (deps.workflows ?? WORKFLOWS).find((w) => w.code === p.workflow);
    const recipients = await recipientsOf(trigger, task, deps.svc);
    if (recipients.length === 0) {
      deps.logger.warn('notification without recipient', { task: p.task, trigger });
      return;
    }
    const { subject, text } = noticeText(trigger, def, task, p.transition, deps.baseUrl);
    await sendNotice(deps.svc, { task, recipients, subject, text, key: `${p.task}/_history/${p.version}#${trigger}`, urgent: def?.urgent });
  };
  return { 'notify-requerant': handler('notify-requerant'), 'notify-requis': handler('notify-requis'), 'notify-communaute': handler('notify-communaute') };
}
