// HL7 v2.5.1 §3.4.3 PV1 (and §3.4.4 PV2), as profiled by IHE PAM-FR 2.11: the visit (venue) → FHIR R4 Encounter elements.
import type { Hl7Segment } from '@medplum/core';
import type { Coding, EncounterParticipant, Identifier } from '@medplum/fhirtypes';
import { cx, cxIdentifier, first, repetitions, tsToFhir, xcn } from './hl7-datatypes.js';
import { hl7Error } from './hl7-field-errors.js';

const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';

/**
 * PV1-2 patient class (HL7 Table 0004 as used by PAM-FR: I hospitalisation, O consultation / soins externes, E urgences,
 * R séances, B obstétrique, P pré-admission, C commercial) → Encounter.class (v3 ActCode, R4 v3-ActEncounterCode).
 * N (not applicable) and U (unknown) name no encounter: a visit message carrying them is refused (103).
 */
export const PATIENT_CLASSES: Readonly<Record<string, Coding>> = {
  I: { system: ACT_CODE, code: 'IMP', display: 'inpatient encounter' },
  B: { system: ACT_CODE, code: 'IMP', display: 'inpatient encounter' },
  O: { system: ACT_CODE, code: 'AMB', display: 'ambulatory' },
  R: { system: ACT_CODE, code: 'AMB', display: 'ambulatory' },
  C: { system: ACT_CODE, code: 'AMB', display: 'ambulatory' },
  E: { system: ACT_CODE, code: 'EMER', display: 'emergency' },
  P: { system: ACT_CODE, code: 'PRENC', display: 'pre-admission' },
};

export interface Pv1Visit {
  /** PV1-19 visit number (NDA, CX-5 `VN`) with its assigning authority as Identifier.system. */
  readonly visitNumber: Identifier;
  /** PV1-2 as sent and its Encounter.class. */
  readonly patientClass: string;
  readonly encounterClass: Coding;
  /** PV1-44 admit date/time, else PV2-8 expected admit date (a pre-admission). */
  readonly start?: string;
  /** PV1-45 discharge date/time. */
  readonly end?: string;
  /** PV1-7 attending (ATND), PV1-8 referring (REF), PV1-17 admitting (ADM) doctors, by their identifier. */
  readonly participants: readonly EncounterParticipant[];
}

/** A TS field read into a FHIR dateTime; a malformed one is a located 102. */
export function timestampAt(seg: Hl7Segment | undefined, field: number, location: string, label: string): string | undefined {
  const text = first(seg?.getField(field))?.get(1) ?? '';
  try {
    return tsToFhir(text);
  } catch (e) {
    throw hl7Error(102, location, `${label}: ${(e as Error).message}`);
  }
}

function participants(pv1: Hl7Segment): EncounterParticipant[] {
  const roles: [number, string, string][] = [[7, 'ATND', 'attender'], [8, 'REF', 'referrer'], [17, 'ADM', 'admitter']];
  const out: EncounterParticipant[] = [];
  for (const [field, code, display] of roles) {
    for (const v of repetitions(pv1.getField(field))) {
      const who = xcn(v);
      if (!who.id) continue;
      const name = [who.name.prefix?.[0], who.name.given?.join(' '), who.name.family].filter(Boolean).join(' ');
      out.push({
        type: [{ coding: [{ system: PARTICIPATION, code, display }] }],
        individual: { identifier: { ...(who.system ? { system: who.system } : {}), value: who.id }, ...(name ? { display: name } : {}) },
      });
    }
  }
  return out;
}

/**
 * Reads PV1 (and PV2 when given). Throws located HL7 errors: 100 when PV1 is missing, 101 when PV1-2 or PV1-19
 * (with its assigning authority: a visit number is only unique within it) is empty, 103 for an unknown patient
 * class, 102 for a malformed date.
 */
export function readPv1(pv1: Hl7Segment | undefined, pv2?: Hl7Segment): Pv1Visit {
  if (!pv1) throw hl7Error(100, 'PV1', 'PV1 segment missing: the visit (PV1-19) is required for a movement');
  const patientClass = first(pv1.getField(2))?.get(1) ?? '';
  if (!patientClass) throw hl7Error(101, 'PV1-2', 'PV1-2 (patient class) is required');
  const encounterClass = PATIENT_CLASSES[patientClass];
  if (!encounterClass) {
    throw hl7Error(103, 'PV1-2', `PV1-2 patient class '${patientClass}' names no visit (expected one of ${Object.keys(PATIENT_CLASSES).join(', ')})`);
  }
  const visit = first(pv1.getField(19));
  const id = visit ? cx(visit) : undefined;
  if (!id?.value) throw hl7Error(101, 'PV1-19', 'PV1-19 (visit number) is required');
  if (!id.system) throw hl7Error(101, 'PV1-19.4', 'PV1-19.4 (assigning authority of the visit number) is required: a visit number is unique only within it');
  const start = timestampAt(pv1, 44, 'PV1-44', 'PV1-44 (admit date/time)') ?? timestampAt(pv2, 8, 'PV2-8', 'PV2-8 (expected admit date/time)');
  const end = timestampAt(pv1, 45, 'PV1-45', 'PV1-45 (discharge date/time)');
  return {
    visitNumber: cxIdentifier({ ...id, typeCode: id.typeCode || 'VN' }),
    patientClass,
    encounterClass,
    ...(start ? { start } : {}),
    ...(end ? { end } : {}),
    participants: participants(pv1),
  };
}
