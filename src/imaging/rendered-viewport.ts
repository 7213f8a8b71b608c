// DICOM PS3.18 §8.3.5.1.3 (Viewport Scaling, `viewport=vw,vh[,sx,sy,sw,sh]`): a source region (negative sw/sh flip
// it) scaled, aspect ratio kept, to fit a vw × vh viewport. Shrinking averages the source box under each output pixel
// (no aliasing of fine CT detail); enlarging interpolates bilinearly.
import { errors } from '../kernel/errors.js';

export interface Viewport {
  readonly width: number;
  readonly height: number;
  /** Source region (top-left corner, size; a negative size flips), in source pixels. Default: the whole image. */
  readonly region?: { readonly x: number; readonly y: number; readonly width: number; readonly height: number };
}

/** Largest side of a rendered image we accept to produce (memory bound). */
const MAX_SIDE = 8192;

/** Parses `viewport`: 2 or 6 comma-separated numbers (empty sx, sy default to 0; empty sw, sh to the rest of the image). */
export function parseViewportParameter(value: string): Viewport {
  const parts = value.split(',').map((s) => s.trim());
  const bad = () => errors.badRequest(`Invalid viewport "${value}": expected vw,vh or vw,vh,sx,sy,sw,sh`);
  if (parts.length !== 2 && parts.length !== 6) throw bad();
  const [vw, vh] = parts.slice(0, 2).map(Number);
  if (!Number.isInteger(vw) || !Number.isInteger(vh) || vw < 1 || vh < 1 || vw > MAX_SIDE || vh > MAX_SIDE) {
    throw errors.badRequest(`Invalid viewport "${value}": vw and vh must be integers from 1 to ${MAX_SIDE}`);
  }
  if (parts.length === 2) return { width: vw, height: vh };
  const [sx, sy, sw, sh] = parts.slice(2).map((s) => (s === '' ? NaN : Number(s)));
  if ([sx, sy].some((n) => !Number.isNaN(n) && (!Number.isFinite(n) || n < 0)) || [sw, sh].some((n) => !Number.isNaN(n) && !Number.isFinite(n))) throw bad();
  return { width: vw, height: vh, region: { x: sx || 0, y: sy || 0, width: sw, height: sh } };
}

export interface Raster {
  readonly width: number;
  readonly height: number;
  /** 1 (grey) or 3 (RGB) bytes per pixel. */
  readonly channels: number;
  readonly data: Uint8Array;
}

/** The raster scaled to the viewport (or unchanged when no viewport is asked and no region given). */
export function applyViewport(src: Raster, vp: Viewport | undefined): Raster {
  if (!vp) return src;
  const r = vp.region;
  let sx = r?.x ?? 0;
  let sy = r?.y ?? 0;
  let sw = r && Number.isFinite(r.width) ? r.width : src.width - sx;
  let sh = r && Number.isFinite(r.height) ? r.height : src.height - sy;
  const flipX = sw < 0;
  const flipY = sh < 0;
  if (flipX) { sx += sw; sw = -sw; }
  if (flipY) { sy += sh; sh = -sh; }
  sx = Math.max(0, sx); sy = Math.max(0, sy);
  sw = Math.min(sw, src.width - sx); sh = Math.min(sh, src.height - sy);
  if (!(sw > 0 && sh > 0)) throw errors.badRequest(`The viewport's source region lies outside the ${src.width}×${src.height} image`);
  const scale = Math.min(vp.width / sw, vp.height / sh);
  const w = Math.max(1, Math.round(sw * scale));
  const h = Math.max(1, Math.round(sh * scale));
  const c = src.channels;
  const out = new Uint8Array(w * h * c);
  const at = (x: number, y: number, k: number) => src.data[(y * src.width + x) * c + k];
  for (let oy = 0; oy < h; oy++) {
    const ty = flipY ? h - 1 - oy : oy;
    const y0 = sy + (oy * sh) / h;
    const y1 = sy + ((oy + 1) * sh) / h;
    for (let ox = 0; ox < w; ox++) {
      const tx = flipX ? w - 1 - ox : ox;
      const x0 = sx + (ox * sw) / w;
      const x1 = sx + ((ox + 1) * sw) / w;
      const o = (ty * w + tx) * c;
      if (scale < 1) { // box average over the covered source pixels
        const ya = Math.floor(y0), yb = Math.max(ya + 1, Math.ceil(y1));
        const xa = Math.floor(x0), xb = Math.max(xa + 1, Math.ceil(x1));
        for (let k = 0; k < c; k++) {
          let sum = 0;
          let n = 0;
          for (let y = ya; y < yb && y < src.height; y++) for (let x = xa; x < xb && x < src.width; x++) { sum += at(x, y, k); n++; }
          out[o + k] = Math.round(sum / n);
        }
      } else { // bilinear at the output pixel's centre
        const fx = Math.min(Math.max((x0 + x1) / 2 - 0.5, 0), src.width - 1);
        const fy = Math.min(Math.max((y0 + y1) / 2 - 0.5, 0), src.height - 1);
        const xi = Math.floor(fx), yi = Math.floor(fy);
        const xj = Math.min(xi + 1, src.width - 1), yj = Math.min(yi + 1, src.height - 1);
        const dx = fx - xi, dy = fy - yi;
        for (let k = 0; k < c; k++) {
          const top = at(xi, yi, k) * (1 - dx) + at(xj, yi, k) * dx;
          const bottom = at(xi, yj, k) * (1 - dx) + at(xj, yj, k) * dx;
          out[o + k] = Math.round(top * (1 - dy) + bottom * dy);
        }
      }
    }
  }
  return { width: w, height: h, channels: c, data: out };
}
