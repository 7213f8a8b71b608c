// Téléexpertise workflows as data: FHIR R4 Task state machines (workflow.html#task, task.html#statemachine).
import type { Task } from '@medplum/fhirtypes';

/** Task.code system naming the workflow of a télédossier. */
export const WORKFLOW_SYSTEM = 'https://teleo.fr/fhir/CodeSystem/teleo-workflow';
/** Task.businessStatus system: the workflow state beyond the generic Task.status. */
export const DOSSIER_STATUS_SYSTEM = 'https://teleo.fr/fhir/CodeSystem/teleo-dossier-status';
/** Provenance.activity system: the transition that produced a Task version. */
export const TRANSITION_SYSTEM = 'https://teleo.fr/fhir/CodeSystem/teleo-transition';
/** Provenance.agent.role system: the dossier role the agent acted in. */
export const DOSSIER_ROLE_SYSTEM = 'https://teleo.fr/fhir/CodeSystem/teleo-dossier-role';

/** Who someone is for one télédossier (computed by dossier-roles.ts, never stored). */
export type DossierRole =
  | 'requerant' // the requesting physician (Task.requester)
  | 'auteur' // author acting on behalf of the requérant (Task extension dossier-author)
  | 'requis' // the named expert owning the dossier (Task.owner)
  | 'membre-communaute' // a member of the owning community (Task.owner = CareTeam)
  | 'secretariat-requis' // the secretariat of the owner's organization
  | 'tiers' // the owner of a child Task (complementary opinion)
  | 'bureau-entrees' // admissions of the owner's organization (creates the visit)
  | 'facturation'; // billing of the owner's organization (codes the act)

export const DOSSIER_ROLES: readonly DossierRole[] = [
  'requerant', 'auteur', 'requis', 'membre-communaute', 'secretariat-requis', 'tiers', 'bureau-entrees', 'facturation',
];

/**
 * What a transition needs before it may happen:
 * - reason: a text reason in the input (refusal, cancellation, reopening) → Task.statusReason;
 * - protocol: an imaging protocol text in the input (téléradiologie acceptance, CI-SIS flux 3) → Task.note;
 * - report: a final DiagnosticReport whose `basedOn` is the ServiceRequest in Task.focus;
 * - owner: a new owner reference in the input (routing) → Task.owner;
 * - encounter: an Encounter whose `basedOn` is the ServiceRequest in Task.focus (the visit created by the BE)
 *   → Task.encounter.
 */
export type Requirement = 'reason' | 'protocol' | 'report' | 'owner' | 'encounter';

/**
 * Side effects of a transition, enqueued as durable jobs (job type = the trigger) in the transition's
 * transaction; their protocol side (HL7v2, DICOM, XDS-I.b, mail) is implemented elsewhere.
 * notify-requis: the owner (person or community); notify-communaute: each member of the owning CareTeam.
 */
export type Trigger =
  | 'notify-requerant' | 'notify-requis' | 'notify-communaute'
  | 'forward-study' | 'send-report-dpi' | 'publish-dmp' | 'record-charge'
  /** CI-SIS Téléradiologie flux 3: the answer to the order (accepted with the protocol, or refused) to the RIS that sent it. */
  | 'send-order-response';

export interface WorkflowState {
  readonly status: Task['status'];
  /** Code in DOSSIER_STATUS_SYSTEM; unique within a workflow. */
  readonly businessStatus: string;
  readonly display: string;
}

export interface WorkflowTransition {
  readonly code: string;
  readonly display: string;
  readonly from: readonly string[];
  readonly to: string;
  readonly roles: readonly DossierRole[];
  readonly requires?: readonly Requirement[];
  readonly triggers?: readonly Trigger[];
}

export interface WorkflowDefinition {
  readonly code: string;
  readonly display: string;
  readonly urgent: boolean;
  /** The requérant sees when the requis first read the dossier (recorded by a later step). */
  readonly readReceipt?: boolean;
  readonly states: Readonly<Record<string, WorkflowState>>;
  readonly initial: string;
  readonly transitions: readonly WorkflowTransition[];
}

/** Task.status values after which FHIR expects no further work (a state with one of them may have no exit). */
const TERMINAL_STATUSES = new Set<Task['status']>(['completed', 'cancelled', 'rejected', 'failed', 'entered-in-error']);

/** Data-level self-check of a definition; returns the problems found (empty when sound). */
export function checkDefinition(def: WorkflowDefinition): string[] {
  const problems: string[] = [];
  const states = Object.keys(def.states);
  if (!def.states[def.initial]) problems.push(`initial state '${def.initial}' does not exist`);
  else if (def.states[def.initial].status !== 'requested') problems.push(`initial state '${def.initial}' is not 'requested'`);
  const seenBusiness = new Set<string>();
  for (const [key, s] of Object.entries(def.states)) {
    if (seenBusiness.has(s.businessStatus)) problems.push(`businessStatus '${s.businessStatus}' of '${key}' is not unique`);
    seenBusiness.add(s.businessStatus);
  }
  const seenCodes = new Set<string>();
  for (const t of def.transitions) {
    if (seenCodes.has(t.code)) problems.push(`transition code '${t.code}' is not unique`);
    seenCodes.add(t.code);
    if (t.from.length === 0) problems.push(`transition '${t.code}' has no 'from' state`);
    if (t.roles.length === 0) problems.push(`transition '${t.code}' has no role`);
    for (const f of t.from) if (!def.states[f]) problems.push(`transition '${t.code}': from state '${f}' does not exist`);
    if (!def.states[t.to]) problems.push(`transition '${t.code}': to state '${t.to}' does not exist`);
  }
  for (const key of states) {
    const exits = def.transitions.some((t) => t.from.includes(key));
    if (!exits && !TERMINAL_STATUSES.has(def.states[key].status)) problems.push(`non-terminal state '${key}' has no exit`);
  }
  const reached = new Set([def.initial]);
  for (let grew = true; grew;) {
    grew = false;
    for (const t of def.transitions) {
      if (t.from.some((f) => reached.has(f)) && !reached.has(t.to)) { reached.add(t.to); grew = true; }
    }
  }
  for (const key of states) if (!reached.has(key)) problems.push(`state '${key}' is unreachable from '${def.initial}'`);
  return problems;
}

/** The state key a Task is in, matched on (status, businessStatus), or undefined. */
export function stateOf(def: WorkflowDefinition, task: Task): string | undefined {
  const business = task.businessStatus?.coding?.find((c) => c.system === DOSSIER_STATUS_SYSTEM)?.code;
  return Object.keys(def.states).find((k) => def.states[k].status === task.status && def.states[k].businessStatus === business);
}
