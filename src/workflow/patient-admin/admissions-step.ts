// The bureau-des-entrées step of a télédossier (CCTP: the admissions office creates the visit, then the CR is filed in
// the DPI): a visit fed by the hospital's patient administration (IHE PAM) completes it through applyTransition.
//
// Which dossier a visit is for: among the patient's dossiers (the Patient, or any Patient it replaced in a merge)
// addressed to one of the partner's organisations (Task requis-organization) and waiting for a transition that
// requires the visit ('encounter') by role 'bureau-entrees' — the one whose ServiceRequest announced this visit
// number (ServiceRequest.identifier = PV1-19), else the only one waiting; with several waiting and none announced,
// none is guessed (the visit is recorded, a person links it). The Encounter then gets basedOn = that ServiceRequest.
//
// Who acts: the partner acts as the bureau des entrées of the dossier's organisation — its service PractitionerRole in
// the directory (code teleo-role 'bureau-entrees', that organization, active, no practitioner: a service, not a
// person). The transition runs as the partner's principal (sub `hl7:<partner>`) with `role` = that PractitionerRole,
// so applyTransition's dossier-role check (dossier-roles.ts) is applied unchanged; nothing changes for FHIR callers.
import type { Encounter, Identifier, Patient, PractitionerRole, ServiceRequest, Task } from '@medplum/fhirtypes';
import { OperationOutcomeError, statusOf } from '../../kernel/errors.js';
import type { AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';
import { REQUIS_ORGANIZATION_URL } from '../teleexpertise/dossier-model.js';
import { TELEO_ROLE_SYSTEM } from '../teleexpertise/dossier-roles.js';
import { workflowFor } from '../teleexpertise/index.js';
import { applyTransition } from '../teleexpertise/transition.js';
import { stateOf, type WorkflowTransition } from '../teleexpertise/workflow-definition.js';
import { samePerson } from './patient-identity.js';

export interface AdmissionsStepResult {
  readonly encounter: Encounter;
  /** The dossier whose step completed (its new version). */
  readonly task?: Task;
  readonly note?: string;
}

interface Waiting { task: Task; transition: WorkflowTransition; request: string; organization: string }

const sameId = (a: Identifier, b: Identifier) => a.system === b.system && a.value === b.value;

async function waitingDossiers(t: ResourceService, ctx: AuditContext, patient: Patient, organizations: readonly string[]): Promise<Waiting[]> {
  const out: Waiting[] = [];
  for (const person of await samePerson(t, ctx, patient)) {
    for (const org of organizations) {
      const tasks = (await t.search(ctx, 'Task', { subject: [person], 'requis-organization': [org], _count: ['100'] })).resources as Task[];
      for (const task of tasks) {
        const def = workflowFor(task);
        const state = def && stateOf(def, task);
        const transition = state ? def.transitions.find((tr) => tr.requires?.includes('encounter') && tr.from.includes(state) && tr.roles.includes('bureau-entrees')) : undefined;
        const request = task.focus?.reference;
        if (transition && request?.startsWith('ServiceRequest/') && !out.some((w) => w.task.id === task.id)) out.push({ task, transition, request, organization: org });
      }
    }
  }
  return out;
}

/** The organisation's bureau-des-entrées service role (see the header), or undefined. */
async function admissionsRole(t: ResourceService, ctx: AuditContext, organization: string): Promise<string | undefined> {
  const roles = (await t.search(ctx, 'PractitionerRole', { organization: [organization], role: [`${TELEO_ROLE_SYSTEM}|bureau-entrees`], _count: ['50'] })).resources as PractitionerRole[];
  const service = roles.filter((r) => r.active !== false && !r.practitioner).map((r) => r.id as string).sort()[0];
  return service ? `PractitionerRole/${service}` : undefined;
}

/**
 * Links `encounter` (a new visit of `patient`, identified by `visitNumber`) to the dossier waiting for it, and runs
 * that dossier's bureau-des-entrées transition (which enqueues its triggers, e.g. send-report-dpi). Inside the
 * caller's transaction. A transition refused by the workflow (403 / 409) leaves the link and says why in `note`.
 */
export async function completeAdmissionsStep(t: ResourceService, ctx: AuditContext, patient: Patient, encounter: Encounter,
  visitNumber: Identifier, organizations: readonly string[], now?: () => Date): Promise<AdmissionsStepResult> {
  if (organizations.length === 0) return { encounter, note: 'the partner names no organisation: no dossier looked for' };
  const waiting = await waitingDossiers(t, ctx, patient, organizations);
  if (waiting.length === 0) return { encounter };
  const announced: Waiting[] = [];
  for (const w of waiting) {
    const request = await t.read<ServiceRequest>(ctx, 'ServiceRequest', w.request.slice('ServiceRequest/'.length));
    if ((request.identifier ?? []).some((i) => sameId(i, visitNumber))) announced.push(w);
  }
  const chosen = announced.length === 1 ? announced[0] : waiting.length === 1 ? waiting[0] : undefined;
  if (!chosen) {
    return { encounter, note: `${waiting.length} dossiers wait for a visit (${waiting.map((w) => `Task/${w.task.id}`).join(', ')}) and none announced visit ${visitNumber.value}: none linked` };
  }
  const organization = chosen.task.extension?.find((e) => e.url === REQUIS_ORGANIZATION_URL)?.valueReference?.reference ?? chosen.organization;
  const linked = (await t.update(ctx, {
    ...encounter, basedOn: [...(encounter.basedOn ?? []), { reference: chosen.request }], serviceProvider: { reference: organization },
  } as Encounter)).resource;
  const role = await admissionsRole(t, ctx, organization);
  if (!role) {
    return { encounter: linked, note: `visit linked to Task/${chosen.task.id}; ${organization} has no bureau-des-entrées service PractitionerRole: the step waits for a person` };
  }
  try {
    const task = await applyTransition({ svc: t, ...(now ? { now } : {}) }, { ...ctx, principal: { ...ctx.principal, role } }, chosen.task.id as string, chosen.transition.code);
    return { encounter: linked, task };
  } catch (e) {
    if (!(e instanceof OperationOutcomeError) || ![403, 409].includes(statusOf(e.outcome))) throw e;
    return { encounter: linked, note: `visit linked to Task/${chosen.task.id}; '${chosen.transition.code}' refused: ${e.outcome.issue?.[0]?.details?.text ?? ''}` };
  }
}
