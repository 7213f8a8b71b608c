// The FHIR R4 resources of a new télédossier, laid out as dossier-model.ts says (Task, ServiceRequest, Patient per
// FR Core identifiers, DocumentReference + Binary, Provenance.agent.onBehalfOf), as transaction Bundle entries.
import { randomUUID } from 'node:crypto';
import type {
  Binary, BundleEntryRequest, DocumentReference, Identifier, Observation, Patient, PractitionerRole, Provenance, Reference, Resource, ServiceRequest, Task,
} from '@medplum/fhirtypes';
import { DOSSIER_AUTHOR_URL, DOSSIER_CONTENT_SYSTEM, SENDER_COMMUNITY_URL, type DossierContentType } from './dossier-model.js';
import type { TeledossierRequest } from './teledossier-creation.js';
import { DOSSIER_ROLE_SYSTEM, DOSSIER_STATUS_SYSTEM, WORKFLOW_SYSTEM, type WorkflowDefinition } from './workflow-definition.js';

/** FR Core INS-NIR identifier system. */
export const INS_SYSTEM = 'urn:oid:1.2.250.1.213.1.4.8';
const FR_ID_TYPE = 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203';
const V2_ID_TYPE = 'http://terminology.hl7.org/CodeSystem/v2-0203';
/** ImagingStudy.identifier / ServiceRequest.identifier system of a StudyInstanceUID (R4 imagingstudy.html#notes). */
export const DICOM_UID_SYSTEM = 'urn:dicom:uid';
const PROFILE = 'https://teleo.fr/fhir/StructureDefinition';

export interface Built { fullUrl: string; resource: Resource; request: BundleEntryRequest }

export function patientResource(p: TeledossierRequest['patient']): Patient {
  const identifier: Identifier[] = [
    ...(p.ins ? [{ use: 'official' as const, type: { coding: [{ system: FR_ID_TYPE, code: 'INS-NIR' }] }, system: p.insSystem ?? INS_SYSTEM, value: p.ins }] : []),
    ...(p.ipp ? [{ use: 'usual' as const, type: { coding: [{ system: V2_ID_TYPE, code: 'PI' }] }, system: p.ipp.system, value: p.ipp.value }] : []),
  ];
  return {
    resourceType: 'Patient',
    meta: { profile: [`${PROFILE}/teleo-patient`] },
    identifier,
    name: [{ use: 'official', family: p.family.trim(), ...(p.given?.length ? { given: p.given } : {}) }],
    ...(p.gender ? { gender: p.gender } : {}),
    ...(p.birthDate ? { birthDate: p.birthDate } : {}),
  };
}

const contentType = (code: DossierContentType) => ({ coding: [{ system: DOSSIER_CONTENT_SYSTEM, code }] });
/** A literal reference; its target type was checked against the element's allowed types before. */
const ref = <T extends Resource = Resource>(reference: string): Reference<T> => ({ reference }) as Reference<T>;

/** Binaries + DocumentReferences, ServiceRequest, Task and (author acting on behalf) Provenance entries. */
export function dossierEntries(req: TeledossierRequest, def: WorkflowDefinition, patient: string, now: string,
  digest: (base64: string) => { size: number; hash: string }): Built[] {
  const entries: Built[] = [];
  const documents: string[] = [];
  for (const d of req.documents ?? []) {
    if ('reference' in d) { documents.push(d.reference); continue; }
    const binaryId = randomUUID();
    const docUrl = `urn:uuid:${randomUUID()}`;
    const { data, contentType: mime, ...meta } = d.attachment;
    const binary: Binary = { resourceType: 'Binary', contentType: mime as string, data, securityContext: ref(docUrl) };
    entries.push({ fullUrl: `urn:uuid:${binaryId}`, resource: binary, request: { method: 'PUT', url: `Binary/${binaryId}` } });
    const doc: DocumentReference = {
      resourceType: 'DocumentReference',
      status: 'current',
      subject: ref<Patient>(patient),
      date: now,
      author: [ref<PractitionerRole>(req.author ?? req.requester)],
      ...(d.attachment.title ? { description: d.attachment.title } : {}),
      content: [{ attachment: { ...meta, contentType: mime, url: `Binary/${binaryId}`, ...digest(data as string), creation: meta.creation ?? now } }],
    };
    entries.push({ fullUrl: docUrl, resource: doc, request: { method: 'POST', url: 'DocumentReference' } });
    documents.push(docUrl);
  }
  const studies = (req.exams ?? []).flatMap((x) => ('reference' in x ? [x.reference] : []));
  const announced: Identifier[] = (req.exams ?? []).flatMap((x): Identifier[] => {
    if ('studyInstanceUid' in x) return [{ system: DICOM_UID_SYSTEM, value: `urn:oid:${x.studyInstanceUid}` }];
    if ('accession' in x) return [{ ...x.accession, type: { coding: [{ system: V2_ID_TYPE, code: 'ACSN' }] } }];
    return [];
  });

  const workflow = { coding: [{ system: WORKFLOW_SYSTEM, code: def.code, display: def.display }], text: def.display };
  const priority = req.priority ?? (def.urgent ? 'urgent' : 'routine');
  const srUrl = `urn:uuid:${randomUUID()}`;
  const more = req.serviceRequest ?? {};
  // Observations sent with the request: their own resources (searchable by based-on), listed in supportingInfo.
  const observations = (more.observations ?? []).map((o): Built => ({
    fullUrl: `urn:uuid:${randomUUID()}`,
    resource: { ...o, subject: ref<Patient>(patient), basedOn: [ref<ServiceRequest>(srUrl)] } as Observation,
    request: { method: 'POST', url: 'Observation' },
  }));
  const identifier = [...(more.identifier ?? []), ...announced];
  const reasonCode = [...(req.reason ? [{ text: req.reason }] : []), ...(more.reasonCode ?? [])];
  const note = [...(req.comment ? [{ text: req.comment, time: now }] : []), ...(more.note ?? [])];
  const supportingInfo = [...documents, ...studies, ...observations.map((o) => o.fullUrl)];
  const request: ServiceRequest = {
    resourceType: 'ServiceRequest',
    meta: { profile: [`${PROFILE}/teleo-demande`], ...(more.source ? { source: more.source } : {}) },
    // Announced exams (StudyInstanceUID, accession number): images arriving later find their request here.
    ...(identifier.length ? { identifier } : {}),
    status: 'active',
    intent: 'order',
    priority,
    code: workflow,
    ...(more.orderDetail?.length ? { orderDetail: more.orderDetail } : {}),
    subject: ref<Patient>(patient),
    authoredOn: more.authoredOn ?? now,
    requester: ref<PractitionerRole>(req.requester),
    performer: [ref(req.owner)],
    ...(reasonCode.length ? { reasonCode } : {}),
    ...(supportingInfo.length ? { supportingInfo: supportingInfo.map(ref) } : {}),
    ...(more.bodySite?.length ? { bodySite: more.bodySite } : {}),
    ...(note.length ? { note } : {}),
  };
  entries.push({ fullUrl: srUrl, resource: request, request: { method: 'POST', url: 'ServiceRequest' } }, ...observations);

  const initial = def.states[def.initial];
  const taskUrl = `urn:uuid:${randomUUID()}`;
  const extension = [
    ...(req.author ? [{ url: DOSSIER_AUTHOR_URL, valueReference: ref(req.author) }] : []),
    ...(req.senderCommunity ? [{ url: SENDER_COMMUNITY_URL, valueReference: ref(req.senderCommunity) }] : []),
  ];
  const input = [
    ...documents.map((d) => ({ type: contentType('document'), valueReference: ref(d) })),
    ...studies.map((s) => ({ type: contentType('exam'), valueReference: ref(s) })),
  ];
  const task: Task = {
    resourceType: 'Task',
    meta: { profile: [`${PROFILE}/teleo-teledossier`] },
    ...(extension.length ? { extension } : {}),
    status: initial.status,
    businessStatus: { coding: [{ system: DOSSIER_STATUS_SYSTEM, code: initial.businessStatus, display: initial.display }], text: initial.display },
    intent: 'order',
    priority,
    code: workflow,
    ...(req.reason ? { description: req.reason } : {}),
    focus: ref(srUrl),
    for: ref(patient),
    authoredOn: now,
    lastModified: now,
    requester: ref(req.requester),
    owner: ref(req.owner),
    ...(input.length ? { input } : {}),
  };
  entries.push({ fullUrl: taskUrl, resource: task, request: { method: 'POST', url: 'Task' } });

  if (req.author) {
    const provenance: Provenance = {
      resourceType: 'Provenance',
      target: [taskUrl, srUrl, ...documents.filter((d) => d.startsWith('urn:uuid:'))].map(ref),
      recorded: now,
      activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE' }] },
      agent: [{
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] },
        role: [{ coding: [{ system: DOSSIER_ROLE_SYSTEM, code: 'auteur' }] }],
        who: ref(req.author),
        onBehalfOf: ref(req.requester),
      }],
    };
    entries.push({ fullUrl: `urn:uuid:${randomUUID()}`, resource: provenance, request: { method: 'POST', url: 'Provenance' } });
  }
  return entries;
}
