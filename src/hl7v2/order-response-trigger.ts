// The workflow trigger `send-order-response` (téléradiologie accepter / refuser) → CI-SIS flux 3 ORU^R01 to the RIS whose
// order created the dossier (ServiceRequest.meta.source), as a durable outbound message.
import { createHash } from 'node:crypto';
import type { Identifier, Patient, Practitioner, PractitionerRole, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { Job } from '../store/job-queue.js';
import { PermanentJobError, type JobHandler } from '../jobs/job-runner.js';
import type { Logger } from '../kernel/logger.js';
import { SYSTEM_PRINCIPAL } from '../kernel/principal.js';
import type { AuditContext } from '../workflow/audit.js';
import type { ResourceService } from '../workflow/resource-service.js';
import type { TriggerJobPayload } from '../workflow/teleexpertise/transition.js';
import { HL7_PARTNER_SOURCE } from '../workflow/teleradiologie/placer-order.js';
import type { Hl7Identity, Hl7Partner } from './hl7-partner.js';
import { enqueueHl7 } from './mllp-sender.js';
import { buildOrderResponse, type Professional } from './oru-r01-flux3.js';

export const SEND_ORDER_RESPONSE = 'send-order-response';
const CTX: AuditContext = { principal: SYSTEM_PRINCIPAL, via: 'hl7v2' };
const RPPS = 'urn:oid:1.2.250.1.71.4.2.1';
const PROTOCOL_PREFIX = /^Protocole d'imagerie : /;

export interface OrderResponseDeps {
  svc: ResourceService;
  partners: readonly Hl7Partner[];
  identity: Hl7Identity;
  logger: Logger;
  now?: () => Date;
}

/** A control id stable for one trigger job (≤ 20 characters), so that a retried job queues the same message once. */
export function stableControlId(key: string): string {
  return `T${BigInt(`0x${createHash('sha256').update(key).digest('hex').slice(0, 24)}`).toString(36).toUpperCase()}`.slice(0, 20);
}

/** The practitioner behind a PractitionerRole or Practitioner reference, as ORC-12 wants it. */
export async function professional(svc: ResourceService, ref: string | undefined): Promise<Professional | undefined> {
  if (!ref) return undefined;
  const [type, id] = ref.split('/');
  let practitioner: Practitioner | undefined;
  if (type === 'PractitionerRole') {
    const role = await svc.read<PractitionerRole>(CTX, 'PractitionerRole', id).catch(() => undefined);
    const pref = role?.practitioner?.reference;
    if (pref?.startsWith('Practitioner/')) practitioner = await svc.read<Practitioner>(CTX, 'Practitioner', pref.slice(13)).catch(() => undefined);
  } else if (type === 'Practitioner') {
    practitioner = await svc.read<Practitioner>(CTX, 'Practitioner', id).catch(() => undefined);
  }
  if (!practitioner) return undefined;
  const rpps = practitioner.identifier?.find((i) => i.system === RPPS)?.value;
  const name = practitioner.name?.[0];
  return { ...(rpps ? { id: rpps } : {}), ...(name?.family ? { family: name.family } : {}), ...(name?.given?.[0] ? { given: name.given[0] } : {}) };
}

export function orderResponseHandlers(deps: OrderResponseDeps): Record<string, JobHandler> {
  const { svc } = deps;
  async function handle(job: Job): Promise<void> {
    const p = job.payload as TriggerJobPayload;
    const taskId = p.task.replace(/^Task\//, '');
    const task = await svc.vread<Task>(CTX, 'Task', taskId, p.version);
    const focus = task.focus?.reference;
    if (!focus?.startsWith('ServiceRequest/')) return;
    const request = await svc.read<ServiceRequest>(CTX, 'ServiceRequest', focus.slice('ServiceRequest/'.length));
    const source = request.meta?.source;
    // A dossier opened otherwise (FHIR, $create-teledossier) has no RIS waiting for a flux 3.
    if (!source?.startsWith(HL7_PARTNER_SOURCE)) return;
    const name = source.slice(HL7_PARTNER_SOURCE.length);
    const partner = deps.partners.find((x) => x.name === name);
    if (!partner?.host) throw new PermanentJobError(`flux 3 for ${p.task}: HL7 partner ${name} is ${partner ? 'not reachable (no host/port configured)' : 'not configured'}`);
    const placer = request.identifier?.find((i) => i.type?.coding?.some((c) => c.code === 'PLAC')) as Identifier | undefined;
    if (!placer) throw new PermanentJobError(`flux 3 for ${p.task}: ServiceRequest/${request.id} has no placer order number`);
    const patientRef = task.for?.reference ?? request.subject?.reference ?? '';
    const patient = await svc.read<Patient>(CTX, 'Patient', patientRef.replace(/^Patient\//, ''));
    const accepted = p.transition === 'accepter';
    const note = [...(task.note ?? [])].reverse().find((n) => PROTOCOL_PREFIX.test(n.text ?? ''));
    const controlId = stableControlId(`${p.task}/_history/${p.version}#${SEND_ORDER_RESPONSE}`);
    const message = buildOrderResponse({
      accepted, patient, placer, controlId, now: (deps.now ?? (() => new Date()))(),
      ...(accepted ? { protocol: (note?.text ?? '').replace(PROTOCOL_PREFIX, '') } : { reason: task.statusReason?.text ?? '' }),
      responder: await professional(svc, note?.authorReference?.reference ?? task.owner?.reference),
    }, deps.identity, partner);
    await enqueueHl7(svc.jobs, { partner: partner.name, controlId, message, summary: `ORU^R01 ${accepted ? 'OK' : 'OC'} (flux 3) for ${p.task}` });
  }
  return { [SEND_ORDER_RESPONSE]: handle };
}
