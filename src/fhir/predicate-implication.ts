// FHIR R4 search (search.html): whether one search predicate implies another, decided on their form alone.
import type { Predicate } from './search-request.js';

/** A canonical text of a predicate (object keys sorted), so that equal predicates built apart compare equal. */
function keyOf(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(keyOf).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${keyOf(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The alternatives of a predicate: the leaves of its nested `or`s (a non-`or` predicate is its own single one). */
function alternatives(p: Predicate): Predicate[] {
  return p.t === 'or' ? p.preds.flatMap(alternatives) : [p];
}

/** Matches no resource: `_id` in an empty list (what an empty `or` of references compiles to). */
const matchesNothing = (p: Predicate) => p.t === 'id' && p.ids.length === 0;

/**
 * True when every resource matching `p` also matches `q`: each alternative of `p` is one of `q`'s alternatives (or
 * matches nothing). Sound, not complete: a false answer means "not shown", and callers then keep both predicates.
 * E.g. `owner ∈ {a, b}` implies `owner ∈ {a, b, c} OR requester = d`.
 */
export function implies(p: Predicate, q: Predicate): boolean {
  const allowed = new Set(alternatives(q).map(keyOf));
  return alternatives(p).every((a) => matchesNothing(a) || allowed.has(keyOf(a)));
}
