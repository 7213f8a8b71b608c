// DICOM PS3.18 §10.4 Retrieve Transaction (WADO-RS): study, series and instance resources as multipart/related of
// application/dicom (§10.4.1.1.1, streamed from the blob store as stored), their metadata (§10.4.1.1.2, the DICOM JSON
// precomputed at ingest, never re-read from files) and frames (§10.4.1.1.3: native frames as byte ranges of Pixel
// Data, encapsulated ones as their fragments), with Accept negotiation per §8.7. No transcoding: a transfer syntax
// other than the stored one is 406. Bulk data other than frames is not offered (the metadata has no BulkDataURI).
import type { Request, Response } from 'express';
import type { DicomJson } from '../../imaging/dicom-json.js';
import {
  EXPLICIT_VR_BE, EXPLICIT_VR_LE, framesOf, locatePixelData, NATIVE_TRANSFER_SYNTAXES, nativeFrames, PixelDataError,
  scanEncapsulated, type ByteRange, type PixelDataPosition,
} from '../../imaging/pixel-data-offsets.js';
import { errors } from '../../kernel/errors.js';
import type { BlobStore } from '../../store/blob-store.js';
import type { IndexedInstance, InstanceIndex } from '../../store/instance-index.js';
import type { AuditContext } from '../../workflow/audit.js';
import type { StudyAccess } from '../../workflow/imaging/study-access.js';
import { acceptedRanges, DICOM_JSON, negotiateJson, negotiateParts, type PartOffer } from './media-types.js';
import { multipartRelated, sendMultipart, type RelatedPart } from './multipart-related-writer.js';

export interface WadoRsDeps {
  readonly index: InstanceIndex;
  readonly blobs: BlobStore;
  readonly access: StudyAccess;
}

/** The resource of the path: a study, one of its series, or one instance of that series. */
export interface RetrieveScope {
  readonly study: string;
  readonly series?: string;
  readonly instance?: string;
}

/** PS3.18 Table 8.7.3-5 (single frame media types) by transfer syntax; others are application/octet-stream. */
const FRAME_MEDIA_TYPE: Record<string, string> = {
  '1.2.840.10008.1.2.4.50': 'image/jpeg', '1.2.840.10008.1.2.4.51': 'image/jpeg', '1.2.840.10008.1.2.4.57': 'image/jpeg',
  '1.2.840.10008.1.2.4.70': 'image/jpeg', '1.2.840.10008.1.2.4.80': 'image/jls', '1.2.840.10008.1.2.4.81': 'image/jls',
  '1.2.840.10008.1.2.4.90': 'image/jp2', '1.2.840.10008.1.2.4.91': 'image/jp2', '1.2.840.10008.1.2.4.92': 'image/jpx',
  '1.2.840.10008.1.2.4.93': 'image/jpx', '1.2.840.10008.1.2.4.201': 'image/jphc', '1.2.840.10008.1.2.4.202': 'image/jphc',
  '1.2.840.10008.1.2.4.203': 'image/jphc', '1.2.840.10008.1.2.5': 'image/dicom-rle',
};
const OCTET_STREAM = 'application/octet-stream';
const DICOM = 'application/dicom';

const int = (json: DicomJson, tag: string, dflt: number): number => {
  const v = Number(json[tag]?.Value?.[0]);
  return Number.isInteger(v) && v > 0 ? v : dflt;
};

/** Frame numbers of a §10.4.1.1.3 frame list (`1,3,5`), each from 1. */
export function frameList(text: string): number[] {
  if (!/^\d+(,\d+)*$/.test(text)) throw errors.badRequest(`Invalid frame list "${text}": comma-separated frame numbers from 1`);
  const frames = text.split(',').map(Number);
  if (frames.some((f) => f < 1)) throw errors.badRequest(`Invalid frame list "${text}": frames are numbered from 1`);
  return frames;
}

export interface WadoRs {
  /** The instances of a scope, after the access checks; 404 when there are none. */
  instances(ctx: AuditContext, scope: RetrieveScope): Promise<IndexedInstance[]>;
  retrieve(req: Request, res: Response, ctx: AuditContext, scope: RetrieveScope, query: Record<string, string[]>): Promise<void>;
  metadata(req: Request, res: Response, ctx: AuditContext, scope: RetrieveScope, query: Record<string, string[]>): Promise<void>;
  frames(req: Request, res: Response, ctx: AuditContext, scope: Required<RetrieveScope>, frames: number[], query: Record<string, string[]>): Promise<void>;
}

export function createWadoRs(deps: WadoRsDeps, options: { frameCacheEntries?: number } = {}): WadoRs {
  const { index, blobs, access } = deps;
  /** Byte ranges of each frame by blob (a viewer asks for the frames of one file one by one). */
  const frameCache = new Map<string, ByteRange[][]>();
  const cacheSize = options.frameCacheEntries ?? 256;

  async function instances(ctx: AuditContext, scope: RetrieveScope): Promise<IndexedInstance[]> {
    access.authorize(ctx, 'read');
    await access.assertVisible(ctx, scope.study);
    let found: IndexedInstance[];
    if (scope.instance) {
      const one = await index.get(scope.instance);
      found = one && one.studyInstanceUid === scope.study && one.seriesInstanceUid === scope.series ? [one] : [];
    } else {
      found = (await index.listStudy(scope.study)).filter((i) => !scope.series || i.seriesInstanceUid === scope.series);
    }
    if (found.length === 0) {
      const what = scope.instance ? `Instance ${scope.instance}` : scope.series ? `Series ${scope.series}` : `Study ${scope.study}`;
      throw errors.notFound(`${what} not found`);
    }
    return found;
  }

  async function readRange(key: string, start: number, end: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const chunk of await blobs.get(key, { start, end: end - 1 })) parts.push(chunk as Buffer);
    return Buffer.concat(parts);
  }

  async function pixelData(i: IndexedInstance): Promise<PixelDataPosition> {
    for (let n = 64 * 1024; ; n *= 4) {
      const complete = n >= i.blobSize;
      const found = locatePixelData(await readRange(i.blobKey, 0, Math.min(n, i.blobSize)), i.transferSyntaxUid, complete);
      if (found === undefined) throw errors.notFound(`Instance ${i.sopInstanceUid} has no Pixel Data`);
      if (found !== 'more') return found;
      if (complete) throw errors.internal();
    }
  }

  async function frameRanges(i: IndexedInstance): Promise<ByteRange[][]> {
    const cached = frameCache.get(i.blobKey);
    if (cached) return cached;
    const md = i.metadata;
    const numberOfFrames = int(md, '00280008', 1);
    const position = await pixelData(i);
    let ranges: ByteRange[][];
    if (position.length !== undefined) {
      if (!NATIVE_TRANSFER_SYNTAXES.has(i.transferSyntaxUid)) throw new PixelDataError('malformed', 'Pixel Data of defined length in an encapsulated transfer syntax');
      ranges = nativeFrames(position, {
        rows: int(md, '00280010', 0), columns: int(md, '00280011', 0), samplesPerPixel: int(md, '00280002', 1),
        bitsAllocated: int(md, '00280100', 0), numberOfFrames,
      }).map((r) => [r]);
    } else {
      const items = await scanEncapsulated(await blobs.get(i.blobKey, { start: position.valueOffset, end: i.blobSize - 1 }), position.valueOffset);
      ranges = framesOf(items, numberOfFrames);
    }
    if (frameCache.size >= cacheSize) frameCache.delete(frameCache.keys().next().value as string);
    frameCache.set(i.blobKey, ranges);
    return ranges;
  }

  function frameOffers(i: IndexedInstance): PartOffer[] {
    const ts = i.transferSyntaxUid;
    if (NATIVE_TRANSFER_SYNTAXES.has(ts)) {
      // Native frames are sent as little endian bytes: Explicit VR Little Endian, the same bytes as implicit VR.
      return [{ partType: OCTET_STREAM, transferSyntax: EXPLICIT_VR_LE, isDefault: true }, { partType: OCTET_STREAM, transferSyntax: ts, isDefault: false }];
    }
    const type = FRAME_MEDIA_TYPE[ts] ?? OCTET_STREAM;
    return [{ partType: type, transferSyntax: ts, isDefault: true }, ...(type === OCTET_STREAM ? [] : [{ partType: OCTET_STREAM, transferSyntax: ts, isDefault: false }])];
  }

  return {
    instances,

    async retrieve(req, res, ctx, scope, query) {
      const found = await instances(ctx, scope);
      const offers = found.map((i) => [{ partType: DICOM, transferSyntax: i.transferSyntaxUid, isDefault: true }]);
      negotiateParts(acceptedRanges(query, req.headers.accept), offers, DICOM);
      await access.audit(ctx, { kind: 'transfer', studies: [scope.study], instances: found.map((i) => i.sopInstanceUid), request: req.originalUrl });
      const parts: RelatedPart[] = found.map((i) => ({
        headers: { 'Content-Type': `${DICOM}; transfer-syntax=${i.transferSyntaxUid}` },
        length: i.blobSize,
        body: () => blobs.get(i.blobKey),
      }));
      await sendMultipart(res, multipartRelated(DICOM), parts);
    },

    async metadata(req, res, ctx, scope, query) {
      negotiateJson(acceptedRanges(query, req.headers.accept));
      let texts: string[];
      if (scope.instance) {
        texts = (await instances(ctx, scope)).map((i) => JSON.stringify(i.metadata));
      } else {
        access.authorize(ctx, 'read');
        await access.assertVisible(ctx, scope.study);
        // The stored DICOM JSON texts, joined: no instance is parsed or re-serialised.
        texts = await index.studyMetadata(scope.study, scope.series);
        if (texts.length === 0) throw errors.notFound(`${scope.series ? `Series ${scope.series}` : `Study ${scope.study}`} not found`);
      }
      await access.audit(ctx, { kind: 'metadata', studies: [scope.study], ...(scope.instance ? { instances: [scope.instance] } : {}), request: req.originalUrl });
      res.status(200).set('Content-Type', DICOM_JSON).send(`[${texts.join(',')}]`);
    },

    async frames(req, res, ctx, scope, numbers, query) {
      const [instance] = await instances(ctx, scope);
      if (instance.transferSyntaxUid === EXPLICIT_VR_BE) throw errors.notAcceptable('Frames of Explicit VR Big Endian instances are not served (no byte swapping here)');
      let ranges: ByteRange[][];
      try {
        ranges = await frameRanges(instance);
      } catch (e) {
        if (!(e instanceof PixelDataError)) throw e;
        throw e.kind === 'unsupported' ? errors.notAcceptable(e.message) : errors.unprocessable(`Instance ${instance.sopInstanceUid}: ${e.message}`);
      }
      const missing = numbers.filter((n) => n > ranges.length);
      if (missing.length > 0) throw errors.notFound(`Frame ${missing.join(',')} not in instance ${instance.sopInstanceUid} of ${ranges.length} frame(s)`);
      const offers = frameOffers(instance);
      const [chosen] = negotiateParts(acceptedRanges(query, req.headers.accept), [offers], offers[0].partType);
      await access.audit(ctx, { kind: 'transfer', studies: [scope.study], instances: [instance.sopInstanceUid], request: req.originalUrl });
      const parts: RelatedPart[] = numbers.map((n) => {
        const pieces = ranges[n - 1];
        return {
          headers: { 'Content-Type': `${chosen.partType}; transfer-syntax=${chosen.transferSyntax}` },
          length: pieces.reduce((s, r) => s + r.end - r.start, 0),
          body: async () => (async function* () {
            for (const r of pieces) if (r.end > r.start) yield* await blobs.get(instance.blobKey, { start: r.start, end: r.end - 1 });
          })(),
        };
      });
      await sendMultipart(res, multipartRelated(chosen.partType), parts);
    },
  };
}
