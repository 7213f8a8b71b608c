// The one writer of télédossier state: applies a workflow transition to a FHIR R4 Task (workflow.html#task), with Provenance.
import type { DiagnosticReport, Encounter, Provenance, Reference, Task } from '@medplum/fhirtypes';
import { errors } from '../../kernel/errors.js';
import { SYSTEM_PRINCIPAL } from '../../kernel/principal.js';
import { parseIfMatch } from '../../store/resource-store.js';
import type { AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';
import { rolesOf, serviceLookup, type DirectoryLookup } from './dossier-roles.js';
import { WORKFLOWS, workflowFor } from './index.js';
import { WORKFLOW_VIA } from './task-status-guard.js';
import {
  DOSSIER_ROLE_SYSTEM, DOSSIER_STATUS_SYSTEM, TRANSITION_SYSTEM, stateOf,
  type DossierRole, type WorkflowDefinition, type WorkflowTransition,
} from './workflow-definition.js';

export interface TransitionDeps {
  svc: ResourceService;
  /**
   * The directory port, built from the transaction's service (a lookup over the outer storage would read
   * outside the transaction, and deadlock on a storage that serialises transactions). Default: serviceLookup.
   */
  lookup?: (tx: ResourceService) => DirectoryLookup;
  now?: () => Date;
  workflows?: readonly WorkflowDefinition[];
}

export interface TransitionInput {
  /** Refusal / cancellation / reopening reason → Task.statusReason (recorded whenever given). */
  reason?: string;
  /** Imaging protocol (téléradiologie acceptance) → a Task.note; used only when the transition requires it. */
  protocol?: string;
  /** New owner reference (routing); used only when the transition requires it. */
  owner?: string;
  /** The Task version the caller saw (`W/"3"`): 412 when it is no longer current. */
  ifMatch?: string;
}

const OWNER_TYPES = new Set(['PractitionerRole', 'Practitioner', 'CareTeam', 'Organization']);
const FINAL_REPORT = new Set(['final', 'amended', 'corrected', 'appended']);
const VOID_ENCOUNTER = new Set(['cancelled', 'entered-in-error']);

/** Job type = the trigger; one job per trigger, idempotent per Task version, ordered per (Task, trigger). */
export interface TriggerJobPayload extends Record<string, unknown> {
  task: string;
  version: string;
  workflow: string;
  transition: string;
}

/**
 * Applies `transitionCode` to Task/`taskId` on behalf of ctx.principal, atomically: the Task update (If-Match
 * on the version read), its Provenance and one durable job per trigger commit together or not at all.
 * Checks, in order: the Task's workflow (409), the transition (400), the current state (409), the
 * principal's dossier roles (403), the requirements (409).
 */
export async function applyTransition(deps: TransitionDeps, ctx: AuditContext, taskId: string, transitionCode: string,
  input: TransitionInput = {}): Promise<Task> {
  const now = (deps.now ?? (() => new Date()))();
  return deps.svc.transaction(async (t) => {
    const lookup = (deps.lookup ?? serviceLookup)(t);
    const task = await t.read<Task>(ctx, 'Task', taskId);
    const version = task.meta?.versionId;
    if (input.ifMatch && parseIfMatch(input.ifMatch) !== version) {
      throw errors.preconditionFailed(`Task/${taskId}: If-Match ${input.ifMatch} does not match current version ${version}`);
    }
    const def = workflowFor(task, deps.workflows ?? WORKFLOWS);
    if (!def) throw errors.conflict(`Task/${taskId} does not follow a known télédossier workflow`);
    const transition = def.transitions.find((tr) => tr.code === transitionCode);
    if (!transition) {
      throw errors.badRequest(`Unknown transition '${transitionCode}' for workflow '${def.code}' (known: ${def.transitions.map((tr) => tr.code).join(', ')})`);
    }
    const state = stateOf(def, task);
    if (!state) throw errors.conflict(`Task/${taskId} (status '${task.status}') is in no state of workflow '${def.code}'`);
    if (!transition.from.includes(state)) {
      const allowed = def.transitions.filter((tr) => tr.from.includes(state)).map((tr) => tr.code);
      throw errors.businessRule(`Transition '${transitionCode}' is not allowed from state '${state}' (${def.states[state].display}); `
        + `allowed from this state: ${allowed.length ? allowed.join(', ') : 'none'}`);
    }
    const roles = await rolesOf(ctx.principal, task, lookup);
    const acting = transition.roles.filter((r) => roles.has(r));
    if (acting.length === 0) {
      throw errors.forbidden(`Transition '${transitionCode}' needs one of the dossier roles: ${transition.roles.join(', ')}`);
    }
    const found = await checkRequirements(transition, task, input, lookup);

    const to = def.states[transition.to];
    const who = ctx.principal.role ?? ctx.principal.fhirUser;
    const reason = input.reason?.trim();
    const { statusReason: _previousReason, ...rest } = task;
    const next: Task = {
      ...rest,
      status: to.status,
      businessStatus: { coding: [{ system: DOSSIER_STATUS_SYSTEM, code: to.businessStatus, display: to.display }], text: to.display },
      ...(reason ? { statusReason: { text: reason } } : {}),
      lastModified: now.toISOString(),
      ...(found.owner ? { owner: { reference: found.owner } } : {}),
      ...(found.encounter ? { encounter: { reference: found.encounter } } : {}),
    };
    if (found.protocol) {
      next.note = [...(task.note ?? []), {
        text: `Protocole d'imagerie : ${found.protocol}`, time: now.toISOString(), ...(who ? { authorReference: { reference: who } } : {}),
      }];
    }
    const updated = (await t.update({ ...ctx, via: WORKFLOW_VIA }, next, { ifMatch: version })).resource;
    const versionRef = `Task/${taskId}/_history/${updated.meta?.versionId}`;
    await t.create({ principal: SYSTEM_PRINCIPAL, via: WORKFLOW_VIA, requestId: ctx.requestId, remoteAddress: ctx.remoteAddress },
      provenanceOf(versionRef, now, ctx, transition, acting, task.requester));
    for (const trigger of transition.triggers ?? []) {
      const payload: TriggerJobPayload = { task: `Task/${taskId}`, version: String(updated.meta?.versionId), workflow: def.code, transition: transition.code };
      // Ordered per dossier AND trigger: a study forward retrying against a PACS that is down must not hold back the
      // dossier's notifications, while two report sends for the same dossier still leave in order.
      await t.jobs.enqueue(trigger, payload, { idempotencyKey: `${versionRef}#${trigger}`, orderingKey: `Task/${taskId}#${trigger}` });
    }
    return updated;
  });
}

/** Provenance (R4 provenance.html) of the new Task version; onBehalfOf = the requérant when an author acted. */
function provenanceOf(target: string, now: Date, ctx: AuditContext, transition: WorkflowTransition, acting: DossierRole[],
  requester: Reference | undefined): Provenance {
  const who = ctx.principal.role ?? ctx.principal.fhirUser;
  const onBehalf = acting.includes('auteur') && !acting.includes('requerant') && requester?.reference;
  return {
    resourceType: 'Provenance',
    target: [{ reference: target }],
    recorded: now.toISOString(),
    activity: { coding: [{ system: TRANSITION_SYSTEM, code: transition.code, display: transition.display }], text: transition.display },
    agent: [{
      who: who ? { reference: who } : { display: ctx.principal.sub },
      role: acting.map((r) => ({ coding: [{ system: DOSSIER_ROLE_SYSTEM, code: r }] })),
      ...(onBehalf ? { onBehalfOf: { reference: onBehalf } } : {}),
    }],
  };
}

interface Found { owner?: string; encounter?: string; protocol?: string }

/** Checks every requirement; one 409 naming everything missing. */
async function checkRequirements(transition: WorkflowTransition, task: Task, input: TransitionInput, lookup: DirectoryLookup): Promise<Found> {
  const missing: string[] = [];
  const found: Found = {};
  const focus = task.focus?.reference;
  const focusRequest = focus?.startsWith('ServiceRequest/') ? focus : undefined;
  const basedOnFocus = async <T extends DiagnosticReport | Encounter>(type: T['resourceType']): Promise<T[]> =>
    focusRequest ? (await lookup.search(type, { 'based-on': [focusRequest] })) as T[] : [];

  for (const req of transition.requires ?? []) {
    switch (req) {
      case 'reason':
        if (!input.reason?.trim()) missing.push('a reason (input.reason)');
        break;
      case 'protocol':
        found.protocol = input.protocol?.trim() || undefined;
        if (!found.protocol) missing.push('an imaging protocol (input.protocol)');
        break;
      case 'owner': {
        const [type, id] = input.owner?.split('/') ?? [];
        if (!input.owner) { missing.push('a new owner (input.owner)'); break; }
        if (!OWNER_TYPES.has(type) || !id) throw errors.badRequest(`input.owner must reference a ${[...OWNER_TYPES].join(', ')}`, 'owner');
        if (!(await lookup.read(type, id))) missing.push(`an existing owner (${input.owner} not found)`);
        else found.owner = input.owner;
        break;
      }
      case 'report': {
        const reports = (await basedOnFocus<DiagnosticReport>('DiagnosticReport')).filter((r) => FINAL_REPORT.has(r.status));
        if (reports.length === 0) missing.push(`a final DiagnosticReport whose basedOn is ${focusRequest ?? 'the Task.focus ServiceRequest'}`);
        break;
      }
      case 'encounter': {
        const visits = (await basedOnFocus<Encounter>('Encounter')).filter((e) => !VOID_ENCOUNTER.has(e.status));
        if (visits.length === 0) missing.push(`an Encounter (the visit) whose basedOn is ${focusRequest ?? 'the Task.focus ServiceRequest'}`);
        else found.encounter = `Encounter/${visits[0].id}`;
        break;
      }
    }
  }
  if (missing.length) throw errors.businessRule(`Transition '${transition.code}' requires ${missing.join('; ')}`);
  return found;
}
