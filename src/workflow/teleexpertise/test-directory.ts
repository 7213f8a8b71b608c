// Test fixture (not shipped): a real ResourceService on the in-memory storage, with a directory of FHIR R4
// Practitioner / PractitionerRole / CareTeam / Organization resources and one principal per dossier role.
import { join } from 'node:path';
import { expect } from 'chai';
import type { Resource, Task } from '@medplum/fhirtypes';
import { loadDefinitions, PLATFORM_RESOURCE_TYPES } from '../../fhir/definitions.js';
import { createSearchRegistry } from '../../fhir/search-registry.js';
import { createValidator } from '../../fhir/validation.js';
import { OperationOutcomeError, statusOf } from '../../kernel/errors.js';
import { createLogger } from '../../kernel/logger.js';
import { SYSTEM_PRINCIPAL, type Principal } from '../../kernel/principal.js';
import { createMemoryStorage } from '../../store/memory-storage.js';
import type { Storage } from '../../store/resource-store.js';
import { createScopeAccessPolicy } from '../access-policy.js';
import type { AuditContext } from '../audit.js';
import { createResourceService, type ResourceService } from '../resource-service.js';
import { DOSSIER_AUTHOR_URL, TELEO_ROLE_SYSTEM } from './dossier-roles.js';
import { createTaskStatusGuard, WORKFLOW_VIA } from './task-status-guard.js';
import { createDossierVisibility } from './dossier-visibility.js';
import { recordRequisOrganization } from './requis-organization.js';
import { DOSSIER_STATUS_SYSTEM, WORKFLOW_SYSTEM, type DossierRole, type WorkflowDefinition } from './workflow-definition.js';

loadDefinitions(join(process.cwd(), 'profiles'));
/** The R4 search parameters of the platform's types plus those of profiles/ (the visibility rules use them). */
export const registry = createSearchRegistry(PLATFORM_RESOURCE_TYPES);

export const REQUESTER = 'PractitionerRole/robert-chiva';
export const AUTHOR = 'PractitionerRole/petit-chiva';
export const EXPERT = 'PractitionerRole/durand-chu';
export const EXPERT_2 = 'PractitionerRole/martin-chu';
export const COMMUNITY = 'CareTeam/cardio-chu';
/** A ServiceRequest with a final DiagnosticReport and an Encounter based on it; the bare one has neither. */
export const SR_DONE = 'ServiceRequest/sr-done';
export const SR_BARE = 'ServiceRequest/sr-bare';
export const REASON = 'Patient transféré, demande sans objet';
export const PROTOCOL = 'Scanner cérébral sans injection';

/** One principal per dossier role, holding exactly that role on a dossier owned by EXPERT (COMMUNITY for members). */
export const PRINCIPALS: Readonly<Record<DossierRole, Principal>> = {
  requerant: user('robert', 'robert-chiva'),
  auteur: user('petit', 'petit-chiva'),
  requis: user('durand', 'durand-chu'),
  'membre-communaute': user('simon', 'simon-chu'),
  'secretariat-requis': user('sec', 'sec-chu'),
  tiers: user('bernard', 'bernard-ext'),
  'bureau-entrees': user('be', 'be-chu'),
  facturation: user('fact', 'fact-chu'),
};

function user(practitioner: string, role: string): Principal {
  return { sub: practitioner, iss: 'test', scopes: ['user/*.cruds'], fhirUser: `Practitioner/${practitioner}`, role: `PractitionerRole/${role}` };
}

export const ctxOf = (principal: Principal): AuditContext => ({ principal });
/** Setup writes: as the platform, through the workflow path (tests seed Tasks in any state). */
export const SEED: AuditContext = { principal: SYSTEM_PRINCIPAL, via: WORKFLOW_VIA };

const role = (id: string, practitioner: string, org: string, code?: string): Resource => ({
  resourceType: 'PractitionerRole', id, active: true, practitioner: { reference: `Practitioner/${practitioner}` },
  organization: { reference: `Organization/${org}` },
  ...(code ? { code: [{ coding: [{ system: TELEO_ROLE_SYSTEM, code }] }] } : {}),
});

const DIRECTORY: Resource[] = [
  ...['chiva', 'chu', 'ext'].map((id): Resource => ({ resourceType: 'Organization', id, name: id })),
  ...['robert', 'petit', 'durand', 'martin', 'simon', 'sec', 'bernard', 'be', 'fact'].map((id): Resource => ({ resourceType: 'Practitioner', id })),
  role('robert-chiva', 'robert', 'chiva'),
  role('petit-chiva', 'petit', 'chiva', 'secretariat'), // a secretariat, but of the requesting site
  role('durand-chu', 'durand', 'chu'),
  role('martin-chu', 'martin', 'chu'),
  role('simon-chu', 'simon', 'chu'),
  role('sec-chu', 'sec', 'chu', 'secretariat'),
  role('be-chu', 'be', 'chu', 'bureau-entrees'),
  role('fact-chu', 'fact', 'chu', 'facturation'),
  role('bernard-ext', 'bernard', 'ext'),
  { resourceType: 'CareTeam', id: 'cardio-chu', managingOrganization: [{ reference: 'Organization/chu' }],
    participant: [{ member: { reference: 'PractitionerRole/simon-chu' } }] },
  ...['sr-done', 'sr-bare'].map((id): Resource => ({ resourceType: 'ServiceRequest', id, status: 'active', intent: 'order', subject: { reference: 'Patient/p1' } })),
  { resourceType: 'DiagnosticReport', id: 'cr-done', status: 'final', code: { text: 'CR' }, basedOn: [{ reference: SR_DONE }] },
  { resourceType: 'Encounter', id: 'venue-done', status: 'finished', class: { code: 'AMB' }, basedOn: [{ reference: SR_DONE }] },
];

export interface Platform { storage: Storage; svc: ResourceService }

/** A service (with the Task status guard and dossier visibility) on `storage` (default: a fresh memory twin), the directory loaded. */
export async function createPlatform(storage: Storage = createMemoryStorage(registry)): Promise<Platform> {
  const visibility = createDossierVisibility(registry);
  const svc = createResourceService({
    storage, registry, validator: createValidator(new Map()), access: createScopeAccessPolicy(),
    logger: createLogger('silent'), searchDefaults: { defaultCount: 20, maxCount: 1000 }, writeGuards: [createTaskStatusGuard()],
    visibility, afterWrite: [visibility.afterWrite], prepareWrite: [recordRequisOrganization()],
  });
  for (const r of DIRECTORY) await svc.update(SEED, r);
  return { storage, svc };
}

/** The owner under which `role` holds: the community for its members, the named expert otherwise. */
export const ownerFor = (r: DossierRole) => (r === 'membre-communaute' ? COMMUNITY : EXPERT);

export function dossier(def: WorkflowDefinition, state: string, options: { owner?: string; focus?: string } = {}): Task {
  const s = def.states[state];
  return {
    resourceType: 'Task', status: s.status, intent: 'order',
    businessStatus: { coding: [{ system: DOSSIER_STATUS_SYSTEM, code: s.businessStatus }] },
    code: { coding: [{ system: WORKFLOW_SYSTEM, code: def.code }] },
    for: { reference: 'Patient/p1' },
    requester: { reference: REQUESTER },
    owner: { reference: options.owner ?? EXPERT },
    focus: { reference: options.focus ?? SR_DONE },
    extension: [{ url: DOSSIER_AUTHOR_URL, valueReference: { reference: AUTHOR } }],
  };
}

/** Seeds a dossier in `state`; for the tiers, also a child Task (partOf it) that the tiers owns. */
export async function seedDossier(svc: ResourceService, def: WorkflowDefinition, state: string,
  options: { owner?: string; focus?: string; tiers?: boolean } = {}): Promise<Task> {
  const task = (await svc.create(SEED, dossier(def, state, options))).resource;
  if (options.tiers) {
    await svc.create(SEED, { resourceType: 'Task', status: 'requested', intent: 'order', partOf: [{ reference: `Task/${task.id}` }],
      owner: { reference: 'PractitionerRole/bernard-ext' }, requester: { reference: EXPERT } } as Task);
  }
  return task;
}

/** The status and message of a rejected promise (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<{ status: number; text: string }> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(OperationOutcomeError);
    const o = (e as OperationOutcomeError).outcome;
    return { status: statusOf(o), text: o.issue?.[0]?.details?.text ?? '' };
  }
  throw new Error('expected a rejection');
}
