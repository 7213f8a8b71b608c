// The patient of a DICOM study as FR Core identifiers (PS3.3 C.7.1.1 Patient Module; CI-SIS / ANS usage of the INS in
// DICOM: Patient ID + Issuer of Patient ID "ASIP-SANTE-INS-NIR" + Issuer of Patient ID Qualifiers Sequence (Universal
// Entity ID = the INS OID), repeated in Other Patient IDs Sequence next to the IPP), matched to a FHIR Patient or created.
import type { HumanName, Identifier, Patient, Reference } from '@medplum/fhirtypes';
import type { DicomJson } from '../../imaging/dicom-json.js';
import type { AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';

/** INS-NIR (production) and INS-NIR de test (as in the ANS DRIMbox fixtures): the OIDs a DICOM INS is qualified with. */
const INS_OIDS = new Set(['1.2.250.1.213.1.4.8', '1.2.250.1.213.1.4.10']);
const INS_ISSUER = 'ASIP-SANTE-INS-NIR';
const INS_NIR = 'urn:oid:1.2.250.1.213.1.4.8';
const OID = /^[0-2](\.(0|[1-9][0-9]*))+$/;
const FR_ID_TYPE = 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203';
const V2_ID_TYPE = 'http://terminology.hl7.org/CodeSystem/v2-0203';
/** Identifier.system of an IPP whose Issuer of Patient ID is a plain name (neither an OID nor a URI). */
export const DICOM_ISSUER_SYSTEM_PREFIX = 'urn:teleo:issuer-of-patient-id:';
const PROFILE = 'https://teleo.fr/fhir/StructureDefinition/teleo-patient';

type Item = DicomJson;
const text = (json: Item | undefined, tag: string): string | undefined => {
  const v = json?.[tag]?.Value?.[0];
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
};
const items = (json: Item | undefined, tag: string): Item[] =>
  (json?.[tag]?.Value ?? []).filter((v): v is Item => typeof v === 'object' && v !== null);

export interface DicomPatient {
  /** INS (system urn:oid:1.2.250.1.213.1.4.8, or the test NIR OID when the data says so). */
  readonly ins?: Identifier;
  /** IPP with its issuer (system urn:oid:… from the qualifiers or an OID issuer; a URI issuer as is). */
  readonly ipp?: Identifier;
  /** Patient ID without any issuer: matches nothing, kept on a created Patient. */
  readonly unqualified?: string;
  readonly name?: HumanName;
  readonly birthDate?: string;
  readonly gender?: Patient['gender'];
}

/** One (Patient ID, issuer) of the data set: the main one or an item of Other Patient IDs Sequence (0010,1002). */
function identifierOf(item: Item): { kind: 'ins' | 'ipp' | 'bare'; id: Identifier } | undefined {
  const value = text(item, '00100020');
  if (!value) return undefined;
  const issuer = text(item, '00100021');
  const qualifier = items(item, '00100024')[0];
  const universal = text(qualifier, '00400032');
  const universalOid = universal && OID.test(universal) && (text(qualifier, '00400033') ?? 'ISO') === 'ISO' ? universal : undefined;
  if ((universalOid && INS_OIDS.has(universalOid)) || (!universalOid && issuer === INS_ISSUER)) {
    return { kind: 'ins', id: { use: 'official', type: { coding: [{ system: FR_ID_TYPE, code: 'INS-NIR' }] }, system: universalOid ? `urn:oid:${universalOid}` : INS_NIR, value } };
  }
  const system = universalOid ? `urn:oid:${universalOid}`
    : issuer && OID.test(issuer) ? `urn:oid:${issuer}`
      : issuer && /^[a-z][a-z0-9+.-]*:/i.test(issuer) ? issuer
        : issuer ? `${DICOM_ISSUER_SYSTEM_PREFIX}${encodeURIComponent(issuer)}` : undefined;
  if (!system) return { kind: 'bare', id: { value } };
  return { kind: 'ipp', id: { use: 'usual', type: { coding: [{ system: V2_ID_TYPE, code: 'PI' }] }, system, value } };
}

/** PN (PS3.5 6.2: family^given^middle^prefix^suffix) → HumanName. */
function nameOf(json: Item): HumanName | undefined {
  const pn = json['00100010']?.Value?.[0] as { Alphabetic?: string } | string | undefined;
  const alphabetic = typeof pn === 'string' ? pn : pn?.Alphabetic;
  if (!alphabetic?.trim()) return undefined;
  const [family, given, middle, prefix, suffix] = alphabetic.split('^').map((p) => p.trim());
  const givens = [given, middle].filter((g): g is string => !!g);
  return {
    use: 'official',
    ...(family ? { family } : {}),
    ...(givens.length ? { given: givens } : {}),
    ...(prefix ? { prefix: [prefix] } : {}),
    ...(suffix ? { suffix: [suffix] } : {}),
    ...(!family && !givens.length ? { text: alphabetic.trim() } : {}),
  };
}

const GENDERS: Record<string, Patient['gender']> = { M: 'male', F: 'female', O: 'other' };

/** The patient of an instance's precomputed metadata. */
export function patientOfDataset(json: DicomJson): DicomPatient {
  const found = [json, ...items(json, '00101002')].map(identifierOf).filter((x) => x !== undefined);
  const da = text(json, '00100030');
  return {
    ins: found.find((f) => f.kind === 'ins')?.id,
    ipp: found.find((f) => f.kind === 'ipp')?.id,
    unqualified: found.find((f) => f.kind === 'bare')?.id.value,
    name: nameOf(json),
    ...(da && /^\d{8}$/.test(da) ? { birthDate: `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6, 8)}` } : {}),
    gender: GENDERS[text(json, '00100040') ?? ''] ?? (text(json, '00100040') ? 'unknown' : undefined),
  };
}

const tokenOf = (id: Identifier) => ({ identifier: [`${id.system}|${id.value}`] });

/**
 * The FHIR Patient of the study: matched by INS, else by IPP + issuer, else `fallback` (the patient of the request the
 * study answers); otherwise created (conditionally on its INS or IPP, so that concurrent studies create one).
 */
export async function resolvePatient(t: ResourceService, ctx: AuditContext, p: DicomPatient, fallback?: Reference): Promise<Reference<Patient>> {
  for (const id of [p.ins, p.ipp]) {
    if (!id) continue;
    const { resources } = await t.search(ctx, 'Patient', { ...tokenOf(id), _count: ['1'] });
    if (resources[0]) return { reference: `Patient/${resources[0].id}` };
  }
  if (fallback?.reference) return { reference: fallback.reference };
  const identifier = [p.ins, p.ipp].filter((x): x is Identifier => !!x);
  if (!identifier.length && p.unqualified) identifier.push({ value: p.unqualified });
  const patient: Patient = {
    resourceType: 'Patient',
    // The platform's Patient profile wants qualified identifiers (INS-NIR, IPP + issuer): a bare Patient ID is kept
    // as an identifier without system, on a plain R4 Patient.
    ...((p.ins || p.ipp) && p.name ? { meta: { profile: [PROFILE] } } : {}),
    ...(identifier.length ? { identifier } : {}),
    ...(p.name ? { name: [p.name] } : {}),
    ...(p.gender ? { gender: p.gender } : {}),
    ...(p.birthDate ? { birthDate: p.birthDate } : {}),
  };
  const key = p.ins ?? p.ipp;
  const { resource } = await t.create(ctx, patient, key ? { ifNoneExist: tokenOf(key) } : {});
  return { reference: `Patient/${resource.id}` };
}
