// DICOM PS3.18 §8.7 (Acceptable Media Types): the Accept header field (RFC 9110 §12.5.1) or the `accept` query
// parameter (§8.3.3.1, which takes precedence) read as media ranges, and the representation chosen among those a
// resource offers (§8.7.3: `multipart/related; type=…; transfer-syntax=…`), or 406 when none is acceptable.
import { errors } from '../../kernel/errors.js';

export interface MediaRange {
  /** `type/subtype`, lower-cased (`*\/*`, `multipart/*` …). */
  readonly mediaType: string;
  /** Parameters, names lower-cased, values unquoted. */
  readonly params: Readonly<Record<string, string>>;
  readonly q: number;
}

/** Splits on `sep` outside double quotes. */
function split(text: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const c of text) {
    if (c === '"') quoted = !quoted;
    if (c === sep && !quoted) {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

/** The media ranges accepted, best first (stable among equal q); q=0 ranges dropped; none given: `*\/*`. */
export function parseAccept(values: readonly string[]): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const value of values) {
    for (const item of split(value, ',')) {
      const [type, ...rawParams] = split(item, ';').map((s) => s.trim());
      if (!type) continue;
      if (!/^[\w.+*-]+\/[\w.+*-]+$/.test(type)) throw errors.badRequest(`Malformed media range in Accept: ${item.trim()}`);
      const params: Record<string, string> = {};
      for (const p of rawParams) {
        const eq = p.indexOf('=');
        if (eq < 0) continue;
        params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      }
      const q = params.q === undefined ? 1 : Number(params.q);
      if (!Number.isFinite(q) || q < 0 || q > 1) throw errors.badRequest(`Malformed q value in Accept: ${item.trim()}`);
      if (q > 0) ranges.push({ mediaType: type.toLowerCase(), params, q });
    }
  }
  if (ranges.length === 0) return [{ mediaType: '*/*', params: {}, q: 1 }];
  return ranges.map((r, i) => ({ r, i })).sort((a, b) => b.r.q - a.r.q || a.i - b.i).map(({ r }) => r);
}

/** The ranges of a request: its `accept` query parameters if any (PS3.18 §8.3.3.1), else its Accept header. */
export function acceptedRanges(query: Record<string, string[]>, header: string | undefined): MediaRange[] {
  const fromQuery = query.accept ?? [];
  return parseAccept(fromQuery.length > 0 ? fromQuery : header ? [header] : []);
}

/** One representation of a part a resource can send. */
export interface PartOffer {
  /** The part's media type (`application/dicom`, `application/octet-stream`, `image/jpeg` …). */
  readonly partType: string;
  /** The transfer syntax the part is in. */
  readonly transferSyntax: string;
  /** Whether this is what a request naming the part type without `transfer-syntax` gets (§8.7.3.5.2 defaults). */
  readonly isDefault: boolean;
}

function matches(range: MediaRange, offer: PartOffer, defaultPartType: string): boolean {
  const [type, subtype] = range.mediaType.split('/');
  let partType: string;
  if (range.mediaType === '*/*') partType = defaultPartType;
  else if (type === 'multipart' && (subtype === 'related' || subtype === '*')) partType = (range.params.type ?? defaultPartType).toLowerCase();
  else partType = range.mediaType; // a bare part type: answered as the multipart/related of that type
  if (partType !== offer.partType && partType !== '*/*' && partType !== `${offer.partType.split('/')[0]}/*`) return false;
  const ts = range.params['transfer-syntax'];
  if (ts === undefined) return offer.isDefault;
  return ts === '*' || ts === offer.transferSyntax;
}

/**
 * Chooses, for every item (instance, frame…), one of its offers, by the first (best) range that every item has an
 * offer for. Throws 406 naming what could be sent when no range suits them all.
 */
export function negotiateParts(ranges: readonly MediaRange[], offers: readonly (readonly PartOffer[])[], defaultPartType: string): PartOffer[] {
  for (const range of ranges) {
    const chosen = offers.map((list) => list.find((o) => matches(range, o, defaultPartType)));
    if (chosen.every((o): o is PartOffer => o !== undefined)) return chosen;
  }
  const available = [...new Set(offers.flatMap((list) => list.map((o) => `multipart/related; type="${o.partType}"; transfer-syntax=${o.transferSyntax}`)))];
  throw errors.notAcceptable(`None of the accepted media types can be served (no transcoding here); available: ${available.slice(0, 5).join(', ')}`);
}

export const DICOM_JSON = 'application/dicom+json';

/** PS3.18 §8.7.4 / F.2: JSON metadata and query results (`application/dicom+json`, or `application/json`). */
export function negotiateJson(ranges: readonly MediaRange[]): void {
  const ok = ranges.some((r) => ['*/*', 'application/*', DICOM_JSON, 'application/json'].includes(r.mediaType));
  if (!ok) throw errors.notAcceptable(`Only ${DICOM_JSON} is served here (no XML): accepted ${ranges.map((r) => r.mediaType).join(', ')}`);
}
