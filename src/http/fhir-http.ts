// FHIR R4 §3.1.0.1 HTTP conventions: content types, ETag / Last-Modified / Location, Prefer, OperationOutcome errors.
import type { NextFunction, Request, Response } from 'express';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { errors, OperationOutcomeError, statusOf } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';
import type { AuditContext } from '../workflow/audit.js';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';
export const JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json-patch+json'];

/** The authenticated caller of this request (set by the auth middleware). */
export function auditContext(res: Response): AuditContext {
  const ctx = res.locals.ctx as AuditContext | undefined;
  if (!ctx) throw errors.unauthorized();
  return ctx;
}

export function queryOf(req: Request): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const qs = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
  for (const [k, v] of new URLSearchParams(qs)) (out[k] ??= []).push(v);
  return out;
}

/** FHIR servers answer JSON; XML and other formats get 406 (R4 §3.1.0.1.10). */
export function negotiate(req: Request): void {
  const format = req.query._format;
  if (typeof format === 'string' && !/json/.test(format)) throw errors.notAcceptable(`Unsupported _format ${format}: this server speaks JSON`);
  const accept = req.headers.accept;
  // A Binary is served in its own content type to any Accept other than a FHIR format (R4 binary.html#rest).
  if (req.params.type === 'Binary' && accept && !/(application\/fhir\+xml|application\/xml\+fhir)/.test(accept)) return;
  if (accept && !/(json|\*\/\*|application\/\*)/.test(accept)) throw errors.notAcceptable(`Cannot produce ${accept}: use application/fhir+json`);
}

export function sendJson(res: Response, status: number, body: unknown): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(body));
}

export function setVersionHeaders(res: Response, r: Resource): void {
  if (r.meta?.versionId) res.setHeader('ETag', `W/"${r.meta.versionId}"`);
  if (r.meta?.lastUpdated) res.setHeader('Last-Modified', new Date(r.meta.lastUpdated).toUTCString());
}

/** Answers a write per `Prefer: return=` (R4 §3.1.0.1.11): representation (default), minimal or OperationOutcome. */
export function sendWritten(req: Request, res: Response, baseUrl: string, r: Resource, status: number): void {
  setVersionHeaders(res, r);
  if (status === 201 || req.method !== 'GET') {
    res.setHeader('Location', `${baseUrl}/${r.resourceType}/${r.id}/_history/${r.meta?.versionId}`);
  }
  const prefer = String(req.headers.prefer ?? '');
  if (/return=minimal/.test(prefer)) {
    res.status(status).end();
  } else if (/return=OperationOutcome/.test(prefer)) {
    sendJson(res, status, {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'information', code: 'informational', details: { text: `${r.resourceType}/${r.id} version ${r.meta?.versionId} stored` } }],
    } satisfies OperationOutcome);
  } else {
    sendJson(res, status, r);
  }
}

/** Maps any error to an OperationOutcome once, for the whole FHIR adapter. */
export function fhirErrorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let e: OperationOutcomeError;
    const bodyError = err as { type?: string; status?: number };
    if (err instanceof OperationOutcomeError) e = err;
    else if (bodyError?.type === 'entity.parse.failed') e = errors.badRequest('Malformed JSON body');
    else if (bodyError?.type === 'entity.too.large') e = errors.payloadTooLarge('Request body too large');
    else if (bodyError?.type === 'charset.unsupported' || bodyError?.type === 'encoding.unsupported') e = errors.unsupportedMediaType('Unsupported body encoding');
    else {
      logger.error('unhandled error', { method: req.method, url: req.originalUrl, error: err instanceof Error ? err.stack : String(err) });
      e = errors.internal();
    }
    const status = statusOf(e.outcome);
    if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="fhir"');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const { id: _status, ...outcome } = e.outcome;
    sendJson(res, status, outcome);
  };
}

/** Wraps an async handler so that rejections reach the error handler. */
export function route(fn: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction): void => {
    fn(req, res).catch(next);
  };
}

/** Parses `Type?a=b&c=d` (If-None-Exist, conditional URLs) into a query record. */
export function parseQueryString(qs: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of new URLSearchParams(qs.includes('?') ? qs.slice(qs.indexOf('?') + 1) : qs)) (out[k] ??= []).push(v);
  return out;
}
