// FHIR R4 §3.1.0 RESTful API: the route table (data), from which Express routes and the CapabilityStatement come.
import express, { type Request, type Response, type Router } from 'express';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { errors } from '../kernel/errors.js';
import type { ResourceService } from '../workflow/resource-service.js';
import type { AuditContext } from '../workflow/audit.js';
import { processBundle } from '../workflow/bundle-processor.js';
import { historyBundle, searchBundle } from './fhir-bundles.js';
import { auditContext, JSON_TYPES, negotiate, parseQueryString, queryOf, route, sendJson, sendWritten, setVersionHeaders } from './fhir-http.js';
import type { BinaryRoutes } from './binary.js';

export type Interaction =
  | 'read' | 'vread' | 'update' | 'patch' | 'delete' | 'history-instance' | 'history-type' | 'create' | 'search-type'
  | 'transaction' | 'batch' | 'history-system' | 'conditional-create' | 'conditional-update';

export interface FhirRoute {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  interactions: Interaction[];
  handler: (req: Request, res: Response) => Promise<void>;
}

export interface FhirOperation {
  name: string;
  definition: string;
  /** 'system': invoked on the base (GET or POST [base]/$name), listed in CapabilityStatement.rest.operation. */
  level: ('system' | 'type' | 'instance')[];
  /** Resource types the operation applies to; undefined means every type. */
  types?: string[];
  /** OperationDefinition.affectsState: such operations are invoked by POST only (GET answers 405). */
  affectsState?: boolean;
  handler: (req: Request, res: Response) => Promise<void>;
}

export interface FhirRestDeps {
  svc: ResourceService;
  baseUrl: string;
  maxJsonBytes: number;
  binary: BinaryRoutes;
  searchHistoryDefaults: { defaultCount: number; maxCount: number };
  /** Operations contributed by other modules (e.g. the workflow's Task/$transition). */
  operations?: FhirOperation[];
  /** Called after a successful read by id (e.g. the workflow's read receipts); must not throw. */
  afterRead?: readonly ((ctx: AuditContext, resource: Resource) => Promise<void>)[];
}

function body(req: Request, type: string, id?: string): Resource {
  // A body in another format (XML, text…) is a 415, not a malformed request (R4 §3.1.0.1.10).
  if (req.is(['application/fhir+json', 'application/json']) === false) {
    throw errors.unsupportedMediaType(`Unsupported Content-Type ${req.headers['content-type']}: use application/fhir+json`);
  }
  const r = req.body as Resource | undefined;
  if (!r || typeof r !== 'object' || Array.isArray(r) || typeof r.resourceType !== 'string') {
    throw errors.badRequest('Body must be a FHIR resource (application/fhir+json)');
  }
  if (r.resourceType !== type) throw errors.badRequest(`Body is a ${r.resourceType}, the URL names ${type}`, 'resourceType');
  if (id !== undefined && r.id !== id) throw errors.badRequest(`Body id ${r.id ?? '(none)'} does not match URL id ${id}`, `${type}.id`);
  return r;
}

/** RFC 9110 §13.1.2 If-None-Match: `*` or a list of entity tags, compared weakly, against the current version. */
function ifNoneMatch(header: string | undefined, versionId: string | undefined): boolean {
  if (!header || !versionId) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === `"${versionId}"`);
}

export function fhirRoutes(d: FhirRestDeps): { routes: FhirRoute[]; operations: FhirOperation[] } {
  const { svc, baseUrl } = d;
  const historyQuery = (req: Request) => {
    const q = queryOf(req);
    const count = Math.min(Number(q._count?.[0] ?? d.searchHistoryDefaults.defaultCount), d.searchHistoryDefaults.maxCount);
    const offset = Number(q._offset?.[0] ?? 0);
    if (!Number.isInteger(count) || count < 0 || !Number.isInteger(offset) || offset < 0) throw errors.badRequest('_count and _offset must be non-negative integers');
    const since = q._since?.[0];
    if (since && Number.isNaN(Date.parse(since))) throw errors.badRequest(`Invalid _since: ${since}`);
    return { q, count, offset, since };
  };
  const history = async (req: Request, res: Response, type?: string, id?: string) => {
    const { q, count, offset, since } = historyQuery(req);
    const h = await svc.history(auditContext(res), type, id, { count, offset, since });
    if (id && h.total === 0) throw errors.notFound(`${type}/${id} not found`);
    const path = id ? `/${type}/${id}/_history` : type ? `/${type}/_history` : '/_history';
    sendJson(res, 200, historyBundle(baseUrl, path, q, h.entries, h.total, offset, count));
  };
  const search = async (req: Request, res: Response, query: Record<string, string[]>) => {
    const type = req.params.type;
    const lenient = /handling=lenient/.test(String(req.headers.prefer ?? ''));
    const result = await svc.search(auditContext(res), type, query, { lenient });
    sendJson(res, 200, searchBundle(baseUrl, type, query, result));
  };

  const operations: FhirOperation[] = [{
    name: 'validate',
    definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate',
    level: ['type', 'instance'],
    handler: async (req, res) => {
      auditContext(res);
      let resource = req.body as Resource;
      let profile: string | undefined;
      if (resource?.resourceType === 'Parameters') {
        const params = (resource as unknown as { parameter?: { name: string; resource?: Resource; valueUri?: string; valueCanonical?: string }[] }).parameter ?? [];
        resource = params.find((p) => p.name === 'resource')?.resource as Resource;
        profile = params.find((p) => p.name === 'profile')?.valueUri ?? params.find((p) => p.name === 'profile')?.valueCanonical;
      }
      profile ??= typeof req.query.profile === 'string' ? req.query.profile : undefined;
      if (!resource || resource.resourceType !== req.params.type) throw errors.badRequest(`$validate needs a ${req.params.type} resource`);
      const issues = svc.validate(resource, profile ? [profile] : undefined);
      sendJson(res, 200, {
        resourceType: 'OperationOutcome',
        issue: issues.length ? issues : [{ severity: 'information', code: 'informational', details: { text: 'Validation successful' } }],
      });
    },
  }];
  operations.push(...(d.operations ?? []));
  const operation = async (req: Request, res: Response, name: string) => {
    const level = req.params.id ? 'instance' : req.params.type ? 'type' : 'system';
    const op = operations.find((o) => `$${o.name}` === name && o.level.includes(level)
      && (level === 'system' || !o.types || o.types.includes(req.params.type)));
    if (!op) throw errors.notFound(`Unknown operation ${name} on ${level === 'system' ? 'the system' : req.params.type}${level === 'instance' ? '/[id]' : ''}`);
    if (op.affectsState && req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      throw errors.methodNotAllowed(`${name} changes data: invoke it with POST`);
    }
    await op.handler(req, res);
  };

  const routes: FhirRoute[] = [
    { method: 'post', path: '/', interactions: ['transaction', 'batch'], handler: async (req, res) => {
      const bundle = req.body as Bundle;
      if (bundle?.resourceType !== 'Bundle') throw errors.badRequest('POST to the base needs a batch or transaction Bundle');
      sendJson(res, 200, await processBundle(svc, auditContext(res), bundle, { baseUrl }));
    } },
    { method: 'get', path: '/_history', interactions: ['history-system'], handler: (req, res) => history(req, res) },
    { method: 'get', path: '/:type/_history', interactions: ['history-type'], handler: (req, res) => history(req, res, req.params.type) },
    { method: 'get', path: '/:type/:id/_history', interactions: ['history-instance'], handler: (req, res) => history(req, res, req.params.type, req.params.id) },
    { method: 'get', path: '/:type/:id/_history/:vid', interactions: ['vread'], handler: async (req, res) => {
      const { type, id, vid } = req.params;
      if (type === 'Binary') return d.binary.read(req, res, vid);
      const r = await svc.vread(auditContext(res), type, id, vid);
      setVersionHeaders(res, r);
      sendJson(res, 200, r);
    } },
    { method: 'post', path: '/:type/_search', interactions: ['search-type'], handler: async (req, res) => {
      const query = queryOf(req);
      if (req.is('application/x-www-form-urlencoded')) {
        for (const [k, v] of Object.entries(req.body as Record<string, string | string[]>)) (query[k] ??= []).push(...(Array.isArray(v) ? v : [v]));
      }
      await search(req, res, query);
    } },
    { method: 'get', path: '/:type', interactions: ['search-type'], handler: (req, res) => search(req, res, queryOf(req)) },
    { method: 'post', path: '/:type', interactions: ['create', 'conditional-create'], handler: async (req, res) => {
      const type = req.params.type;
      if (type === 'Binary') return d.binary.create(req, res);
      const ifNoneExist = req.headers['if-none-exist'];
      const { resource, created } = await svc.create(auditContext(res), body(req, type),
        typeof ifNoneExist === 'string' ? { ifNoneExist: parseQueryString(ifNoneExist) } : {});
      sendWritten(req, res, baseUrl, resource, created ? 201 : 200);
    } },
    { method: 'put', path: '/:type', interactions: ['conditional-update'], handler: async (req, res) => {
      const type = req.params.type;
      const query = queryOf(req);
      const r = body(req, type);
      const ifMatch = req.headers['if-match'];
      const { resource, created } = await svc.conditionalUpdate(auditContext(res), type, query, r, { ifMatch });
      sendWritten(req, res, baseUrl, resource, created ? 201 : 200);
    } },
    { method: 'get', path: '/:type/:id', interactions: ['read'], handler: async (req, res) => {
      const { type, id } = req.params;
      if (type === 'Binary') return d.binary.read(req, res);
      const ctx = auditContext(res);
      const r = await svc.read(ctx, type, id);
      for (const hook of d.afterRead ?? []) await hook(ctx, r);
      setVersionHeaders(res, r);
      if (ifNoneMatch(req.headers['if-none-match'], r.meta?.versionId)) {
        res.status(304).end();
        return;
      }
      sendJson(res, 200, r);
    } },
    { method: 'put', path: '/:type/:id', interactions: ['update'], handler: async (req, res) => {
      const { type, id } = req.params;
      if (type === 'Binary') return d.binary.update(req, res);
      const { resource, created } = await svc.update(auditContext(res), body(req, type, id), { ifMatch: req.headers['if-match'] });
      sendWritten(req, res, baseUrl, resource, created ? 201 : 200);
    } },
    { method: 'patch', path: '/:type/:id', interactions: ['patch'], handler: async (req, res) => {
      if (!req.is('application/json-patch+json')) throw errors.unsupportedMediaType('PATCH needs application/json-patch+json');
      const { type, id } = req.params;
      const r = await svc.patch(auditContext(res), type, id, req.body, { ifMatch: req.headers['if-match'] });
      sendWritten(req, res, baseUrl, r, 200);
    } },
    { method: 'delete', path: '/:type/:id', interactions: ['delete'], handler: async (req, res) => {
      await svc.delete(auditContext(res), req.params.type, req.params.id, { ifMatch: req.headers['if-match'] });
      res.status(204).end();
    } },
  ];
  // Operations: POST [type]/$op and [type]/[id]/$op share paths with create/update patterns, so they dispatch first.
  routes.unshift(
    { method: 'get', path: '/:op([$][a-z-]+)', interactions: [], handler: (req, res) => operation(req, res, req.params.op) },
    { method: 'post', path: '/:op([$][a-z-]+)', interactions: [], handler: (req, res) => operation(req, res, req.params.op) },
    { method: 'get', path: '/:type/:op([$][a-z-]+)', interactions: [], handler: (req, res) => operation(req, res, req.params.op) },
    { method: 'post', path: '/:type/:op([$][a-z-]+)', interactions: [], handler: (req, res) => operation(req, res, req.params.op) },
    { method: 'get', path: '/:type/:id/:op([$][a-z-]+)', interactions: [], handler: (req, res) => operation(req, res, req.params.op) },
    { method: 'post', path: '/:type/:id/:op([$][a-z-]+)', interactions: [], handler: (req, res) => operation(req, res, req.params.op) },
  );
  return { routes, operations };
}

/** Registers the routes; a known path with an unregistered method is a 405, anything else under /fhir a 404. */
export function mountFhirRoutes(router: Router, routes: FhirRoute[], maxJsonBytes: number): void {
  const json = express.json({ type: JSON_TYPES, limit: maxJsonBytes, strict: true });
  const form = express.urlencoded({ extended: false, limit: maxJsonBytes });
  const parseUnlessRawBinary = (req: Request, res: Response, next: (e?: unknown) => void) => {
    // Raw Binary content (anything but a FHIR-JSON Binary, even application/json-patch+json) is streamed, never parsed.
    if (req.params.type === 'Binary' && !req.is(['application/fhir+json', 'application/json']) && (req.method === 'POST' || req.method === 'PUT')) return next();
    json(req, res, (e?: unknown) => (e ? next(e) : form(req, res, next)));
  };
  const methods = new Map<string, Set<string>>();
  for (const r of routes) {
    router[r.method](r.path, (req, res, next) => { try { negotiate(req); next(); } catch (e) { next(e); } }, parseUnlessRawBinary, route(r.handler));
    methods.set(r.path, (methods.get(r.path) ?? new Set()).add(r.method.toUpperCase()));
  }
  for (const [path, allowed] of methods) {
    router.all(path, (req, res, next) => {
      res.setHeader('Allow', [...allowed].join(', '));
      next(errors.methodNotAllowed(`${req.method} is not allowed on ${req.baseUrl}${req.path}`));
    });
  }
  router.use((req, _res, next) => next(errors.notFound(`No FHIR endpoint at ${req.method} ${req.baseUrl}${req.path}`)));
}
