// FHIR R4 §3.1.0.11 batch/transaction: entry request URLs, query strings, and §3.1.0.11.2 resolving urn:uuid references.
import { errors } from '../kernel/errors.js';
import type { Query } from './resource-service.js';

/** `Type`, `Type?criteria`, `Type/id` or `Type/id/_history/vid`, relative to the server base. */
export interface EntryUrl {
  readonly type: string;
  readonly id?: string;
  readonly versionId?: string;
  /** Present when the URL has a query string (search or conditional criteria). */
  readonly query?: Query;
}

const TYPE_RE = /^[A-Z][A-Za-z]+$/;
const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;

/** Groups a query string (`a=1&a=2&b=3`, with or without the leading `?`) into the record the service takes. */
export function parseQuery(qs: string): Query {
  const out: Query = {};
  for (const [k, v] of new URLSearchParams(qs.startsWith('?') ? qs.slice(1) : qs)) (out[k] ??= []).push(v);
  return out;
}

/** Parses `request.url` (made relative when it starts with `baseUrl`); throws 400 with `expression` on a bad form. */
export function parseEntryUrl(raw: string, baseUrl: string, expression: string): EntryUrl {
  let url = raw.trim();
  const base = baseUrl.replace(/\/+$/, '');
  if (base && (url === base || url.startsWith(`${base}/`) || url.startsWith(`${base}?`))) url = url.slice(base.length);
  else if (/^[a-z][a-z0-9+.-]*:/i.test(url)) throw errors.badRequest(`request.url ${raw} is not on this server`, expression);
  url = url.replace(/^\/+/, '');
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? undefined : parseQuery(url.slice(q + 1));
  const parts = path.split('/').filter((p) => p !== '');
  const [type, id, history, versionId] = parts;
  const ok = !!type && TYPE_RE.test(type)
    && (parts.length === 1
      || (parts.length === 2 && ID_RE.test(id))
      || (parts.length === 4 && ID_RE.test(id) && history === '_history' && ID_RE.test(versionId)));
  if (!ok) throw errors.badRequest(`Unsupported request.url: ${raw}`, expression);
  return { type, ...(id ? { id } : {}), ...(versionId ? { versionId } : {}), ...(query ? { query } : {}) };
}

/** Whether a fullUrl is a temporary identifier that the server resolves in a transaction. */
export function isTemporaryId(fullUrl: string): boolean {
  return fullUrl.startsWith('urn:uuid:') || fullUrl.startsWith('urn:oid:');
}

/**
 * Replaces, in place, every `reference` equal to a key of `map` (fullUrl → `Type/id`) anywhere in `node`:
 * resources, nested elements, `valueReference`, contained resources, and JSON Patch operations
 * (`{ op, path: '…/reference', value: 'urn:uuid:…' }`).
 */
export function rewriteReferences(node: unknown, map: ReadonlyMap<string, string>): void {
  if (map.size === 0 || node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const item of node) rewriteReferences(item, map);
    return;
  }
  const obj = node as Record<string, unknown>;
  if (typeof obj.reference === 'string') {
    const target = map.get(obj.reference);
    if (target) obj.reference = target;
  }
  if (typeof obj.op === 'string' && typeof obj.path === 'string' && obj.path.endsWith('/reference') && typeof obj.value === 'string') {
    const target = map.get(obj.value);
    if (target) obj.value = target;
  }
  for (const [key, value] of Object.entries(obj)) {
    if (key !== 'reference' && value !== null && typeof value === 'object') rewriteReferences(value, map);
  }
}

/** A copy of `query` whose values equal to a known fullUrl are replaced by `Type/id` (e.g. `subject=urn:uuid:…`). */
export function rewriteQuery(query: Query, map: ReadonlyMap<string, string>): Query {
  if (map.size === 0) return query;
  return Object.fromEntries(Object.entries(query).map(([k, vs]) => [k, vs.map((v) => map.get(v) ?? v)]));
}

const REASONS: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 304: 'Not Modified', 400: 'Bad Request', 401: 'Unauthorized',
  403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 406: 'Not Acceptable', 409: 'Conflict', 410: 'Gone',
  412: 'Precondition Failed', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 416: 'Range Not Satisfiable',
  422: 'Unprocessable Entity', 429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented',
  503: 'Service Unavailable',
};

/** `Bundle.entry.response.status`: the HTTP status code and its reason phrase, e.g. "404 Not Found". */
export function statusLine(status: number): string {
  return REASONS[status] ? `${status} ${REASONS[status]}` : String(status);
}
