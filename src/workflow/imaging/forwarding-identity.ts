// The dossier's patient as DICOM Patient Module values (PS3.3 C.7.1.1) for forwarded copies: the inverse of
// dicom-patient-identity.ts (CI-SIS usage: an INS as Patient ID with Issuer "ASIP-SANTE-INS-NIR" and the INS OID as
// Universal Entity ID; else the IPP with its issuer), PN from the official HumanName.
import type { HumanName, Identifier, Patient } from '@medplum/fhirtypes';
import { errors } from '../../kernel/errors.js';
import type { PatientIdentity } from '../../imaging/patient-identity-rewrite.js';
import { DICOM_ISSUER_SYSTEM_PREFIX } from './dicom-patient-identity.js';

const INS_SYSTEMS = new Set(['urn:oid:1.2.250.1.213.1.4.8', 'urn:oid:1.2.250.1.213.1.4.10']);
const SEX: Record<string, PatientIdentity['sex']> = { male: 'M', female: 'F', other: 'O' };

function issuerOf(id: Identifier): Pick<PatientIdentity, 'issuer' | 'issuerOid'> {
  const system = id.system ?? '';
  if (INS_SYSTEMS.has(system)) return { issuer: 'ASIP-SANTE-INS-NIR', issuerOid: system.slice('urn:oid:'.length) };
  if (system.startsWith('urn:oid:')) return { issuer: system.slice('urn:oid:'.length), issuerOid: system.slice('urn:oid:'.length) };
  if (system.startsWith(DICOM_ISSUER_SYSTEM_PREFIX)) return { issuer: decodeURIComponent(system.slice(DICOM_ISSUER_SYSTEM_PREFIX.length)) };
  return system ? { issuer: system.slice(0, 64) } : {};
}

/** PN Alphabetic group: FAMILY^Given^Middle^Prefix^Suffix (trailing empty components dropped). */
function pnOf(name: HumanName | undefined): string | undefined {
  if (!name) return undefined;
  const [given, ...middle] = name.given ?? [];
  const parts = [name.family ?? '', given ?? '', middle.join(' '), name.prefix?.join(' ') ?? '', name.suffix?.join(' ') ?? ''];
  const pn = parts.join('^').replace(/\^+$/, '');
  return pn || name.text;
}

/** The identity written into the copies: the INS when the Patient has one, else its first identifier with a system. */
export function identityOfPatient(patient: Patient): PatientIdentity {
  const ids = patient.identifier ?? [];
  const chosen = ids.find((i) => INS_SYSTEMS.has(i.system ?? '') && i.value) ?? ids.find((i) => i.system && i.value) ?? ids.find((i) => i.value);
  if (!chosen?.value) throw errors.unprocessable(`Patient/${patient.id} has no identifier to write as Patient ID`);
  const name = patient.name?.find((n) => n.use === 'official') ?? patient.name?.[0];
  return {
    patientId: chosen.value.slice(0, 64), ...issuerOf(chosen), name: pnOf(name),
    ...(patient.birthDate && /^\d{4}-\d{2}-\d{2}$/.test(patient.birthDate) ? { birthDate: patient.birthDate.replaceAll('-', '') } : {}),
    ...(patient.gender && SEX[patient.gender] ? { sex: SEX[patient.gender] } : {}),
  };
}
