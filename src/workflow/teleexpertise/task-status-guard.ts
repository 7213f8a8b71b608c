// Write guard keeping FHIR R4 Task.status/businessStatus of télédossiers under the workflow (workflow.html#task).
import type { Task } from '@medplum/fhirtypes';
import { errors } from '../../kernel/errors.js';
import type { WriteGuard } from '../resource-service.js';
import { WORKFLOWS, workflowCodeOf } from './index.js';
import { DOSSIER_STATUS_SYSTEM, type WorkflowDefinition } from './workflow-definition.js';

/** AuditContext.via of the writes made by applyTransition: the only writes allowed to move a télédossier. */
export const WORKFLOW_VIA = 'workflow';

const businessOf = (t: Task) => t.businessStatus?.coding?.find((c) => c.system === DOSSIER_STATUS_SYSTEM)?.code;

/**
 * A Task whose code is in the teleo-workflow system may be created only in its workflow's initial state, and
 * a plain create/update/patch may change neither its status, nor its businessStatus, nor its workflow; every
 * other field stays writable (owner included: routing through a transition is the workflow's way, but not
 * enforced here). Writes whose context says `via: 'workflow'` pass.
 */
export function createTaskStatusGuard(workflows: readonly WorkflowDefinition[] = WORKFLOWS): WriteGuard {
  return (ctx, previous, next) => {
    if (next.resourceType !== 'Task' || ctx.via === WORKFLOW_VIA) return;
    const task = next as Task;
    const code = workflowCodeOf(task);
    const before = previous?.resourceType === 'Task' ? (previous as Task) : undefined;
    const codeBefore = before ? workflowCodeOf(before) : undefined;
    const where = task.id ? `Task/${task.id}` : 'Task';

    if (before && codeBefore !== undefined) {
      if (code !== codeBefore) throw errors.businessRule(`${where}: the workflow (Task.code) of a télédossier cannot change`);
      if (task.status !== before.status || businessOf(task) !== businessOf(before)) {
        throw errors.businessRule(`${where}: status and businessStatus of a télédossier change only through a workflow transition: use the $transition operation`);
      }
      return;
    }
    if (code === undefined) return;
    const def = workflows.find((w) => w.code === code);
    if (!def) throw errors.businessRule(`${where}: unknown télédossier workflow '${code}'`);
    const initial = def.states[def.initial];
    if (task.status !== initial.status || businessOf(task) !== initial.businessStatus) {
      throw errors.businessRule(`A '${code}' télédossier starts in state '${def.initial}' (status '${initial.status}', businessStatus '${initial.businessStatus}'); then use the $transition operation`);
    }
  };
}
