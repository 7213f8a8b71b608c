// Issue 4 deliverable 4: the FHIR R4 ImagingStudy (imagingstudy.html) of each study kept in step with the instance
// index — series, instances, modalities, body site, dates, counts, endpoint to our DICOMweb (PS3.18), the Patient
// (INS, or IPP + issuer) and the ServiceRequest it answers — written through the resource service as the platform.
//
// Why a durable job and not the index transaction: the instance index commits on its own SQL connection (the resource
// service's transaction cannot join it), and a FHIR write per instance inside ingest would serialise every instance
// of a study on one resource. So each stored instance enqueues `imaging-study-sync` in its index transaction (durable
// with the row), the runner is woken on commit, and a batch of jobs rebuilds each study once from the index. The
// rebuild is a union with what the ImagingStudy already lists, so a concurrent writer never makes it lose instances;
// creation is a conditional create (serialised by Storage.lock), updates use If-Match and retry on 412.
import { isDeepStrictEqual } from 'node:util';
import type { Coding, Device, Endpoint, Group, ImagingStudy, ImagingStudySeries, Patient, Reference, ServiceRequest } from '@medplum/fhirtypes';
import type { DicomJson } from '../../imaging/dicom-json.js';
import type { Logger } from '../../kernel/logger.js';
import { SYSTEM_PRINCIPAL } from '../../kernel/principal.js';
import { OperationOutcomeError } from '../../kernel/errors.js';
import type { BatchJobHandler } from '../../jobs/job-runner.js';
import type { IndexedInstance, InstanceIndex } from '../../store/instance-index.js';
import type { JobQueue } from '../../store/job-queue.js';
import type { AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';
import { IMAGE_SOURCE_URL, type ImageSource } from '../teleexpertise/dossier-model.js';
import { DICOM_UID_SYSTEM } from '../teleexpertise/teledossier-resources.js';
import { patientOfDataset, resolvePatient } from './dicom-patient-identity.js';
import { attachStudy, findRequest, openDossierOf, type StudyKeys } from './study-attachment.js';
import { routedRequest, routeOf, type AeRoute } from './ae-title-routing.js';
import { IMPORT_CALLING_AE } from './file-import.js';
import { CREATE_EXAM_SOURCE } from './exam-creation.js';

export const IMAGING_STUDY_SYNC_JOB = 'imaging-study-sync';
export const IMAGING_VIA = 'imaging';
export const IMAGING_CTX: AuditContext = { principal: SYSTEM_PRINCIPAL, via: IMAGING_VIA };

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const MAX_ATTEMPTS = 5;

/** In the index transaction of a newly stored instance: its study's ImagingStudy is to be brought up to date. */
/**
 * When a stored instance's ImagingStudy update runs: the first instance of a study soon (STUDY_SYNC_DEBOUNCE_MS, so
 * that the dossier it belongs to is updated and notified within the second), the instances that follow at the next
 * STUDY_SYNC_PERIOD_MS boundary, so that a 300-instance study arriving at 200/s is merged in a few updates, not 300.
 */
export const STUDY_SYNC_DEBOUNCE_MS = 300;
export const STUDY_SYNC_PERIOD_MS = 2000;
/** A study not seen for this long is "new" again (its next instance is synced soon). */
const STUDY_ACTIVE_MS = 30_000;

/** The store service's onStored hook: one sync job per instance (payload: study and instance), scheduled as above. */
export function createStudySyncEnqueuer(now: () => number = Date.now): (tx: { readonly jobs: JobQueue }, instance: IndexedInstance) => Promise<void> {
  const lastSeen = new Map<string, number>();
  return async (tx, instance) => {
    const at = now();
    const seen = lastSeen.get(instance.studyInstanceUid);
    const soon = at + STUDY_SYNC_DEBOUNCE_MS;
    const runAt = seen !== undefined && at - seen < STUDY_ACTIVE_MS ? Math.ceil(soon / STUDY_SYNC_PERIOD_MS) * STUDY_SYNC_PERIOD_MS : soon;
    if (lastSeen.size > 10_000) for (const [k, t] of lastSeen) if (at - t >= STUDY_ACTIVE_MS) lastSeen.delete(k);
    lastSeen.set(instance.studyInstanceUid, at);
    await tx.jobs.enqueue(IMAGING_STUDY_SYNC_JOB, { study: instance.studyInstanceUid, sop: instance.sopInstanceUid }, { runAt: new Date(runAt) });
  };
}

/** Our DICOMweb base: the FHIR base with `/fhir` replaced by `/dicomweb`. */
export function dicomwebBaseOf(fhirBase: string): string {
  return `${fhirBase.replace(/\/+$/, '').replace(/\/fhir$/, '')}/dicomweb`;
}

const text = (json: DicomJson, tag: string): string | undefined => {
  const v = json[tag]?.Value?.[0];
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
};
const int = (json: DicomJson, tag: string): number | undefined => {
  const v = Number(json[tag]?.Value?.[0]);
  return Number.isInteger(v) && v >= 0 ? v : undefined;
};
const modalityOf = (code: string): Coding => ({ system: DCM, code });

/** Study Date (+ Study Time and Timezone Offset From UTC when both are there) → FHIR dateTime. */
function startedOf(json: DicomJson): string | undefined {
  const da = text(json, '00080020');
  if (!da || !/^\d{8}$/.test(da)) return undefined;
  const date = `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6, 8)}`;
  const tm = /^(\d{2})(\d{2})(\d{2})/.exec(text(json, '00080030') ?? '');
  const tz = /^([+-])(\d{2})(\d{2})$/.exec(text(json, '00080201') ?? '');
  return tm && tz ? `${date}T${tm[1]}:${tm[2]}:${tm[3]}${tz[1]}${tz[2]}:${tz[3]}` : date;
}

/** Anatomic Region Sequence (0008,2218) code, else Body Part Examined (0018,0015) as text. */
function bodySiteOf(json: DicomJson): Coding | undefined {
  const region = (json['00082218']?.Value?.[0] ?? undefined) as DicomJson | undefined;
  const code = region && text(region, '00080100');
  if (region && code) {
    const scheme = text(region, '00080102');
    return { ...(scheme === 'SCT' || scheme === 'SRT' ? { system: 'http://snomed.info/sct' } : {}), code, display: text(region, '00080104') };
  }
  const part = text(json, '00180015');
  return part ? { display: part } : undefined;
}

/** How the first instance reached us, by the source channel the store service recorded (PACS retrieves mark their own). */
const SOURCE_OF_CHANNEL: Record<string, ImageSource> = { 'STOW-RS': 'stow-rs', [IMPORT_CALLING_AE]: 'file-import', [CREATE_EXAM_SOURCE]: 'file-import' };
const imageSourceOf = (i: IndexedInstance): ImageSource => SOURCE_OF_CHANNEL[i.callingAe] ?? 'c-store';

/** Series and instances: those the ImagingStudy lists already, completed and updated with the index's. */
function seriesOf(instances: readonly IndexedInstance[], previous: readonly ImagingStudySeries[]): ImagingStudySeries[] {
  const series = new Map(previous.map((s) => [s.uid, { ...s, instance: [...(s.instance ?? [])] }]));
  for (const i of instances) {
    const md = i.metadata;
    const modality = text(md, '00080060') ?? 'OT';
    const s = series.get(i.seriesInstanceUid) ?? { uid: i.seriesInstanceUid, modality: modalityOf(modality), instance: [] };
    const number = int(md, '00200011');
    const description = text(md, '0008103E');
    const bodySite = bodySiteOf(md);
    Object.assign(s, {
      modality: modalityOf(modality),
      ...(number !== undefined ? { number } : {}), ...(description ? { description } : {}), ...(bodySite ? { bodySite } : {}),
    });
    const instanceNumber = int(md, '00200013');
    const entry = { uid: i.sopInstanceUid, sopClass: { system: 'urn:ietf:rfc:3986', code: `urn:oid:${i.sopClassUid}` }, ...(instanceNumber !== undefined ? { number: instanceNumber } : {}) };
    const at = s.instance.findIndex((x) => x.uid === i.sopInstanceUid);
    if (at >= 0) s.instance[at] = entry;
    else s.instance.push(entry);
    series.set(i.seriesInstanceUid, s);
  }
  const byNumber = (a: { number?: number; uid: string }, b: { number?: number; uid: string }) =>
    (a.number ?? Infinity) - (b.number ?? Infinity) || (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0);
  return [...series.values()].sort(byNumber).map((s) => ({ ...s, numberOfInstances: s.instance.length, instance: s.instance.sort(byNumber) }));
}

interface StudyContext { subject: Reference<Patient | Device | Group>; basedOn?: Reference<ServiceRequest>; endpoint: Reference<Endpoint> }

/** The ImagingStudy of `instances` (one study, in SOP Instance UID order), merged into `previous` when there is one. */
export function imagingStudyOf(instances: readonly IndexedInstance[], c: StudyContext, previous?: ImagingStudy): ImagingStudy {
  const first = instances[0].metadata;
  const uid = instances[0].studyInstanceUid;
  const series = seriesOf(instances, previous?.series ?? []);
  const modalities = [...new Set(series.map((s) => s.modality.code as string))].map(modalityOf);
  const accession = instances[0].accessionNumber;
  const started = startedOf(first);
  const description = text(first, '00081030');
  const identifier = [
    { system: DICOM_UID_SYSTEM, value: `urn:oid:${uid}` },
    ...(accession ? [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'ACSN' }] }, value: accession }] : []),
  ];
  return {
    ...previous,
    resourceType: 'ImagingStudy',
    extension: previous?.extension ?? [{ url: IMAGE_SOURCE_URL, valueCode: imageSourceOf(instances[0]) }],
    identifier: previous?.identifier ?? identifier,
    status: 'available',
    modality: modalities,
    subject: previous?.subject ?? c.subject,
    ...(previous?.basedOn ?? c.basedOn ? { basedOn: previous?.basedOn ?? [c.basedOn as Reference<ServiceRequest>] } : {}),
    ...(started ? { started } : {}),
    endpoint: previous?.endpoint ?? [c.endpoint],
    numberOfSeries: series.length,
    numberOfInstances: series.reduce((n, s) => n + (s.instance?.length ?? 0), 0),
    ...(description ? { description } : {}),
    series,
  };
}

export interface ImagingStudySyncDeps {
  svc: ResourceService;
  index: InstanceIndex;
  /** The FHIR base URL (known once the HTTP listener is bound). */
  fhirBase: () => string;
  logger: Logger;
  /** Called AE titles dedicated to a workflow: their studies attach to the patient's open dossier of it. */
  aeRoutes?: readonly AeRoute[];
}

export interface ImagingStudySync {
  /** Brings the ImagingStudy of one study up to date (creating it, and attaching it to its dossier, when new). */
  sync(studyInstanceUid: string): Promise<ImagingStudy | undefined>;
  /** The `imaging-study-sync` job handler: each study of the batch once. */
  readonly handler: BatchJobHandler;
}

const is412 = (e: unknown) => e instanceof OperationOutcomeError && e.outcome.id === '412';

export function createImagingStudySync(deps: ImagingStudySyncDeps): ImagingStudySync {
  const { svc, index, logger } = deps;
  const ctx = IMAGING_CTX;

  /** Our DICOMweb Endpoint (one per address, created once). */
  async function endpoint(t: ResourceService): Promise<Reference<Endpoint>> {
    const address = dicomwebBaseOf(deps.fhirBase());
    const body: Endpoint = {
      resourceType: 'Endpoint', status: 'active', name: 'TéléO DICOMweb',
      identifier: [{ system: 'urn:ietf:rfc:3986', value: address }],
      connectionType: { system: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type', code: 'dicom-wado-rs' },
      payloadType: [{ text: 'DICOM' }], payloadMimeType: ['application/dicom'], address,
    };
    const { resource } = await t.create(ctx, body, { ifNoneExist: { identifier: [`urn:ietf:rfc:3986|${address}`] } });
    return { reference: `Endpoint/${resource.id}` };
  }

  async function syncOnce(t: ResourceService, instances: readonly IndexedInstance[]): Promise<ImagingStudy> {
    const uid = instances[0].studyInstanceUid;
    const byUid = { identifier: [`${DICOM_UID_SYSTEM}|urn:oid:${uid}`] };
    let existing = (await t.search(ctx, 'ImagingStudy', byUid)).resources[0] as ImagingStudy | undefined;
    const issuer = (instances[0].metadata['00080051']?.Value?.[0] as DicomJson | undefined);
    const issuerOid = issuer && text(issuer, '00400032');
    const keys: StudyKeys = { studyInstanceUid: uid, accessionNumber: instances[0].accessionNumber, accessionIssuer: issuerOid ? `urn:oid:${issuerOid}` : undefined };
    const request = existing?.basedOn ? undefined : await findRequest(t, ctx, keys);
    let basedOn: Reference<ServiceRequest> | undefined = request ? { reference: `ServiceRequest/${request.id}` } : undefined;
    if (!existing) {
      const subject = await resolvePatient(t, ctx, patientOfDataset(instances[0].metadata), request?.subject);
      basedOn ??= await routed(t, instances, subject);
      const created = await t.create(ctx, imagingStudyOf(instances, { subject, basedOn, endpoint: await endpoint(t) }), { ifNoneExist: byUid });
      if (created.created) return attach(t, created.resource, basedOn);
      existing = created.resource; // created meanwhile by another writer: update it as below
    }
    if (!existing.basedOn) basedOn ??= await routed(t, instances, existing.subject);
    const next = imagingStudyOf(instances, { subject: existing.subject, basedOn, endpoint: existing.endpoint?.[0] ?? await endpoint(t) }, existing);
    if (isDeepStrictEqual(next, existing)) return existing;
    const updated = (await t.update(ctx, next, { ifMatch: existing.meta?.versionId })).resource;
    return existing.basedOn || !basedOn ? updated : attach(t, updated, basedOn);
  }

  /** The request of the dossier a called AE title dedicated to a workflow feeds for this patient (ae-title-routing.ts). */
  async function routed(t: ResourceService, instances: readonly IndexedInstance[], subject: Reference): Promise<Reference<ServiceRequest> | undefined> {
    const route = instances.map((i) => routeOf(deps.aeRoutes ?? [], i.calledAe)).find((r) => r !== undefined);
    return route ? routedRequest(t, ctx, route, subject) : undefined;
  }

  /** A study newly linked to a request: appended to the request's open dossier, whose requis is notified. */
  async function attach(t: ResourceService, study: ImagingStudy, request: Reference<ServiceRequest> | undefined): Promise<ImagingStudy> {
    if (!request?.reference) return study;
    const dossier = await openDossierOf(t, ctx, request.reference);
    if (dossier) {
      await attachStudy(t, ctx, dossier, study);
      logger.info('study attached to its télédossier', { study: `ImagingStudy/${study.id}`, task: `Task/${dossier.id}` });
    }
    return study;
  }

  /** The instances to merge: those named (new since the last update), else the whole study; in SOP Instance UID order. */
  async function instancesOf(studyInstanceUid: string, only?: ReadonlySet<string>): Promise<IndexedInstance[]> {
    if (!only) return index.listStudy(studyInstanceUid);
    const found = await Promise.all([...only].map((uid) => index.get(uid)));
    return found.filter((i): i is IndexedInstance => i !== undefined && i.studyInstanceUid === studyInstanceUid)
      .sort((a, b) => (a.sopInstanceUid < b.sopInstanceUid ? -1 : a.sopInstanceUid > b.sopInstanceUid ? 1 : 0));
  }

  async function sync(studyInstanceUid: string, only?: ReadonlySet<string>): Promise<ImagingStudy | undefined> {
    for (let attempt = 1; ; attempt++) {
      // Read before the transaction: the index is another unit of work, and every retry sees the newest rows. Only the
      // new instances are read and merged into the ImagingStudy (seriesOf keeps those it lists): an update costs what
      // arrived since the last one, not the whole study.
      const instances = await instancesOf(studyInstanceUid, only);
      if (instances.length === 0) return undefined;
      try {
        return await svc.transaction((t) => syncOnce(t, instances));
      } catch (e) {
        if (!is412(e) || attempt >= MAX_ATTEMPTS) throw e;
        logger.debug('ImagingStudy changed concurrently, retrying', { study: studyInstanceUid, attempt });
      }
    }
  }

  return {
    sync,
    handler: {
      async batch(jobs) {
        // Per study, the instances named by its jobs; a job without one (queued by an older version) syncs it whole.
        const byStudy = new Map<string, Set<string> | undefined>();
        for (const job of jobs) {
          const study = String(job.payload.study);
          const sops = byStudy.has(study) ? byStudy.get(study) : new Set<string>();
          byStudy.set(study, sops && typeof job.payload.sop === 'string' ? sops.add(job.payload.sop) : undefined);
        }
        for (const [study, sops] of byStudy) await sync(study, sops);
      },
    },
  };
}
