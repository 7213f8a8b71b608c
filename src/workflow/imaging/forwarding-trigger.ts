// Issue 4 deliverable 8, the automatic trigger: a workflow's rule ("workflow code → destination", e.g. RCP: the exam
// goes to the recipient's PACS) starts a forwarding when a study is attached to a dossier of that workflow, whichever
// way it was attached (an arriving study matched by study-attachment.ts, or by hand): Task.input[type=exam] gaining it.
import type { Task } from '@medplum/fhirtypes';
import type { Job } from '../../store/job-queue.js';
import type { AfterWrite } from '../resource-service.js';
import { DOSSIER_CONTENT_SYSTEM } from '../teleexpertise/dossier-model.js';
import { workflowCodeOf } from '../teleexpertise/index.js';
import { IMAGING_CTX } from './imaging-study-sync.js';
import { FORWARD_TRIGGER_JOB, type ForwardingRule, type StudyForwarding } from './study-forwarding.js';

/**
 * The automatic trigger: a study newly attached (Task.input[type=exam]) to a dossier of a workflow with a rule queues
 * a trigger job in the same transaction, which creates the forwarding as the platform.
 */
export function forwardingTrigger(rules: Readonly<Record<string, ForwardingRule>>): AfterWrite {
  return async (tx, _ctx, event) => {
    if (event.interaction === 'delete' || event.resource.resourceType !== 'Task') return;
    const task = event.resource as Task;
    const rule = rules[workflowCodeOf(task) ?? ''];
    if (!rule || task.partOf?.length) return;
    const exams = (t?: Task) => new Set((t?.input ?? [])
      .filter((i) => i.type?.coding?.some((c) => c.system === DOSSIER_CONTENT_SYSTEM && c.code === 'exam'))
      .map((i) => i.valueReference?.reference).filter((r): r is string => !!r?.startsWith('ImagingStudy/')));
    const before = exams(event.previous as Task | undefined);
    for (const study of exams(task)) {
      if (before.has(study)) continue;
      await tx.jobs.enqueue(FORWARD_TRIGGER_JOB, { dossier: `Task/${task.id}`, study: study.slice('ImagingStudy/'.length), ...rule },
        { idempotencyKey: `Task/${task.id}#${study}#forward` });
    }
  };
}

/** The trigger job: the forwarding requested by the platform for the rule. */
export function forwardingTriggerHandler(forwarding: StudyForwarding): (job: Job) => Promise<void> {
  return async (job) => {
    const p = job.payload as { study: string; destination: string; useDossierIdentity?: boolean };
    await forwarding.request(IMAGING_CTX, { study: p.study, destination: p.destination, useDossierIdentity: p.useDossierIdentity === true, key: job.id });
  };
}
