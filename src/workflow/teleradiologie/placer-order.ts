// CI-SIS Téléradiologie flux 1–4: an order is known by its placer order number (ORC-2, HL7 v2.5.1 §4.5.1.2) AND the
// partner that placed it (ServiceRequest.meta.source), so that two RIS cannot reach each other's dossiers.
import type { Identifier, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';
import { workflowCodeOf } from '../teleexpertise/index.js';

/** ServiceRequest.meta.source of the orders an HL7v2 partner sent (the outbound senders route answers by it). */
export const HL7_PARTNER_SOURCE = 'urn:teleo:hl7v2-partner:';
export const partnerSource = (partner: string): string => `${HL7_PARTNER_SOURCE}${partner}`;

export const V2_IDENTIFIER_TYPE = 'http://terminology.hl7.org/CodeSystem/v2-0203';
/** Identifier.type of the placer order number (v2-0203 PLAC) and of the accession number (ACSN). */
export const PLACER_TYPE = { coding: [{ system: V2_IDENTIFIER_TYPE, code: 'PLAC', display: 'Placer Identifier' }] };
export const ACCESSION_TYPE = { coding: [{ system: V2_IDENTIFIER_TYPE, code: 'ACSN', display: 'Accession ID' }] };
export const TELERADIOLOGIE = 'teleradiologie';

const hasType = (id: Identifier, code: string) => (id.type?.coding ?? []).some((c) => c.system === V2_IDENTIFIER_TYPE && c.code === code);

/** The placer order number as stored on the ServiceRequest. */
export function placerIdentifier(placer: Identifier): Identifier {
  return { type: PLACER_TYPE, ...(placer.system ? { system: placer.system } : {}), value: placer.value };
}

/** The lock key serialising everything done to one partner's order (two NW for one number never both create). */
export function orderLockKey(source: string, placer: Identifier): string {
  return `tlr-order|${source}|${placer.system ?? ''}|${placer.value}`;
}

export interface PlacedOrder {
  request: ServiceRequest;
  /** The téléradiologie dossier (Task.focus = the request), in whatever state; undefined when there is none. */
  task?: Task;
}

/** The request `source` placed under number `placer` (same system when the number has one), with its dossier. */
export async function findOrder(t: ResourceService, ctx: AuditContext, source: string, placer: Identifier): Promise<PlacedOrder | undefined> {
  const token = placer.system ? `${placer.system}|${placer.value}` : `${placer.value}`;
  const { resources } = await t.search(ctx, 'ServiceRequest', { identifier: [token], _sort: ['-authored'], _count: ['20'] });
  const request = (resources as ServiceRequest[]).find((sr) => sr.meta?.source === source
    && (sr.identifier ?? []).some((id) => hasType(id, 'PLAC') && id.value === placer.value && (id.system ?? '') === (placer.system ?? '')));
  if (!request) return undefined;
  const tasks = (await t.search(ctx, 'Task', { focus: [`ServiceRequest/${request.id}`], _sort: ['-authored-on'], _count: ['20'] })).resources as Task[];
  const task = tasks.find((x) => !x.partOf?.length && workflowCodeOf(x) === TELERADIOLOGIE);
  return { request, ...(task ? { task } : {}) };
}
