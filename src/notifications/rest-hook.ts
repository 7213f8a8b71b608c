// FHIR R4 Subscription rest-hook channel (subscription.html §2.46.7.1), signed with HMAC-SHA256 (RFC 2104).
//
// - no channel.payload: POST <endpoint> with an empty body (a ping: the subscriber searches for what changed);
// - payload, full-resource (default): PUT <endpoint>/<type>/<id> with the resource, in the payload's mime type;
// - payload, id-only (backport extension): POST <endpoint> with a history Bundle naming the resource's fullUrl.
// Every request carries channel.header, X-Teleo-Subscription and, when a secret is configured for the endpoint or
// the Subscription, X-Teleo-Signature: sha256=<hex HMAC-SHA256(secret, raw body bytes)>.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Bundle, Resource, Subscription } from '@medplum/fhirtypes';
import { channelHeaders, payloadContentOf } from './subscription-model.js';

export const SIGNATURE_HEADER = 'X-Teleo-Signature';
export const SUBSCRIPTION_HEADER = 'X-Teleo-Subscription';

export function sign(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** What a receiver does: recompute the HMAC over the raw body and compare in constant time. */
export function verifySignature(secret: string, body: string | Buffer, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(sign(secret, body));
  const got = Buffer.from(header);
  return expected.length === got.length && timingSafeEqual(expected, got);
}

/**
 * The secret for a Subscription: configured under `Subscription/<id>`, else under the longest prefix of its endpoint
 * (e.g. `https://dpi.chu.example/hooks/`). Secrets live in configuration, never in the Subscription.
 */
export function secretFor(secrets: Readonly<Record<string, string>>, sub: Subscription): string | undefined {
  const own = sub.id ? secrets[`Subscription/${sub.id}`] : undefined;
  if (own) return own;
  const endpoint = sub.channel?.endpoint ?? '';
  let best: string | undefined;
  for (const key of Object.keys(secrets)) {
    if (!key.startsWith('Subscription/') && endpoint.startsWith(key) && (!best || key.length > best.length)) best = key;
  }
  return best ? secrets[best] : undefined;
}

export interface RestHookRequest { method: 'POST' | 'PUT'; url: string; headers: Record<string, string>; body: string }

/** The HTTP request notifying `sub` about `resource` (the version the subscriber may see). */
export function restHookRequest(sub: Subscription, resource: Resource, opts: { baseUrl: string; secret?: string }): RestHookRequest {
  const endpoint = (sub.channel?.endpoint ?? '').replace(/\/$/, '');
  const headers: Record<string, string> = { ...channelHeaders(sub), [SUBSCRIPTION_HEADER]: `Subscription/${sub.id}` };
  let method: RestHookRequest['method'] = 'POST';
  let url = endpoint;
  let body = '';
  switch (payloadContentOf(sub)) {
    case 'full-resource':
      method = 'PUT';
      url = `${endpoint}/${resource.resourceType}/${resource.id}`;
      body = JSON.stringify(resource);
      headers['Content-Type'] = sub.channel?.payload ?? 'application/fhir+json';
      break;
    case 'id-only': {
      const bundle: Bundle = {
        resourceType: 'Bundle', type: 'history', timestamp: new Date().toISOString(),
        entry: [{ fullUrl: `${opts.baseUrl}/${resource.resourceType}/${resource.id}`,
          request: { method: resource.meta?.versionId === '1' ? 'POST' : 'PUT', url: `${resource.resourceType}/${resource.id}` } }],
      };
      body = JSON.stringify(bundle);
      headers['Content-Type'] = sub.channel?.payload ?? 'application/fhir+json';
      break;
    }
    case 'empty':
      break;
  }
  if (opts.secret) headers[SIGNATURE_HEADER] = sign(opts.secret, body);
  return { method, url, headers, body };
}

/** Sends the request; resolves on 2xx, throws (the delivery job retries) on anything else. */
export async function sendRestHook(req: RestHookRequest, timeoutMs: number): Promise<void> {
  let res: Response;
  try {
    res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body === '' && req.method === 'POST' ? '' : req.body,
      signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`rest-hook ${req.method} ${req.url}: ${cause?.code ?? cause?.message ?? (e as Error).name}`);
  }
  await res.arrayBuffer().catch(() => undefined);
  if (res.status < 200 || res.status >= 300) throw new Error(`rest-hook ${req.method} ${req.url}: HTTP ${res.status}`);
}
