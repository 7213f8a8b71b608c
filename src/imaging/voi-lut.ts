// DICOM PS3.3 C.11.1 (Modality LUT: Rescale Slope / Intercept), C.11.2 (VOI LUT: Window Center / Width with the VOI
// LUT Function LINEAR C.11.2.1.2.1, LINEAR_EXACT C.11.2.1.3.2, SIGMOID C.11.2.1.3.1) and C.7.6.3.1.2 (MONOCHROME1 is
// shown inverted): stored grey values → 8-bit display values, as PS3.18 §8.3.5.1.4 (the `window` parameter) asks.
import { errors } from '../kernel/errors.js';
import type { DicomJson } from './dicom-json.js';
import { numbersOf, textOf } from './pixel-data-frames.js';

export type VoiFunction = 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID';

/** A window in modality units (after the rescale). */
export interface VoiWindow {
  readonly center: number;
  readonly width: number;
  readonly fn: VoiFunction;
}

export interface GreyscaleTransform {
  readonly slope: number;
  readonly intercept: number;
  /**
   * Undefined: for 8 bits stored or fewer, the whole range of stored values (no VOI transform, as a display of such
   * data shows it); for more bits, the frame's own minimum and maximum (PS3.18 §8.3.5.1.4 leaves this to the server).
   */
  readonly window?: VoiWindow;
  /** The range of stored values (from Bits Stored and Pixel Representation). */
  readonly storedRange: readonly [number, number];
  readonly invert: boolean;
}

const FUNCTIONS: Record<string, VoiFunction> = { LINEAR: 'LINEAR', LINEAR_EXACT: 'LINEAR_EXACT', SIGMOID: 'SIGMOID' };

/** The query's `window=center,width[,function]` (function linear, linear-exact or sigmoid, PS3.18 Table 8.3.5-1). */
export function parseWindowParameter(value: string): VoiWindow {
  const [c, w, f = 'linear', ...rest] = value.split(',').map((s) => s.trim());
  const center = Number(c);
  const width = Number(w);
  const fn = FUNCTIONS[f.toUpperCase().replace('-', '_')];
  if (rest.length > 0 || c === '' || w === '' || !Number.isFinite(center) || !Number.isFinite(width) || !fn) {
    throw errors.badRequest(`Invalid window "${value}": expected center,width[,linear|linear-exact|sigmoid]`);
  }
  if (width <= 0 || (fn === 'LINEAR' && width < 1)) throw errors.badRequest(`Invalid window width ${width}: it must be ${fn === 'LINEAR' ? '≥ 1' : '> 0'}`);
  return { center, width, fn };
}

/** The data set's first Window Center / Width (and VOI LUT Function), or undefined when it has none usable. */
export function datasetWindow(metadata: DicomJson): VoiWindow | undefined {
  const [center] = numbersOf(metadata, '00281050');
  const [width] = numbersOf(metadata, '00281051');
  const fn = FUNCTIONS[textOf(metadata, '00281056') ?? 'LINEAR'] ?? 'LINEAR';
  if (center === undefined || width === undefined || width <= 0 || (fn === 'LINEAR' && width < 1)) return undefined;
  return { center, width, fn };
}

/** The greyscale pipeline of an instance: its rescale, the asked window else its own, and MONOCHROME1 inversion. */
export function greyscaleTransform(metadata: DicomJson, image: { bitsStored: number; pixelRepresentation: number }, photometric: string, asked?: VoiWindow): GreyscaleTransform {
  const [slope = 1] = numbersOf(metadata, '00281053');
  const [intercept = 0] = numbersOf(metadata, '00281052');
  const bits = Math.min(image.bitsStored, 32);
  const storedRange: [number, number] = image.pixelRepresentation === 1 ? [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1] : [0, 2 ** bits - 1];
  return { slope: slope === 0 ? 1 : slope, intercept, window: asked ?? datasetWindow(metadata), invert: photometric === 'MONOCHROME1', storedRange };
}

/** y in [0, 255] for a modality value x under window w (the formulas of C.11.2.1.2.1 / C.11.2.1.3). */
function voi(x: number, w: VoiWindow): number {
  const { center: c, width } = w;
  switch (w.fn) {
    case 'LINEAR': {
      if (x <= c - 0.5 - (width - 1) / 2) return 0;
      if (x > c - 0.5 + (width - 1) / 2) return 255;
      return width === 1 ? 255 : ((x - (c - 0.5)) / (width - 1) + 0.5) * 255;
    }
    case 'LINEAR_EXACT': {
      if (x <= c - width / 2) return 0;
      if (x > c + width / 2) return 255;
      return ((x - c) / width + 0.5) * 255;
    }
    case 'SIGMOID':
      return 255 / (1 + Math.exp((-4 * (x - c)) / width));
  }
}

/** Applies the pipeline to a frame's stored values; one table over the frame's value range when it is not huge. */
export function toDisplayGrey(values: Int32Array, t: GreyscaleTransform): Uint8Array {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const out = new Uint8Array(values.length);
  if (values.length === 0) return out;
  const [a, b] = t.storedRange[1] - t.storedRange[0] <= 255 ? t.storedRange : [min, max];
  const lo = Math.min(a * t.slope + t.intercept, b * t.slope + t.intercept);
  const hi = Math.max(a * t.slope + t.intercept, b * t.slope + t.intercept);
  const window: VoiWindow = t.window ?? { center: (lo + hi) / 2, width: Math.max(hi - lo, 1e-6), fn: 'LINEAR_EXACT' };
  const display = (stored: number) => {
    const y = Math.round(voi(stored * t.slope + t.intercept, window));
    return t.invert ? 255 - y : y;
  };
  if (max - min <= 1 << 20) {
    const lut = new Uint8Array(max - min + 1);
    for (let s = min; s <= max; s++) lut[s - min] = display(s);
    for (let i = 0; i < values.length; i++) out[i] = lut[values[i] - min];
  } else {
    for (let i = 0; i < values.length; i++) out[i] = display(values[i]);
  }
  return out;
}
