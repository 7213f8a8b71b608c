// The kit's PACS search form ("Nom du patient, Date de naissance, Identifiant, Date de l'examen, Modalité, N° de RDV")
// as PS3.4 C.6.2.1 study-level matching keys (C.2.2.2: wildcard, single value, range), defaulting to the dossier's
// patient; and a PACS answer shown as an R4 ImagingStudy (imagingstudy.html) the client can list and pick from.
import type { Coding, ImagingStudy, Patient } from '@medplum/fhirtypes';
import type { DicomJson } from '../../imaging/dicom-json.js';
import { errors } from '../../kernel/errors.js';
import { DICOM_UID_SYSTEM } from '../teleexpertise/teledossier-resources.js';
import type { StudyQuery } from './pacs-port.js';

/** The filters, FHIR-typed (dates as YYYY-MM-DD). */
export interface PacsFilters {
  readonly patientName?: string;
  readonly birthDate?: string;
  readonly identifier?: string;
  /** One day… */
  readonly examDate?: string;
  /** …or a range, open on either side. */
  readonly examDateFrom?: string;
  readonly examDateTo?: string;
  readonly modality?: string;
  /** Accession number, the kit's "N° de RDV". */
  readonly accessionNumber?: string;
  readonly limit?: number;
}

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const V2_ID_TYPE = 'http://terminology.hl7.org/CodeSystem/v2-0203';

function da(value: string | undefined, name: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(value))) throw errors.badRequest(`${name} must be a date YYYY-MM-DD (got "${value.slice(0, 40)}")`, name);
  return value.replace(/-/g, '');
}

/** A DICOM string matching key: no backslash (value separator) and within the VR's length. */
function key(value: string | undefined, name: string, max: number): string | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (v.includes('\\') || v.length > max) throw errors.badRequest(`${name} must be at most ${max} characters, without backslash`, name);
  return v;
}

/** A name typed in the form matches names starting with it (PN wildcard, C.2.2.2.4), unless it has its own wildcards. */
const startsWith = (name: string) => (/[*?]/.test(name) ? name : `${name}*`);

/** The IPP of a Patient (identifier typed PI), else none. */
function ippOf(patient: Patient): string | undefined {
  return patient.identifier?.find((i) => i.type?.coding?.some((c) => c.system === V2_ID_TYPE && c.code === 'PI') && i.value)?.value;
}

/**
 * The StudyQuery of the filters; when none is given, of `patient` (the dossier's): its IPP, else its family name and
 * birth date. Throws a 400 naming the bad filter.
 */
export function studyQueryOf(filters: PacsFilters, patient?: Patient): StudyQuery {
  const examDate = da(filters.examDate, 'exam-date');
  const from = da(filters.examDateFrom, 'exam-date-from');
  const to = da(filters.examDateTo, 'exam-date-to');
  if (examDate && (from || to)) throw errors.badRequest('Give exam-date, or exam-date-from/exam-date-to, not both', 'exam-date');
  const modality = key(filters.modality, 'modality', 16)?.toUpperCase();
  if (modality && !/^[A-Z0-9_]+$/.test(modality)) throw errors.badRequest('modality must be a DICOM modality code (CT, MR, US…)', 'modality');
  const name = key(filters.patientName, 'patient-name', 64);
  const query: StudyQuery = {
    ...(name ? { patientName: startsWith(name) } : {}),
    ...(da(filters.birthDate, 'birth-date') ? { patientBirthDate: da(filters.birthDate, 'birth-date') } : {}),
    ...(key(filters.identifier, 'identifier', 64) ? { patientId: key(filters.identifier, 'identifier', 64) } : {}),
    ...(examDate ? { studyDate: examDate } : from || to ? { studyDate: `${from ?? ''}-${to ?? ''}` } : {}),
    ...(modality ? { modality } : {}),
    ...(key(filters.accessionNumber, 'accession', 16) ? { accessionNumber: key(filters.accessionNumber, 'accession', 16) } : {}),
    ...(filters.limit !== undefined ? { limit: filters.limit } : {}),
  };
  if (Object.keys(query).some((k) => k !== 'limit') || !patient) return query;
  const ipp = ippOf(patient);
  if (ipp) return { ...query, patientId: ipp };
  const family = patient.name?.[0]?.family;
  const birth = patient.birthDate && /^\d{4}-\d{2}-\d{2}$/.test(patient.birthDate) ? patient.birthDate.replace(/-/g, '') : undefined;
  if (!family && !birth) throw errors.badRequest('The dossier\'s patient has neither an IPP, a name nor a birth date: give a filter');
  return { ...query, ...(family ? { patientName: `${family}*` } : {}), ...(birth ? { patientBirthDate: birth } : {}) };
}

const text = (json: DicomJson, tag: string): string | undefined => {
  const v = json[tag]?.Value?.[0];
  if (typeof v === 'string') return v.trim() || undefined;
  if (typeof v === 'number') return String(v);
  if (v && typeof v === 'object' && 'Alphabetic' in v) return String((v as { Alphabetic?: string }).Alphabetic ?? '').trim() || undefined;
  return undefined;
};
const int = (json: DicomJson, tag: string): number | undefined => {
  const n = Number(text(json, tag));
  return Number.isInteger(n) && n >= 0 ? n : undefined;
};

/** The study as the PACS described it, ImagingStudy-shaped (no id: it is not on the platform). */
export function imagingStudyOfMatch(json: DicomJson, pacs: string): ImagingStudy {
  const uid = text(json, '0020000D') ?? '';
  const da8 = text(json, '00080020');
  const tm = /^(\d{2})(\d{2})(\d{2})?/.exec(text(json, '00080030') ?? '');
  const started = da8 && /^\d{8}$/.test(da8)
    ? `${da8.slice(0, 4)}-${da8.slice(4, 6)}-${da8.slice(6, 8)}${tm ? `T${tm[1]}:${tm[2]}:${tm[3] ?? '00'}` : ''}` : undefined;
  const modalities: Coding[] = (json['00080061']?.Value ?? []).filter((m): m is string => typeof m === 'string' && m.trim() !== '')
    .map((code) => ({ system: DCM, code: code.trim() }));
  const accession = text(json, '00080050');
  const patientId = text(json, '00100020');
  const name = text(json, '00100010');
  const birth = text(json, '00100030');
  return {
    resourceType: 'ImagingStudy',
    status: 'available',
    identifier: [
      { system: DICOM_UID_SYSTEM, value: `urn:oid:${uid}` },
      ...(accession ? [{ type: { coding: [{ system: V2_ID_TYPE, code: 'ACSN' }] }, value: accession }] : []),
    ],
    subject: {
      ...(patientId ? { identifier: { type: { coding: [{ system: V2_ID_TYPE, code: 'PI' }] }, value: patientId } } : {}),
      display: [name?.replace(/\^/g, ' ').trim(), birth && /^\d{8}$/.test(birth) ? `(${birth.slice(6, 8)}/${birth.slice(4, 6)}/${birth.slice(0, 4)})` : undefined].filter(Boolean).join(' ') || 'inconnu',
    },
    ...(started ? { started } : {}),
    ...(modalities.length ? { modality: modalities } : {}),
    ...(int(json, '00201206') !== undefined ? { numberOfSeries: int(json, '00201206') } : {}),
    ...(int(json, '00201208') !== undefined ? { numberOfInstances: int(json, '00201208') } : {}),
    ...(text(json, '00081030') ? { description: text(json, '00081030') } : {}),
    location: { display: `PACS ${pacs}` },
  };
}
