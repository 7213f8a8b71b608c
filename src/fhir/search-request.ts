// FHIR R4 §3.1.1 Search: the query string parsed into a tree of predicates that both stores interpret.
import { errors } from '../kernel/errors.js';
import type { SearchKind, SearchRegistry } from './search-registry.js';
import { dateRange, numberRange, splitPrefix, type Prefix } from './search-values.js';
import { normalizeString } from './search-index.js';

export type Predicate =
  | { t: 'token'; code: string; system?: string | null; value?: string; not?: boolean }
  | { t: 'tokenText'; code: string; text: string }
  | { t: 'string'; code: string; mode: 'prefix' | 'exact' | 'contains'; value: string }
  | { t: 'reference'; code: string; targetType?: string; targetId?: string; ref?: string }
  | { t: 'date'; code: string; prefix: Prefix; low: number; high: number }
  | { t: 'number'; code: string; prefix: Prefix; low: number; high: number }
  | { t: 'quantity'; code: string; prefix: Prefix; low: number; high: number; system?: string; unit?: string }
  | { t: 'uri'; code: string; mode: 'eq' | 'below' | 'above'; value: string }
  | { t: 'missing'; code: string; kind: SearchKind; missing: boolean }
  | { t: 'id'; ids: string[] }
  | { t: 'lastUpdated'; prefix: Prefix; low: number; high: number }
  | { t: 'chain'; code: string; targets: { type: string; inner: Predicate }[] }
  | { t: 'has'; sourceType: string; code: string; inner: Predicate }
  | { t: 'or'; preds: Predicate[] }
  | { t: 'not'; inner: Predicate };

export interface IncludeSpec { sourceType: string; code: string; targetType?: string; iterate: boolean }
export interface SortSpec { code: string; descending: boolean; kind?: SearchKind | 'id' | 'lastUpdated' }

export interface ParsedSearch {
  resourceType: string;
  predicates: Predicate[];
  sort: SortSpec[];
  count: number;
  offset: number;
  /**
   * `auto` (no `_total`): the total only when it is known without counting (see `totalWithoutCount`); `estimate`
   * is served accurately; `_count=0` counts unless `_total=none`.
   */
  total: 'auto' | 'none' | 'estimate' | 'accurate';
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  summary?: 'true' | 'text' | 'data' | 'count' | 'false';
  elements?: string[];
}

export interface SearchOptions { defaultCount: number; maxCount: number; lenient?: boolean }

const RESULT_PARAMS = new Set(['_sort', '_count', '_offset', '_total', '_include', '_revinclude', '_summary',
  '_elements', '_format', '_pretty', '_contained', '_containedType']);

export function parseSearch(
  registry: SearchRegistry, resourceType: string, query: Record<string, string[]>, opts: SearchOptions,
): ParsedSearch {
  const out: ParsedSearch = {
    resourceType, predicates: [], sort: [], count: opts.defaultCount, offset: 0, total: 'auto',
    include: [], revinclude: [],
  };
  for (const [rawKey, values] of Object.entries(query)) {
    if (RESULT_PARAMS.has(rawKey.split(':')[0])) {
      for (const v of values) resultParam(registry, out, rawKey, v, opts);
      continue;
    }
    for (const v of values) {
      try {
        out.predicates.push(parseParam(registry, resourceType, rawKey, v));
      } catch (e) {
        if (!opts.lenient) throw e;
      }
    }
  }
  // A page of no resources is asked for its total (R4 §3.1.1.5.5 `_count=0`): count, unless told not to.
  if (out.count === 0 && out.total === 'auto') out.total = 'accurate';
  return out;
}

/**
 * The total a search page gives away for free (R4 §3.1.1.5.6: the server may omit `total`): when the page is the
 * last one and not past the end, the total is offset + page length; otherwise it takes a count (undefined).
 */
export function totalWithoutCount(search: Pick<ParsedSearch, 'offset' | 'count'>, pageLength: number, hasMore: boolean): number | undefined {
  if (hasMore || search.count === 0) return undefined;
  if (pageLength === 0 && search.offset > 0) return undefined; // past the end: the total is below the offset
  return search.offset + pageLength;
}

function resultParam(registry: SearchRegistry, out: ParsedSearch, key: string, v: string, opts: SearchOptions): void {
  const [name, modifier] = key.split(':');
  switch (name) {
    case '_count': {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw errors.badRequest(`_count must be a non-negative integer: ${v}`);
      out.count = Math.min(n, opts.maxCount);
      return;
    }
    case '_offset': {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw errors.badRequest(`_offset must be a non-negative integer: ${v}`);
      out.offset = n;
      return;
    }
    case '_total':
      if (v !== 'none' && v !== 'estimate' && v !== 'accurate') throw errors.badRequest(`Unknown _total: ${v}`);
      out.total = v;
      return;
    case '_summary':
      if (!['true', 'text', 'data', 'count', 'false'].includes(v)) throw errors.badRequest(`Unknown _summary: ${v}`);
      out.summary = v as ParsedSearch['summary'];
      return;
    case '_elements':
      out.elements = v.split(',').map((s) => s.trim()).filter(Boolean);
      return;
    case '_sort':
      for (const part of v.split(',')) out.sort.push(parseSort(registry, out.resourceType, part.trim()));
      return;
    case '_include':
    case '_revinclude': {
      if (modifier && modifier !== 'iterate' && modifier !== 'recurse') {
        throw errors.badRequest(`Unknown ${name} modifier: ${modifier}`);
      }
      const [sourceType, code, targetType] = v.split(':');
      if (sourceType === '*' || !registry.has(sourceType)) throw errors.badRequest(`Unsupported ${name}: ${v}`);
      const def = registry.get(sourceType, code);
      if (!def || def.kind !== 'reference') throw errors.badRequest(`${name} needs a reference parameter of ${sourceType}: ${v}`);
      const spec = { sourceType, code, targetType, iterate: !!modifier };
      (name === '_include' ? out.include : out.revinclude).push(spec);
      return;
    }
    default:
      return; // _format, _pretty, _contained: handled by the HTTP adapter or ignored
  }
}

function parseSort(registry: SearchRegistry, rt: string, part: string): SortSpec {
  const descending = part.startsWith('-');
  const code = descending ? part.slice(1) : part;
  if (code === '_id') return { code, descending, kind: 'id' };
  if (code === '_lastUpdated') return { code, descending, kind: 'lastUpdated' };
  const def = registry.get(rt, code);
  if (!def || def.kind === 'reference') throw errors.badRequest(`Cannot sort ${rt} by ${code}`);
  return { code, descending, kind: def.kind };
}

/** One `name[:modifier]=value` pair; a comma-separated value is an OR (§3.1.1.3). */
export function parseParam(registry: SearchRegistry, rt: string, key: string, value: string): Predicate {
  if (key.startsWith('_has:')) return parseHas(registry, rt, key, value);
  const dot = key.indexOf('.');
  if (dot > 0) return parseChain(registry, rt, key.slice(0, dot), key.slice(dot + 1), value);
  const [code, modifier] = splitModifier(key);
  if (code === '_id') {
    if (modifier) throw errors.badRequest(`Unsupported modifier on _id: ${modifier}`);
    return { t: 'id', ids: splitValues(value) };
  }
  if (code === '_lastUpdated') {
    return orOf(splitValues(value).map((v) => {
      const { prefix, value: d } = splitPrefix(v);
      const r = dateRange(d);
      if (!r) throw errors.badRequest(`Invalid date for _lastUpdated: ${v}`);
      return { t: 'lastUpdated', prefix, ...r } as Predicate;
    }));
  }
  const def = registry.get(rt, code);
  if (!def) throw errors.badRequest(`Unknown search parameter for ${rt}: ${code}`);
  if (modifier === 'missing') {
    if (value !== 'true' && value !== 'false') throw errors.badRequest(`:missing takes true or false: ${value}`);
    return { t: 'missing', code, kind: def.kind, missing: value === 'true' };
  }
  if (def.kind === 'token' && modifier === 'not') {
    return { t: 'not', inner: orOf(splitValues(value).map((v) => tokenPredicate(code, v))) };
  }
  return orOf(splitValues(value).map((v) => valuePredicate(def.kind, code, modifier, v, def.targets)));
}

function valuePredicate(kind: SearchKind, code: string, modifier: string | undefined, v: string,
  targets: readonly string[]): Predicate {
  const bad = () => errors.badRequest(`Unsupported modifier :${modifier} on ${kind} parameter ${code}`);
  switch (kind) {
    case 'token':
      if (modifier === 'text') return { t: 'tokenText', code, text: normalizeString(v) };
      if (modifier === 'of-type') return tokenPredicate(`${code}:of-type`, ofType(v));
      if (modifier) throw bad();
      return tokenPredicate(code, v);
    case 'string':
      if (modifier && modifier !== 'exact' && modifier !== 'contains') throw bad();
      return { t: 'string', code, mode: modifier === 'exact' ? 'exact' : modifier === 'contains' ? 'contains' : 'prefix',
        value: modifier === 'exact' ? v : normalizeString(v) };
    case 'reference': {
      if (modifier === 'identifier') return tokenPredicate(`${code}:identifier`, v);
      if (modifier && !/^[A-Z][A-Za-z]+$/.test(modifier)) throw bad();
      if (modifier && targets.length > 0 && !targets.includes(modifier)) {
        throw errors.badRequest(`${code} cannot refer to ${modifier}`);
      }
      return referencePredicate(code, v, modifier);
    }
    case 'date': {
      if (modifier) throw bad();
      const { prefix, value } = splitPrefix(v);
      const r = dateRange(value);
      if (!r) throw errors.badRequest(`Invalid date for ${code}: ${v}`);
      return { t: 'date', code, prefix, ...r };
    }
    case 'number': {
      if (modifier) throw bad();
      const { prefix, value } = splitPrefix(v);
      const r = numberRange(value);
      if (!r) throw errors.badRequest(`Invalid number for ${code}: ${v}`);
      return { t: 'number', code, prefix, ...numberBounds(prefix, r) };
    }
    case 'quantity': {
      if (modifier) throw bad();
      const [num, system, unit] = v.split('|');
      const { prefix, value } = splitPrefix(num);
      const r = numberRange(value);
      if (!r) throw errors.badRequest(`Invalid quantity for ${code}: ${v}`);
      return { t: 'quantity', code, prefix, ...numberBounds(prefix, r), system: system || undefined, unit: unit || undefined };
    }
    case 'uri':
      if (modifier && modifier !== 'below' && modifier !== 'above') throw bad();
      return { t: 'uri', code, mode: (modifier as 'below' | 'above') ?? 'eq', value: v };
  }
}

/**
 * Implicit precision applies to eq, ne and ap only: `gt100` means greater than exactly 100 (R4 §3.1.1.4.1),
 * so ordering prefixes compare with the exact value.
 */
function numberBounds(prefix: Prefix, r: { value: number; low: number; high: number }): { low: number; high: number } {
  return prefix === 'eq' || prefix === 'ne' || prefix === 'ap' ? { low: r.low, high: r.high } : { low: r.value, high: r.value };
}

function tokenPredicate(code: string, v: string): Predicate {
  const bar = v.indexOf('|');
  if (bar < 0) return { t: 'token', code, value: v };
  const system = v.slice(0, bar);
  const value = v.slice(bar + 1);
  return { t: 'token', code, system: system === '' ? null : system, value: value === '' ? undefined : value };
}

function ofType(v: string): string {
  const parts = v.split('|');
  if (parts.length !== 3) throw errors.badRequest(`:of-type takes system|code|value: ${v}`);
  return `${parts[0]}|${parts[1]}|${parts[2]}`;
}

function referencePredicate(code: string, v: string, typeModifier?: string): Predicate {
  if (/^[A-Za-z0-9\-.]{1,64}$/.test(v)) return { t: 'reference', code, targetType: typeModifier, targetId: v };
  const m = /^(?:.*\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(v);
  if (m && (!typeModifier || typeModifier === m[1])) return { t: 'reference', code, targetType: m[1], targetId: m[2] };
  return { t: 'reference', code, ref: v };
}

function parseChain(registry: SearchRegistry, rt: string, head: string, rest: string, value: string): Predicate {
  const [code, typeModifier] = splitModifier(head);
  const def = registry.get(rt, code);
  if (!def || def.kind !== 'reference') throw errors.badRequest(`Chained parameter ${head} is not a reference of ${rt}`);
  const candidates = typeModifier ? [typeModifier] : def.targets.filter((t) => registry.has(t));
  const innerCode = rest.split('.')[0].split(':')[0];
  const targetTypes = candidates.filter((t) => registry.has(t) && (innerCode.startsWith('_') || registry.get(t, innerCode)));
  if (targetTypes.length === 0) throw errors.badRequest(`No target of ${rt}.${code} has a search parameter ${innerCode}`);
  // Only the targets that define the chained parameter are searched (R4 §3.1.1.4.11 lets the server choose).
  return { t: 'chain', code, targets: targetTypes.map((type) => ({ type, inner: parseParam(registry, type, rest, value) })) };
}

function parseHas(registry: SearchRegistry, rt: string, key: string, value: string): Predicate {
  const parts = key.split(':');
  // _has:Source:refParam:innerKey (innerKey may itself start with _has)
  const [, sourceType, code] = parts;
  const innerKey = parts.slice(3).join(':');
  if (!sourceType || !code || !innerKey) throw errors.badRequest(`Malformed _has: ${key}`);
  if (!registry.has(sourceType)) throw errors.badRequest(`Unknown resource type in _has: ${sourceType}`);
  const def = registry.get(sourceType, code);
  if (!def || def.kind !== 'reference') throw errors.badRequest(`_has: ${sourceType}.${code} is not a reference`);
  if (def.targets.length > 0 && !def.targets.includes(rt)) throw errors.badRequest(`_has: ${sourceType}.${code} cannot refer to ${rt}`);
  return { t: 'has', sourceType, code, inner: parseParam(registry, sourceType, innerKey, value) };
}

function splitModifier(key: string): [string, string | undefined] {
  const i = key.indexOf(':');
  return i < 0 ? [key, undefined] : [key.slice(0, i), key.slice(i + 1)];
}

/** Comma-separated values, honouring `\,` escapes (§3.1.1.3, §3.1.1.6.5). */
function splitValues(v: string): string[] {
  return v.split(/(?<!\\),/).map((s) => s.replace(/\\,/g, ','));
}

function orOf(preds: Predicate[]): Predicate {
  return preds.length === 1 ? preds[0] : { t: 'or', preds };
}
