// DICOM PS3.18 read services over HTTP: QIDO-RS (§10.6), WADO-RS (§10.4, all but rendered and thumbnails) and
// WADO-URI (§9, at the router's root), for authenticated callers (the app sets `res.locals.ctx`). Mounted at
// `/dicomweb` and `/wado`; routes it does not know fall through to the other routers of the same path.
import { Router, type Request, type Response } from 'express';
import type { BlobStore } from '../../store/blob-store.js';
import type { InstanceIndex } from '../../store/instance-index.js';
import type { StudyAccess } from '../../workflow/imaging/study-access.js';
import { auditContext, queryOf, route } from '../fhir-http.js';
import { acceptedRanges, DICOM_JSON, negotiateJson } from './media-types.js';
import { searchQido, type QidoScope } from './qido-rs.js';
import { createWadoRs, frameList, type RetrieveScope } from './wado-rs.js';
import { serveWadoUri, type WadoUriRenderer } from './wado-uri.js';

export interface DicomwebReadDeps {
  readonly index: InstanceIndex;
  readonly blobs: BlobStore;
  readonly access: StudyAccess;
  /** Our DICOMweb base URL, for Retrieve URL (0008,1190). */
  readonly dicomwebBase: () => string;
  /** QIDO-RS matches per response at most (default 1000). */
  readonly maxResults?: number;
  /** WADO-URI rendering (image/jpeg, image/png); absent, those requests get 406. */
  readonly renderWadoUri?: WadoUriRenderer;
}

/** `Warning: 299 <agent> "<text>"` (RFC 7234 §5.5, as PS3.18 §8.3.4.5 uses it); quotes and line breaks removed. */
const warning = (text: string) => `299 teleo "${text.replace(/["\r\n]/g, "'")}"`;

const scopeOf = (req: Request): RetrieveScope => ({ study: req.params.study, series: req.params.series, instance: req.params.instance });

export function dicomwebReadRouter(deps: DicomwebReadDeps): Router {
  const router = Router();
  const wado = createWadoRs(deps);

  const qido = (scopeOf: (req: Request) => QidoScope) => route(async (req: Request, res: Response) => {
    const query = queryOf(req);
    negotiateJson(acceptedRanges(query, req.headers.accept));
    const { accept: _accept, ...rest } = query;
    const answer = await searchQido({ ...deps, maxResults: deps.maxResults }, auditContext(res), scopeOf(req), rest, req.originalUrl);
    if (answer.warnings.length > 0) res.setHeader('Warning', answer.warnings.map(warning));
    res.status(200).set('Content-Type', DICOM_JSON).send(JSON.stringify(answer.matches));
  });

  router.get('/studies', qido(() => ({ level: 'STUDY' })));
  router.get('/series', qido(() => ({ level: 'SERIES' })));
  router.get('/instances', qido(() => ({ level: 'IMAGE' })));
  router.get('/studies/:study/series', qido((req) => ({ level: 'SERIES', study: req.params.study })));
  router.get('/studies/:study/instances', qido((req) => ({ level: 'IMAGE', study: req.params.study })));
  router.get('/studies/:study/series/:series/instances', qido((req) => ({ level: 'IMAGE', study: req.params.study, series: req.params.series })));

  const instance = '/studies/:study/series/:series/instances/:instance';
  for (const path of ['/studies/:study', '/studies/:study/series/:series', instance]) {
    router.get(path, route((req, res) => wado.retrieve(req, res, auditContext(res), scopeOf(req), queryOf(req))));
    router.get(`${path}/metadata`, route((req, res) => wado.metadata(req, res, auditContext(res), scopeOf(req), queryOf(req))));
  }
  router.get(`${instance}/frames/:frames`, route(async (req, res) => {
    const { study, series, instance: sop, frames } = req.params;
    await wado.frames(req, res, auditContext(res), { study, series, instance: sop }, frameList(frames), queryOf(req));
  }));

  // WADO-URI at the root of the mount point (`/wado?requestType=WADO&…`); without requestType the request is not ours.
  router.get('/', (req, res, next) => {
    if (req.query.requestType === undefined) {
      next();
      return;
    }
    route((rq, rs) => serveWadoUri({
      wado, blobs: deps.blobs, render: deps.renderWadoUri,
      audit: (ctx, i, request) => deps.access.audit(ctx, { kind: 'transfer', studies: [i.studyInstanceUid], instances: [i.sopInstanceUid], request }),
    }, rq, rs, auditContext(rs), queryOf(rq)))(req, res, next);
  });
  return router;
}
