// The HTTP adapter: Express app with authentication, the FHIR REST routes, metadata and health (R4 §3.1.0).
import express, { type Express, type NextFunction, type Request, type Response, type Router } from 'express';
import { randomUUID } from 'node:crypto';
import type { CapabilityStatement } from '@medplum/fhirtypes';
import type { Logger } from '../kernel/logger.js';
import type { ResourceService } from '../workflow/resource-service.js';
import type { BlobStore } from '../store/blob-store.js';
import { buildCapabilityStatement } from '../fhir/capability-statement.js';
import type { Authenticator } from './auth/jwt-authenticator.js';
import { binaryRoutes } from './binary.js';
import { fhirErrorHandler, negotiate, sendJson } from './fhir-http.js';
import { fhirRoutes, mountFhirRoutes, type FhirOperation, type FhirRestDeps } from './fhir-rest.js';

export interface AppDeps {
  svc: ResourceService;
  blobs: BlobStore;
  authenticator: Authenticator;
  logger: Logger;
  baseUrl: string;
  maxJsonBytes: number;
  maxBinaryBytes: number;
  searchDefaults: { defaultCount: number; maxCount: number };
  profiles: Record<string, string[]>;
  version: string;
  /** Operations contributed by other modules (e.g. Task/$transition). */
  operations?: FhirOperation[];
  /** Called after each successful read by id (read receipts). */
  afterRead?: FhirRestDeps['afterRead'];
  /** Resolves when the database answers; rejects otherwise. */
  health: () => Promise<void>;
  /**
   * Other authenticated HTTP APIs (DICOMweb…), mounted at `path`: each request reaches them with `res.locals.ctx`
   * (principal, remote address, request id) set, and errors thrown become an OperationOutcome with the right status.
   */
  routers?: readonly { readonly path: string; readonly router: Router }[];
}

export function createApp(d: AppDeps): { app: Express; capabilityStatement: CapabilityStatement } {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use((req: Request, res: Response, next: NextFunction) => {
    const requestId = (typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id'].slice(0, 64)) || randomUUID();
    res.setHeader('X-Request-Id', requestId);
    res.locals.requestId = requestId;
    const start = process.hrtime.bigint();
    res.on('finish', () => d.logger.debug('http', {
      requestId, method: req.method, url: req.originalUrl, status: res.statusCode,
      ms: Number(process.hrtime.bigint() - start) / 1e6,
    }));
    next();
  });

  app.get('/healthz', (_req, res) => {
    d.health().then(() => res.json({ status: 'ok' }), () => res.status(503).json({ status: 'unavailable' }));
  });

  const binary = binaryRoutes(d.svc, d.blobs, d.baseUrl, d.maxBinaryBytes);
  const { routes, operations } = fhirRoutes({ svc: d.svc, baseUrl: d.baseUrl, maxJsonBytes: d.maxJsonBytes, binary, searchHistoryDefaults: d.searchDefaults, operations: d.operations, afterRead: d.afterRead });
  const interactions = routes.flatMap((r) => r.interactions);
  const capabilityStatement = buildCapabilityStatement(d.svc.registry, {
    typeInteractions: interactions,
    systemInteractions: interactions.filter((i) => ['transaction', 'batch', 'history-system'].includes(i)),
    operations: operations.map((o) => ({ name: o.name, definition: o.definition, types: o.types, system: o.level.every((l) => l === 'system') })),
    conditionalCreate: interactions.includes('conditional-create'),
    conditionalUpdate: interactions.includes('conditional-update'),
  }, { baseUrl: d.baseUrl, version: d.version, profiles: d.profiles });

  const fhir = express.Router();
  // The CapabilityStatement is public (R4 §3.1.0.10: clients discover security before authenticating).
  fhir.get('/metadata', (req, res, next) => {
    try {
      negotiate(req);
    } catch (e) {
      next(e);
      return;
    }
    sendJson(res, 200, capabilityStatement);
  });
  const authenticate = (req: Request, res: Response, next: NextFunction): void => {
    d.authenticator.authenticate(req.headers.authorization).then((principal) => {
      res.locals.ctx = { principal, remoteAddress: req.socket.remoteAddress, requestId: res.locals.requestId as string };
      next();
    }, next);
  };
  fhir.use(authenticate);
  mountFhirRoutes(fhir, routes, d.maxJsonBytes);
  app.use('/fhir', fhir);
  app.use('/fhir', fhirErrorHandler(d.logger));
  // Routers sharing a path are authenticated once, then tried in order.
  const byPath = new Map<string, Router[]>();
  for (const { path, router } of d.routers ?? []) byPath.set(path, [...(byPath.get(path) ?? []), router]);
  for (const [path, routers] of byPath) {
    app.use(path, authenticate, ...routers);
    app.use(path, fhirErrorHandler(d.logger));
  }
  app.use((_req: Request, res: Response) => res.status(404).json({ error: 'not found' }));
  return { app, capabilityStatement };
}
