// PS3.3 C.7.1.1 Patient Module written into a copy of a stored instance (Patient's Name, Patient ID, Issuer of Patient
// ID and its Qualifiers Sequence, Birth Date, Sex), the way a receiving archive coerces demographics (PS3.4 B.4.1.3).
//
// UIDs are kept on purpose: the copy is the same acquisition, only its demographics are reconciled with the dossier
// (as IHE Patient Information Reconciliation does). New UIDs would make the recipient's PACS hold a second, unrelated
// study for one exam, break the references to it (reports, KOS, the requesting site's own copy), and turn a resend of
// the same forwarding into duplicates instead of an idempotent overwrite.
import dcmjs, { type DcmjsDict } from 'dcmjs';

export interface PatientIdentity {
  /** DICOM PN, Alphabetic group: `FAMILY^Given^Middle^Prefix^Suffix`. */
  readonly name?: string;
  readonly patientId: string;
  /** Issuer of Patient ID (0010,0021), e.g. `ASIP-SANTE-INS-NIR` for an INS. */
  readonly issuer?: string;
  /** Universal Entity ID (ISO OID) of the issuer, written in Issuer of Patient ID Qualifiers Sequence (0010,0024). */
  readonly issuerOid?: string;
  /** DA: YYYYMMDD. */
  readonly birthDate?: string;
  /** CS: M, F or O. */
  readonly sex?: 'M' | 'F' | 'O';
}

const set = (dict: DcmjsDict, tag: string, vr: string, value: unknown | undefined): void => {
  if (value === undefined || value === '') delete dict[tag];
  else dict[tag] = { vr, Value: [value] };
};

/**
 * The Part 10 file with the identity written in. dcmjs re-encodes the whole data set (in its transfer syntax; text in
 * UTF-8, hence Specific Character Set ISO_IR 192); pixel data and every UID are left as they are.
 */
export function rewritePatientIdentity(part10: Buffer, id: PatientIdentity): Buffer {
  const file = dcmjs.data.DicomMessage.readFile(part10.buffer.slice(part10.byteOffset, part10.byteOffset + part10.byteLength) as ArrayBuffer);
  const dict = file.dict;
  dict['00080005'] = { vr: 'CS', Value: ['ISO_IR 192'] };
  set(dict, '00100010', 'PN', id.name ? { Alphabetic: id.name } : undefined);
  set(dict, '00100020', 'LO', id.patientId);
  set(dict, '00100021', 'LO', id.issuer);
  // The qualifiers qualify the issuer: those of the sending site's issuer would now describe another one.
  set(dict, '00100024', 'SQ', id.issuerOid ? { '00400032': { vr: 'UT', Value: [id.issuerOid] }, '00400033': { vr: 'CS', Value: ['ISO'] } } : undefined);
  set(dict, '00100030', 'DA', id.birthDate);
  set(dict, '00100040', 'CS', id.sex);
  return Buffer.from(file.write());
}
