// FHIR R4 Subscription criteria (subscription.html §2.46.5) evaluated against one written resource, in memory.
// The predicates come from the platform's search parser and are evaluated by the same code as the in-memory store
// (store/memory-search.ts) over the same index rows, so a criteria matches exactly what the search would return.
import type { Resource } from '@medplum/fhirtypes';
import { extractIndexRows } from '../fhir/search-index.js';
import type { SearchRegistry } from '../fhir/search-registry.js';
import type { Predicate } from '../fhir/search-request.js';
import { matches, type EntryLookup, type IndexedEntry } from '../store/memory-search.js';
import type { Criteria } from './subscription-model.js';

/** Chains and _has look at other resources: those criteria are evaluated by the store instead. */
export function needsOtherResources(p: Predicate): boolean {
  switch (p.t) {
    case 'chain':
    case 'has':
      return true;
    case 'or':
      return p.preds.some(needsOtherResources);
    case 'not':
      return needsOtherResources(p.inner);
    default:
      return false;
  }
}

const NO_OTHERS: EntryLookup = { get: () => undefined, ofType: () => [] };

/**
 * The matcher of one written resource: its index rows are extracted once, whatever the number of subscriptions.
 * Returns whether `criteria` selects the resource, or undefined when only the store can tell (chains, _has).
 */
export function matcherFor(registry: SearchRegistry, resource: Resource): (criteria: Criteria) => boolean | undefined {
  let entry: IndexedEntry | undefined;
  return (criteria) => {
    if (criteria.type !== resource.resourceType) return false;
    if (criteria.parsed.predicates.some(needsOtherResources)) return undefined;
    entry ??= {
      type: resource.resourceType, id: resource.id ?? '', lastUpdated: Date.parse(resource.meta?.lastUpdated ?? '') || 0,
      rows: extractIndexRows(resource, registry),
    };
    const e = entry;
    return criteria.parsed.predicates.every((p) => matches(e, p, NO_OTHERS));
  };
}
