// IHE PAM-FR 2.11 ITI-31 "gestion des mouvements" (HL7 v2.5 §3.3): ADT^A01 admit, A04 register, A05 pre-admit,
// A08 update, A03 discharge, A11 cancel admit → FHIR R4 Patient + Encounter (workflow/patient-admin/patient-visit.ts).
import type { Hl7Message } from '@medplum/core';
import type { Identifier } from '@medplum/fhirtypes';
import { feedPatient } from '../workflow/patient-admin/patient-identity.js';
import { recordVisit, type VisitEvent, type VisitOutcome } from '../workflow/patient-admin/patient-visit.js';
import { partnerSource } from '../workflow/teleradiologie/placer-order.js';
import { readFedPatient } from './adt-patient.js';
import { first } from './hl7-datatypes.js';
import type { Hl7Route, InboundContext, InboundResult } from './hl7-route.js';
import { readPv1, timestampAt } from './pv1-segment.js';
import { locatedError, type Locations } from './tlr-order-errors.js';
import { readZbe, type MovementAction } from './zbe-segment.js';

/** Where the visit workflow's refusals point: an unknown visit (404) at PV1-19, an identity conflict (409) at PID-3. */
export const ADT_LOCATIONS: Locations = { 404: 'PV1-19', 409: 'PID-3', 412: 'PID-3' };

const STARTING = new Set<VisitEvent>(['admit', 'register', 'pre-admit']);

interface Movement { event: VisitEvent; actions: readonly MovementAction[]; display: string }

const MOVEMENTS: Readonly<Record<string, Movement>> = {
  A01: { event: 'admit', actions: ['INSERT'], display: 'Admission (hospitalisation): the visit starts, in-progress' },
  A04: { event: 'register', actions: ['INSERT'], display: 'Registration of an outpatient (consultation, soins externes): the visit starts, in-progress' },
  A05: { event: 'pre-admit', actions: ['INSERT'], display: 'Pre-admission: the visit is planned' },
  A08: { event: 'update', actions: ['UPDATE', 'INSERT'], display: 'Update of patient information (and of the known visit)' },
  A03: { event: 'discharge', actions: ['INSERT'], display: 'Discharge: the visit is finished' },
  A11: { event: 'cancel-admit', actions: ['CANCEL'], display: 'Cancel admit / registration: the visit is cancelled' },
};

/** EVN-6 (event occurred), else EVN-2 (recorded), else the reception time. */
export function occurredAt(message: Hl7Message, receivedAt: Date): string {
  const evn = message.getSegment('EVN');
  return timestampAt(evn, 6, 'EVN-6', 'EVN-6 (event occurred)') ?? timestampAt(evn, 2, 'EVN-2', 'EVN-2 (recorded date/time)') ?? receivedAt.toISOString();
}

/** What a visit message wrote, for the message log. */
export function visitResult(out: VisitOutcome, trigger: string): InboundResult {
  const written = [
    `Patient/${out.patient.id}`,
    ...(out.encounter ? [`Encounter/${out.encounter.id}`] : []),
    ...(out.dossier ? [`Task/${out.dossier.id}`] : []),
  ];
  const parts = [
    `${trigger}: Patient/${out.patient.id} ${out.patientCreated ? 'created' : 'updated'}`,
    ...(out.encounter ? [`Encounter/${out.encounter.id} ${out.encounterCreated ? 'created' : 'updated'} (${out.encounter.status})`] : []),
    ...(out.dossier ? [`Task/${out.dossier.id} bureau-des-entrées step done`] : []),
    ...out.notes,
  ];
  return { written, note: parts.join('; ') };
}

async function applyMovement(trigger: string, movement: Movement, input: InboundContext): Promise<InboundResult> {
  const { message, partner } = input;
  const source = partnerSource(partner.name);
  try {
    const fed = readFedPatient(message, source);
    const pv1 = message.getSegment('PV1');
    // A08 is an update of the patient: the visit part applies only when PV1 names a visit.
    if (movement.event === 'update' && !first(pv1?.getField(19))?.get(1)) {
      const out = await feedPatient(input.svc, input.ctx, fed.patient);
      return visitResult({ ...out, notes: [...(fed.insLeftOut ? [fed.insLeftOut] : []), 'no visit in PV1-19'] }, trigger);
    }
    const visit = readPv1(pv1, message.getSegment('PV2'));
    const zbe = readZbe(message.getSegment('ZBE'), movement.actions);
    // ZBE-2 is when this movement happened: the visit's start for a new visit, its end for a discharge.
    const starts = STARTING.has(movement.event);
    const start = visit.start ?? (starts ? zbe?.start : undefined);
    const end = visit.end ?? (movement.event === 'discharge' ? zbe?.start : undefined);
    const out = await recordVisit(input.svc, input.ctx, {
      event: movement.event, patient: fed.patient, visitNumber: visit.visitNumber, encounterClass: visit.encounterClass,
      ...(start ? { start } : {}), ...(end ? { end } : {}),
      participants: visit.participants, ...(zbe ? { movement: zbe.id as Identifier } : {}),
      source, organizations: partner.organizations, occurred: occurredAt(message, input.receivedAt),
    }, () => input.receivedAt);
    return visitResult({ ...out, notes: [...(fed.insLeftOut ? [fed.insLeftOut] : []), ...(zbe?.defaulted ? [zbe.defaulted] : []), ...out.notes] }, trigger);
  } catch (e) {
    throw locatedError(e, ADT_LOCATIONS);
  }
}

/** One route per movement event (MSH-9 ADT^Axx). */
export const ADT_MOVEMENT_ROUTES: Hl7Route[] = Object.entries(MOVEMENTS).map(([trigger, movement]) => ({
  messageType: `ADT^${trigger}`,
  description: `IHE PAM-FR ITI-31 ${trigger}: ${movement.display}`,
  handle: (input: InboundContext) => applyMovement(`ADT^${trigger}`, movement, input),
}));
