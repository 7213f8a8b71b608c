// CI-SIS Téléradiologie flux 1 (ORM^O01 NW, "transmission de la demande"): a new order becomes a téléradiologie
// télédossier — FHIR R4 ServiceRequest (placer number, source, details, observations) + Task — in one transaction.
import type { Identifier } from '@medplum/fhirtypes';
import { OperationOutcomeError, outcome } from '../../kernel/errors.js';
import type { AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';
import { createTeledossier, type ServiceRequestDetails, type TeledossierCreated, type TeledossierRequest } from '../teleexpertise/teledossier-creation.js';
import { resolveOrderingParty, type OrderingParty, type ResolvedParty } from './ordering-party.js';
import { findOrder, orderLockKey, placerIdentifier, TELERADIOLOGIE } from './placer-order.js';

export interface TeleradiologieOrder {
  /** Where the order comes from (partnerSource(name)): recorded as ServiceRequest.meta.source. */
  source: string;
  /** The requis the dossier is addressed to (PractitionerRole, CareTeam, Organization). */
  owner: string;
  /** Placer order number: unique per source. */
  placer: Identifier;
  patient: TeledossierRequest['patient'];
  party: OrderingParty;
  /** Clinical justification. */
  reason?: string;
  details?: Omit<ServiceRequestDetails, 'identifier' | 'source'>;
}

export interface OrderReceived extends TeledossierCreated {
  party: ResolvedParty;
}

export interface OrderDeps {
  svc: ResourceService;
  baseUrl: string;
  now?: Date;
}

/**
 * Creates the dossier of a new order, as `ctx` (the partner). Refusals: 409 `duplicate` (expression `placer`) when
 * the source already placed this number; createTeledossier's 400/412/422 otherwise (expression = the parameter).
 */
export async function receiveOrder(deps: OrderDeps, ctx: AuditContext, order: TeleradiologieOrder): Promise<OrderReceived> {
  return deps.svc.transaction(async (t) => {
    await t.lock(orderLockKey(order.source, order.placer));
    const existing = await findOrder(t, ctx, order.source, order.placer);
    if (existing) {
      throw new OperationOutcomeError(outcome(409, 'duplicate', `Order ${order.placer.value} (${order.placer.system ?? 'no issuer'}) was already `
        + `received from this sender: ServiceRequest/${existing.request.id}${existing.task ? `, Task/${existing.task.id}` : ''}`, 'placer'));
    }
    const party = await resolveOrderingParty(t, ctx, order.party);
    const created = await createTeledossier(t, ctx, {
      patient: order.patient,
      workflow: TELERADIOLOGIE,
      requester: party.requester,
      owner: order.owner,
      ...(order.reason ? { reason: order.reason } : {}),
      serviceRequest: { ...order.details, identifier: [placerIdentifier(order.placer)], source: order.source },
    }, { baseUrl: deps.baseUrl, ...(deps.now ? { now: deps.now } : {}) });
    return { ...created, party };
  });
}
