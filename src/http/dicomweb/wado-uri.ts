// DICOM PS3.18 §9 URI Service (WADO-URI): `GET ?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…`, answering the
// stored Part 10 object for `contentType=application/dicom` (§9.1.2.3.1; `transferSyntax` only as stored: no
// transcoding, `anonymize` not offered), and a rendered image (image/jpeg, the default for images, or image/png,
// §9.1.2.4) through the renderer when one is configured: the one place WADO-URI rendering plugs in.
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { errors } from '../../kernel/errors.js';
import type { BlobStore } from '../../store/blob-store.js';
import type { IndexedInstance } from '../../store/instance-index.js';
import type { AuditContext } from '../../workflow/audit.js';
import type { WadoRs } from './wado-rs.js';

/** Renders an instance for WADO-URI (`query` holds frameNumber, rows, columns, region, windowCenter/Width …). */
export type WadoUriRenderer = (instance: IndexedInstance, query: Record<string, string | undefined>, mediaType: 'image/jpeg' | 'image/png')
  => Promise<{ contentType: string; body: Buffer }>;

export interface WadoUriDeps {
  readonly wado: WadoRs;
  readonly blobs: Pick<BlobStore, 'get'>;
  readonly audit: (ctx: AuditContext, instance: IndexedInstance, request: string) => Promise<void>;
  /** Renders images for contentType image/jpeg and image/png; absent, those are answered 406. */
  readonly render?: WadoUriRenderer;
}

const DICOM = 'application/dicom';
const UID = /^[0-9]+(\.[0-9]+)*$/;
/** §9.1.2.4 parameters of rendered images only: with application/dicom they are an error (Table 9.1-1 conditions). */
const RENDER_ONLY = ['annotation', 'rows', 'columns', 'region', 'windowCenter', 'windowWidth', 'frameNumber', 'imageQuality', 'presentationUID', 'presentationSeriesUID'];

/** The media type answered: the first of `contentType` (a list, §9.1.2.3) we serve; absent, the Accept header's or image/jpeg. */
function contentTypeOf(requested: string | undefined, accept: string | undefined): string {
  const list = (requested ?? '').split(',').map((s) => s.split(';')[0].trim().toLowerCase()).filter(Boolean);
  if (list.length === 0 && accept && /application\/dicom(?![+\w])/.test(accept)) return DICOM;
  const served = list.find((t) => t === DICOM || t === 'image/jpeg' || t === 'image/png' || t === '*/*' || t === 'image/*');
  if (list.length > 0 && !served) throw errors.notAcceptable(`contentType ${requested} is not served: use application/dicom, image/jpeg or image/png`);
  if (served === '*/*' || served === 'image/*' || !served) return 'image/jpeg';
  return served;
}

export async function serveWadoUri(deps: WadoUriDeps, req: Request, res: Response, ctx: AuditContext, query: Record<string, string[]>): Promise<void> {
  const q: Record<string, string | undefined> = Object.fromEntries(Object.entries(query).map(([k, v]) => [k, v[v.length - 1]]));
  if (q.requestType !== 'WADO') throw errors.badRequest(`requestType must be WADO (PS3.18 §9.1.2.1): ${q.requestType ?? 'missing'}`);
  for (const name of ['studyUID', 'seriesUID', 'objectUID'] as const) {
    const v = q[name];
    if (!v) throw errors.badRequest(`${name} is required (PS3.18 §9.1.2.1)`);
    if (!UID.test(v) || v.length > 64) throw errors.badRequest(`${name} is not a UID: ${v}`);
  }
  const contentType = contentTypeOf(q.contentType, req.headers.accept);
  const [instance] = await deps.wado.instances(ctx, { study: q.studyUID as string, series: q.seriesUID as string, instance: q.objectUID as string });
  if (contentType !== DICOM) {
    if (!deps.render) {
      throw errors.notAcceptable(`contentType ${contentType}: rendered images are not available on this server yet; ask for contentType=application/dicom`);
    }
    const image = await deps.render(instance, q, contentType as 'image/jpeg' | 'image/png');
    await deps.audit(ctx, instance, req.originalUrl);
    res.status(200).set('Content-Type', image.contentType).end(image.body);
    return;
  }
  const misplaced = RENDER_ONLY.filter((p) => q[p] !== undefined);
  if (misplaced.length > 0) throw errors.badRequest(`${misplaced.join(', ')} apply to rendered images only, not to contentType=application/dicom`);
  if (q.anonymize !== undefined) throw errors.notAcceptable('anonymize is not offered: objects are sent as stored');
  const ts = q.transferSyntax;
  if (ts !== undefined && ts !== '*' && ts !== instance.transferSyntaxUid) {
    throw errors.notAcceptable(`transferSyntax ${ts} cannot be given: the object is stored in ${instance.transferSyntaxUid} (no transcoding)`);
  }
  await deps.audit(ctx, instance, req.originalUrl);
  res.status(200).set({ 'Content-Type': DICOM, 'Content-Length': String(instance.blobSize), 'Content-Disposition': `attachment; filename="${instance.sopInstanceUid}.dcm"` });
  await pipeline(await deps.blobs.get(instance.blobKey), res);
}
