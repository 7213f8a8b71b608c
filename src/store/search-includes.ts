// FHIR R4 §3.1.1.5.4 _include / _revinclude (with :iterate): one orchestration over a store's two primitives.
import type { Resource } from '@medplum/fhirtypes';
import type { IncludeSpec, ParsedSearch } from '../fhir/search-request.js';

export interface IncludeFetcher {
  /** Resources referenced by `code` from the given sources (of `sourceType`), optionally only of `targetType`. */
  forward(sourceType: string, code: string, sourceIds: string[], targetType?: string): Promise<Resource[]>;
  /** Resources of `sourceType` whose `code` refers to one of the targets. */
  reverse(sourceType: string, code: string, targetType: string, targetIds: string[]): Promise<Resource[]>;
}

const MAX_ITERATIONS = 4;

export async function resolveIncludes(fetcher: IncludeFetcher, search: ParsedSearch, matches: Resource[]): Promise<Resource[]> {
  if (matches.length === 0 || (search.include.length === 0 && search.revinclude.length === 0)) return [];
  const key = (r: Resource) => `${r.resourceType}/${r.id}`;
  const seen = new Set(matches.map(key));
  const included: Resource[] = [];
  let frontier = matches;
  for (let round = 0; round < MAX_ITERATIONS && frontier.length > 0; round++) {
    const next: Resource[] = [];
    const accept = (rs: Resource[]) => {
      for (const r of rs) {
        if (seen.has(key(r))) continue;
        seen.add(key(r));
        included.push(r);
        next.push(r);
      }
    };
    const specs = (list: IncludeSpec[]) => list.filter((s) => round === 0 || s.iterate);
    for (const spec of specs(search.include)) {
      const ids = frontier.filter((r) => r.resourceType === spec.sourceType).map((r) => r.id as string);
      if (ids.length > 0) accept(await fetcher.forward(spec.sourceType, spec.code, ids, spec.targetType));
    }
    for (const spec of specs(search.revinclude)) {
      const byType = new Map<string, string[]>();
      for (const r of frontier) {
        if (spec.targetType && r.resourceType !== spec.targetType) continue;
        byType.set(r.resourceType, [...(byType.get(r.resourceType) ?? []), r.id as string]);
      }
      for (const [type, ids] of byType) accept(await fetcher.reverse(spec.sourceType, spec.code, type, ids));
    }
    frontier = next;
  }
  return included;
}
