// CI-SIS Téléradiologie (ans.hl7v2.fr.teleradiologie, st_flux4), HL7 v2.5.1 §4.4.6 OMI^O23 ORC-1 SR: complément
// d'information post-acte — IPC (§4.5.6: accession, requested procedure, Study Instance UID, SPS, modality), TQ1
// (§4.5.4: exam date TQ1-7, image retention TQ1-6), OBX (URL_PARTIELLE_VIEWER, acte, région, produit, appareil).
import type { Hl7Message } from '@medplum/core';
import type { CodeableConcept, Duration, Identifier } from '@medplum/fhirtypes';
import { recordExamComplement, type ExamComplement } from '../workflow/teleradiologie/exam-complement.js';
import { partnerSource } from '../workflow/teleradiologie/placer-order.js';
import { ceConcept, codingSystem, eiIdentifier, first, tsToFhir } from './hl7-datatypes.js';
import { hl7Error } from './hl7-field-errors.js';
import type { Hl7Route, InboundContext, InboundResult } from './hl7-route.js';
import { readObservations } from './obx-observations.js';
import { orderControl, placerOrder, professional, required } from './orc-segment.js';
import { locatedError, type Locations } from './tlr-order-errors.js';

const OMI_LOCATIONS: Locations = { placer: 'ORC-2', 404: 'ORC-2', 409: 'ORC-1', 403: 'ORC-12' };
const DICOM_UID = /^[0-2](\.(0|[1-9][0-9]*))+$/;
const DAYS = new Set(['jours', 'jour', 'j', 'd', 'days', 'day']);

export interface ImagingProcedureControl {
  accession: Identifier;
  requestedProcedure?: Identifier;
  studyInstanceUid: string;
  scheduledStep?: Identifier;
  modality?: CodeableConcept;
}

/** IPC: 100 when absent, 101 at IPC-1 / IPC-3 when empty, 102 at IPC-3 when not a DICOM UID. */
export function readIpc(message: Hl7Message): ImagingProcedureControl {
  const ipc = required(message, 'IPC');
  const ei = (field: number) => {
    const v = first(ipc.getField(field));
    return v ? eiIdentifier(v) : undefined;
  };
  const accession = ei(1);
  if (!accession) throw hl7Error(101, 'IPC-1', 'IPC-1 (accession identifier) is empty: arriving images could not find their dossier');
  const uid = first(ipc.getField(3))?.get(1)?.trim() ?? '';
  if (!uid) throw hl7Error(101, 'IPC-3', 'IPC-3 (Study Instance UID) is empty');
  if (!DICOM_UID.test(uid) || uid.length > 64) throw hl7Error(102, 'IPC-3', `IPC-3 '${uid.slice(0, 80)}' is not a DICOM UID`);
  const mod = first(ipc.getField(5));
  // IPC-5 is a DICOM modality (defined terms of (0008,0060)): DCM when the sender names no coding system.
  const modality = mod ? ceConcept(mod) : undefined;
  for (const c of modality?.coding ?? []) c.system ??= codingSystem('DCM');
  const requestedProcedure = ei(2);
  const scheduledStep = ei(4);
  return {
    accession, studyInstanceUid: uid,
    ...(requestedProcedure ? { requestedProcedure } : {}),
    ...(scheduledStep ? { scheduledStep } : {}),
    ...(modality ? { modality } : {}),
  };
}

/** TQ1-7 (exam date/time) and TQ1-6 (retention of the images, CQ quantity^units). */
export function readTq1(message: Hl7Message): { performedAt?: string; retention?: Duration } {
  const tq1 = message.getSegment('TQ1');
  if (!tq1) return {};
  let performedAt: string | undefined;
  try {
    performedAt = tsToFhir(first(tq1.getField(7))?.get(1) ?? '');
  } catch (e) {
    throw hl7Error(102, 'TQ1-7', `TQ1-7 (start date/time): ${(e as Error).message}`);
  }
  const cq = first(tq1.getField(6));
  let retention: Duration | undefined;
  if (cq?.get(1)) {
    const value = Number(cq.get(1));
    if (!Number.isFinite(value) || value < 0) throw hl7Error(102, 'TQ1-6', `TQ1-6 (service duration) '${cq.get(1)}' is not a quantity`);
    const unit = cq.get(2, 1) || cq.get(2, 2);
    retention = { value, ...(unit ? { unit } : {}), ...(DAYS.has(unit.toLowerCase()) ? { system: 'http://unitsofmeasure.org', code: 'd' } : {}) };
  }
  return { ...(performedAt ? { performedAt } : {}), ...(retention ? { retention } : {}) };
}

/** Flux 4: the complement the message carries (no workflow call). */
export function readComplement(message: Hl7Message, input: Pick<InboundContext, 'partner'>): ExamComplement {
  orderControl(message, ['SR']);
  const orc = required(message, 'ORC');
  const placer = placerOrder(message);
  const ipc = readIpc(message);
  const timing = readTq1(message);
  const obs = readObservations(message);
  const orderingProvider = professional(orc, 12, 'ORC-12')?.identifier;
  const orderDetail = [...(ipc.modality ? [ipc.modality] : []), ...obs.orderDetail];
  return {
    source: partnerSource(input.partner.name),
    placer,
    ...(orderingProvider ? { orderingProvider } : {}),
    accession: ipc.accession,
    studyInstanceUid: ipc.studyInstanceUid,
    ...(ipc.requestedProcedure ? { requestedProcedure: ipc.requestedProcedure } : {}),
    ...(ipc.scheduledStep ? { scheduledStep: ipc.scheduledStep } : {}),
    ...timing,
    ...(obs.viewerUrl ? { viewerUrl: obs.viewerUrl } : {}),
    ...(orderDetail.length ? { orderDetail } : {}),
    ...(obs.bodySite.length ? { bodySite: obs.bodySite } : {}),
    ...(obs.observations.length ? { observations: obs.observations } : {}),
  };
}

async function complement(input: InboundContext): Promise<InboundResult> {
  const x = readComplement(input.message, input);
  try {
    const r = await recordExamComplement({ svc: input.svc, now: () => input.receivedAt }, input.ctx, x);
    return {
      written: [`ServiceRequest/${r.request.id}`, ...r.observations, ...(r.transitioned ? [`Task/${r.task.id}`] : [])],
      note: r.transitioned
        ? `Task/${r.task.id} examen-realise (study ${x.studyInstanceUid}, accession ${x.accession?.value})`
        : `Exam complement recorded on ServiceRequest/${r.request.id}; Task/${r.task.id} stays '${r.stateBefore}'`,
    };
  } catch (e) {
    throw locatedError(e, OMI_LOCATIONS);
  }
}

export const OMI_O23_ROUTES: Hl7Route[] = [
  { messageType: 'OMI^O23', orderControl: ['SR'], description: 'CI-SIS Téléradiologie flux 4: exam complement (accession, Study Instance UID, viewer URL) → ServiceRequest; dossier examen-realise', handle: complement },
];
