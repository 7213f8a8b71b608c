// HL7 v2.5.1 §4.5.1 ORC and §4.5.3 OBR as profiled by the CI-SIS Téléradiologie volet (st_flux1/2/4): order control,
// placer order number (ORC-2 = OBR-2), ordering provider (ORC-12, XCN RPPS/IDNPS), facility (ORC-21 XON, ORC-17 type).
import type { Hl7Message, Hl7Segment } from '@medplum/core';
import type { CodeableConcept, Identifier } from '@medplum/fhirtypes';
import type { OrderingParty } from '../workflow/teleradiologie/ordering-party.js';
import { ceConcept, eiIdentifier, first, xcn, xon } from './hl7-datatypes.js';
import { hl7Error } from './hl7-field-errors.js';

/** FR Core identifier types (Interop'Santé Table 0203: IDNPS, RPPS, FINEG, FINEJ, IDNST…). */
export const FR_IDENTIFIER_TYPE = 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203';

/** The segment, or 100 (segment sequence error: a required segment is missing) located at its name. */
export function required(message: Hl7Message, name: string): Hl7Segment {
  const seg = message.getSegment(name);
  if (!seg) throw hl7Error(100, name, `${name} segment missing: this message needs one`);
  return seg;
}

/** ORC-1 when it is one of `allowed`, else 101 (empty) / 103 (another code) at ORC-1. */
export function orderControl(message: Hl7Message, allowed: readonly string[]): string {
  const code = first(required(message, 'ORC').getField(1))?.get(1) ?? '';
  if (!code) throw hl7Error(101, 'ORC-1', 'ORC-1 (order control) is empty');
  if (!allowed.includes(code)) {
    throw hl7Error(103, 'ORC-1', `ORC-1 (order control) '${code}' is not taken for ${message.getSegment('MSH')?.getField(9)?.toString()} (expected ${allowed.join(' or ')})`);
  }
  return code;
}

/** The placer order number: ORC-2, else OBR-2 (they must agree when both are sent). 101 at ORC-2 when neither is. */
export function placerOrder(message: Hl7Message): Identifier {
  const orc = eiOf(message.getSegment('ORC'), 2);
  const obr = eiOf(message.getSegment('OBR'), 2);
  if (orc && obr && (orc.value !== obr.value || (orc.system && obr.system && orc.system !== obr.system))) {
    throw hl7Error(102, 'OBR-2', `OBR-2 (placer order number ${obr.value}) differs from ORC-2 (${orc.value})`);
  }
  const placer = orc ?? obr;
  if (!placer) throw hl7Error(101, 'ORC-2', 'ORC-2 (placer order number) is empty: the order cannot be identified');
  return placer;
}

function eiOf(seg: Hl7Segment | undefined, field: number): Identifier | undefined {
  const v = first(seg?.getField(field));
  return v ? eiIdentifier(v) : undefined;
}

/** A professional's XCN as an FR Core identifier + name; 101 at `location` when it has no id, 102 without an authority. */
export function professional(seg: Hl7Segment | undefined, field: number, location: string): OrderingParty['practitioner'] | undefined {
  const v = first(seg?.getField(field));
  if (!v) return undefined;
  const p = xcn(v);
  if (!p.id) throw hl7Error(101, `${location}.1`, `${location} names a professional without an identifier (XCN-1)`);
  if (!p.system) throw hl7Error(102, `${location}.9`, `${location}: the identifier ${p.id} has no assigning authority (XCN-9, e.g. &1.2.250.1.71.4.2.1&ISO)`);
  const identifier: Identifier = {
    ...(p.typeCode ? { type: { coding: [{ system: FR_IDENTIFIER_TYPE, code: p.typeCode }] } } : {}),
    system: p.system, value: p.id,
  };
  return { identifier, ...(p.name.family || p.name.given ? { name: p.name } : {}) };
}

/** ORC-21 (XON) with ORC-17 (TLR_TYPE_ORGANISATION) as the organisation's type. */
export function facility(orc: Hl7Segment): OrderingParty['organization'] | undefined {
  const v = first(orc.getField(21));
  if (!v) return undefined;
  const o = xon(v);
  if (!o.id) throw hl7Error(101, 'ORC-21.10', 'ORC-21 (ordering facility) has no identifier (XON-10)');
  if (!o.system) throw hl7Error(102, 'ORC-21.6', `ORC-21: the identifier ${o.id} has no assigning authority (XON-6, e.g. &1.2.250.1.71.4.2.2&ISO)`);
  const kind = first(orc.getField(17));
  const type: CodeableConcept | undefined = kind ? ceConcept(kind) : undefined;
  return {
    identifier: { ...(o.typeCode ? { type: { coding: [{ system: FR_IDENTIFIER_TYPE, code: o.typeCode }] } } : {}), system: o.system, value: o.id },
    ...(o.name ? { name: o.name } : {}),
    ...(type ? { type } : {}),
  };
}

/** A CE/CWE field's text (CE-2, else CE-1): ORC-16 order control code reason, OBR-13 relevant clinical information. */
export function textOf(seg: Hl7Segment | undefined, field: number): string | undefined {
  const v = first(seg?.getField(field));
  return (v?.get(2) || v?.get(1))?.trim() || undefined;
}
