// CI-SIS Téléradiologie flux 4 (OMI^O23 SR, "complément d'information post-acte"): what the RIS knows once the exam is
// done goes onto the order's FHIR R4 ServiceRequest — accession number (v2-0203 ACSN) and StudyInstanceUID
// (urn:dicom:uid), the shapes study-attachment.ts matches arriving studies by — then the dossier is reported
// `examen-realise` when it was `acceptee`.
import type { CodeableConcept, Duration, Extension, Identifier, Observation, ServiceRequest, Task } from '@medplum/fhirtypes';
import { isDeepStrictEqual } from 'node:util';
import { errors } from '../../kernel/errors.js';
import type { AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';
import { DICOM_UID_SYSTEM } from '../teleexpertise/teledossier-resources.js';
import { applyTransition } from '../teleexpertise/transition.js';
import { stateOf } from '../teleexpertise/workflow-definition.js';
import { TELERADIOLOGIE as TLR_WORKFLOW } from '../teleexpertise/workflows/teleradiologie.js';
import { orderActor } from './ordering-party.js';
import { ACCESSION_TYPE, findOrder, orderLockKey } from './placer-order.js';

/** ServiceRequest extensions of the exam complement (valueString: the partial DRIMbox viewer URL; valueDuration). */
export const VIEWER_URL_EXTENSION = 'https://teleo.fr/fhir/StructureDefinition/drimbox-viewer-url';
export const RETENTION_EXTENSION = 'https://teleo.fr/fhir/StructureDefinition/image-retention';
/** Identifier.type texts of IHE SWF's Requested Procedure ID and Scheduled Procedure Step ID (no v2-0203 code). */
export const REQUESTED_PROCEDURE = 'Requested Procedure ID';
export const SCHEDULED_STEP = 'Scheduled Procedure Step ID';

export interface ExamComplement {
  source: string;
  placer: Identifier;
  orderingProvider?: Identifier;
  accession?: Identifier;
  studyInstanceUid?: string;
  requestedProcedure?: Identifier;
  scheduledStep?: Identifier;
  /** Modality, act codes: added to ServiceRequest.orderDetail. */
  orderDetail?: CodeableConcept[];
  bodySite?: CodeableConcept[];
  /** When the exam was done (→ occurrenceDateTime). */
  performedAt?: string;
  retention?: Duration;
  viewerUrl?: string;
  /** Product administered, device used…: created (subject, basedOn set here) and added to supportingInfo. */
  observations?: Observation[];
}

export interface ExamRecorded {
  request: ServiceRequest;
  task: Task;
  /** The dossier's state before; `transitioned` when it moved to examen-realise. */
  stateBefore: string;
  transitioned: boolean;
  /** The Observations created (products, devices…). */
  observations: string[];
}

/** States in which the complement is recorded without a transition (see recordExamComplement). */
const RECORD_ONLY = new Set(['demandee', 'examen-realise', 'interpretee']);

const sameKind = (a: Identifier, b: Identifier) => a.system === b.system && isDeepStrictEqual(a.type ?? null, b.type ?? null);

function mergeIdentifiers(current: Identifier[], next: Identifier[]): Identifier[] {
  const kept = current.filter((c) => !next.some((n) => sameKind(c, n) && (n.system !== DICOM_UID_SYSTEM || c.value === n.value)));
  return [...kept, ...next];
}

function mergeConcepts(current: CodeableConcept[], next: CodeableConcept[]): CodeableConcept[] {
  return [...current, ...next.filter((n) => !current.some((c) => isDeepStrictEqual(c, n)))];
}

function withExtension(current: Extension[], url: string, ext: Extension | undefined): Extension[] {
  return ext ? [...current.filter((e) => e.url !== url), ext] : current;
}

/**
 * Records the complement on the order `source` placed under `placer`, then, by the dossier's state:
 * `acceptee` → transition `signaler-examen-realise` (acting for the ordering provider);
 * `demandee` → recorded only (the exam was done before the acceptance reached the RIS; images attach anyway,
 *   the state moves when the RIS re-sends flux 4 after acceptance);
 * `examen-realise` / `interpretee` → recorded only (a corrected or repeated complement);
 * `annulee` / `refusee` → 409: a closed dossier takes no exam.
 * 404 when the source placed no such order.
 */
export async function recordExamComplement(deps: { svc: ResourceService; now?: () => Date }, ctx: AuditContext, x: ExamComplement): Promise<ExamRecorded> {
  return deps.svc.transaction(async (t) => {
    await t.lock(orderLockKey(x.source, x.placer));
    const order = await findOrder(t, ctx, x.source, x.placer);
    if (!order?.task?.id) throw errors.notFound(`No téléradiologie order ${x.placer.value} (${x.placer.system ?? 'no issuer'}) from this sender`);
    const { request, task } = order;
    const state = stateOf(TLR_WORKFLOW, task) ?? String(task.status);
    if (state !== 'acceptee' && !RECORD_ONLY.has(state)) {
      throw errors.businessRule(`Task/${task.id} is in state '${state}' (${TLR_WORKFLOW.states[state]?.display ?? task.status}): `
        + 'a closed téléradiologie dossier takes no exam complement');
    }
    const created: string[] = [];
    for (const o of x.observations ?? []) {
      const obs = (await t.create(ctx, { ...o, subject: request.subject, basedOn: [{ reference: `ServiceRequest/${request.id}` }] } as Observation)).resource;
      created.push(`Observation/${obs.id}`);
    }
    const identifiers: Identifier[] = [
      ...(x.accession ? [{ type: ACCESSION_TYPE, ...x.accession }] : []),
      ...(x.studyInstanceUid ? [{ system: DICOM_UID_SYSTEM, value: `urn:oid:${x.studyInstanceUid}` }] : []),
      ...(x.requestedProcedure ? [{ type: { text: REQUESTED_PROCEDURE }, ...x.requestedProcedure }] : []),
      ...(x.scheduledStep ? [{ type: { text: SCHEDULED_STEP }, ...x.scheduledStep }] : []),
    ];
    let extension = request.extension ?? [];
    extension = withExtension(extension, VIEWER_URL_EXTENSION, x.viewerUrl ? { url: VIEWER_URL_EXTENSION, valueString: x.viewerUrl } : undefined);
    extension = withExtension(extension, RETENTION_EXTENSION, x.retention ? { url: RETENTION_EXTENSION, valueDuration: x.retention } : undefined);
    const orderDetail = mergeConcepts(request.orderDetail ?? [], x.orderDetail ?? []);
    const bodySite = mergeConcepts(request.bodySite ?? [], x.bodySite ?? []);
    const supportingInfo = [...(request.supportingInfo ?? []), ...created.map((reference) => ({ reference }))];
    const next: ServiceRequest = {
      ...request,
      ...(extension.length ? { extension } : {}),
      identifier: mergeIdentifiers(request.identifier ?? [], identifiers),
      ...(orderDetail.length ? { orderDetail } : {}),
      ...(x.performedAt ? { occurrenceDateTime: x.performedAt } : {}),
      ...(supportingInfo.length ? { supportingInfo } : {}),
      ...(bodySite.length ? { bodySite } : {}),
    };
    const updated = isDeepStrictEqual(next, request) ? request : (await t.update(ctx, next, { ifMatch: request.meta?.versionId })).resource;
    if (state !== 'acceptee') return { request: updated, task, stateBefore: state, transitioned: false, observations: created };
    const actor = await orderActor(t, ctx, task, x.orderingProvider);
    const moved = await applyTransition({ svc: t, ...(deps.now ? { now: deps.now } : {}) }, actor, task.id as string, 'signaler-examen-realise');
    return { request: updated, task: moved, stateBefore: state, transitioned: true, observations: created };
  });
}
