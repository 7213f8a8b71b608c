// Task/$create-teledossier (FHIR R4 operations, operations.html): a compact Parameters in, one transaction out.
// Adapters translate, the workflow decides: Parameters → TeledossierRequest, one createTeledossier call, the result
// as 201 + Location of the Task and a Parameters { task, transaction-response Bundle }.
import type { Attachment, Identifier, Parameters, ParametersParameter, Patient, Task } from '@medplum/fhirtypes';
import { errors } from '../kernel/errors.js';
import type { ResourceService } from '../workflow/resource-service.js';
import {
  createTeledossier, type DossierDocument, type DossierExam, type TeledossierRequest,
} from '../workflow/teleexpertise/teledossier-creation.js';
import { DICOM_UID_SYSTEM } from '../workflow/teleexpertise/teledossier-resources.js';
import type { FhirOperation } from './fhir-rest.js';
import { auditContext, sendJson, setVersionHeaders } from './fhir-http.js';

export const CREATE_TELEDOSSIER_OPERATION_URL = 'https://teleo.fr/fhir/OperationDefinition/Task-create-teledossier';

const SINGLE = ['workflow', 'requester', 'author', 'owner', 'senderCommunity', 'priority', 'reason', 'comment', 'patient'];
const REPEATED = ['document', 'exam'];
const PATIENT_PARTS = ['ins', 'ipp', 'family', 'given', 'birthDate', 'gender'];

const bad = (name: string, text: string) => errors.badRequest(`Parameter '${name}': ${text}`, name);

/** The one primitive value of a parameter (string, code, date, uri…), as a string. */
function primitive(p: ParametersParameter, name: string): string {
  const v = p.valueString ?? p.valueCode ?? p.valueDate ?? p.valueUri ?? p.valueId ?? p.valueOid?.replace(/^urn:oid:/, '');
  if (typeof v !== 'string' || v.trim() === '') throw bad(name, 'needs a non-empty value (valueString or valueCode)');
  return v.trim();
}

function reference(p: ParametersParameter, name: string): string {
  const v = p.valueReference?.reference;
  if (typeof v !== 'string' || v === '') throw bad(name, 'needs a valueReference (Type/id)');
  return v;
}

function patientOf(p: ParametersParameter): TeledossierRequest['patient'] {
  const out: Partial<TeledossierRequest['patient']> & { given: string[] } = { given: [] };
  for (const part of p.part ?? []) {
    const name = `patient.${part.name}`;
    if (!PATIENT_PARTS.includes(part.name as string)) throw bad(name, `unknown part (known: ${PATIENT_PARTS.join(', ')})`);
    if (part.name === 'given') { out.given.push(primitive(part, name)); continue; }
    if (part.name !== 'ipp' && (out as Record<string, unknown>)[part.name as string] !== undefined) throw bad(name, 'given more than once');
    switch (part.name) {
      case 'ipp':
        if (out.ipp) throw bad(name, 'given more than once');
        if (!part.valueIdentifier) throw bad(name, 'needs a valueIdentifier (system = issuer OID, value = IPP)');
        out.ipp = part.valueIdentifier;
        break;
      case 'gender': out.gender = primitive(part, name) as Patient['gender']; break;
      case 'ins': out.ins = primitive(part, name); break;
      case 'family': out.family = primitive(part, name); break;
      case 'birthDate': out.birthDate = primitive(part, name); break;
    }
  }
  return { ...out, family: out.family ?? '' };
}

function documentOf(p: ParametersParameter, name: string): DossierDocument {
  if (p.valueAttachment) return { attachment: p.valueAttachment as Attachment };
  if (p.valueReference) return { reference: reference(p, name) };
  throw bad(name, 'needs a valueAttachment (base64 data) or a valueReference to a DocumentReference');
}

function examOf(p: ParametersParameter, name: string): DossierExam {
  if (p.valueReference) return { reference: reference(p, name) };
  const id = p.valueIdentifier as Identifier | undefined;
  if (id?.system === DICOM_UID_SYSTEM) return { studyInstanceUid: String(id.value ?? '').replace(/^urn:oid:/, '') };
  if (id) return { accession: id };
  throw bad(name, 'needs a valueReference to an ImagingStudy, or a valueIdentifier: StudyInstanceUID (system urn:dicom:uid) or accession number');
}

/** Parameters → TeledossierRequest; 400 naming any unknown, repeated or malformed parameter. */
export function requestOf(body: Parameters): TeledossierRequest {
  const seen = new Set<string>();
  const req: Partial<TeledossierRequest> & { documents: DossierDocument[]; exams: DossierExam[] } = { documents: [], exams: [] };
  for (const p of body.parameter ?? []) {
    const name = String(p.name);
    if (!SINGLE.includes(name) && !REPEATED.includes(name)) throw bad(name, `unknown parameter (known: ${[...SINGLE, ...REPEATED].join(', ')})`);
    if (SINGLE.includes(name) && seen.has(name)) throw bad(name, 'given more than once');
    seen.add(name);
    switch (name) {
      case 'patient': req.patient = patientOf(p); break;
      case 'document': req.documents.push(documentOf(p, `document[${req.documents.length}]`)); break;
      case 'exam': req.exams.push(examOf(p, `exam[${req.exams.length}]`)); break;
      case 'requester': case 'author': case 'owner': case 'senderCommunity':
        req[name] = reference(p, name);
        break;
      case 'priority': req.priority = primitive(p, name) as Task['priority']; break;
      case 'workflow': case 'reason': case 'comment':
        req[name] = primitive(p, name);
        break;
    }
  }
  for (const required of ['patient', 'workflow', 'requester', 'owner'] as const) {
    if (req[required] === undefined) throw bad(required, 'is required');
  }
  return req as TeledossierRequest;
}

export function createTeledossierOperation(svc: ResourceService, baseUrl: string): FhirOperation {
  return {
    name: 'create-teledossier',
    definition: CREATE_TELEDOSSIER_OPERATION_URL,
    affectsState: true,
    level: ['type'],
    types: ['Task'],
    handler: async (req, res) => {
      const body = req.body as Parameters | undefined;
      if (body?.resourceType !== 'Parameters') throw errors.badRequest('$create-teledossier takes a Parameters resource');
      const created = await createTeledossier(svc, auditContext(res), requestOf(body), { baseUrl });
      const { task } = created;
      setVersionHeaders(res, task);
      res.setHeader('Location', `${baseUrl}/Task/${task.id}/_history/${task.meta?.versionId}`);
      sendJson(res, 201, {
        resourceType: 'Parameters',
        parameter: [{ name: 'task', resource: task }, { name: 'transaction', resource: created.response }],
      } satisfies Parameters);
    },
  };
}
