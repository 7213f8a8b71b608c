// HL7 CDA R2 level 1 report (CI-SIS "en-tête des documents CDA" + IHE XDS-SD: a PDF in nonXMLBody), the compte rendu
// sent to DPIs and, later, to the DMP. Field by field after the ANS example CR_Radio_CDAN1_v1.xml.
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';

export const INS_ROOTS = new Set(['1.2.250.1.213.1.4.8', '1.2.250.1.213.1.4.9', '1.2.250.1.213.1.4.10', '1.2.250.1.213.1.4.11']);
export const RPPS_ROOT = '1.2.250.1.71.4.2.1';
export const FINESS_ROOT = '1.2.250.1.71.4.2.2';
/** LOINC 18748-4 "CR d'imagerie médicale" (the CR-IMG document type); other CRs pass their own code. */
export const CR_IMAGERIE = { code: '18748-4', display: "CR d'imagerie médicale" };

export interface CdaId { readonly root: string; readonly extension?: string }
export interface CdaPerson { readonly rpps?: string; readonly family?: string; readonly given?: string }
export interface CdaOrganization { readonly finess?: string; readonly name?: string }

export interface CdaReport {
  /** ClinicalDocument.id of this version. */
  readonly id: CdaId;
  /** Same for every version of the report; with `replaces` for a replacement (relatedDocument RPLC). */
  readonly setId: CdaId;
  readonly version: number;
  readonly replaces?: CdaId;
  readonly code?: { code: string; display: string };
  readonly title: string;
  readonly effectiveTime: Date;
  readonly patient: {
    /** INS (root = its OID) first when qualified, else the IPP (root = the issuer's OID). */
    readonly ids: readonly CdaId[];
    readonly family?: string;
    readonly given?: readonly string[];
    readonly gender?: 'male' | 'female' | 'other' | 'unknown';
    readonly birthDate?: string;
  };
  readonly author: CdaPerson;
  readonly authorOrganization: CdaOrganization;
  readonly custodian: CdaOrganization;
  readonly recipient?: CdaPerson;
  readonly order?: { readonly placer?: CdaId; readonly accession?: CdaId };
  readonly studyInstanceUid?: string;
  readonly encounter?: { readonly id?: CdaId; readonly start?: string };
  /** The report itself (level 1 body): a PDF, or plain text when the report has no PDF. */
  readonly body: { readonly mediaType: 'application/pdf' | 'text/plain'; readonly data: Buffer };
}

/** HL7 TS with offset (YYYYMMDDHHMMSS+0000). */
const ts = (d: Date) => `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}+0000`;
const GENDER: Record<string, string> = { male: 'M', female: 'F', other: 'UN', unknown: 'UN' };

function idOf(parent: XMLBuilder, name: string, id: CdaId): void {
  parent.ele(name, { root: id.root, ...(id.extension ? { extension: id.extension } : {}) });
}

function unknown(parent: XMLBuilder, ...names: string[]): void {
  for (const n of names) parent.ele(n, { nullFlavor: 'UNK' });
}

function person(parent: XMLBuilder, p: CdaPerson): void {
  const name = parent.ele('assignedPerson').ele('name');
  if (p.family) name.ele('family', { qualifier: 'SP' }).txt(p.family);
  else name.ele('family', { nullFlavor: 'UNK' });
  if (p.given) name.ele('given').txt(p.given);
}

function organization(parent: XMLBuilder, element: string, o: CdaOrganization): void {
  const org = parent.ele(element);
  if (o.finess) org.ele('id', { root: FINESS_ROOT, extension: o.finess });
  else org.ele('id', { nullFlavor: 'UNK' });
  if (o.name) org.ele('name').txt(o.name);
  unknown(org, 'telecom', 'addr');
}

/** The ClinicalDocument as UTF-8 XML text. */
export function buildCdaReport(r: CdaReport): string {
  const code = r.code ?? CR_IMAGERIE;
  const doc = create({ version: '1.0', encoding: 'UTF-8' }).ele('urn:hl7-org:v3', 'ClinicalDocument', {
    'xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance', 'xmlns:ps3-20': 'urn:dicom-org:ps3-20',
  });
  doc.ele('realmCode', { code: 'FR' });
  doc.ele('typeId', { root: '2.16.840.1.113883.1.3', extension: 'POCD_HD000040' });
  doc.ele('templateId', { root: '2.16.840.1.113883.2.8.2.1', assigningAuthorityName: 'HL7 France' });
  doc.ele('templateId', { root: '1.2.250.1.213.1.1.1.1', assigningAuthorityName: 'CI-SIS' });
  doc.ele('templateId', { root: '1.3.6.1.4.1.19376.1.2.20', assigningAuthorityName: 'IHE XDS-SD' });
  idOf(doc, 'id', r.id);
  doc.ele('code', { code: code.code, codeSystem: '2.16.840.1.113883.6.1', codeSystemName: 'LOINC', displayName: code.display });
  doc.ele('title').txt(r.title);
  doc.ele('effectiveTime', { value: ts(r.effectiveTime) });
  doc.ele('confidentialityCode', { code: 'N', codeSystem: '2.16.840.1.113883.5.25', displayName: 'Normal' });
  doc.ele('languageCode', { code: 'fr-FR' });
  idOf(doc, 'setId', r.setId);
  doc.ele('versionNumber', { value: String(r.version) });

  const role = doc.ele('recordTarget').ele('patientRole');
  for (const id of r.patient.ids) idOf(role, 'id', id);
  unknown(role, 'addr', 'telecom');
  const patient = role.ele('patient');
  const name = patient.ele('name');
  for (const g of r.patient.given ?? []) name.ele('given').txt(g);
  name.ele('family', { qualifier: 'BR' }).txt(r.patient.family ?? '');
  patient.ele('administrativeGenderCode', { code: GENDER[r.patient.gender ?? 'unknown'], codeSystem: '2.16.840.1.113883.5.1' });
  if (r.patient.birthDate) patient.ele('birthTime', { value: r.patient.birthDate.replace(/-/g, '') });
  else patient.ele('birthTime', { nullFlavor: 'UNK' });

  const author = doc.ele('author');
  author.ele('time', { value: ts(r.effectiveTime) });
  const assigned = author.ele('assignedAuthor');
  if (r.author.rpps) assigned.ele('id', { root: RPPS_ROOT, extension: r.author.rpps });
  else assigned.ele('id', { nullFlavor: 'UNK' });
  unknown(assigned, 'addr', 'telecom');
  person(assigned, r.author);
  organization(assigned, 'representedOrganization', r.authorOrganization);

  organization(doc.ele('custodian').ele('assignedCustodian'), 'representedCustodianOrganization', r.custodian);
  if (r.recipient?.rpps) {
    const intended = doc.ele('informationRecipient').ele('intendedRecipient');
    intended.ele('id', { root: RPPS_ROOT, extension: r.recipient.rpps });
    const rname = intended.ele('informationRecipient').ele('name');
    if (r.recipient.given) rname.ele('given').txt(r.recipient.given);
    if (r.recipient.family) rname.ele('family').txt(r.recipient.family);
  }
  const legal = doc.ele('legalAuthenticator');
  legal.ele('time', { value: ts(r.effectiveTime) });
  legal.ele('signatureCode', { code: 'S' });
  const entity = legal.ele('assignedEntity');
  if (r.author.rpps) entity.ele('id', { root: RPPS_ROOT, extension: r.author.rpps });
  else entity.ele('id', { nullFlavor: 'UNK' });
  unknown(entity, 'addr', 'telecom');
  person(entity, r.author);

  if (r.order?.placer || r.order?.accession) {
    const order = doc.ele('inFulfillmentOf', { typeCode: 'FLFS' }).ele('order');
    if (r.order.placer) idOf(order, 'id', r.order.placer);
    else order.ele('id', { nullFlavor: 'UNK' });
    if (r.order.accession) idOf(order, 'ps3-20:accessionNumber', r.order.accession);
  }
  const event = doc.ele('documentationOf').ele('serviceEvent');
  if (r.studyInstanceUid) event.ele('id', { root: r.studyInstanceUid });
  event.ele('effectiveTime').ele('low', { value: ts(r.effectiveTime) });
  if (r.replaces) idOf(doc.ele('relatedDocument', { typeCode: 'RPLC' }).ele('parentDocument'), 'id', r.replaces);
  if (r.encounter) {
    const enc = doc.ele('componentOf').ele('encompassingEncounter');
    if (r.encounter.id) idOf(enc, 'id', r.encounter.id);
    enc.ele('effectiveTime').ele('low', r.encounter.start ? { value: r.encounter.start.replace(/[-:T]/g, '').slice(0, 14) } : { nullFlavor: 'UNK' });
  }
  doc.ele('component').ele('nonXMLBody').ele('text', { mediaType: r.body.mediaType, representation: 'B64' }).txt(r.body.data.toString('base64'));
  return doc.end({ prettyPrint: false });
}
