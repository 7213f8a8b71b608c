// Creating a télédossier in one call (FHIR R4 §3.1.0.11 transaction, http.html#transaction): a compact request
// becomes ONE transaction Bundle — Patient matched (INS, then IPP + issuer) or created, ServiceRequest, Task in its
// workflow's initial state, Binaries + DocumentReferences, Provenance for an author acting on behalf — run by the
// same bundle processor as POST /fhir, so it is atomic, validated, authorised and audited as the caller.
import { createHash, randomUUID } from 'node:crypto';
import type { Annotation, Attachment, Bundle, BundleEntry, CodeableConcept, Identifier, Observation, Patient, Task } from '@medplum/fhirtypes';
import { errors } from '../../kernel/errors.js';
import type { AuditContext } from '../audit.js';
import { processBundle } from '../bundle-processor.js';
import { conditionalLockKey } from '../conditional-lock.js';
import type { Query, ResourceService } from '../resource-service.js';
import { serviceLookup } from './dossier-roles.js';
import { WORKFLOWS } from './index.js';
import { dossierEntries, INS_SYSTEM, patientResource, type Built } from './teledossier-resources.js';
import type { WorkflowDefinition } from './workflow-definition.js';

export { INS_SYSTEM };

/** A document of the request: new content (base64 `data`, stored as Binary + DocumentReference) or an existing one. */
export type DossierDocument = { attachment: Attachment } | { reference: string };
/** An exam: an ImagingStudy already on the platform, or announced by its StudyInstanceUID / accession number. */
export type DossierExam = { reference: string } | { studyInstanceUid: string } | { accession: Identifier };

/**
 * Further content of the dossier's ServiceRequest, for requests that carry more than a reason and a comment (the
 * téléradiologie order of HL7v2 flux 1). Every field is optional; the ServiceRequest keeps its workflow code.
 */
export interface ServiceRequestDetails {
  /** Business identifiers (e.g. the placer order number, type v2-0203 PLAC), before the announced exams'. */
  identifier?: Identifier[];
  /** meta.source: the system the request came from (e.g. `urn:teleo:hl7v2-partner:<name>`). */
  source?: string;
  /** When the requester wrote the order (default: now). */
  authoredOn?: string;
  /** Coded reasons (appended after `reason`). */
  reasonCode?: CodeableConcept[];
  /** Further notes (appended after `comment`). */
  note?: Annotation[];
  /** Order details (requested modality, requested act). */
  orderDetail?: CodeableConcept[];
  bodySite?: CodeableConcept[];
  /** Observations about the patient sent with the order: created with the dossier (subject = the patient, basedOn = the request) and listed in supportingInfo. */
  observations?: Observation[];
}

export interface TeledossierRequest {
  patient: {
    /** INS-NIR (15 characters), qualified identity only. */
    ins?: string;
    /** The INS's system when it is not the production INS-NIR (INS-NIA, test and demonstration INS OIDs). */
    insSystem?: string;
    /** IPP: system = the issuer's OID (urn:oid:…), value = the IPP. */
    ipp?: Identifier;
    family: string;
    given?: string[];
    birthDate?: string;
    gender?: Patient['gender'];
  };
  /** Workflow code (teleo-workflow CodeSystem). */
  workflow: string;
  requester: string;
  /** Author acting on behalf of the requester (secretary, intern). */
  author?: string;
  /** The requis: PractitionerRole, CareTeam (community), Organization or Practitioner. */
  owner: string;
  /** The sender's community sharing the dossier ("Ma communauté"). */
  senderCommunity?: string;
  priority?: Task['priority'];
  reason?: string;
  comment?: string;
  documents?: DossierDocument[];
  exams?: DossierExam[];
  serviceRequest?: ServiceRequestDetails;
}

export interface TeledossierCreated {
  task: Task;
  /** The transaction-response Bundle (one entry per resource written or matched). */
  response: Bundle;
  /** The transaction Bundle that was run (what a DPI could have POSTed itself). */
  transaction: Bundle;
}

const PARTY_TYPES = ['PractitionerRole', 'Practitioner'];
const OWNER_TYPES = ['PractitionerRole', 'CareTeam', 'Organization', 'Practitioner'];
const PRIORITIES = new Set(['routine', 'urgent', 'asap', 'stat']);
const NIR = /^[0-9]{6}[0-9AB][0-9]{8}$/;
const REF = /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;
const GENDERS = new Set(['male', 'female', 'other', 'unknown']);
/** INS systems: INS-NIR, INS-NIA, and the test and demonstration OIDs (ANS, "Référentiel INS"). */
export const INS_SYSTEMS = new Set([INS_SYSTEM, 'urn:oid:1.2.250.1.213.1.4.9', 'urn:oid:1.2.250.1.213.1.4.10', 'urn:oid:1.2.250.1.213.1.4.11']);

const bad = (param: string, text: string) => errors.badRequest(`Parameter '${param}': ${text}`, param);

function checkRef(param: string, ref: string | undefined, types: readonly string[]): void {
  const m = ref ? REF.exec(ref) : null;
  if (!m || !types.includes(m[1])) throw bad(param, `must reference a ${types.join(', ')} by id (Type/id), not ${ref ?? '(none)'}`);
}

/** Checks the request's shape and values; 400 naming the bad parameter. */
export function checkRequest(req: TeledossierRequest, workflows: readonly WorkflowDefinition[] = WORKFLOWS): WorkflowDefinition {
  const def = workflows.find((w) => w.code === req.workflow);
  if (!def) throw bad('workflow', `unknown workflow '${req.workflow}' (known: ${workflows.map((w) => w.code).join(', ')})`);
  const p = req.patient;
  if (!p.ins && !p.ipp) throw bad('patient', 'an INS (patient.ins) or an IPP with its issuer (patient.ipp) is required');
  if (p.ins !== undefined && !NIR.test(p.ins)) throw bad('patient.ins', 'an INS-NIR is 15 characters (13-character NIR and 2-digit key)');
  if (p.insSystem !== undefined && !INS_SYSTEMS.has(p.insSystem)) throw bad('patient.insSystem', `must be one of ${[...INS_SYSTEMS].join(', ')}`);
  if (p.ipp && (!p.ipp.system || !p.ipp.value)) throw bad('patient.ipp', 'needs its issuer (Identifier.system, e.g. urn:oid:…) and its value');
  if (p.ipp?.system && INS_SYSTEMS.has(p.ipp.system)) throw bad('patient.ipp', 'an IPP is issued by a hospital, not the INS system: use patient.ins');
  if (!p.family?.trim()) throw bad('patient.family', 'the family name is required');
  if (p.gender !== undefined && !GENDERS.has(p.gender)) throw bad('patient.gender', `must be one of ${[...GENDERS].join(', ')}`);
  if (p.birthDate !== undefined && !/^\d{4}(-\d{2}(-\d{2})?)?$/.test(p.birthDate)) throw bad('patient.birthDate', 'must be a FHIR date (YYYY-MM-DD)');
  checkRef('requester', req.requester, PARTY_TYPES);
  if (req.author !== undefined) checkRef('author', req.author, PARTY_TYPES);
  checkRef('owner', req.owner, OWNER_TYPES);
  if (req.senderCommunity !== undefined) checkRef('senderCommunity', req.senderCommunity, ['CareTeam']);
  if (req.priority !== undefined && !PRIORITIES.has(req.priority)) throw bad('priority', `must be one of ${[...PRIORITIES].join(', ')}`);
  (req.documents ?? []).forEach((d, i) => {
    const param = `document[${i}]`;
    if ('reference' in d) return checkRef(param, d.reference, ['DocumentReference']);
    if (!d.attachment.data) throw bad(param, 'an Attachment needs its content in base64 data (or reference an existing DocumentReference)');
    if (!d.attachment.contentType) throw bad(param, 'an Attachment needs its contentType');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(d.attachment.data)) throw bad(param, 'Attachment.data is not base64');
  });
  (req.exams ?? []).forEach((x, i) => {
    const param = `exam[${i}]`;
    if ('reference' in x) return checkRef(param, x.reference, ['ImagingStudy']);
    if ('studyInstanceUid' in x && !/^[0-2](\.(0|[1-9][0-9]*))+$/.test(x.studyInstanceUid)) throw bad(param, 'a StudyInstanceUID is a DICOM UID (digits and dots)');
    if ('accession' in x && (!x.accession.value || !x.accession.system)) throw bad(param, 'an accession number needs its issuer (system) and value');
  });
  return def;
}

/** Fails with 422 naming the parameter when a referenced resource does not exist. */
async function checkExists(t: ResourceService, req: TeledossierRequest): Promise<void> {
  const lookup = serviceLookup(t);
  const refs: [string, string][] = [
    ['requester', req.requester], ['owner', req.owner],
    ...(req.author ? [['author', req.author] as [string, string]] : []),
    ...(req.senderCommunity ? [['senderCommunity', req.senderCommunity] as [string, string]] : []),
    ...(req.documents ?? []).flatMap((d, i): [string, string][] => ('reference' in d ? [[`document[${i}]`, d.reference]] : [])),
    ...(req.exams ?? []).flatMap((x, i): [string, string][] => ('reference' in x ? [[`exam[${i}]`, x.reference]] : [])),
  ];
  for (const [param, ref] of refs) {
    const [type, id] = ref.split('/');
    if (!(await lookup.read(type, id))) throw errors.unprocessable(`Parameter '${param}': ${ref} does not exist`, param);
  }
}

/** The patient-matching criteria, INS first. */
function criteriaOf(p: TeledossierRequest['patient']): Query[] {
  return [
    ...(p.ins ? [{ identifier: [`${p.insSystem ?? INS_SYSTEM}|${p.ins}`] }] : []),
    ...(p.ipp ? [{ identifier: [`${p.ipp.system}|${p.ipp.value}`] }] : []),
  ];
}

/**
 * The patient already known by INS, else by IPP + issuer (searched as the caller); undefined when unknown. More
 * than one match is an identity conflict for identity monitoring, never resolved by guessing: 412.
 */
async function matchPatient(t: ResourceService, ctx: AuditContext, criteria: Query[]): Promise<Patient | undefined> {
  for (const query of criteria) {
    const found = await t.search(ctx, 'Patient', { ...query, _count: ['2'], _total: ['none'] });
    if (found.resources.length > 1) {
      throw errors.preconditionFailed(`More than one Patient has ${query.identifier[0]}: resolve the duplicate identity first`);
    }
    if (found.resources[0]) return found.resources[0] as Patient;
  }
  return undefined;
}

/**
 * Creates the télédossier described by `req` as `ctx`. The patient criteria are locked (Storage.lock) for the whole
 * transaction, so two concurrent requests for one patient create it once.
 */
export async function createTeledossier(svc: ResourceService, ctx: AuditContext, req: TeledossierRequest,
  options: { baseUrl: string; now?: Date; workflows?: readonly WorkflowDefinition[] }): Promise<TeledossierCreated> {
  const def = checkRequest(req, options.workflows);
  const now = (options.now ?? new Date()).toISOString();
  return svc.transaction(async (t) => {
    const criteria = criteriaOf(req.patient);
    for (const key of criteria.map((q) => conditionalLockKey('Patient', q)).sort()) await t.lock(key);
    await checkExists(t, req);
    const matched = await matchPatient(t, ctx, criteria);
    const entries: Built[] = [];
    let patientRef: string;
    if (matched) {
      patientRef = `Patient/${matched.id}`;
    } else {
      patientRef = `urn:uuid:${randomUUID()}`;
      const ifNoneExist = `identifier=${encodeURIComponent(criteria[0].identifier[0])}`;
      entries.push({ fullUrl: patientRef, resource: patientResource(req.patient), request: { method: 'POST', url: 'Patient', ifNoneExist } });
    }
    entries.push(...dossierEntries(req, def, patientRef, now, sha1));
    const transaction: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: entries as BundleEntry[] };
    const response = await processBundle(t, ctx, structuredClone(transaction), { baseUrl: options.baseUrl });
    const at = entries.findIndex((e) => e.resource.resourceType === 'Task');
    const task = response.entry?.[at]?.resource as Task | undefined;
    if (!task) throw errors.internal();
    return { task, response, transaction };
  });
}

function sha1(data: string): { size: number; hash: string } {
  const bytes = Buffer.from(data, 'base64');
  return { size: bytes.length, hash: createHash('sha1').update(bytes).digest('base64') };
}
