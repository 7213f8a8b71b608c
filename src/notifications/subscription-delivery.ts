// FHIR R4 Subscription notifications (subscription.html §2.46.5–7): every write is matched against the active
// Subscriptions by a durable job, and each match is delivered by a durable job ordered per Subscription.
import { randomUUID } from 'node:crypto';
import type { Resource, Subscription } from '@medplum/fhirtypes';
import { errors, OperationOutcomeError } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';
import type { SearchRegistry } from '../fhir/search-registry.js';
import type { Job, JobQueue } from '../store/job-queue.js';
import type { Storage } from '../store/resource-store.js';
import type { AuditContext } from '../workflow/audit.js';
import type { AfterWrite, ResourceService } from '../workflow/resource-service.js';
import { matcherFor } from './subscription-matcher.js';
import {
  ownerOf, ownerRecordOf, sameOwner, SUBSCRIPTION_ACTIVATE_JOB, SUBSCRIPTION_DELIVER_JOB, SUBSCRIPTION_MATCH_JOB, SUBSCRIPTIONS_VIA,
  type ActivateJobPayload, type DeliverJobPayload, type MatchJobPayload,
} from './subscription-model.js';
import { channelProblem, criteriaCache, currentSubscription, setStatus, SUBSCRIPTIONS_CTX } from './subscription-lifecycle.js';
import { restHookRequest, secretFor, sendRestHook } from './rest-hook.js';
import type { WebsocketChannel } from './websocket-channel.js';

export interface DeliveryDeps {
  svc: ResourceService;
  storage: Storage;
  registry: SearchRegistry;
  logger: Logger;
  baseUrl: string;
  /** HMAC secrets by `Subscription/<id>` or endpoint URL prefix. */
  secrets: Readonly<Record<string, string>>;
  /** Consecutive failed attempts of one delivery after which the Subscription shows status `error`. */
  errorAfter: number;
  restHookTimeoutMs: number;
  /** The websocket channel, once the HTTP server exists. */
  websocket?: () => WebsocketChannel | undefined;
}

/** Written versions larger than this are re-read by the match job instead of travelling in its payload. */
const MAX_INLINE_BYTES = 64 * 1024;
/** Never matched: the audit trail, and Subscriptions themselves (their writes drive the lifecycle instead). */
const UNMATCHED = new Set(['AuditEvent', 'Subscription']);

const splitVersion = (ref: string) => {
  const m = /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/.exec(ref);
  return m ? { type: m[1], id: m[2], version: m[3] } : undefined;
};
const notVisible = (e: unknown) => e instanceof OperationOutcomeError && ['403', '404', '410'].includes(String(e.outcome.id));

export function createSubscriptionDelivery(deps: DeliveryDeps) {
  const criteriaOf = criteriaCache(deps.registry);
  /** Resource types some Subscription may select (a superset: types are added on every Subscription write). */
  const subscribedTypes = new Set<string>();
  const noteType = (sub: Subscription) => {
    const type = /^\/?([A-Z][A-Za-z]+)/.exec(sub.criteria ?? '')?.[1];
    if (type) subscribedTypes.add(type);
  };

  async function liveSubscriptions(type?: string): Promise<Subscription[]> {
    const out: Subscription[] = [];
    for (let offset = 0; ; offset += 1000) {
      const page = await deps.storage.resources.search({
        resourceType: 'Subscription', sort: [{ code: '_id', descending: false, kind: 'id' }], count: 1000, offset, total: 'none', include: [], revinclude: [],
        predicates: [
          { t: 'or', preds: ['active', 'error', ...(type ? [] : ['requested'])].map((value) => ({ t: 'token' as const, code: 'status', value })) },
          ...(type ? [{ t: 'string' as const, code: 'criteria', mode: 'prefix' as const, value: type.toLowerCase() }] : []),
        ],
      });
      out.push(...(page.resources as Subscription[]));
      if (!page.hasMore) return out;
    }
  }

  const afterWrite: AfterWrite = async (tx: Storage, ctx: AuditContext, event) => {
    const r = event.resource;
    if (r.resourceType === 'Subscription') {
      const sub = r as Subscription;
      noteType(sub);
      if (event.interaction === 'delete' || ctx.via === SUBSCRIPTIONS_VIA || sub.status !== 'requested') return;
      const payload: ActivateJobPayload = { subscription: sub.id as string, version: sub.meta?.versionId as string, owner: ownerRecordOf(ctx.principal) };
      await tx.jobs.enqueue(SUBSCRIPTION_ACTIVATE_JOB, payload, { idempotencyKey: `activate#Subscription/${sub.id}/_history/${sub.meta?.versionId}` });
      return;
    }
    // R4 §2.46.5: no notification for a deletion; only types some Subscription may select.
    if (event.interaction === 'delete' || UNMATCHED.has(r.resourceType) || !subscribedTypes.has(r.resourceType)) return;
    const ref = `${r.resourceType}/${r.id}/_history/${r.meta?.versionId}`;
    const json = JSON.stringify(r);
    const payload: MatchJobPayload = { resource: ref, ...(json.length <= MAX_INLINE_BYTES ? { content: JSON.parse(json) as Record<string, unknown> } : {}) };
    await tx.jobs.enqueue(SUBSCRIPTION_MATCH_JOB, payload, { idempotencyKey: `match#${ref}` });
  };

  const enqueueDelivery = (jobs: JobQueue, subId: string, ref: string, key = `deliver#Subscription/${subId}#${ref}`) =>
    jobs.enqueue(SUBSCRIPTION_DELIVER_JOB, { subscription: subId, resource: ref } satisfies DeliverJobPayload,
      { orderingKey: `Subscription/${subId}`, idempotencyKey: key });

  /** subscription-match: the Subscriptions whose criteria select the written version get one delivery job each. */
  async function match(job: Job): Promise<void> {
    const p = job.payload as MatchJobPayload;
    const ref = splitVersion(p.resource);
    if (!ref?.version) return;
    const resource = (p.content as Resource | undefined) ?? await deps.storage.resources.vread(ref.type, ref.id, ref.version);
    const matches = matcherFor(deps.registry, resource);
    for (const sub of await liveSubscriptions(ref.type)) {
      const criteria = criteriaOf(sub);
      if (!criteria || !ownerOf(sub) || channelProblem(sub)) continue;
      let selected = matches(criteria);
      if (selected === undefined) {
        // Chains and _has: the store answers, with the criteria restricted to this resource.
        const found = await deps.svc.search(SUBSCRIPTIONS_CTX, ref.type, { ...criteria.query, _id: [ref.id], _count: ['1'] });
        selected = found.resources.length > 0;
      }
      if (selected) await enqueueDelivery(deps.svc.jobs, sub.id as string, p.resource);
    }
  }

  /** subscription-deliver: re-reads the version as the Subscription's owner (not visible → nothing sent), then sends. */
  async function deliver(job: Job): Promise<void> {
    const p = job.payload as DeliverJobPayload;
    const sub = await currentSubscription(deps.storage, p.subscription);
    if (!sub || (sub.status !== 'active' && sub.status !== 'error')) return;
    const owner = ownerOf(sub);
    const ref = splitVersion(p.resource);
    if (!owner || !ref?.version) return;
    let resource: Resource;
    try {
      resource = await deps.svc.vread({ principal: owner, via: SUBSCRIPTIONS_VIA }, ref.type, ref.id, ref.version);
    } catch (e) {
      if (notVisible(e)) {
        deps.logger.debug('notification skipped: not visible to the subscription owner', { subscription: sub.id, resource: p.resource });
        return;
      }
      throw e;
    }
    if (sub.channel?.type === 'websocket') {
      deps.websocket?.()?.notify(sub, resource);
      return;
    }
    if (sub.channel?.type !== 'rest-hook') return;
    try {
      await sendRestHook(restHookRequest(sub, resource, { baseUrl: deps.baseUrl, secret: secretFor(deps.secrets, sub) }), deps.restHookTimeoutMs);
    } catch (e) {
      if (job.attempts >= deps.errorAfter && sub.status !== 'error') {
        await setStatus(deps.svc, sub, 'error', `${new Date().toISOString()} after ${job.attempts} attempts: ${(e as Error).message}`);
      }
      throw e;
    }
    if (sub.status === 'error') await setStatus(deps.svc, sub, 'active');
  }

  /**
   * Subscription/[id]/$resend: re-enqueues the failed deliveries of the Subscription, or the notification about one
   * resource (`Type/id` or `Type/id/_history/v`). Only the Subscription's owner (or a system client) may resend.
   */
  async function resend(ctx: AuditContext, id: string, resourceRef?: string): Promise<number> {
    const sub = await deps.svc.read<Subscription>(ctx, 'Subscription', id);
    const system = ctx.principal.scopes.some((s) => s.startsWith('system/'));
    if (!system && !sameOwner(ownerOf(sub), ctx.principal)) throw errors.forbidden(`Only the owner of Subscription/${id} may resend its notifications`);
    if (sub.status !== 'active' && sub.status !== 'error') throw errors.businessRule(`Subscription/${id} is ${sub.status}: nothing is delivered`);
    if (resourceRef) {
      const ref = splitVersion(resourceRef);
      if (!ref || UNMATCHED.has(ref.type)) throw errors.badRequest(`resource must be Type/id or Type/id/_history/vid: ${resourceRef}`);
      const version = ref.version ?? (await deps.svc.read(ctx, ref.type, ref.id)).meta?.versionId;
      await enqueueDelivery(deps.svc.jobs, id, `${ref.type}/${ref.id}/_history/${version}`, `resend#${randomUUID()}`);
      return 1;
    }
    let n = 0;
    for (const failed of await deps.svc.jobs.list({ status: 'failed', type: SUBSCRIPTION_DELIVER_JOB })) {
      const fp = failed.payload as DeliverJobPayload;
      if (fp.subscription !== id) continue;
      await enqueueDelivery(deps.svc.jobs, id, fp.resource, `resend#${failed.id}`);
      n++;
    }
    return n;
  }

  return {
    afterWrite,
    handlers: { [SUBSCRIPTION_MATCH_JOB]: match, [SUBSCRIPTION_DELIVER_JOB]: deliver },
    resend,
    /** Loads the resource types of the existing Subscriptions (at start). */
    async start(): Promise<void> {
      for (const sub of await liveSubscriptions()) noteType(sub);
    },
  };
}

export type SubscriptionDelivery = ReturnType<typeof createSubscriptionDelivery>;
