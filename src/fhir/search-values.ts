// FHIR R4 §3.1.1.4.2 (date), §3.1.1.4.1 (number) and §3.1.1.4 prefixes: value ranges implied by precision.
export const MIN_TIME = -8.64e15;
export const MAX_TIME = 8.64e15;

export const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
export type Prefix = (typeof PREFIXES)[number];

const DATE_RE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The instant range [low, high] (epoch ms, both inclusive) a FHIR date/dateTime/instant covers at its
 * precision: "2024" is the whole year, "2024-05-01T10:00" the whole minute. Times without a zone are UTC.
 */
export function dateRange(s: string): { low: number; high: number } | undefined {
  const m = DATE_RE.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac, tz] = m;
  const year = Number(y);
  const month = mo ? Number(mo) - 1 : 0;
  const day = d ? Number(d) : 1;
  if (mo && (month < 0 || month > 11)) return undefined;
  if (d && (day < 1 || day > 31)) return undefined;
  const offsetMin = !tz || tz === 'Z' ? 0 : (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
  const base = Date.UTC(year, month, day, h ? Number(h) : 0, mi ? Number(mi) : 0, sec ? Number(sec) : 0,
    frac ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0);
  if (!Number.isFinite(base)) return undefined;
  const low = base - offsetMin * 60_000;
  let high: number;
  if (!mo) high = Date.UTC(year + 1, 0, 1);
  else if (!d) high = Date.UTC(year, month + 1, 1);
  else if (!h) high = Date.UTC(year, month, day + 1);
  else if (!sec) high = base + 60_000;
  else if (!frac) high = base + 1000;
  else high = base + 1;
  if (h) high -= offsetMin * 60_000;
  return { low, high: high - 1 };
}

/** Splits an optional two-letter prefix off a search value. */
export function splitPrefix(raw: string): { prefix: Prefix; value: string } {
  const p = raw.slice(0, 2);
  if ((PREFIXES as readonly string[]).includes(p) && raw.length > 2 && /[\d-]/.test(raw[2])) {
    return { prefix: p as Prefix, value: raw.slice(2) };
  }
  return { prefix: 'eq', value: raw };
}

/** The range of numbers a decimal value stands for at its precision ("100" → [99.5, 100.5)). */
export function numberRange(s: string): { value: number; low: number; high: number } | undefined {
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(s)) return undefined;
  const value = Number(s);
  const decimals = /\.(\d*)/.exec(s.split(/[eE]/)[0])?.[1]?.length ?? 0;
  const half = 0.5 * 10 ** -decimals;
  return { value, low: value - half, high: value + half };
}

/**
 * Whether a resource value range [rl, rh] satisfies `prefix` against the search range [sl, sh] (§3.1.1.4.2).
 * Shared by the in-memory matcher; the SQL compiler expresses the same table as SQL.
 */
export function rangeMatches(prefix: Prefix, rl: number, rh: number, sl: number, sh: number): boolean {
  switch (prefix) {
    case 'eq': return rl >= sl && rh <= sh;
    case 'ne': return !(rl >= sl && rh <= sh);
    case 'gt': return rh > sh;
    case 'lt': return rl < sl;
    case 'ge': return rh >= sl;
    case 'le': return rl <= sh;
    case 'sa': return rl > sh;
    case 'eb': return rh < sl;
    case 'ap': {
      const pad = Math.max((sh - sl) / 2, Math.abs(sl) * 0.1);
      return rh >= sl - pad && rl <= sh + pad;
    }
  }
}
