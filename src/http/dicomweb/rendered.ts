// DICOMweb rendered and thumbnail resources (PS3.18 §10.4.1.1.2 rendered instance / frames, §10.4.1.1.3 thumbnails
// of study, series, instance, frames; media types §8.3.5): JPEG by default, PNG on request (Accept or `accept`).
// Adapters translate: access and audit are the study-access service's; rendering is src/imaging/rendered.ts.
import { Router, type Request, type Response } from 'express';
import { errors } from '../../kernel/errors.js';
import type { DicomJson } from '../../imaging/dicom-json.js';
import type { PixelDecoder } from '../../imaging/pixel-data-decoding.js';
import {
  negotiateRenderedType, renderedParameters, renderFrame, THUMBNAIL_VIEWPORT, wadoUriRenderOptions,
  type RenderedImage, type RenderedMediaType, type RenderOptions,
} from '../../imaging/rendered.js';
import type { BlobStore } from '../../store/blob-store.js';
import type { IndexedInstance, InstanceIndex } from '../../store/instance-index.js';
import type { StudyAccess } from '../../workflow/imaging/study-access.js';
import { auditContext, route } from '../fhir-http.js';

export interface RenderedDeps {
  readonly access: StudyAccess;
  readonly index: InstanceIndex;
  readonly blobs: BlobStore;
  readonly decoder: PixelDecoder;
}

type Query = Record<string, string | undefined>;

async function readBlob(blobs: BlobStore, key: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of await blobs.get(key)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Renders a stored instance (no access check, no audit: the caller's). */
export async function renderInstance(deps: Pick<RenderedDeps, 'blobs' | 'decoder'>, instance: IndexedInstance, options: RenderOptions): Promise<RenderedImage> {
  const part10 = await readBlob(deps.blobs, instance.blobKey);
  return renderFrame(deps.decoder, { part10, transferSyntaxUid: instance.transferSyntaxUid, metadata: instance.metadata }, options);
}

/**
 * WADO-URI `contentType=image/jpeg|image/png` (PS3.18 §9.1.2.4): renders `instance` with the request's frameNumber,
 * rows, columns, region, windowCenter, windowWidth and imageQuality. The caller (wado-uri.ts) has found the instance,
 * checked access and audits the read. Throws OperationOutcomeError (400 bad parameter, 406 undecodable pixel data).
 */
export async function renderWadoUri(deps: Pick<RenderedDeps, 'blobs' | 'decoder'>, instance: IndexedInstance, query: Query, mediaType: RenderedMediaType): Promise<RenderedImage> {
  return renderInstance(deps, instance, wadoUriRenderOptions(query, mediaType, instance.metadata));
}

const int = (json: DicomJson, tag: string): number => {
  const v = Number(json[tag]?.Value?.[0]);
  return Number.isFinite(v) ? v : Number.MAX_SAFE_INTEGER;
};
const hasImage = (i: IndexedInstance) => !!i.metadata['7FE00010'] && int(i.metadata, '00280010') !== Number.MAX_SAFE_INTEGER;

/**
 * The instance a series or study thumbnail shows: among the image instances (of the series, or of the study's first
 * series by Series Number holding images), the middle one by Instance Number — a slice from the centre of a volume.
 */
export function representativeInstance(instances: readonly IndexedInstance[], seriesUid?: string): IndexedInstance | undefined {
  const images = instances.filter((i) => hasImage(i) && (!seriesUid || i.seriesInstanceUid === seriesUid));
  if (images.length === 0) return undefined;
  const firstSeries = seriesUid ?? [...images].sort((a, b) => int(a.metadata, '00200011') - int(b.metadata, '00200011')
    || (a.seriesInstanceUid < b.seriesInstanceUid ? -1 : 1))[0].seriesInstanceUid;
  const series = images.filter((i) => i.seriesInstanceUid === firstSeries)
    .sort((a, b) => int(a.metadata, '00200013') - int(b.metadata, '00200013') || (a.sopInstanceUid < b.sopInstanceUid ? -1 : 1));
  return series[Math.floor((series.length - 1) / 2)];
}

/** A single frame number from the path (rendered frames and frame thumbnails render one frame per response). */
function frameOf(param: string): number {
  if (!/^\d+$/.test(param) || Number(param) < 1) {
    throw errors.badRequest(`Invalid frame list "${param}": a rendered or thumbnail response holds one frame, numbered from 1`);
  }
  return Number(param);
}

function queryOf(req: Request): Query {
  const out: Query = {};
  for (const [k, v] of Object.entries(req.query)) if (typeof v === 'string') out[k] = v;
  return out;
}

export function renderedRouter(deps: RenderedDeps): Router {
  const { access, index } = deps;
  const router = Router();

  /** The instance at this path, after the access check; 404 when absent or not under this study and series. */
  async function instanceAt(req: Request, res: Response, uids: { study: string; series: string; instance: string }): Promise<IndexedInstance> {
    const ctx = auditContext(res);
    access.authorize(ctx, 'read');
    await access.assertVisible(ctx, uids.study);
    const found = await index.get(uids.instance);
    if (!found || found.studyInstanceUid !== uids.study || found.seriesInstanceUid !== uids.series) {
      throw errors.notFound(`Instance ${uids.instance} not found in series ${uids.series} of study ${uids.study}`);
    }
    return found;
  }

  async function representativeOf(req: Request, res: Response, study: string, series?: string): Promise<IndexedInstance> {
    const ctx = auditContext(res);
    access.authorize(ctx, 'read');
    await access.assertVisible(ctx, study);
    const instances = await index.listStudy(study);
    if (instances.length === 0) throw errors.notFound(`Study ${study} not found`);
    if (series && !instances.some((i) => i.seriesInstanceUid === series)) throw errors.notFound(`Series ${series} not found in study ${study}`);
    const chosen = representativeInstance(instances, series);
    if (!chosen) throw errors.notAcceptable(`The ${series ? 'series' : 'study'} holds no image to make a thumbnail of`);
    return chosen;
  }

  async function send(req: Request, res: Response, instance: IndexedInstance, options: Omit<RenderOptions, 'mediaType'>): Promise<void> {
    const q = queryOf(req);
    const mediaType = negotiateRenderedType(req.headers.accept, q.accept);
    const image = await renderInstance(deps, instance, { ...options, mediaType });
    await access.audit(auditContext(res), {
      kind: 'transfer', studies: [instance.studyInstanceUid], instances: [instance.sopInstanceUid], request: req.originalUrl,
    });
    res.status(200).set({ 'Content-Type': image.contentType, 'Cache-Control': 'private, max-age=300', Vary: 'Accept, Authorization' }).end(image.body);
  }

  const thumbnail = (q: Query): Omit<RenderOptions, 'mediaType' | 'frame'> => {
    const p = renderedParameters(q);
    return { ...p, viewport: p.viewport ?? THUMBNAIL_VIEWPORT };
  };

  const base = '/studies/:study/series/:series/instances/:instance';
  router.get(`${base}/rendered`, route(async (req, res) => {
    await send(req, res, await instanceAt(req, res, req.params as never), { frame: 1, ...renderedParameters(queryOf(req)) });
  }));
  router.get(`${base}/frames/:frames/rendered`, route(async (req, res) => {
    const frame = frameOf(req.params.frames);
    await send(req, res, await instanceAt(req, res, req.params as never), { frame, ...renderedParameters(queryOf(req)) });
  }));
  router.get(`${base}/thumbnail`, route(async (req, res) => {
    await send(req, res, await instanceAt(req, res, req.params as never), { frame: 1, ...thumbnail(queryOf(req)) });
  }));
  router.get(`${base}/frames/:frames/thumbnail`, route(async (req, res) => {
    const frame = frameOf(req.params.frames);
    await send(req, res, await instanceAt(req, res, req.params as never), { frame, ...thumbnail(queryOf(req)) });
  }));
  router.get('/studies/:study/series/:series/thumbnail', route(async (req, res) => {
    await send(req, res, await representativeOf(req, res, req.params.study, req.params.series), { frame: 1, ...thumbnail(queryOf(req)) });
  }));
  router.get('/studies/:study/thumbnail', route(async (req, res) => {
    await send(req, res, await representativeOf(req, res, req.params.study), { frame: 1, ...thumbnail(queryOf(req)) });
  }));
  return router;
}
