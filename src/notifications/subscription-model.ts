// FHIR R4 Subscription (subscription.html): criteria parsing, the owner extension, job types and payloads.
import type { Extension, Subscription } from '@medplum/fhirtypes';
import { errors } from '../kernel/errors.js';
import type { Principal } from '../kernel/principal.js';
import type { SearchRegistry } from '../fhir/search-registry.js';
import { parseSearch, type ParsedSearch } from '../fhir/search-request.js';

/**
 * Subscription extension written by the server when it activates a Subscription: the principal that requested it
 * (sub-extensions sub, iss, fhirUser, role, scope). Notifications only carry what this principal may read.
 */
export const SUBSCRIPTION_OWNER_URL = 'https://teleo.fr/fhir/StructureDefinition/subscription-owner';
/** R4 backport: Subscription.channel.payload extension choosing empty | id-only | full-resource. */
export const PAYLOAD_CONTENT_URL = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content';
/** CapabilityStatement.rest extension advertising the websocket URL (R4 subscription.html#2.46.7.2). */
export const CAPABILITY_WEBSOCKET_URL = 'http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket';

/** AuditContext.via of the writes the notifications module makes (Subscription status, Communications). */
export const SUBSCRIPTIONS_VIA = 'subscriptions';

/** Job types. */
export const SUBSCRIPTION_ACTIVATE_JOB = 'subscription-activate';
export const SUBSCRIPTION_MATCH_JOB = 'subscription-match';
export const SUBSCRIPTION_DELIVER_JOB = 'subscription-deliver';

export interface ActivateJobPayload extends Record<string, unknown> {
  subscription: string;
  version: string;
  owner: OwnerRecord;
}

export interface MatchJobPayload extends Record<string, unknown> {
  /** `Type/id/_history/v` of the written version. */
  resource: string;
  /** The written version itself (the criteria apply to it, R4 §2.46.5). */
  content?: Record<string, unknown>;
}

export interface DeliverJobPayload extends Record<string, unknown> {
  subscription: string;
  /** `Type/id/_history/v` of the version that matched. */
  resource: string;
}

/** What is kept of the requesting principal: enough to read as them later (scopes included). */
export interface OwnerRecord extends Record<string, unknown> {
  sub: string;
  iss: string;
  fhirUser?: string;
  role?: string;
  scopes: string[];
}

export const ownerRecordOf = (p: Principal): OwnerRecord => ({
  sub: p.sub, iss: p.iss, scopes: [...p.scopes], ...(p.fhirUser ? { fhirUser: p.fhirUser } : {}), ...(p.role ? { role: p.role } : {}),
});

export function ownerExtension(owner: OwnerRecord): Extension {
  return {
    url: SUBSCRIPTION_OWNER_URL,
    extension: [
      { url: 'sub', valueString: owner.sub },
      { url: 'iss', valueString: owner.iss },
      ...(owner.fhirUser ? [{ url: 'fhirUser', valueString: owner.fhirUser }] : []),
      ...(owner.role ? [{ url: 'role', valueString: owner.role }] : []),
      ...(owner.scopes.length ? [{ url: 'scope', valueString: owner.scopes.join(' ') }] : []),
    ],
  };
}

/** The principal recorded on an activated Subscription, or undefined (never activated). */
export function ownerOf(sub: Subscription): Principal | undefined {
  const ext = sub.extension?.find((e) => e.url === SUBSCRIPTION_OWNER_URL);
  const get = (k: string) => ext?.extension?.find((e) => e.url === k)?.valueString;
  const s = get('sub');
  const iss = get('iss');
  if (!s || !iss) return undefined;
  return { sub: s, iss, fhirUser: get('fhirUser'), role: get('role'), scopes: (get('scope') ?? '').split(' ').filter(Boolean) };
}

export const sameOwner = (a: Principal | undefined, b: Principal): boolean => !!a && a.sub === b.sub && a.iss === b.iss;

/** The Subscription with its owner extension replaced. */
export function withOwner(sub: Subscription, owner: OwnerRecord): Subscription {
  return { ...sub, extension: [...(sub.extension ?? []).filter((e) => e.url !== SUBSCRIPTION_OWNER_URL), ownerExtension(owner)] };
}

export interface Criteria {
  readonly type: string;
  readonly query: Record<string, string[]>;
  readonly parsed: ParsedSearch;
}

/**
 * R4 criteria: `Type?search` with the meaning it would have appended to the base (§2.46.5). Parsed strictly by the
 * platform's search parser: an unknown parameter or a bad value is an error (the Subscription goes to `error`).
 */
export function parseCriteria(registry: SearchRegistry, criteria: string | undefined): Criteria {
  if (!criteria?.trim()) throw errors.badRequest('Subscription.criteria is required');
  const q = criteria.trim().indexOf('?');
  const type = (q < 0 ? criteria.trim() : criteria.trim().slice(0, q)).replace(/^\//, '');
  if (!/^[A-Z][A-Za-z]+$/.test(type) || !registry.has(type) || type === 'Subscription') {
    throw errors.badRequest(`Subscription.criteria: unsupported resource type '${type}'`);
  }
  const query: Record<string, string[]> = {};
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(criteria.trim().slice(q + 1))) (query[k] ??= []).push(v);
  }
  const parsed = parseSearch(registry, type, query, { defaultCount: 1, maxCount: 1 });
  if (parsed.include.length || parsed.revinclude.length) throw errors.badRequest('Subscription.criteria may not use _include or _revinclude');
  return { type, query, parsed };
}

export type PayloadContent = 'empty' | 'id-only' | 'full-resource';

/** R4: no channel.payload = no body; a mime type = the resource, unless the backport extension says id-only. */
export function payloadContentOf(sub: Subscription): PayloadContent {
  const channel = sub.channel;
  if (!channel?.payload) return 'empty';
  const code = (channel as { _payload?: { extension?: Extension[] } })._payload?.extension
    ?.find((e) => e.url === PAYLOAD_CONTENT_URL)?.valueCode;
  return code === 'empty' || code === 'id-only' ? code : 'full-resource';
}

/** Subscription.channel.header: `Name: value` strings (R4 0..*). */
export function channelHeaders(sub: Subscription): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of sub.channel?.header ?? []) {
    const i = h.indexOf(':');
    if (i > 0) out[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  return out;
}
