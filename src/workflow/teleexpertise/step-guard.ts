// Steps of a télédossier (child FHIR R4 Task, partOf the dossier; task.html#statemachine): only the step's owner (the
// tiers answering) or its requester (who asked) moves its status; other participants see it but do not close it.
import type { Task } from '@medplum/fhirtypes';
import { errors } from '../../kernel/errors.js';
import type { WriteGuard } from '../resource-service.js';

const userScoped = (scopes: readonly string[]) => !scopes.some((s) => s.startsWith('system/'));

export function createStepGuard(): WriteGuard {
  return (ctx, previous, next) => {
    if (next.resourceType !== 'Task' || previous?.resourceType !== 'Task') return;
    const before = previous as Task;
    const after = next as Task;
    if (!before.partOf?.some((p) => p.reference?.startsWith('Task/'))) return;
    if (before.status === after.status || !userScoped(ctx.principal.scopes)) return;
    const own = new Set([ctx.principal.fhirUser, ctx.principal.role].filter(Boolean));
    const parties = [before.owner?.reference, before.requester?.reference].filter((r): r is string => !!r);
    if (!parties.some((r) => own.has(r))) {
      throw errors.forbidden(`Task/${before.id}: the status of a step is changed by its owner or its requester (${parties.join(', ') || 'none named'})`);
    }
  };
}
