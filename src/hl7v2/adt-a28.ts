// IHE PAM-FR 2.11 ITI-30 "identification du patient" (HL7 v2.5 §3.3.28 / §3.3.31): ADT^A28 add person, ADT^A31 update
// person → the FHIR R4 Patient created or updated (workflow/patient-admin/patient-identity.ts).
//
// An A31 for a patient this platform does not know creates it: the identity source sends the whole identity in every
// A31, refusing it (AE 204) would only make the source resend it, and a later A01 or dossier would create it anyway.
import { feedPatient } from '../workflow/patient-admin/patient-identity.js';
import { partnerSource } from '../workflow/teleradiologie/placer-order.js';
import { visitResult } from './adt-a01.js';
import { readFedPatient } from './adt-patient.js';
import type { Hl7Route, InboundContext, InboundResult } from './hl7-route.js';
import { locatedError } from './tlr-order-errors.js';

async function applyIdentity(trigger: string, input: InboundContext): Promise<InboundResult> {
  try {
    const fed = readFedPatient(input.message, partnerSource(input.partner.name));
    const out = await feedPatient(input.svc, input.ctx, fed.patient);
    return visitResult({ ...out, notes: fed.insLeftOut ? [fed.insLeftOut] : [] }, trigger);
  } catch (e) {
    throw locatedError(e, { 409: 'PID-3', 412: 'PID-3' });
  }
}

export const ADT_IDENTITY_ROUTES: Hl7Route[] = [
  { messageType: 'ADT^A28', description: 'IHE PAM-FR ITI-30 A28: create a patient (identity, INS when qualified, reliability)', handle: (i) => applyIdentity('ADT^A28', i) },
  { messageType: 'ADT^A31', description: 'IHE PAM-FR ITI-30 A31: update a patient (created when unknown)', handle: (i) => applyIdentity('ADT^A31', i) },
];
