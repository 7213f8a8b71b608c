// IHE PAM-FR 2.11 ITI-30 (HL7 v2.5 §3.3.40 / §3.3.47): ADT^A40 merge patient (PID = survivor, MRG-1 = merged) and
// ADT^A47 change patient identifier list (PID-3 = the new identifier, MRG-1 = the one it replaces) → FHIR R4 Patient
// links replaces / replaced-by (patient.html#links) and identifier change (workflow/patient-admin/patient-identity.ts).
import type { Hl7Message } from '@medplum/core';
import type { Identifier } from '@medplum/fhirtypes';
import { changePatientIdentifier, mergePatient } from '../workflow/patient-admin/patient-identity.js';
import { partnerSource } from '../workflow/teleradiologie/placer-order.js';
import { readFedPatient } from './adt-patient.js';
import { cx, cxIdentifier, repetitions } from './hl7-datatypes.js';
import { hl7Error } from './hl7-field-errors.js';
import type { Hl7Route, InboundContext, InboundResult } from './hl7-route.js';
import { locatedError } from './tlr-order-errors.js';

/** MRG-1 (prior patient identifier list): the identifiers with an assigning authority; 101 when MRG or MRG-1 is empty. */
export function readMrg(message: Hl7Message): Identifier[] {
  const mrg = message.getSegment('MRG');
  if (!mrg) throw hl7Error(101, 'MRG', 'MRG segment missing: the patient merged or renamed (MRG-1) is required');
  const ids = repetitions(mrg.getField(1)).map(cx).filter((id) => id.value && id.system).map(cxIdentifier);
  if (ids.length === 0) throw hl7Error(101, 'MRG-1', 'MRG-1 (prior patient identifier list) holds no identifier with its assigning authority');
  return ids;
}

async function merge(input: InboundContext): Promise<InboundResult> {
  try {
    const fed = readFedPatient(input.message, partnerSource(input.partner.name));
    const merged = readMrg(input.message);
    const out = await mergePatient(input.svc, input.ctx, fed.patient, merged);
    const survivor = `Patient/${out.survivor.id}`;
    if (!out.merged) return { written: [survivor], note: `ADT^A40: MRG-1 designates no other known patient; ${survivor} updated, nothing merged` };
    return { written: [survivor, `Patient/${out.merged.id}`], note: `ADT^A40: Patient/${out.merged.id} merged into ${survivor} (replaced-by, inactive)` };
  } catch (e) {
    throw locatedError(e, { 409: 'PID-3', 412: 'PID-3' });
  }
}

async function changeIdentifier(input: InboundContext): Promise<InboundResult> {
  try {
    const fed = readFedPatient(input.message, partnerSource(input.partner.name));
    const previous = readMrg(input.message);
    const pairs = previous.flatMap((old) => (fed.patient.identifier ?? []).filter((n) => n.system === old.system).map((n) => ({ old, next: n })));
    if (pairs.length === 0) throw hl7Error(102, 'MRG-1', 'MRG-1 and PID-3 share no assigning authority: A47 changes an identifier within its authority');
    const { old, next } = pairs[0];
    const patient = await changePatientIdentifier(input.svc, input.ctx, old, next, fed.patient);
    return { written: [`Patient/${patient.id}`], note: `ADT^A47: Patient/${patient.id} identifier ${old.value} → ${next.value} (${old.system})` };
  } catch (e) {
    throw locatedError(e, { 404: 'MRG-1', 409: 'PID-3', 412: 'PID-3' });
  }
}

export const ADT_MERGE_ROUTES: Hl7Route[] = [
  { messageType: 'ADT^A40', description: 'IHE PAM-FR ITI-30 A40: merge two patients (MRG-1 into PID-3): links replaces / replaced-by', handle: merge },
  { messageType: 'ADT^A47', description: 'IHE PAM-FR ITI-30 A47: change a patient identifier (MRG-1 → PID-3, same authority)', handle: changeIdentifier },
];
