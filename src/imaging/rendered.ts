// DICOM PS3.18 §8.3.5 (Rendered Media Types) and §9.5 / 10.4.1.1 (rendered and thumbnail resources): a frame of a
// stored instance rendered as image/jpeg or image/png — frame selection, Modality LUT, VOI LUT (`window`, else the data
// set's, else min/max), MONOCHROME1/2, RGB/YBR, viewport scaling and `quality`. Also WADO-URI's parameters (§9.1.2.4).
import sharp from 'sharp';
import { errors } from '../kernel/errors.js';
import type { DicomJson } from './dicom-json.js';
import type { PixelDecoder } from './pixel-data-decoding.js';
import { frameBytes, imageDescriptionOf } from './pixel-data-frames.js';
import { monochromeValues, rgbValues } from './photometric-interpretation.js';
import { applyViewport, parseViewportParameter, type Raster, type Viewport } from './rendered-viewport.js';
import { greyscaleTransform, parseWindowParameter, toDisplayGrey, type VoiWindow } from './voi-lut.js';

export const RENDERED_TYPES = ['image/jpeg', 'image/png'] as const;
export type RenderedMediaType = (typeof RENDERED_TYPES)[number];

export interface RenderOptions {
  readonly mediaType: RenderedMediaType;
  /** 1-based frame number (PS3.18 frame lists are 1-based). */
  readonly frame: number;
  readonly window?: VoiWindow;
  readonly viewport?: Viewport;
  /** 1–100, JPEG only. */
  readonly quality?: number;
}

/** A stored instance as the renderer needs it: the Part 10 bytes and the metadata precomputed at ingest. */
export interface StoredImage {
  readonly part10: Uint8Array;
  readonly transferSyntaxUid: string;
  readonly metadata: DicomJson;
}

export interface RenderedImage {
  readonly contentType: RenderedMediaType;
  readonly body: Buffer;
  readonly width: number;
  readonly height: number;
}

export const DEFAULT_JPEG_QUALITY = 90;
/** A thumbnail fits this box unless the request gives a viewport (PS3.18 §10.4.1.1.2 leaves the size to the server). */
export const THUMBNAIL_VIEWPORT: Viewport = { width: 128, height: 128 };

/** Renders one frame: decode, greyscale pipeline or colour conversion, viewport, encoding. */
export async function renderFrame(decoder: PixelDecoder, stored: StoredImage, o: RenderOptions): Promise<RenderedImage> {
  const image = imageDescriptionOf(stored.metadata);
  const bytes = frameBytes(stored.part10, stored.transferSyntaxUid, image, o.frame - 1);
  const decoded = await decoder.decode(bytes, stored.transferSyntaxUid, image);
  let raster: Raster;
  if (image.samplesPerPixel === 1) {
    const transform = greyscaleTransform(stored.metadata, image, decoded.photometric, o.window);
    raster = { width: image.columns, height: image.rows, channels: 1, data: toDisplayGrey(monochromeValues(decoded, image), transform) };
  } else {
    raster = { width: image.columns, height: image.rows, channels: 3, data: rgbValues(decoded, image) };
  }
  return encodeRaster(applyViewport(raster, o.viewport), o.mediaType, o.quality);
}

/**
 * Encodes an 8-bit grey or RGB raster with sharp (libvips: libjpeg-turbo/mozjpeg, libpng), on libuv's thread pool so
 * that the event loop is not held: a 512×512 JPEG takes ~2 ms there against ~25 ms in pure-JS jpeg-js.
 */
export async function encodeRaster(r: Raster, mediaType: RenderedMediaType, quality = DEFAULT_JPEG_QUALITY): Promise<RenderedImage> {
  const raw = sharp(r.data, { raw: { width: r.width, height: r.height, channels: r.channels as 1 | 3 } });
  const body = mediaType === 'image/png'
    ? await raw.png({ compressionLevel: 6 }).toBuffer()
    : await raw.jpeg({ quality, chromaSubsampling: '4:4:4' }).toBuffer();
  return { contentType: mediaType, body, width: r.width, height: r.height };
}

type Query = Readonly<Record<string, string | undefined>>;

function integerParam(q: Query, name: string, min: number, max: number): number | undefined {
  const v = q[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw errors.badRequest(`Invalid ${name} "${v}": an integer from ${min} to ${max}`);
  return n;
}

/** The rendered-resource query parameters of PS3.18 Table 8.3.5-1 (window, viewport, quality); `annotation` is ignored. */
export function renderedParameters(q: Query): Pick<RenderOptions, 'window' | 'viewport' | 'quality'> {
  return {
    ...(q.window ? { window: parseWindowParameter(q.window) } : {}),
    ...(q.viewport ? { viewport: parseViewportParameter(q.viewport) } : {}),
    ...(q.quality ? { quality: integerParam(q, 'quality', 1, 100) } : {}),
  };
}

/**
 * The media type of a rendered response from the Accept header (q-values honoured; `*\/*` and `image/*` give JPEG) or the
 * `accept` query parameter (PS3.18 §8.3.3.1), which wins; 406 when neither JPEG nor PNG is acceptable.
 */
export function negotiateRenderedType(acceptHeader: string | undefined, acceptParam?: string): RenderedMediaType {
  const accept = acceptParam || acceptHeader || '*/*';
  const ranges = accept.split(',').map((part) => {
    const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const qp = params.find((p) => p.startsWith('q='));
    return { type, q: qp ? Number(qp.slice(2)) : 1 };
  }).filter((r) => r.type && r.q > 0);
  let best: { type: RenderedMediaType; q: number } | undefined;
  for (const r of ranges) {
    const candidates: RenderedMediaType[] = r.type === '*/*' || r.type === 'image/*' ? ['image/jpeg']
      : (RENDERED_TYPES as readonly string[]).includes(r.type) ? [r.type as RenderedMediaType] : [];
    for (const type of candidates) if (!best || r.q > best.q) best = { type, q: r.q };
  }
  if (!best) throw errors.notAcceptable(`Rendered resources are available as ${RENDERED_TYPES.join(' or ')}, not "${accept}"`);
  return best.type;
}

/**
 * WADO-URI (PS3.18 §9.1.2.4, Table 9.1-1) rendering parameters for contentType image/jpeg or image/png: frameNumber,
 * rows / columns (the viewport), region (x1,y1,x2,y2 as fractions of the image), windowCenter / windowWidth,
 * imageQuality. Returns the options for renderFrame; `region` needs the image size, hence the metadata.
 */
export function wadoUriRenderOptions(q: Query, mediaType: RenderedMediaType, metadata: DicomJson): RenderOptions {
  const frame = integerParam(q, 'frameNumber', 1, 2 ** 31 - 1) ?? 1;
  const quality = integerParam(q, 'imageQuality', 1, 100);
  const rows = integerParam(q, 'rows', 1, 8192);
  const columns = integerParam(q, 'columns', 1, 8192);
  const hasC = q.windowCenter !== undefined && q.windowCenter !== '';
  const hasW = q.windowWidth !== undefined && q.windowWidth !== '';
  if (hasC !== hasW) throw errors.badRequest('windowCenter and windowWidth go together');
  const window = hasC ? parseWindowParameter(`${q.windowCenter},${q.windowWidth}`) : undefined;
  let region: Viewport['region'];
  if (q.region) {
    const f = q.region.split(',').map(Number);
    if (f.length !== 4 || f.some((x) => !Number.isFinite(x) || x < 0 || x > 1) || f[0] >= f[2] || f[1] >= f[3]) {
      throw errors.badRequest(`Invalid region "${q.region}": x1,y1,x2,y2 with 0 ≤ x1 < x2 ≤ 1 and 0 ≤ y1 < y2 ≤ 1`);
    }
    const { rows: h, columns: w } = imageDescriptionOf(metadata);
    region = { x: f[0] * w, y: f[1] * h, width: (f[2] - f[0]) * w, height: (f[3] - f[1]) * h };
  }
  let viewport: Viewport | undefined;
  if (rows || columns || region) {
    const { rows: h, columns: w } = imageDescriptionOf(metadata);
    const rw = region?.width ?? w;
    const rh = region?.height ?? h;
    // Only one of rows/columns: the other follows the aspect ratio (Table 9.1-1 "Rows" / "Columns").
    const vw = columns ?? (rows ? Math.round((rows * rw) / rh) : Math.round(rw));
    const vh = rows ?? (columns ? Math.round((columns * rh) / rw) : Math.round(rh));
    viewport = { width: Math.max(1, vw), height: Math.max(1, vh), ...(region ? { region } : {}) };
  }
  return { mediaType, frame, ...(window ? { window } : {}), ...(viewport ? { viewport } : {}), ...(quality ? { quality } : {}) };
}
