// HL7 v2.5.1 §3.4.2 PID, as profiled by IHE PAM-FR 2.11 (INS, IPP, names L/D, PID-32 identity reliability) → FHIR.
import type { Hl7Segment } from '@medplum/core';
import type { Address, ContactPoint, HumanName, Identifier, Patient } from '@medplum/fhirtypes';
import { cx, cxIdentifier, first, repetitions, tsToFhir, xpnName, type Cx } from './hl7-datatypes.js';
import { hl7Error } from './hl7-field-errors.js';

/** INS OIDs: INS-NIR (1.2.250.1.213.1.4.8), INS-NIA (…4.9), and the test / demonstration NIR (…4.10, …4.11). */
export const INS_OIDS = new Set(['1.2.250.1.213.1.4.8', '1.2.250.1.213.1.4.9', '1.2.250.1.213.1.4.10', '1.2.250.1.213.1.4.11']);

export interface PidIdentity {
  /** The INS (CX-5 `INS`, or an INS OID as assigning authority) with its own system (production or test OID). */
  readonly ins?: Identifier;
  /** The first local patient identifier with an assigning authority (IPP, CX-5 `PI`, else any non-INS id). */
  readonly ipp?: Identifier;
  /** Every PID-3 identifier, in order. */
  readonly identifiers: readonly Identifier[];
  readonly names: readonly HumanName[];
  /** The legal (birth) name when sent, else the first name given. */
  readonly name?: HumanName;
  readonly birthDate?: string;
  readonly gender?: Patient['gender'];
  readonly address: readonly Address[];
  readonly telecom: readonly ContactPoint[];
  /** PID-32 identity reliability code (PAM-FR: VIDE, PROV, VALI, DOUTE, FICTI). */
  readonly reliability?: string;
}

const GENDERS: Record<string, Patient['gender']> = { M: 'male', F: 'female', O: 'other', A: 'other', U: 'unknown', N: 'unknown' };

function isIns(id: Cx): boolean {
  return id.typeCode === 'INS' || id.typeCode === 'INS-NIR' || INS_OIDS.has(id.oid);
}

/** XAD (PID-11) → Address; the birth place repetition (XAD-7 `BDL`) is left to the caller (`birthPlace`). */
function addresses(pid: Hl7Segment): Address[] {
  return repetitions(pid.getField(11)).filter((v) => v.get(7) !== 'BDL').map((v) => ({
    ...(v.get(1) || v.get(2) ? { line: [v.get(1), v.get(2)].filter(Boolean) } : {}),
    ...(v.get(3) ? { city: v.get(3) } : {}),
    ...(v.get(5) ? { postalCode: v.get(5) } : {}),
    ...(v.get(6) ? { country: v.get(6) } : {}),
    ...(v.get(7) === 'H' ? { use: 'home' as const } : {}),
  })).filter((a) => Object.keys(a).length > 0);
}

/** XTN (PID-13 / PID-14) → ContactPoint: XTN-2 use, XTN-3 equipment, XTN-4 e-mail, XTN-12 unformatted number. */
function telecoms(pid: Hl7Segment): ContactPoint[] {
  return [13, 14].flatMap((f) => repetitions(pid.getField(f)).map((v): ContactPoint | undefined => {
    if (v.get(4) || v.get(3) === 'Internet' || v.get(3) === 'X.400') return { system: 'email', value: v.get(4) || v.get(1) };
    const value = v.get(12) || v.get(1);
    if (!value) return undefined;
    return { system: v.get(3) === 'FX' ? 'fax' : 'phone', value, ...(f === 14 ? { use: 'work' as const } : v.get(3) === 'CP' ? { use: 'mobile' as const } : {}) };
  }).filter((c): c is ContactPoint => c !== undefined));
}

/** The birth place (XAD-7 `BDL`): INSEE code of the commune in XAD-9, per PAM-FR; undefined when absent. */
export function birthPlace(pid: Hl7Segment): Address | undefined {
  const v = repetitions(pid.getField(11)).find((r) => r.get(7) === 'BDL');
  if (!v) return undefined;
  return { ...(v.get(3) ? { city: v.get(3) } : {}), ...(v.get(9) ? { district: v.get(9) } : {}), ...(v.get(5) ? { postalCode: v.get(5) } : {}), ...(v.get(6) ? { country: v.get(6) } : {}) };
}

/**
 * Reads a PID segment. Throws a located HL7 error: 101 when PID-3 is empty, 102 when PID-7 is not a date.
 * `location` is the segment's name as the ERR segment should show it (e.g. `PID`, or `PID[2]` in a merge message).
 */
export function readPid(pid: Hl7Segment | undefined, location = 'PID'): PidIdentity {
  if (!pid) throw hl7Error(101, location, 'PID segment missing: the patient is required');
  const ids = repetitions(pid.getField(3)).map(cx).filter((id) => id.value);
  if (ids.length === 0) throw hl7Error(101, `${location}-3`, 'PID-3 (patient identifier list) is empty: an INS or an IPP with its assigning authority is required');
  const insId = ids.find(isIns);
  const local = ids.filter((id) => id !== insId && id.system);
  const ipp = local.find((id) => id.typeCode === 'PI') ?? local[0];
  const names = repetitions(pid.getField(5)).map(xpnName).filter((n) => n.family || n.given);
  const birth = first(pid.getField(7))?.get(1) ?? '';
  let birthDate: string | undefined;
  try {
    birthDate = tsToFhir(birth)?.slice(0, 10);
  } catch (e) {
    throw hl7Error(102, `${location}-7`, `PID-7 (date of birth): ${(e as Error).message}`);
  }
  const gender = GENDERS[first(pid.getField(8))?.get(1) ?? ''];
  const reliability = first(pid.getField(32))?.get(1) || undefined;
  return {
    ...(insId ? { ins: { ...cxIdentifier(insId), system: `urn:oid:${insId.oid || '1.2.250.1.213.1.4.8'}` } } : {}),
    ...(ipp ? { ipp: cxIdentifier(ipp) } : {}),
    identifiers: ids.map(cxIdentifier),
    names,
    name: names.find((n) => n.use === 'official') ?? names[0],
    ...(birthDate ? { birthDate } : {}),
    ...(gender ? { gender } : {}),
    address: addresses(pid),
    telecom: telecoms(pid),
    ...(reliability ? { reliability } : {}),
  };
}

/** Our messages' PID (§3.4.2, PAM-FR): INS (qualified identity only, with its OID) and local ids in PID-3, names, birth date, sex. */
export function writePid(patient: Patient, esc: (text: string) => string): string {
  const ids = (patient.identifier ?? []).filter((id) => id.value && id.system?.startsWith('urn:oid:')).map((id) => {
    const oid = (id.system as string).slice('urn:oid:'.length);
    const isIns = INS_OIDS.has(oid);
    const type = isIns ? 'INS' : id.type?.coding?.find((c) => c.system === 'http://terminology.hl7.org/CodeSystem/v2-0203')?.code ?? 'PI';
    return `${esc(id.value as string)}^^^${isIns ? 'ASIP-SANTE-INS-NIR' : ''}&${oid}&ISO^${type}`;
  });
  const names = (patient.name ?? []).map((n) => [esc(n.family ?? ''), esc(n.given?.[0] ?? ''), esc((n.given ?? []).slice(1).join(' ')), '', '',
    '', n.use === 'usual' ? 'D' : 'L'].join('^'));
  const sex = ({ male: 'M', female: 'F', other: 'O', unknown: 'U' } as const)[patient.gender ?? 'unknown'];
  return ['PID', '', '', ids.join('~'), '', names.join('~'), '', (patient.birthDate ?? '').replace(/-/g, ''), sex].join('|');
}
