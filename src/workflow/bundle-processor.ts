// FHIR R4 §3.1.0.11 batch and transaction Bundles (http://hl7.org/fhir/R4/http.html#transaction).
import { randomUUID } from 'node:crypto';
import type { Binary, Bundle, BundleEntry, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { asOutcomeError, errors, OperationOutcomeError, statusOf } from '../kernel/errors.js';
import type { AuditContext } from './audit.js';
import type { Query, ResourceService } from './resource-service.js';
import { conditionalLockKey } from './conditional-lock.js';
import { isTemporaryId, parseEntryUrl, parseQuery, rewriteQuery, rewriteReferences, statusLine, type EntryUrl } from './bundle-references.js';

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** §3.1.0.11.2 transaction processing order: DELETE, then POST, then PUT/PATCH, then GET/HEAD. */
const ORDER: Record<Method, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

interface Entry {
  readonly index: number;
  readonly method: Method;
  readonly url: EntryUrl;
  readonly fullUrl?: string;
  /** Search or conditional criteria of request.url; rewritten when it names a transaction's fullUrl. */
  query?: Query;
  /** A copy of entry.resource (references get rewritten in it). */
  readonly resource?: Resource;
  readonly ifMatch?: string;
  readonly ifNoneExist?: Query;
  /** The JSON Patch operations of a PATCH entry. */
  readonly patch?: unknown[];
}

/** The identity an entry acts on, resolved before anything is written: its id and the resource its criteria matched. */
interface Target { id?: string; matched?: Resource }

const NO_REFERENCES: ReadonlyMap<string, string> = new Map();

export async function processBundle(svc: ResourceService, ctx: AuditContext, bundle: Bundle, options: { baseUrl: string }): Promise<Bundle> {
  const base = options.baseUrl.replace(/\/+$/, '');
  const entries = parseEnvelope(bundle, base);
  return bundle.type === 'transaction' ? runTransaction(svc, ctx, entries, base) : runBatch(svc, ctx, entries, base);
}

/** Batch: every entry on its own (in its own unit of work); a failure is reported in that entry's response. */
async function runBatch(svc: ResourceService, ctx: AuditContext, entries: Entry[], base: string): Promise<Bundle> {
  const out: BundleEntry[] = [];
  for (const e of entries) {
    try {
      out.push(await svc.transaction(async (t) => {
        for (const key of lockKeys([e])) await t.lock(key);
        return execute(t, ctx, e, await resolve(t, ctx, e, NO_REFERENCES), base);
      }));
    } catch (err) {
      const outcome = asOutcomeError(err).outcome;
      out.push({ response: { status: statusLine(statusOf(outcome)), outcome } });
    }
  }
  return { resourceType: 'Bundle', id: randomUUID(), type: 'batch-response', entry: out };
}

/** Transaction: all entries or none; temporary fullUrls become real references; the first failure fails the whole. */
async function runTransaction(svc: ResourceService, ctx: AuditContext, entries: Entry[], base: string): Promise<Bundle> {
  return svc.transaction(async (t) => {
    const references = new Map<string, string>();
    const targets: Target[] = [];
    const written = new Map<string, number>();
    // Conditional writes hold their criteria until commit (Storage.lock): two concurrent transactions matching the
    // same Patient never both create it. Taken up front in one order, so such transactions cannot deadlock.
    for (const key of lockKeys(entries)) await t.lock(key);
    for (const e of entries) {
      const target = await atEntry(e.index, () => resolve(t, ctx, e, references));
      targets[e.index] = target;
      if (e.method === 'GET' || e.method === 'HEAD' || !target.id) continue;
      const key = `${e.url.type}/${target.id}`;
      const other = written.get(key);
      if (other !== undefined) {
        throw errors.badRequest(`Bundle.entry[${e.index}]: ${key} is also the subject of Bundle.entry[${other}]`, `Bundle.entry[${e.index}]`);
      }
      written.set(key, e.index);
      if (e.fullUrl && (e.method === 'POST' || (e.method !== 'DELETE' && isTemporaryId(e.fullUrl)))) references.set(e.fullUrl, key);
    }
    for (const e of entries) {
      rewriteReferences(e.resource, references);
      rewriteReferences(e.patch, references);
      if (e.query) e.query = rewriteQuery(e.query, references);
    }
    const ordered = [...entries].sort((a, b) => ORDER[a.method] - ORDER[b.method] || a.index - b.index);
    const out: BundleEntry[] = [];
    for (const e of ordered) out[e.index] = await atEntry(e.index, () => execute(t, ctx, e, targets[e.index], base));
    return { resourceType: 'Bundle', id: randomUUID(), type: 'transaction-response', entry: out } satisfies Bundle;
  });
}

/** Resolves conditional criteria (ifNoneExist, `Type?criteria`) and assigns the ids of resources to create. */
async function resolve(t: ResourceService, ctx: AuditContext, e: Entry, references: ReadonlyMap<string, string>): Promise<Target> {
  if (e.method === 'GET' || e.method === 'HEAD') return {};
  if (e.url.id) return { id: e.url.id };
  const criteria = e.method === 'POST' ? e.ifNoneExist : e.query;
  const resolved = criteria ? rewriteQuery(criteria, references) : undefined;
  // Criteria naming another entry could not be locked up front: lock them once the reference is known.
  if (resolved && criteria && hasTemporaryValue(criteria)) await t.lock(conditionalLockKey(e.url.type, resolved));
  const matched = resolved ? await findMatch(t, ctx, e.url.type, resolved) : undefined;
  if (matched) return { id: matched.id, matched };
  if (e.method === 'POST') return { id: randomUUID() };
  // Conditional update without a match creates (with the resource's own id: update as create); delete/patch: nothing.
  if (e.method === 'PUT') return { id: e.resource?.id ?? randomUUID() };
  return {};
}

const hasTemporaryValue = (q: Query) => Object.values(q).some((vs) => vs.some(isTemporaryId));

/** The lock keys of the conditional creates/updates whose criteria are known before any entry is resolved, sorted. */
function lockKeys(entries: Entry[]): string[] {
  const keys = entries.flatMap((e) => {
    const criteria = e.method === 'POST' ? e.ifNoneExist : e.method === 'PUT' ? e.query : undefined;
    return criteria && !hasTemporaryValue(criteria) ? [conditionalLockKey(e.url.type, criteria)] : [];
  });
  return [...new Set(keys)].sort();
}

async function findMatch(t: ResourceService, ctx: AuditContext, type: string, criteria: Query): Promise<Resource | undefined> {
  if (Object.keys(criteria).length === 0) throw errors.badRequest('A conditional request needs search criteria');
  const found = await t.search(ctx, type, { ...criteria, _count: ['2'], _total: ['none'] });
  if (found.resources.length > 1) throw errors.preconditionFailed(`Conditional request matched more than one ${type}`);
  return found.resources[0];
}

async function execute(t: ResourceService, ctx: AuditContext, e: Entry, target: Target, base: string): Promise<BundleEntry> {
  const { type } = e.url;
  const ifMatch = e.ifMatch ? { ifMatch: e.ifMatch } : {};
  switch (e.method) {
    case 'POST': {
      if (target.matched) return entryOf(target.matched, 200, base, true);
      const { resource, created } = await t.create(ctx, e.resource as Resource, { id: target.id });
      return entryOf(resource, created ? 201 : 200, base, true);
    }
    case 'PUT': {
      const resource = e.resource as Resource;
      if (target.matched && resource.id && resource.id !== target.matched.id) {
        throw errors.badRequest(`Resource id ${resource.id} differs from the matched ${type}/${target.matched.id}`);
      }
      if (!e.url.id && !target.matched && !resource.id) {
        const { resource: saved } = await t.create(ctx, resource, { id: target.id });
        return entryOf(saved, 201, base, true);
      }
      const { resource: saved, created } = await t.update(ctx, { ...resource, id: target.id }, ifMatch);
      return entryOf(saved, created ? 201 : 200, base, true);
    }
    case 'PATCH': {
      if (!target.id) throw errors.notFound(`No ${type} matches the PATCH criteria`);
      return entryOf(await t.patch(ctx, type, target.id, e.patch, ifMatch), 200, base, true);
    }
    case 'DELETE':
      if (target.id) await t.delete(ctx, type, target.id, ifMatch);
      return { response: { status: statusLine(204) } };
    default:
      return read(t, ctx, e, base);
  }
}

async function read(t: ResourceService, ctx: AuditContext, e: Entry, base: string): Promise<BundleEntry> {
  const { type, id, versionId } = e.url;
  const withBody = e.method === 'GET';
  if (id) {
    const resource = versionId ? await t.vread(ctx, type, id, versionId) : await t.read(ctx, type, id);
    return entryOf(resource, 200, base, false, withBody);
  }
  const query = e.query ?? {};
  const found = await t.search(ctx, type, query);
  const qs = new URLSearchParams(Object.entries(query).flatMap(([k, vs]) => vs.map((v) => [k, v]))).toString();
  const searchset: Bundle = {
    resourceType: 'Bundle', id: randomUUID(), type: 'searchset',
    ...(found.total !== undefined ? { total: found.total } : {}),
    link: [{ relation: 'self', url: `${base}/${type}${qs ? `?${qs}` : ''}` }],
    entry: [
      ...found.resources.map((r) => ({ fullUrl: `${base}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'match' as const } })),
      ...found.included.map((r) => ({ fullUrl: `${base}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'include' as const } })),
    ],
  };
  return { ...(withBody ? { resource: searchset } : {}), response: { status: statusLine(200) } };
}

/** A response entry for one resource: status, location (writes), etag, lastModified, and the representation. */
function entryOf(r: Resource, status: number, base: string, write: boolean, withBody = true): BundleEntry {
  const vid = r.meta?.versionId;
  return {
    fullUrl: `${base}/${r.resourceType}/${r.id}`,
    ...(withBody ? { resource: r } : {}),
    response: {
      status: statusLine(status),
      ...(write ? { location: `${r.resourceType}/${r.id}${vid ? `/_history/${vid}` : ''}` } : {}),
      ...(vid ? { etag: `W/"${vid}"` } : {}),
      ...(r.meta?.lastUpdated ? { lastModified: r.meta.lastUpdated } : {}),
    },
  };
}

/** Runs one entry's step; an OperationOutcomeError is re-raised with its status, pointing at `Bundle.entry[i]`. */
async function atEntry<T>(index: number, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    const at = `Bundle.entry[${index}]`;
    const original = err.outcome.issue?.length ? err.outcome.issue : [{ severity: 'error', code: 'processing', details: { text: err.message } } satisfies OperationOutcomeIssue];
    const issue = original.map((i): OperationOutcomeIssue => ({
      ...i,
      details: { ...i.details, text: `${at}: ${i.details?.text ?? i.diagnostics ?? err.message}` },
      // `Patient.name[0]` inside the entry becomes `Bundle.entry[i].resource.name[0]`.
      expression: [at, ...(i.expression ?? []).map((x) => x.replace(/^[A-Z][A-Za-z]+(?=\.|$)/, `${at}.resource`))],
    }));
    throw new OperationOutcomeError({ resourceType: 'OperationOutcome', id: String(statusOf(err.outcome)), issue }, err);
  }
}

const METHODS = new Set<string>(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** Checks the Bundle envelope and each entry's request (400 on any problem) and parses it into entries. */
function parseEnvelope(bundle: Bundle, base: string): Entry[] {
  const b = bundle as unknown as Record<string, unknown> | null;
  if (!b || typeof b !== 'object' || b.resourceType !== 'Bundle') throw errors.badRequest('Expected a Bundle resource');
  if (b.type !== 'batch' && b.type !== 'transaction') {
    throw errors.badRequest(`Bundle.type must be batch or transaction, not ${String(b.type)}`, 'Bundle.type');
  }
  if (b.entry !== undefined && !Array.isArray(b.entry)) throw errors.badRequest('Bundle.entry must be an array', 'Bundle.entry');
  const fullUrls = new Map<string, number>();
  return ((b.entry ?? []) as unknown[]).map((raw, index): Entry => {
    const at = `Bundle.entry[${index}]`;
    const fail = (text: string, path = '') => errors.badRequest(`${at}: ${text}`, `${at}${path}`);
    if (!raw || typeof raw !== 'object') throw fail('an entry must be an object');
    const e = raw as BundleEntry;
    const req = e.request as Partial<NonNullable<BundleEntry['request']>> | undefined;
    if (!req || typeof req !== 'object') throw fail('request is required', '.request');
    if (typeof req.method !== 'string' || !METHODS.has(req.method)) throw fail(`unsupported request.method ${String(req.method)}`, '.request.method');
    if (typeof req.url !== 'string' || req.url.trim() === '') throw fail('request.url is required', '.request.url');
    const method = req.method as Method;
    const { query, ...url } = parseEntryUrl(req.url, base, `${at}.request.url`);
    const instance = !!url.id && !url.versionId && !query;
    if (method === 'POST' && (url.id || query)) throw fail(`POST needs request.url [type], not ${req.url}`, '.request.url');
    if ((method === 'PUT' || method === 'PATCH' || method === 'DELETE') && !instance && !(query && !url.id)) {
      throw fail(`${method} needs request.url [type]/[id] or [type]?[criteria], not ${req.url}`, '.request.url');
    }
    if (e.fullUrl !== undefined) {
      if (typeof e.fullUrl !== 'string') throw fail('fullUrl must be a string', '.fullUrl');
      const other = fullUrls.get(e.fullUrl);
      if (other !== undefined) throw fail(`fullUrl ${e.fullUrl} is also used by Bundle.entry[${other}]`, '.fullUrl');
      fullUrls.set(e.fullUrl, index);
    }
    const resource = e.resource && typeof e.resource === 'object' ? structuredClone(e.resource) : undefined;
    if (method === 'POST' || method === 'PUT') {
      if (!resource) throw fail(`${method} needs a resource`, '.resource');
      if (resource.resourceType !== url.type) throw fail(`resource type ${String(resource.resourceType)} does not match request.url ${req.url}`, '.resource');
      if (method === 'PUT' && url.id && resource.id && resource.id !== url.id) {
        throw fail(`resource id ${resource.id} does not match request.url ${req.url}`, '.resource.id');
      }
    }
    const patch = method === 'PATCH' ? patchOperations(resource, fail) : undefined;
    if (req.ifMatch !== undefined && typeof req.ifMatch !== 'string') throw fail('request.ifMatch must be a string', '.request.ifMatch');
    if (req.ifNoneExist !== undefined && typeof req.ifNoneExist !== 'string') throw fail('request.ifNoneExist must be a string', '.request.ifNoneExist');
    const ifNoneExist = method === 'POST' && req.ifNoneExist ? parseQuery(req.ifNoneExist.slice(req.ifNoneExist.indexOf('?') + 1)) : undefined;
    return {
      index, method, url, ...(query ? { query } : {}), ...(e.fullUrl ? { fullUrl: e.fullUrl } : {}),
      ...(resource && method !== 'PATCH' ? { resource } : {}), ...(patch ? { patch } : {}),
      ...(req.ifMatch ? { ifMatch: req.ifMatch } : {}), ...(ifNoneExist ? { ifNoneExist } : {}),
    };
  });
}

/** FHIR's convention for PATCH in a Bundle: a Binary holding the base64 JSON Patch document. FHIRPath Patch is not offered. */
function patchOperations(resource: Resource | undefined, fail: (text: string, path?: string) => OperationOutcomeError): unknown[] {
  if (resource?.resourceType === 'Parameters') throw fail('FHIRPath Patch (Parameters) is not supported: send a JSON Patch as a Binary', '.resource');
  const binary = resource as Binary | undefined;
  if (binary?.resourceType !== 'Binary' || binary.contentType?.split(';')[0].trim() !== 'application/json-patch+json' || typeof binary.data !== 'string') {
    throw fail('PATCH needs a Binary resource with contentType application/json-patch+json and base64 data', '.resource');
  }
  let ops: unknown;
  try {
    ops = JSON.parse(Buffer.from(binary.data, 'base64').toString('utf8'));
  } catch {
    throw fail('Binary.data is not a base64-encoded JSON Patch document', '.resource.data');
  }
  if (!Array.isArray(ops)) throw fail('a JSON Patch document must be an array of operations', '.resource.data');
  return ops;
}
