// The workflow trigger `send-report-dpi` (a validated CR), and a report amended or deleted afterwards → the CR as a CDA R2
// level 1 document in MDM^T02 / T10 / T04 (or ORU^R01) to the DPI of the partner the order came from, or of the
// requester's organisation (CI-SIS "Transmission de documents CDA en HL7v2"), as durable outbound messages.
import type { DiagnosticReport, Encounter, Identifier, Organization, Patient, PractitionerRole, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import { buildCdaReport, CR_IMAGERIE, type CdaId } from '../cda/cda-r2-n1-report.js';
import type { Job } from '../store/job-queue.js';
import type { JobHandler } from '../jobs/job-runner.js';
import type { Logger } from '../kernel/logger.js';
import { SYSTEM_PRINCIPAL } from '../kernel/principal.js';
import type { AuditContext } from '../workflow/audit.js';
import type { AfterWrite, ResourceService } from '../workflow/resource-service.js';
import { issueReportDocument } from '../workflow/reports/report-document.js';
import { REQUIS_ORGANIZATION_URL } from '../workflow/teleexpertise/dossier-model.js';
import type { TriggerJobPayload } from '../workflow/teleexpertise/transition.js';
import { HL7_PARTNER_SOURCE } from '../workflow/teleradiologie/placer-order.js';
import type { Hl7Identity, Hl7Partner } from './hl7-partner.js';
import { buildReportMessage } from './mdm-t02.js';
import { enqueueHl7 } from './mllp-sender.js';
import { professional, stableControlId } from './order-response-trigger.js';

export const SEND_REPORT_DPI = 'send-report-dpi';
const CTX: AuditContext = { principal: SYSTEM_PRINCIPAL, via: 'hl7v2' };
const SENT = new Set(['final', 'amended', 'corrected', 'appended']);
const FINESS = 'urn:oid:1.2.250.1.71.4.2.2';

export interface ReportSenderDeps {
  svc: ResourceService;
  partners: readonly Hl7Partner[];
  identity: Hl7Identity;
  logger: Logger;
}

const idOf = (id: Identifier | undefined): CdaId | undefined => {
  if (!id?.value) return undefined;
  const oid = id.system?.startsWith('urn:oid:') ? id.system.slice(8) : undefined;
  return oid ? { root: oid, extension: id.value } : undefined;
};
const typed = (sr: ServiceRequest, code: string) => sr.identifier?.find((i) => i.type?.coding?.some((c) => c.code === code));

/** After a sent report is amended, corrected or deleted (entered-in-error), its DPIs are told again (T10 / T04). */
export function reportChangeTrigger(): AfterWrite {
  return async (tx, _ctx, event) => {
    const r = event.resource as DiagnosticReport;
    const before = event.previous as DiagnosticReport | undefined;
    if (r.resourceType !== 'DiagnosticReport' || event.interaction !== 'update' || !before || !SENT.has(before.status)) return;
    if (!['amended', 'corrected', 'entered-in-error'].includes(r.status) && r.status === before.status) return;
    const ref = `DiagnosticReport/${r.id}/_history/${r.meta?.versionId}`;
    await tx.jobs.enqueue(SEND_REPORT_DPI, { report: `DiagnosticReport/${r.id}` }, { idempotencyKey: `${ref}#${SEND_REPORT_DPI}`, orderingKey: `DiagnosticReport/${r.id}#${SEND_REPORT_DPI}` });
  };
}

export function reportSenderHandlers(deps: ReportSenderDeps): Record<string, JobHandler> {
  const { svc } = deps;
  const read = async <T extends Resource>(ref: string | undefined): Promise<T | undefined> => {
    const [type, id] = (ref ?? '').split('/');
    return type && id ? svc.read<T>(CTX, type, id).catch(() => undefined) : undefined;
  };

  async function locate(payload: Partial<TriggerJobPayload> & { report?: string }): Promise<{ report?: DiagnosticReport; request?: ServiceRequest; task?: Task }> {
    if (payload.report) {
      const report = await read<DiagnosticReport>(payload.report);
      const request = await read<ServiceRequest>(report?.basedOn?.find((b) => b.reference?.startsWith('ServiceRequest/'))?.reference);
      const tasks = request ? (await svc.search(CTX, 'Task', { focus: [`ServiceRequest/${request.id}`] })).resources as Task[] : [];
      return { report, request, task: tasks.find((t) => !t.partOf?.length) };
    }
    const task = await svc.vread<Task>(CTX, 'Task', (payload.task ?? '').replace(/^Task\//, ''), payload.version ?? '');
    const request = await read<ServiceRequest>(task.focus?.reference);
    if (!request) return { task };
    const reports = (await svc.search(CTX, 'DiagnosticReport', { 'based-on': [`ServiceRequest/${request.id}`], _sort: ['-_lastUpdated'] })).resources as DiagnosticReport[];
    return { task, request, report: reports.find((r) => SENT.has(r.status)) };
  }

  async function partnersFor(request: ServiceRequest | undefined, task: Task | undefined): Promise<Hl7Partner[]> {
    const source = request?.meta?.source;
    if (source?.startsWith(HL7_PARTNER_SOURCE)) {
      const p = deps.partners.find((x) => x.name === source.slice(HL7_PARTNER_SOURCE.length) && x.host);
      if (p) return [p];
    }
    // The requester's hospital (its DPI gets the answer) and the requis' (the CR is filed there once the BE created
    // the visit): the partners serving either.
    const role = await read<PractitionerRole>(task?.requester?.reference?.startsWith('PractitionerRole/') ? task.requester.reference : undefined);
    const orgs = [role?.organization?.reference, task?.extension?.find((e) => e.url === REQUIS_ORGANIZATION_URL)?.valueReference?.reference]
      .filter((o): o is string => !!o);
    return deps.partners.filter((p) => p.host && p.organizations.some((o) => orgs.includes(o)));
  }

  async function handle(job: Job): Promise<void> {
    const { report, request, task } = await locate(job.payload as Partial<TriggerJobPayload> & { report?: string });
    if (!report) {
      deps.logger.warn('send-report-dpi: no validated report', { payload: job.payload });
      return;
    }
    const partners = await partnersFor(request, task);
    if (partners.length === 0) return;
    const patient = await read<Patient>(report.subject?.reference ?? task?.for?.reference);
    if (!patient) throw new Error(`send-report-dpi: the patient of DiagnosticReport/${report.id} cannot be read`);
    const authorRef = report.resultsInterpreter?.[0]?.reference ?? report.performer?.[0]?.reference;
    const author = await professional(svc, authorRef);
    const authorRole = await read<PractitionerRole>(authorRef?.startsWith('PractitionerRole/') ? authorRef : undefined);
    const org = await read<Organization>(authorRole?.organization?.reference);
    const authorOrganization = { ...(org?.identifier?.find((i) => i.system === FINESS)?.value ? { finess: org?.identifier?.find((i) => i.system === FINESS)?.value } : {}),
      name: org?.name ?? deps.identity.facility };
    const recipient = await professional(svc, task?.requester?.reference);
    const encounter = await read<Encounter>(task?.encounter?.reference);
    const visitId = encounter?.identifier?.[0];
    const loinc = report.code?.coding?.find((c) => c.system === 'http://loinc.org' && c.code)
      ? { code: report.code?.coding?.find((c) => c.system === 'http://loinc.org')?.code as string, display: report.code?.coding?.find((c) => c.system === 'http://loinc.org')?.display ?? CR_IMAGERIE.display }
      : CR_IMAGERIE;
    const pdf = report.presentedForm?.find((f) => f.contentType === 'application/pdf' && f.data);
    const body = pdf ? { mediaType: 'application/pdf' as const, data: Buffer.from(pdf.data as string, 'base64') }
      : { mediaType: 'text/plain' as const, data: Buffer.from(report.conclusion ?? report.code?.text ?? '', 'utf8') };
    const study = request?.identifier?.find((i) => i.system === 'urn:dicom:uid')?.value?.replace(/^urn:oid:/, '');
    const now = new Date();
    await svc.transaction(async (t) => {
      let cda = '';
      const issued = await issueReportDocument(t, CTX, report, (doc) => {
        cda = buildCdaReport({
          id: { root: doc.id }, setId: { root: doc.setId }, version: doc.version, ...(doc.parent ? { replaces: { root: doc.parent } } : {}),
          code: loinc, title: report.code?.text ?? loinc.display, effectiveTime: new Date(report.issued ?? report.meta?.lastUpdated ?? now),
          patient: {
            ids: (patient.identifier ?? []).map(idOf).filter((x): x is CdaId => !!x),
            family: patient.name?.[0]?.family, given: patient.name?.[0]?.given, gender: patient.gender, birthDate: patient.birthDate,
          },
          author: { ...author, ...(author?.id ? { rpps: author.id } : {}) }, authorOrganization, custodian: { name: deps.identity.facility },
          ...(recipient ? { recipient: { ...recipient, ...(recipient.id ? { rpps: recipient.id } : {}) } } : {}),
          order: { ...(request && idOf(typed(request, 'PLAC')) ? { placer: idOf(typed(request, 'PLAC')) } : {}), ...(request && idOf(typed(request, 'ACSN')) ? { accession: idOf(typed(request, 'ACSN')) } : {}) },
          ...(study ? { studyInstanceUid: study } : {}),
          ...(encounter ? { encounter: { ...(idOf(visitId) ? { id: idOf(visitId) } : {}), ...(encounter.period?.start ? { start: encounter.period.start } : {}) } } : {}),
          body,
        });
        return Buffer.from(cda, 'utf8').toString('base64');
      }, loinc, { onlyIfIssued: 'report' in job.payload });
      if (!issued || issued.already) return;
      const visit = visitId?.value ? `${visitId.value}^^^&${visitId.system?.replace(/^urn:oid:/, '') ?? ''}&ISO^VN` : undefined;
      for (const partner of partners) {
        const controlId = stableControlId(`${issued.id}#${issued.event}#${partner.name}`);
        const message = buildReportMessage({
          event: issued.event, structure: partner.reportMessage, controlId, now, patient, ...(visit ? { visit } : {}),
          document: { id: issued.id, ...(issued.parent ? { parent: issued.parent } : {}), code: loinc, cda, authoredAt: new Date(report.issued ?? now) },
          ...(author ? { author } : {}), authorOrganization, ...(recipient ? { recipient } : {}),
        }, deps.identity, partner);
        await enqueueHl7(t.jobs, { partner: partner.name, controlId, message,
          summary: `${partner.reportMessage === 'MDM' ? `MDM^${issued.event}` : 'ORU^R01'} CR DiagnosticReport/${report.id} (document ${issued.id})` });
      }
    });
  }
  return { [SEND_REPORT_DPI]: handle };
}
