// DICOM PS3.18 §10.5 Store Transaction (STOW-RS): POST {base}/studies[/{study}] with a multipart/related body of
// application/dicom parts (§8.6.1.2, Part 10 files), each streamed into the store service as it arrives; the answer
// is the Store Instances Response (§10.5.3). Metadata-and-bulk-data requests (application/dicom+json|xml) are refused.
import express, { type Request, type Response, type Router } from 'express';
import type { Logger } from '../../kernel/logger.js';
import { errors } from '../../kernel/errors.js';
import { Part10FormatError, readPart10Stream } from '../../imaging/part10-stream.js';
import type { InstanceSource } from '../../store/instance-index.js';
import type { AuditContext } from '../../workflow/audit.js';
import type { InstanceStore } from '../../workflow/imaging/instance-store.js';
import type { ResourceService } from '../../workflow/resource-service.js';
import { route } from '../fhir-http.js';
import { negotiateJson, parseAccept } from './media-types.js';
import { MultipartSyntaxError, readMultipart, type MultipartPart } from './multipart-related.js';
import { FAILURE_REASON, storeInstancesResponse, type PartResult } from './store-instances-response.js';

/** The calling AE title recorded as the source of instances received by STOW-RS (InstanceSource.callingAe). */
export const STOW_RS_CALLING_AE = 'STOW-RS';

export interface StowRsDeps {
  readonly svc: Pick<ResourceService, 'authorize'>;
  readonly store: InstanceStore;
  /** Our AE title, recorded as the called AE of the instances received. */
  readonly aeTitle: string;
  /** Our DICOMweb base URL (no trailing slash), for the Retrieve URLs. */
  readonly dicomwebBase: () => string;
  readonly logger: Logger;
  /** Most parts in one request (default 100 000). */
  readonly maxParts?: number;
  /**
   * Instances whose bytes have all arrived that may still be finishing (fsync, index transaction) while the next part
   * is read (default 4): each keeps at most the store service's header buffer in memory.
   */
  readonly pipelineDepth?: number;
}

const UID = /^[0-9]+(\.[0-9]+)*$/;
const BARE_META_TYPES = new Set(['application/dicom+json', 'application/dicom+xml']);

function mediaTypeOf(header: string | undefined): { type: string; params: Record<string, string> } {
  const [type, ...params] = (header ?? '').split(';');
  return {
    type: type.trim().toLowerCase(),
    params: Object.fromEntries(params.map((p) => p.split('=')).filter((kv) => kv.length === 2)
      .map(([k, v]) => [k.trim().toLowerCase(), v.trim().replace(/^"(.*)"$/, '$1').toLowerCase()])),
  };
}

/** §10.5.1.2: the request must be multipart/related of application/dicom; anything else is refused before reading. */
function checkRequestType(header: string | undefined): void {
  const { type, params } = mediaTypeOf(header);
  if (type !== 'multipart/related') {
    throw errors.unsupportedMediaType(`STOW-RS takes multipart/related; type="application/dicom" (PS3.18 §10.5.1.2), not ${type || 'a body without Content-Type'}`);
  }
  if (params.type !== undefined && BARE_META_TYPES.has(params.type)) {
    throw errors.unsupportedMediaType(`STOW-RS of metadata and bulk data (type="${params.type}") is not supported: send Part 10 files as application/dicom parts`);
  }
  if (params.type !== undefined && params.type !== 'application/dicom') {
    throw errors.unsupportedMediaType(`multipart/related type "${params.type}" is not supported: STOW-RS parts here are application/dicom`);
  }
  if (!params.boundary) throw errors.badRequest('multipart/related Content-Type without a boundary parameter');
}

/** Iterates `source` while keeping every chunk read until `stop()`: the bytes a failed meta read consumed. */
function recording(source: AsyncIterable<Uint8Array>): { chunks: AsyncIterable<Uint8Array>; rest: AsyncIterator<Uint8Array>; kept(): Uint8Array[]; stop(): void } {
  const it = source[Symbol.asyncIterator]();
  let kept: Uint8Array[] | undefined = [];
  return {
    chunks: {
      [Symbol.asyncIterator]: () => ({
        async next() {
          const r = await it.next();
          if (!r.done) kept?.push(r.value);
          return r;
        },
      }),
    },
    rest: it,
    kept: () => kept ?? [],
    stop: () => { kept = undefined; },
  };
}

async function* concat(head: Uint8Array[], rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* head;
  for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
}

/** Calls `onEnd` once the consumer is done with `source`, however it ends. */
async function* endingWith(source: AsyncIterable<Uint8Array>, onEnd: () => void): AsyncGenerator<Uint8Array> {
  try {
    yield* source;
  } finally {
    onEnd();
  }
}

function storeFailureOf(error: unknown): { reason: number; comment: string } {
  if (error instanceof MultipartSyntaxError) return { reason: FAILURE_REASON.cannotUnderstand, comment: error.message };
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  return code === 'ENOSPC' || code === 'EDQUOT'
    ? { reason: FAILURE_REASON.outOfResources, comment: 'Out of storage space' }
    : { reason: FAILURE_REASON.processingFailure, comment: 'Processing failure' };
}

export function stowRsRouter(deps: StowRsDeps): Router {
  const { store, logger } = deps;
  const depth = Math.max(1, deps.pipelineDepth ?? 4);
  const urls = {
    study: (st: string) => `${deps.dicomwebBase()}/studies/${st}`,
    instance: (st: string, se: string, sop: string) => `${deps.dicomwebBase()}/studies/${st}/series/${se}/instances/${sop}`,
  };

  /** One part: its Part 10 meta read from the stream, then the data set streamed into the store service. */
  async function storePart(part: MultipartPart, ctx: AuditContext, source: InstanceSource, targetStudy: string | undefined, pending: Set<Promise<unknown>>, results: PartResult[]): Promise<void> {
    const slot = results.length;
    if (part.mediaType !== 'application/dicom') {
      results.push({ kind: 'other', reason: FAILURE_REASON.cannotUnderstand, comment: `part ${part.index}: ${part.mediaType || 'no Content-Type'} is not application/dicom` });
      return;
    }
    results.push({ kind: 'other', reason: FAILURE_REASON.processingFailure, comment: `part ${part.index}: not processed` });
    const rec = recording(part.body);
    let file;
    try {
      file = await readPart10Stream(rec.chunks);
      rec.stop();
    } catch (e) {
      try {
        if (!(e instanceof Part10FormatError)) throw e;
        // Not a Part 10 file: its bytes, as received, go to the quarantine, and the failure names the problem.
        const detail = `part ${part.index}: ${e.message}`;
        const rejected = await store.quarantine({ content: concat(rec.kept(), rec.rest), detail, source, actor: ctx });
        results[slot] = { kind: 'other', reason: FAILURE_REASON.cannotUnderstand, comment: rejected.detail };
        return;
      } catch (failure) {
        results.length = slot; // a broken body is reported once, by the caller
        throw failure;
      }
    }
    const { sopClassUid, sopInstanceUid, transferSyntaxUid } = file.meta;
    let consumed!: () => void;
    const allRead = new Promise<void>((resolve) => { consumed = resolve; });
    const done = store.store({
      sopClassUid, sopInstanceUid, transferSyntaxUid, source, actor: ctx, expectedStudyInstanceUid: targetStudy,
      dataset: endingWith(file.dataset, consumed),
    }).then((outcome) => {
      results[slot] = { kind: 'outcome', outcome, sopClassUid, sopInstanceUid };
    }, (error: unknown) => {
      if (!(error instanceof MultipartSyntaxError)) logger.error('STOW-RS store failed', { sopInstanceUid, error: error instanceof Error ? error.stack : String(error) });
      results[slot] = { kind: 'failed', sopClassUid, sopInstanceUid, ...storeFailureOf(error) };
    });
    pending.add(done);
    void done.finally(() => pending.delete(done));
    // The next part is read once this one's bytes are all in; its durable write and indexing go on meanwhile.
    await Promise.race([allRead, done]);
    while (pending.size >= depth) await Promise.race(pending);
  }

  async function handle(req: Request, res: Response): Promise<void> {
    const ctx = res.locals.ctx as AuditContext;
    deps.svc.authorize(ctx, 'create', 'ImagingStudy');
    checkRequestType(req.headers['content-type']);
    negotiateJson(parseAccept(req.headers.accept ? [req.headers.accept] : []));
    const targetStudy = req.params.study;
    if (targetStudy !== undefined && (!UID.test(targetStudy) || targetStudy.length > 64)) throw errors.badRequest(`Invalid Study Instance UID: ${targetStudy}`);

    const source: InstanceSource = { callingAe: STOW_RS_CALLING_AE, calledAe: deps.aeTitle, remoteAddress: ctx.remoteAddress };
    const results: PartResult[] = [];
    const pending = new Set<Promise<unknown>>();
    let broken: MultipartSyntaxError | undefined;
    try {
      // The iterator leaves the request open when we stop early: the response can still be sent.
      const body = req.iterator({ destroyOnReturn: false });
      for await (const part of readMultipart(body, req.headers['content-type'] ?? '', { maxParts: deps.maxParts ?? 100_000 })) {
        await storePart(part, ctx, source, targetStudy, pending, results);
      }
    } catch (e) {
      if (!(e instanceof MultipartSyntaxError)) {
        await Promise.allSettled([...pending]);
        // The client went away mid-body (or the listener cut the request): there is no one to answer. What was
        // stored stays stored; the part being read when the body broke was not indexed.
        if (req.destroyed) {
          logger.warn('STOW-RS request ended before its body', { parts: results.length, stored: results.filter((r) => r.kind === 'outcome').length, error: String(e) });
          return;
        }
        throw e;
      }
      broken = e;
    }
    await Promise.allSettled([...pending]);
    if (broken) {
      res.setHeader('Connection', 'close'); // the rest of the body is not read
      results.push({ kind: 'other', reason: FAILURE_REASON.cannotUnderstand, comment: `multipart body: ${broken.message}` });
    }
    if (results.length === 0) throw errors.badRequest('The multipart/related body has no part');
    const answer = storeInstancesResponse(results, urls, targetStudy);
    // §10.5.3.1: nothing stored because of bad syntax is a 400, not a conflict.
    if (broken && answer.status === 409) throw errors.badRequest(`Malformed multipart/related body: ${broken.message}`);
    res.status(answer.status).type('application/dicom+json').send(JSON.stringify(answer.body));
  }

  const router = express.Router();
  router.post('/studies', route(handle));
  router.post('/studies/:study', route(handle));
  return router;
}
