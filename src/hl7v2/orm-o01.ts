// CI-SIS Téléradiologie (ans.hl7v2.fr.teleradiologie, st_flux1 / st_flux2), HL7 v2.5.1 §4.4.1 ORM^O01:
// flux 1 ORC-1 NW (transmission de la demande) and flux 2 ORC-1 CA (annulation de la demande).
import type { Hl7Message } from '@medplum/core';
import type { Bundle } from '@medplum/fhirtypes';
import { cancelOrder } from '../workflow/teleradiologie/order-cancellation.js';
import { receiveOrder, type TeleradiologieOrder } from '../workflow/teleradiologie/order-intake.js';
import { partnerSource } from '../workflow/teleradiologie/placer-order.js';
import { first, tsToFhir } from './hl7-datatypes.js';
import { hl7Error } from './hl7-field-errors.js';
import type { Hl7Route, InboundContext, InboundResult } from './hl7-route.js';
import { readObservations } from './obx-observations.js';
import { facility, orderControl, placerOrder, professional, required, textOf } from './orc-segment.js';
import { readPid } from './pid-segment.js';
import { locatedError, type Locations } from './tlr-order-errors.js';

/** Where the workflow's refusals point in an ORM^O01. */
const ORM_LOCATIONS: Locations = {
  placer: 'ORC-2', 404: 'ORC-2', 409: 'ORC-1', 403: 'ORC-12', 412: 'PID-3',
  patient: 'PID-3', 'patient.ins': 'PID-3', 'patient.insSystem': 'PID-3', 'patient.ipp': 'PID-3',
  'patient.family': 'PID-5', 'patient.birthDate': 'PID-7', 'patient.gender': 'PID-8',
  orderingProvider: 'ORC-12', orderingFacility: 'ORC-21',
};

/** PID → the request's patient (INS with its own OID, IPP, legal name); 101 at PID-5 without a family name. */
function patientOf(message: Hl7Message): TeleradiologieOrder['patient'] {
  const pid = readPid(message.getSegment('PID'));
  if (!pid.name?.family) throw hl7Error(101, 'PID-5', 'PID-5 (patient name) has no family name');
  return {
    ...(pid.ins?.value ? { ins: pid.ins.value, insSystem: pid.ins.system } : {}),
    ...(pid.ipp?.system && pid.ipp.value ? { ipp: { system: pid.ipp.system, value: pid.ipp.value } } : {}),
    family: pid.name.family,
    ...(pid.name.given?.length ? { given: pid.name.given } : {}),
    ...(pid.birthDate ? { birthDate: pid.birthDate } : {}),
    ...(pid.gender ? { gender: pid.gender } : {}),
  };
}

function dateTime(text: string, location: string): string | undefined {
  try {
    return tsToFhir(text);
  } catch (e) {
    throw hl7Error(102, location, `${location}: ${(e as Error).message}`);
  }
}

/** Flux 1: everything the order says, as a TeleradiologieOrder (no workflow call). */
export function readOrder(message: Hl7Message, input: Pick<InboundContext, 'partner'>): Omit<TeleradiologieOrder, 'owner'> {
  orderControl(message, ['NW']);
  const orc = required(message, 'ORC');
  const obr = required(message, 'OBR');
  const patient = patientOf(message);
  const placer = placerOrder(message);
  const practitioner = professional(orc, 12, 'ORC-12') ?? professional(obr, 16, 'OBR-16');
  if (!practitioner) throw hl7Error(101, 'ORC-12', 'ORC-12 (ordering provider) is empty: the professional responsible for the imaging structure is required');
  const organization = facility(orc);
  if (!organization) throw hl7Error(101, 'ORC-21', 'ORC-21 (ordering facility) is empty: the requesting structure is required');
  const obs = readObservations(message);
  const authoredOn = dateTime(first(orc.getField(9))?.get(1) ?? '', 'ORC-9');
  const reason = textOf(obr, 13);
  return {
    source: partnerSource(input.partner.name),
    placer,
    patient,
    party: { practitioner, organization },
    ...(reason ? { reason } : {}),
    details: {
      ...(authoredOn ? { authoredOn } : {}),
      ...(obs.notes.length ? { note: obs.notes } : {}),
      ...(obs.orderDetail.length ? { orderDetail: obs.orderDetail } : {}),
      ...(obs.bodySite.length ? { bodySite: obs.bodySite } : {}),
      ...(obs.observations.length ? { observations: obs.observations } : {}),
    },
  };
}

const createdRefs = (response: Bundle) => (response.entry ?? [])
  .filter((e) => e.response?.status?.startsWith('201') && e.resource?.id)
  .map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);

async function newOrder(input: InboundContext): Promise<InboundResult> {
  const order = readOrder(input.message, input);
  const owner = input.partner.orderOwner;
  // Table 0357 207 (application internal error), not a content error: the message is right, our configuration
  // lacks the requis for this partner; it can be replayed unchanged once HL7V2_PARTNERS gives one.
  if (!owner) throw hl7Error(207, undefined, `Partner '${input.partner.name}' has no orderOwner configured: téléradiologie orders from it cannot be addressed to a requis`);
  try {
    const r = await receiveOrder({ svc: input.svc, baseUrl: input.baseUrl, now: input.receivedAt }, input.ctx, { ...order, owner });
    return {
      written: [...r.party.created, ...createdRefs(r.response)],
      note: `Task/${r.task.id} created in teleradiologie, state demandee (order ${order.placer.value})`,
    };
  } catch (e) {
    throw locatedError(e, ORM_LOCATIONS);
  }
}

async function cancellation(input: InboundContext): Promise<InboundResult> {
  const { message } = input;
  orderControl(message, ['CA']);
  const orc = required(message, 'ORC');
  const placer = placerOrder(message);
  const reason = textOf(orc, 16);
  if (!reason) throw hl7Error(101, 'ORC-16', 'ORC-16 (order control code reason) is empty: a cancellation needs its reason');
  const orderingProvider = professional(orc, 12, 'ORC-12')?.identifier;
  try {
    const task = await cancelOrder({ svc: input.svc, now: () => input.receivedAt }, input.ctx, {
      source: partnerSource(input.partner.name), placer, reason, ...(orderingProvider ? { orderingProvider } : {}),
    });
    return { written: [`Task/${task.id}`], note: `Task/${task.id} cancelled (order ${placer.value}): ${reason}` };
  } catch (e) {
    throw locatedError(e, ORM_LOCATIONS);
  }
}

export const ORM_O01_ROUTES: Hl7Route[] = [
  { messageType: 'ORM^O01', orderControl: ['NW'], description: 'CI-SIS Téléradiologie flux 1: new order → téléradiologie télédossier (ServiceRequest + Task)', handle: newOrder },
  { messageType: 'ORM^O01', orderControl: ['CA'], description: 'CI-SIS Téléradiologie flux 2: order cancelled → télédossier transition annuler', handle: cancellation },
];
