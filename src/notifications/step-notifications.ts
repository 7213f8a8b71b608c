// Steps of a télédossier ("Ajouter une étape": a complementary opinion from a tiers is a child FHIR R4 Task, partOf
// the dossier): the tiers is notified when asked, the one who asked when the step is answered or closed.
import type { Task } from '@medplum/fhirtypes';
import type { AfterWrite } from '../workflow/resource-service.js';
import type { TriggerJobPayload } from '../workflow/teleexpertise/transition.js';

/** Pseudo transition codes of steps, in TriggerJobPayload.transition (texts in user-notifications.ts). */
export const STEP_REQUESTED = 'etape-demandee';
export const STEP_CLOSED = 'etape-terminee';

const CLOSED = new Set<Task['status']>(['completed', 'cancelled', 'rejected', 'failed']);

/** In the write's transaction: one notification job per step event, idempotent per Task version. */
export const stepNotifications: AfterWrite = async (tx, _ctx, event) => {
  const task = event.resource as Task;
  if (task.resourceType !== 'Task' || event.interaction === 'delete') return;
  const parent = task.partOf?.find((p) => p.reference?.startsWith('Task/'))?.reference;
  // A step is addressed to someone (its owner, the tiers); a child Task without one is the platform's own work shown
  // on the dossier (a PACS retrieve, a forwarding), which notifies no one.
  if (!parent || !task.id || !task.owner) return;
  const before = event.previous as Task | undefined;
  const [trigger, transition] = event.interaction === 'create' || !before
    ? ['notify-requis', STEP_REQUESTED]
    : CLOSED.has(task.status) && !CLOSED.has(before.status) ? ['notify-requerant', STEP_CLOSED] : [];
  if (!trigger || !transition) return;
  const version = String(task.meta?.versionId);
  const payload: TriggerJobPayload = { task: `Task/${task.id}`, version, workflow: 'etape', transition };
  await tx.jobs.enqueue(trigger, payload, { idempotencyKey: `Task/${task.id}/_history/${version}#${trigger}`, orderingKey: `Task/${task.id}#${trigger}` });
};
