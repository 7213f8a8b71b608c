// IHE PAM-FR 2.11 patient identity (PID, ZFD) → the FHIR R4 Patient the feed describes (FR Core INS, identity reliability).
//
// Rules (RNIV, "Référentiel national d'identitovigilance", as carried by PAM-FR and FR Core):
// - PID-32 carries the identity's confidence status (PROV provisoire, RECUP récupérée, VALI validée, QUAL qualifiée;
//   VIDE in older feeds) and may repeat with attributes (DOUTE, FICTI, HOMON…); ZFD-5 is how the identity was
//   obtained (SM manual, CV carte Vitale, INSI the INSi teleservice) and ZFD-6 when INSi was queried. They become the
//   FR Core extension fr-core-identity-reliability (identityStatus, methodCollection, dateCollection).
// - The INS (matricule INS + OID) is written, and used to match, only for a QUALIFIED identity: QUAL, or VALI with
//   the INS obtained from INSi (ZFD-5 = INSI), which is how PAM-FR 2.11 feeds written before the RNIV codes (the ANS
//   examples among them) express "qualifiée"; never with DOUTE or FICTI. Otherwise the INS is left out and said so.
// - Names: PID-5 repetitions, type L = nom de naissance (official), D = nom d'usage (usual); PID-6 mother's maiden
//   name; PID-11 type BDL (or PID-23) = birth place with its INSEE code (XAD-9).
import type { Hl7Message, Hl7Segment } from '@medplum/core';
import type { Address, Extension, Identifier, Patient } from '@medplum/fhirtypes';
import { first, repetitions, tsToFhir } from './hl7-datatypes.js';
import { hl7Error } from './hl7-field-errors.js';
import { birthPlace, readPid } from './pid-segment.js';

export const IDENTITY_RELIABILITY_URL = 'https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability';
export const IDENTITY_STATUS_SYSTEM = 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445';
export const METHOD_COLLECTION_SYSTEM = 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-method-collection';
const FR_ID_TYPE = 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203';
const BIRTH_PLACE_URL = 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace';
const INSEE_CODE_URL = 'https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code';
const INSEE_COMMUNE_SYSTEM = 'https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune';
const MOTHERS_MAIDEN_NAME_URL = 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName';
const PROFILE = 'https://teleo.fr/fhir/StructureDefinition/teleo-patient';

/** RNIV confidence statuses (exclusive) and their display; other PID-32 codes are attributes. */
const STATUSES: Readonly<Record<string, string>> = {
  VIDE: 'Identité non encore qualifiée', PROV: 'Identité provisoire', RECUP: 'Identité récupérée',
  VALI: 'Identité validée', QUAL: 'Identité qualifiée',
};
const DISQUALIFYING = new Set(['DOUTE', 'FICTI']);
/** FR Core identifier type of each INS OID (production NIR and NIA, test and demonstration NIR). */
const INS_TYPES: Readonly<Record<string, string>> = {
  'urn:oid:1.2.250.1.213.1.4.8': 'INS-NIR', 'urn:oid:1.2.250.1.213.1.4.9': 'INS-NIA',
  'urn:oid:1.2.250.1.213.1.4.10': 'INS-NIR-TEST', 'urn:oid:1.2.250.1.213.1.4.11': 'INS-NIR-DEMO',
};

/** The Patient as the feed describes it, and what the identity rules decided. */
export interface FedPatient {
  /** A Patient without id: identifiers (qualified INS first, then the local ones), names, traits, extensions. */
  readonly patient: Patient;
  /** The qualified INS, also in `patient.identifier`; absent when none was sent or the identity is not qualified. */
  readonly ins?: Identifier;
  /** Why an INS sent in PID-3 was not written (identity not qualified). */
  readonly insLeftOut?: string;
}

function reliability(pid: Hl7Segment, zfd: Hl7Segment | undefined): { extension?: Extension; qualified: boolean } {
  const codes = repetitions(pid.getField(32)).map((v) => v.get(1)).filter(Boolean);
  const status = codes.find((c) => STATUSES[c]);
  const attributes = codes.filter((c) => !STATUSES[c]);
  const method = first(zfd?.getField(5))?.get(1) || undefined;
  let collected: string | undefined;
  try {
    collected = tsToFhir(first(zfd?.getField(6))?.get(1) ?? '')?.slice(0, 10);
  } catch (e) {
    throw hl7Error(102, 'ZFD-6', `ZFD-6 (date of the INSi query): ${(e as Error).message}`);
  }
  const parts: Extension[] = [
    ...(status ? [{ url: 'identityStatus', valueCoding: { system: IDENTITY_STATUS_SYSTEM, code: status, display: STATUSES[status] } }] : []),
    ...attributes.map((code) => ({ url: 'comment', valueCoding: { system: IDENTITY_STATUS_SYSTEM, code } })),
    ...(method ? [{ url: 'methodCollection', valueCoding: { system: METHOD_COLLECTION_SYSTEM, code: method } }] : []),
    ...(collected ? [{ url: 'dateCollection', valueDate: collected }] : []),
  ];
  const qualified = (status === 'QUAL' || (status === 'VALI' && method === 'INSI')) && !attributes.some((a) => DISQUALIFYING.has(a));
  return { ...(parts.length ? { extension: { url: IDENTITY_RELIABILITY_URL, extension: parts } } : {}), qualified };
}

function birthPlaceExtension(pid: Hl7Segment): Extension | undefined {
  const place: Address | undefined = birthPlace(pid) ?? (first(pid.getField(23))?.get(1) ? { city: first(pid.getField(23))?.get(1) } : undefined);
  if (!place) return undefined;
  const { district, ...address } = place;
  return {
    url: BIRTH_PLACE_URL,
    valueAddress: {
      ...(district ? { extension: [{ url: INSEE_CODE_URL, valueCoding: { system: INSEE_COMMUNE_SYSTEM, code: district } }] } : {}),
      ...address,
    },
  };
}

/**
 * The Patient of the message's PID (`segment`: the PID to read, default the first; `location` names it in errors)
 * and ZFD. Throws located HL7 errors: 101 for an empty PID-3 or PID-5, 102 for a malformed PID-7 / PID-29 / ZFD-6.
 */
export function readFedPatient(message: Hl7Message, source: string, segment?: Hl7Segment, location = 'PID'): FedPatient {
  const pid = segment ?? message.getSegment('PID');
  const id = readPid(pid, location);
  const seg = pid as Hl7Segment;
  if (id.names.length === 0) throw hl7Error(101, `${location}-5`, 'PID-5 (patient name) is required: the birth name (type L) at least');
  const { extension: reliable, qualified } = reliability(seg, message.getSegment('ZFD'));
  const ins = id.ins && qualified ? {
    use: 'official' as const,
    type: { coding: [{ system: FR_ID_TYPE, code: INS_TYPES[id.ins.system ?? ''] ?? 'INS-NIR' }] },
    system: id.ins.system, value: id.ins.value,
  } : undefined;
  const insSystem = id.ins?.system;
  const local = id.identifiers.filter((i) => i.system && i.system !== insSystem).map((i) => ({ use: 'usual' as const, ...i }));
  const mother = first(seg.getField(6));
  const motherName = mother ? [mother.get(1), mother.get(2)].filter(Boolean).join(' ') : '';
  let deceased: string | undefined;
  try {
    deceased = tsToFhir(first(seg.getField(29))?.get(1) ?? '');
  } catch (e) {
    throw hl7Error(102, `${location}-29`, `PID-29 (date of death): ${(e as Error).message}`);
  }
  const deathFlag = first(seg.getField(30))?.get(1);
  const born = birthPlaceExtension(seg);
  const extension = [
    ...(reliable ? [reliable] : []),
    ...(born ? [born] : []),
    ...(motherName ? [{ url: MOTHERS_MAIDEN_NAME_URL, valueString: motherName }] : []),
  ];
  const patient: Patient = {
    resourceType: 'Patient',
    meta: { profile: [PROFILE], source },
    ...(extension.length ? { extension } : {}),
    identifier: [...(ins ? [ins] : []), ...local],
    active: true,
    name: [...id.names],
    ...(id.telecom.length ? { telecom: [...id.telecom] } : {}),
    ...(id.gender ? { gender: id.gender } : {}),
    ...(id.birthDate ? { birthDate: id.birthDate } : {}),
    ...(deceased ? { deceasedDateTime: deceased } : deathFlag === 'Y' ? { deceasedBoolean: true } : deathFlag === 'N' ? { deceasedBoolean: false } : {}),
    ...(id.address.length ? { address: [...id.address] } : {}),
  };
  if (patient.identifier?.length === 0) {
    throw hl7Error(101, `${location}-3`, 'PID-3 holds no identifier this platform may use: an IPP with its assigning authority (CX-4), or the INS of a qualified identity');
  }
  const reliabilityText = first(seg.getField(32))?.get(1) || 'none';
  return {
    patient,
    ...(ins ? { ins } : {}),
    ...(id.ins && !ins ? { insLeftOut: `INS ${id.ins.value} not written: identity not qualified (PID-32 ${reliabilityText})` } : {}),
  };
}
