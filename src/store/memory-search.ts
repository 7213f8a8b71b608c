// FHIR R4 §3.1.1 Search evaluated in memory over the same index rows as SQL (the MemoryStorage twin).
import type { IndexRows } from '../fhir/search-index.js';
import type { Predicate, SortSpec } from '../fhir/search-request.js';
import { rangeMatches } from '../fhir/search-values.js';

export interface IndexedEntry {
  readonly type: string;
  readonly id: string;
  readonly lastUpdated: number;
  readonly rows: IndexRows;
}

export interface EntryLookup {
  get(type: string, id: string): IndexedEntry | undefined;
  ofType(type: string): Iterable<IndexedEntry>;
}

export function matches(e: IndexedEntry, pred: Predicate, db: EntryLookup): boolean {
  const r = e.rows;
  switch (pred.t) {
    case 'token':
      return r.token.some((x) => x.code === pred.code
        && (pred.value === undefined || x.value === pred.value)
        && (pred.system === undefined || (pred.system === null ? x.system === null : x.system === pred.system)));
    case 'tokenText':
      return r.token.some((x) => x.code === pred.code && x.text !== null && x.text.startsWith(pred.text));
    case 'string':
      return r.string.some((x) => x.code === pred.code && (pred.mode === 'exact' ? x.value === pred.value
        : pred.mode === 'contains' ? x.norm.includes(pred.value) : x.norm.startsWith(pred.value)));
    case 'reference':
      return r.reference.some((x) => x.code === pred.code
        && (pred.targetId === undefined || x.targetId === pred.targetId)
        && (pred.targetType === undefined || x.targetType === pred.targetType)
        && (pred.ref === undefined || x.ref === pred.ref));
    case 'date':
      return r.date.some((x) => x.code === pred.code && rangeMatches(pred.prefix, x.low, x.high, pred.low, pred.high));
    case 'number':
      return r.number.some((x) => x.code === pred.code && rangeMatches(pred.prefix, x.value, x.value, pred.low, pred.high));
    case 'quantity':
      return r.quantity.some((x) => x.code === pred.code && rangeMatches(pred.prefix, x.value, x.value, pred.low, pred.high)
        && (!pred.system || x.system === pred.system) && (!pred.unit || x.unit === pred.unit));
    case 'uri':
      return r.uri.some((x) => x.code === pred.code && (pred.mode === 'eq' ? x.value === pred.value
        : pred.mode === 'below' ? x.value.startsWith(pred.value) : pred.value.startsWith(x.value)));
    case 'missing': {
      const present = (r[pred.kind] as { code: string }[]).some((x) => x.code === pred.code);
      return pred.missing ? !present : present;
    }
    case 'id':
      return pred.ids.includes(e.id);
    case 'lastUpdated':
      return rangeMatches(pred.prefix, e.lastUpdated, e.lastUpdated, pred.low, pred.high);
    case 'chain':
      return r.reference.some((x) => x.code === pred.code && pred.targets.some((t) => {
        if (x.targetType !== t.type || x.targetId === null) return false;
        const target = db.get(t.type, x.targetId);
        return target !== undefined && matches(target, t.inner, db);
      }));
    case 'has':
      for (const s of db.ofType(pred.sourceType)) {
        if (s.rows.reference.some((x) => x.code === pred.code && x.targetType === e.type && x.targetId === e.id)
          && matches(s, pred.inner, db)) return true;
      }
      return false;
    case 'or':
      return pred.preds.some((p) => matches(e, p, db));
    case 'not':
      return !matches(e, pred.inner, db);
  }
}

type SortKey = string | number | undefined;

function sortKey(e: IndexedEntry, s: SortSpec): SortKey {
  if (s.kind === 'id') return e.id;
  if (s.kind === 'lastUpdated') return e.lastUpdated;
  const pick = <T>(xs: T[], f: (x: T) => SortKey): SortKey => {
    const vals = xs.map(f).filter((v) => v !== undefined && v !== null) as (string | number)[];
    if (vals.length === 0) return undefined;
    return vals.reduce((a, b) => (s.descending ? (a > b ? a : b) : (a < b ? a : b)));
  };
  switch (s.kind) {
    case 'string': return pick(e.rows.string.filter((x) => x.code === s.code), (x) => x.norm);
    case 'token': return pick(e.rows.token.filter((x) => x.code === s.code), (x) => x.value ?? undefined);
    case 'date': return pick(e.rows.date.filter((x) => x.code === s.code), (x) => (s.descending ? x.high : x.low));
    case 'number': return pick(e.rows.number.filter((x) => x.code === s.code), (x) => x.value);
    case 'quantity': return pick(e.rows.quantity.filter((x) => x.code === s.code), (x) => x.value);
    case 'uri': return pick(e.rows.uri.filter((x) => x.code === s.code), (x) => x.value);
    default: return undefined;
  }
}

/** Same order as the SQL compiler: sort rules (missing values last), default newest first, then id (C collation). */
export function compareEntries(sort: SortSpec[]): (a: IndexedEntry, b: IndexedEntry) => number {
  const rules = sort.length > 0 ? sort : [{ code: '_lastUpdated', descending: true, kind: 'lastUpdated' as const }];
  return (a, b) => {
    for (const s of rules) {
      const ka = sortKey(a, s);
      const kb = sortKey(b, s);
      if (ka === kb) continue;
      if (ka === undefined) return 1;
      if (kb === undefined) return -1;
      const c = ka < kb ? -1 : 1;
      return s.descending ? -c : c;
    }
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  };
}
