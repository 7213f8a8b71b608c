// FHIR R4 Subscription.status lifecycle (subscription.html §2.46.6): requested → active | error, error ⇄ active, off.
import type { Subscription } from '@medplum/fhirtypes';
import { errors, OperationOutcomeError } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';
import { SYSTEM_PRINCIPAL } from '../kernel/principal.js';
import type { SearchRegistry } from '../fhir/search-registry.js';
import type { Job } from '../store/job-queue.js';
import type { Storage } from '../store/resource-store.js';
import type { AuditContext } from '../workflow/audit.js';
import type { PrepareWrite, ResourceService, WriteGuard } from '../workflow/resource-service.js';
import { ownerRecordOf, parseCriteria, SUBSCRIPTIONS_VIA, withOwner, type ActivateJobPayload, type Criteria } from './subscription-model.js';

export const SUPPORTED_CHANNELS = ['rest-hook', 'websocket'] as const;
const PAYLOAD_TYPES = new Set(['application/fhir+json', 'application/json']);

/** The platform acting on Subscriptions: its writes are the only ones that may set status active or error. */
export const SUBSCRIPTIONS_CTX: AuditContext = { principal: SYSTEM_PRINCIPAL, via: SUBSCRIPTIONS_VIA };

/** Why the platform cannot serve this Subscription (criteria or channel), or undefined when it can. */
export function subscriptionProblem(registry: SearchRegistry, sub: Subscription): string | undefined {
  try {
    parseCriteria(registry, sub.criteria);
  } catch (e) {
    return e instanceof OperationOutcomeError ? e.outcome.issue?.[0]?.details?.text ?? 'invalid criteria' : 'invalid criteria';
  }
  return channelProblem(sub);
}

/** Why the platform cannot serve the channel of this Subscription, or undefined when it can. */
export function channelProblem(sub: Subscription): string | undefined {
  const type = sub.channel?.type;
  if (!type || !(SUPPORTED_CHANNELS as readonly string[]).includes(type)) {
    return `Subscription.channel.type '${type}' is not supported (supported: ${SUPPORTED_CHANNELS.join(', ')})`;
  }
  if (sub.channel?.payload && !PAYLOAD_TYPES.has(sub.channel.payload.split(';')[0].trim())) {
    return `Subscription.channel.payload '${sub.channel.payload}' is not supported (application/fhir+json)`;
  }
  if (type === 'rest-hook') {
    let url: URL | undefined;
    try { url = new URL(sub.channel?.endpoint ?? ''); } catch { url = undefined; }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return 'Subscription.channel.endpoint must be an http(s) URL for a rest-hook';
  }
  return undefined;
}

/**
 * Clients create and update Subscriptions in status `requested` (or `off` to stop one); `active` and `error` are
 * the server's to set (R4 §2.46.6), through writes made with via = 'subscriptions'.
 */
/**
 * The owner of a Subscription is recorded when a client writes it (not by the client: any owner extension it sends is
 * replaced): a user sees only the Subscriptions recorded as theirs, from the create response on.
 */
export function recordSubscriptionOwner(): PrepareWrite {
  return (ctx, _previous, next) => {
    if (next.resourceType !== 'Subscription' || ctx.via === SUBSCRIPTIONS_VIA) return next;
    return withOwner(next as Subscription, ownerRecordOf(ctx.principal));
  };
}

export function createSubscriptionGuard(): WriteGuard {
  return (ctx, _previous, next) => {
    if (next.resourceType !== 'Subscription' || ctx.via === SUBSCRIPTIONS_VIA) return;
    const status = (next as Subscription).status;
    if (status !== 'requested' && status !== 'off') {
      throw errors.businessRule(`Subscription.status '${status}' is set by the server: submit 'requested' (or 'off' to stop notifications)`);
    }
  };
}

export interface LifecycleDeps {
  svc: ResourceService;
  storage: Storage;
  registry: SearchRegistry;
  logger: Logger;
}

/** Reads the current Subscription as the platform (configuration, not patient data); undefined when absent/deleted. */
export async function currentSubscription(storage: Storage, id: string): Promise<Subscription | undefined> {
  try {
    return await storage.resources.read<Subscription>('Subscription', id);
  } catch (e) {
    if (e instanceof OperationOutcomeError && ['404', '410'].includes(String(e.outcome.id))) return undefined;
    throw e;
  }
}

/** Writes a new status (and error text) unless the Subscription changed meanwhile (412: a newer write wins). */
export async function setStatus(svc: ResourceService, sub: Subscription, status: Subscription['status'], error?: string): Promise<void> {
  const { error: _old, ...rest } = sub;
  try {
    await svc.update(SUBSCRIPTIONS_CTX, { ...rest, status, ...(error ? { error: error.slice(0, 1000) } : {}) }, { ifMatch: sub.meta?.versionId });
  } catch (e) {
    if (e instanceof OperationOutcomeError && String(e.outcome.id) === '412') return;
    throw e;
  }
}

/** subscription-activate: checks a requested Subscription, records its owner, and makes it active (or error). */
export function activationHandler(deps: LifecycleDeps): (job: Job) => Promise<void> {
  return async (job) => {
    const p = job.payload as ActivateJobPayload;
    const sub = await currentSubscription(deps.storage, p.subscription);
    if (!sub || sub.status !== 'requested' || sub.meta?.versionId !== p.version) return; // a newer version has its own job
    const problem = subscriptionProblem(deps.registry, sub);
    const ended = sub.end !== undefined && Date.parse(sub.end) <= Date.now();
    const owned = withOwner(sub, p.owner);
    await setStatus(deps.svc, owned, problem ? 'error' : ended ? 'off' : 'active', problem);
    deps.logger.info('subscription checked', { subscription: p.subscription, status: problem ? 'error' : ended ? 'off' : 'active', problem });
  };
}

/** Parsed criteria by Subscription version (a Subscription's criteria only change with a new version). */
export function criteriaCache(registry: SearchRegistry): (sub: Subscription) => Criteria | undefined {
  const cache = new Map<string, Criteria | undefined>();
  return (sub) => {
    const key = `${sub.id}/${sub.meta?.versionId}`;
    if (!cache.has(key)) {
      if (cache.size > 10_000) cache.clear();
      try { cache.set(key, parseCriteria(registry, sub.criteria)); } catch { cache.set(key, undefined); }
    }
    return cache.get(key);
  };
}
