// CI-SIS Téléradiologie flux 2 (ORM^O01 CA, "annulation de la demande"): the order's dossier takes the workflow's
// `annuler` transition (transition.ts, the one writer of Task state) with the sender's reason.
import type { Identifier, Task } from '@medplum/fhirtypes';
import { errors } from '../../kernel/errors.js';
import type { AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';
import { applyTransition } from '../teleexpertise/transition.js';
import { orderActor } from './ordering-party.js';
import { findOrder, orderLockKey } from './placer-order.js';

export interface OrderCancellation {
  source: string;
  placer: Identifier;
  /** The ordering provider cancelling (ORC-12), when the message names one. */
  orderingProvider?: Identifier;
  reason: string;
}

/**
 * Cancels the dossier of the order `source` placed under `placer`, acting for the ordering provider (orderActor).
 * 404 (expression `placer`) when the source placed no such order; the transition's 403 / 409 otherwise.
 */
export async function cancelOrder(deps: { svc: ResourceService; now?: () => Date }, ctx: AuditContext, c: OrderCancellation): Promise<Task> {
  return deps.svc.transaction(async (t) => {
    await t.lock(orderLockKey(c.source, c.placer));
    const order = await findOrder(t, ctx, c.source, c.placer);
    if (!order?.task?.id) throw errors.notFound(`No téléradiologie order ${c.placer.value} (${c.placer.system ?? 'no issuer'}) from this sender`);
    const actor = await orderActor(t, ctx, order.task, c.orderingProvider);
    return applyTransition({ svc: t, ...(deps.now ? { now: deps.now } : {}) }, actor, order.task.id, 'annuler', { reason: c.reason });
  });
}
