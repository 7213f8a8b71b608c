// Who sees a télédossier (ORTIF kit "Déterminer la visibilité": Moi-même / Ma communauté), as FHIR search predicates.
//
// A user acting under `user/` scopes sees a dossier-bound resource only through a dossier they take part in; the rule
// is a search predicate ANDed into every search, read and include of those types, so that totals and includes never
// count what the user may not see. Platform and integration clients acting under `system/` scopes are not filtered.
import type { PractitionerRole } from '@medplum/fhirtypes';
import type { Principal } from '../../kernel/principal.js';
import type { Predicate } from '../../fhir/search-request.js';
import type { ParsedSearch } from '../../fhir/search-request.js';
import type { Storage } from '../../store/resource-store.js';
import type { SearchRegistry } from '../../fhir/search-registry.js';
import type { AfterWrite } from '../resource-service.js';
import { TELEO_ROLE_SYSTEM } from './dossier-roles.js';
import { DOSSIER_BOUND_TYPES } from './dossier-model.js';

/** The resources that stand for a user in dossiers, resolved from the directory. */
export interface Party {
  /** Practitioner and every PractitionerRole of that practitioner (the same physician in any role is the same party). */
  readonly refs: readonly string[];
  /** CareTeams (communities) with one of `refs` among participant.member. */
  readonly teams: readonly string[];
  /** Organizations whose secretariat, admissions or billing the current role belongs to. */
  readonly adminOrgs: readonly string[];
}

export interface VisibilityFilter {
  /** The predicate restricting `resourceType` for this principal, or undefined when it is not restricted. */
  filter(principal: Principal, resourceType: string, storage: Storage): Promise<Predicate | undefined>;
  /** The user's party (cached like the filter's). */
  party(principal: Principal, storage: Storage): Promise<Party>;
  /** Clears cached parties when the directory (PractitionerRole, CareTeam) changes. */
  readonly afterWrite: AfterWrite;
}

const BOUND = new Set<string>(DOSSIER_BOUND_TYPES);
const ADMIN_CODES = new Set(['secretariat', 'bureau-entrees', 'facturation']);
const DIRECTORY_TYPES = new Set(['PractitionerRole', 'CareTeam', 'Practitioner']);
const NOTHING: Predicate = { t: 'id', ids: [] };
/** The platform's own search parameters (profiles/) the rules use; the R4 ones are always there. */
const REQUIRED_PARAMS: readonly [string, string][] = [
  ['Task', 'dossier-author'], ['Task', 'sender-community'], ['Task', 'dossier-content'], ['Task', 'requis-organization'],
  ['Subscription', 'owner-sub'], ['Subscription', 'owner-iss'],
];

const split = (ref: string): { targetType: string; targetId: string } | undefined => {
  const m = /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(ref);
  return m ? { targetType: m[1], targetId: m[2] } : undefined;
};

/** `code` references one of `refs` (an empty list matches nothing). */
export function refersTo(code: string, refs: readonly string[]): Predicate {
  const preds = refs.map(split).filter((r) => !!r).map((r): Predicate => ({ t: 'reference', code, ...r }));
  if (preds.length === 0) return NOTHING;
  return preds.length === 1 ? preds[0] : { t: 'or', preds };
}

const any = (...preds: Predicate[]): Predicate => {
  const kept = preds.filter((p) => p !== NOTHING);
  return kept.length === 0 ? NOTHING : kept.length === 1 ? kept[0] : { t: 'or', preds: kept };
};

/** A dossier Task in which the party takes part (roles of dossier-roles.ts, plus the sender community). */
function taskPredicate(party: Party, depth: number): Predicate {
  const parties = [...party.refs];
  const own = any(
    refersTo('requester', parties),
    refersTo('dossier-author', parties),
    refersTo('owner', [...parties, ...party.teams]),
    refersTo('sender-community', party.teams),
    // secretariat, admissions, billing: the dossiers addressed to their establishment (requis-organization.ts)
    refersTo('requis-organization', party.adminOrgs),
    // tiers: owner of a child Task (complementary opinion)
    { t: 'has', sourceType: 'Task', code: 'part-of', inner: refersTo('owner', parties) },
  );
  // A step (child Task) is visible to the participants of its dossier.
  return depth > 0 ? any(own, { t: 'chain', code: 'part-of', targets: [{ type: 'Task', inner: taskPredicate(party, depth - 1) }] }) : own;
}

/** The visibility predicate of each dossier-bound type, for one party. */
export function dossierPredicate(resourceType: string, party: Party): Predicate | undefined {
  const task = taskPredicate(party, 1);
  const heldBy = (code: string): Predicate => ({ t: 'has', sourceType: 'Task', code, inner: task });
  const refs = party.refs;
  const visit: Predicate = any(heldBy('encounter'),
    { t: 'chain', code: 'based-on', targets: [{ type: 'ServiceRequest', inner: heldBy('focus') }] });
  switch (resourceType) {
    case 'Task': return task;
    case 'ServiceRequest': return any(heldBy('focus'), refersTo('requester', refs));
    case 'DocumentReference': return any(heldBy('dossier-content'), refersTo('author', refs));
    case 'ImagingStudy': return any(heldBy('dossier-content'),
      { t: 'chain', code: 'basedon', targets: [{ type: 'ServiceRequest', inner: heldBy('focus') }] });
    case 'DiagnosticReport': return any(heldBy('dossier-content'), refersTo('performer', refs),
      { t: 'chain', code: 'based-on', targets: [{ type: 'ServiceRequest', inner: heldBy('focus') }] });
    case 'Communication': return any(refersTo('sender', refs), refersTo('recipient', [...refs, ...party.teams]),
      { t: 'chain', code: 'part-of', targets: [{ type: 'Task', inner: task }] });
    case 'Provenance': return any(refersTo('agent', refs), { t: 'chain', code: 'target', targets: [{ type: 'Task', inner: task }] });
    case 'Encounter': return visit;
    case 'ChargeItem': return any(refersTo('enterer', refs), { t: 'chain', code: 'context', targets: [{ type: 'Encounter', inner: visit }] });
    case 'AuditEvent': return refersTo('agent', refs);
    default: return BOUND.has(resourceType) ? NOTHING : undefined;
  }
}

function query(resourceType: string, predicates: Predicate[], count = 1000): ParsedSearch {
  return { resourceType, predicates, sort: [], count, offset: 0, total: 'none', include: [], revinclude: [] };
}

/** Resolves the party of a user from the directory (three indexed searches). */
export async function resolveParty(principal: Principal, storage: Storage): Promise<Party> {
  const start = [principal.fhirUser, principal.role].filter((r): r is string => !!r && /^(Practitioner|PractitionerRole)\//.test(r));
  const practitioners = new Set(start.filter((r) => r.startsWith('Practitioner/')));
  const roleIds = start.filter((r) => r.startsWith('PractitionerRole/')).map((r) => r.slice('PractitionerRole/'.length));
  const named = roleIds.length > 0 ? (await storage.resources.search(query('PractitionerRole', [{ t: 'id', ids: roleIds }]))).resources as PractitionerRole[] : [];
  for (const r of named) if (r.practitioner?.reference) practitioners.add(r.practitioner.reference);
  const roles = practitioners.size > 0
    ? (await storage.resources.search(query('PractitionerRole', [refersTo('practitioner', [...practitioners])]))).resources as PractitionerRole[]
    : [];
  const refs = new Set<string>([...practitioners, ...roleIds.map((id) => `PractitionerRole/${id}`), ...roles.map((r) => `PractitionerRole/${r.id}`)]);
  const teams = refs.size > 0
    ? (await storage.resources.search(query('CareTeam', [refersTo('participant', [...refs])]))).resources.map((t) => `CareTeam/${t.id}`)
    : [];
  const current = [...named, ...roles].find((r) => `PractitionerRole/${r.id}` === principal.role);
  const adminOrgs = current && current.active !== false && current.organization?.reference
    && (current.code ?? []).some((c) => (c.coding ?? []).some((k) => k.system === TELEO_ROLE_SYSTEM && ADMIN_CODES.has(k.code ?? '')))
    ? [current.organization.reference] : [];
  return { refs: [...refs], teams, adminOrgs };
}

/** Subscriptions whose recorded owner (sub and iss) is the principal: sub AND iss, written as NOT (NOT sub OR NOT iss). */
function ownedBy(principal: Principal): Predicate {
  return { t: 'not', inner: { t: 'or', preds: [
    { t: 'not', inner: { t: 'token', code: 'owner-sub', value: principal.sub } },
    { t: 'not', inner: { t: 'token', code: 'owner-iss', value: principal.iss } },
  ] } };
}

/** Whether the principal acts for a user (user/ scopes) rather than as a platform or integration client (system/). */
function isUserScoped(principal: Principal, resourceType: string): boolean {
  return !principal.scopes.some((s) => {
    const m = /^system\/([A-Za-z]+|\*)\./.exec(s);
    return !!m && (m[1] === '*' || m[1] === resourceType);
  });
}

/**
 * Parties are cached per principal until a directory resource (PractitionerRole, CareTeam, Practitioner) is
 * written in this process (the afterWrite hook clears the cache), and for at most `ttlMs` otherwise.
 */
export function createDossierVisibility(registry: SearchRegistry, options: { ttlMs?: number } = {}): VisibilityFilter {
  const missing = REQUIRED_PARAMS.filter(([type, code]) => !registry.get(type, code)).map(([type, code]) => `${type}.${code}`);
  if (missing.length > 0) {
    throw new Error(`Dossier visibility needs the search parameters ${missing.join(', ')} (profiles/SearchParameter-*.json): is PROFILES_DIR right?`);
  }
  const ttl = options.ttlMs ?? 5_000;
  const cache = new Map<string, { party: Promise<Party>; at: number }>();
  const party = (principal: Principal, storage: Storage): Promise<Party> => {
    const key = `${principal.iss}|${principal.sub}|${principal.fhirUser ?? ''}|${principal.role ?? ''}`;
    let hit = cache.get(key);
    if (!hit || Date.now() - hit.at > ttl) {
      hit = { party: resolveParty(principal, storage), at: Date.now() };
      cache.set(key, hit);
      hit.party.catch(() => cache.delete(key));
      if (cache.size > 10_000) cache.delete(cache.keys().next().value as string);
    }
    return hit.party;
  };
  return {
    party,
    async filter(principal, resourceType, storage) {
      if (!BOUND.has(resourceType) && resourceType !== 'AuditEvent' && resourceType !== 'Subscription') return undefined;
      if (!isUserScoped(principal, resourceType)) return undefined;
      // A user's Subscriptions are theirs alone (their criteria and channel headers included).
      if (resourceType === 'Subscription') return ownedBy(principal);
      return dossierPredicate(resourceType, await party(principal, storage));
    },
    async afterWrite(_tx, _ctx, event) {
      if (DIRECTORY_TYPES.has(event.resource.resourceType)) cache.clear();
    },
  };
}
