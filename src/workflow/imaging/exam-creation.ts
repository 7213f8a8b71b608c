// Issue 4 deliverable 10, the kit's "Créer un examen": images (JPEG, PNG → Secondary Capture, PS3.3 A.8.1) and PDFs
// (→ Encapsulated PDF, A.45.1) made into one new DICOM study of the dossier's patient, stored through the store service
// (indexed, ImagingStudy synchronised) and attached to the dossier: its StudyInstanceUID is first announced on the
// dossier's request (ServiceRequest.identifier urn:dicom:uid, as $create-teledossier does), so the ImagingStudy sync
// attaches the study when it is created (study-attachment.ts). Who may write the dossier may create an exam in it.
import type { Identifier, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { errors } from '../../kernel/errors.js';
import { uuidDerivedUid, type ExamPatient, type ExamStudy } from '../../imaging/created-exam-modules.js';
import { encapsulatedPdf } from '../../imaging/encapsulated-pdf.js';
import { secondaryCaptureFromJpeg, secondaryCaptureFromPng, type CreatedObject } from '../../imaging/secondary-capture.js';
import { queueAudit, type AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';
import { workflowCodeOf } from '../teleexpertise/index.js';
import { DICOM_UID_SYSTEM, INS_SYSTEM } from '../teleexpertise/teledossier-resources.js';
import type { InstanceStore } from './instance-store.js';

/** The channel name created objects are recorded under (InstanceSource.callingAe). */
export const CREATE_EXAM_SOURCE = 'CREATE-EXAM';
const INS_OIDS = new Set([INS_SYSTEM, 'urn:oid:1.2.250.1.213.1.4.10']);
const CLOSED = new Set<Task['status']>(['completed', 'cancelled', 'rejected', 'failed', 'entered-in-error']);
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';

export type ExamFileKind = 'jpeg' | 'png' | 'pdf';

export interface ExamFile {
  readonly filename?: string;
  readonly bytes: Buffer;
}

export interface CreateExamRequest {
  readonly studyDescription?: string;
  readonly seriesDescription?: string;
  readonly files: readonly ExamFile[];
}

export interface CreatedExam {
  readonly studyInstanceUid: string;
  readonly task: string;
  readonly instances: readonly { readonly sopInstanceUid: string; readonly sopClassUid: string; readonly filename?: string }[];
}

/** What a file is, from its first bytes (not its declared type): JPEG SOI, PNG signature, %PDF-. */
export function examFileKind(bytes: Uint8Array): ExamFileKind | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (Buffer.from(bytes.subarray(0, 8)).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (Buffer.from(bytes.subarray(0, 5)).toString('latin1') === '%PDF-') return 'pdf';
  return undefined;
}

/** The dossier's Patient in DICOM terms: name, IPP + issuer, INS, birth date, sex (PS3.3 C.7.1.1). */
export function examPatientOf(p: Patient): ExamPatient {
  const ids = p.identifier ?? [];
  const ins = ids.find((i) => i.system && INS_OIDS.has(i.system) && i.value);
  const isIpp = (i: Identifier) => !!i.value && i !== ins && (i.type?.coding ?? []).some((c) => c.code === 'PI');
  const ipp = ids.find(isIpp) ?? ids.find((i) => !!i.value && !!i.system && i !== ins && !INS_OIDS.has(i.system));
  const name = p.name?.find((n) => n.use === 'official') ?? p.name?.[0];
  const pn = name && [name.family ?? '', (name.given ?? []).join(' ')].join('^').replace(/\^$/, '');
  const oid = ipp?.system?.startsWith('urn:oid:') ? ipp.system.slice(8) : undefined;
  return {
    ...(pn ? { name: pn.slice(0, 64) } : name?.text ? { name: name.text.slice(0, 64) } : {}),
    ...(ipp?.value ? { ipp: { value: ipp.value.slice(0, 64), ...(oid ? { issuerOid: oid } : { issuer: ipp.system?.slice(0, 64) }) } } : {}),
    ...(ins?.value ? { ins: { value: ins.value, oid: (ins.system as string).slice(8) } } : {}),
    ...(p.birthDate && /^\d{4}-\d{2}-\d{2}$/.test(p.birthDate) ? { birthDate: p.birthDate.replace(/-/g, '') } : {}),
    ...(p.gender ? { sex: p.gender === 'male' ? 'M' : p.gender === 'female' ? 'F' : 'O' } : {}),
  };
}

export interface ExamCreationDeps {
  readonly svc: ResourceService;
  readonly store: InstanceStore;
  /** Our AE title, recorded as the called AE of the created objects. */
  readonly aeTitle: string;
  readonly now?: () => Date;
}

/** One study per call: every image in one Secondary Capture series, every PDF in one Encapsulated Document series. */
export async function createExam(deps: ExamCreationDeps, ctx: AuditContext, taskId: string, req: CreateExamRequest): Promise<CreatedExam> {
  const { svc } = deps;
  if (req.files.length === 0) throw errors.badRequest('No file: give at least one JPEG, PNG or PDF file');
  const kinds = req.files.map((f, i) => {
    const kind = examFileKind(f.bytes);
    if (!kind) throw errors.unsupportedMediaType(`${f.filename ?? `File ${i + 1}`} is neither a JPEG, a PNG nor a PDF file`);
    return kind;
  });
  // The dossier, as the caller sees it (404 otherwise), open, and theirs to write.
  const task = await svc.read(ctx, 'Task', taskId) as Task;
  if (task.partOf?.length || !workflowCodeOf(task)) throw errors.businessRule(`Task/${taskId} is not a télédossier`);
  if (CLOSED.has(task.status)) throw errors.businessRule(`Task/${taskId} is ${task.status}: an exam can no longer be added`);
  svc.authorize(ctx, 'update', 'Task');
  const requestRef = task.focus?.reference;
  if (!requestRef?.startsWith('ServiceRequest/') || !task.for?.reference?.startsWith('Patient/')) {
    throw errors.businessRule(`Task/${taskId} has no request (Task.focus) or no patient (Task.for) to create an exam for`);
  }
  const patient = await svc.read(ctx, 'Patient', task.for.reference.slice('Patient/'.length)) as Patient;
  const request = await svc.read(ctx, 'ServiceRequest', requestRef.slice('ServiceRequest/'.length)) as ServiceRequest;

  const now = deps.now?.() ?? new Date();
  const base: Omit<ExamStudy, 'seriesInstanceUid' | 'modality'> = {
    studyInstanceUid: uuidDerivedUid(), createdAt: now,
    ...(req.studyDescription ? { studyDescription: req.studyDescription.slice(0, 64) } : {}),
    ...(req.seriesDescription ? { seriesDescription: req.seriesDescription.slice(0, 64) } : {}),
  };
  const who = examPatientOf(patient);
  const images: ExamStudy = { ...base, seriesInstanceUid: uuidDerivedUid(), modality: 'OT' };
  const documents: ExamStudy = { ...base, seriesInstanceUid: uuidDerivedUid(), modality: 'DOC' };
  const hasImages = kinds.some((k) => k !== 'pdf');
  const counters = { image: 0, pdf: 0 };
  // Build every object before anything is written: a bad file fails the call with nothing changed.
  const objects: { object: CreatedObject; filename?: string }[] = req.files.map((f, i) => {
    const sopInstanceUid = uuidDerivedUid();
    if (kinds[i] === 'pdf') {
      const title = f.filename?.replace(/\.[^.]*$/, '');
      return { object: encapsulatedPdf({ bytes: f.bytes, instanceNumber: ++counters.pdf, sopInstanceUid, title }, who, documents, hasImages ? 2 : 1), filename: f.filename };
    }
    const img = { bytes: f.bytes, instanceNumber: ++counters.image, sopInstanceUid, filename: f.filename };
    return { object: kinds[i] === 'jpeg' ? secondaryCaptureFromJpeg(img, who, images, 1) : secondaryCaptureFromPng(img, who, images, 1), filename: f.filename };
  });

  // Announce the study on the request (the caller's write: access rules and guards apply), then store.
  const identifier = [...(request.identifier ?? []), { system: DICOM_UID_SYSTEM, value: `urn:oid:${base.studyInstanceUid}` }];
  await svc.update(ctx, { ...request, identifier }, { ifMatch: request.meta?.versionId });
  const source = { callingAe: CREATE_EXAM_SOURCE, calledAe: deps.aeTitle, ...(ctx.remoteAddress ? { remoteAddress: ctx.remoteAddress } : {}) };
  const instances: CreatedExam['instances'][number][] = [];
  for (const { object, filename } of objects) {
    const outcome = await deps.store.store({ ...object, dataset: (async function* () { yield object.dataset; })(), source });
    if (outcome.kind !== 'stored') throw errors.unprocessable(`${filename ?? object.sopInstanceUid} could not be stored (${outcome.kind})`);
    instances.push({ sopInstanceUid: object.sopInstanceUid, sopClassUid: object.sopClassUid, ...(filename ? { filename } : {}) });
  }
  await queueAudit(svc.jobs, ctx, {
    interaction: 'create', action: 'C', subtype: { system: DCM, code: '110104', display: 'DICOM Instances Transferred' },
    entities: [`urn:oid:${base.studyInstanceUid}`, `Task/${taskId}`, ...instances.map((i) => `urn:oid:${i.sopInstanceUid}`)], outcome: '0',
  });
  return { studyInstanceUid: base.studyInstanceUid, task: `Task/${taskId}`, instances };
}
