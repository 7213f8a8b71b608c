// FHIR R4 §3.1.1 Search: the search parameters registered per resource type (R4 standard + profiles/).
import { getSearchParameters, parseFhirPath, type FhirPathAtom } from '@medplum/core';
import type { SearchParameter } from '@medplum/fhirtypes';

export type SearchKind = 'token' | 'string' | 'reference' | 'date' | 'number' | 'quantity' | 'uri';

export interface SearchParamDef {
  readonly code: string;
  readonly kind: SearchKind;
  readonly expression: string;
  /** `expression` parsed once, on first use (undefined when the FHIRPath engine cannot parse it). */
  readonly fhirPath: FhirPathAtom | undefined;
  /** Target resource types of a reference parameter. */
  readonly targets: readonly string[];
  readonly definition: SearchParameter;
}

/** Parameters served from the resource row itself rather than index tables. */
export const RESULT_COLUMN_PARAMS = new Set(['_id', '_lastUpdated']);

export interface SearchRegistry {
  readonly resourceTypes: readonly string[];
  get(resourceType: string, code: string): SearchParamDef | undefined;
  forType(resourceType: string): readonly SearchParamDef[];
  has(resourceType: string): boolean;
}

const SUPPORTED_KINDS = new Set<string>(['token', 'string', 'reference', 'date', 'number', 'quantity', 'uri']);

export function createSearchRegistry(resourceTypes: readonly string[]): SearchRegistry {
  const byType = new Map<string, Map<string, SearchParamDef>>();
  for (const rt of resourceTypes) {
    const params = new Map<string, SearchParamDef>();
    for (const [code, sp] of Object.entries(getSearchParameters(rt) ?? {})) {
      if (!sp.expression || !SUPPORTED_KINDS.has(sp.type)) continue;
      // Composite and special parameters (e.g. Location.near) are not served: they are left out of
      // the CapabilityStatement, and a search using them gets a 400.
      const expression = sp.expression;
      let parsed: FhirPathAtom | null | undefined;
      params.set(code, {
        code,
        kind: sp.type as SearchKind,
        expression,
        get fhirPath() {
          if (parsed === undefined) {
            try {
              parsed = parseFhirPath(expression);
            } catch {
              parsed = null;
            }
          }
          return parsed ?? undefined;
        },
        targets: sp.target ?? [],
        definition: sp,
      });
    }
    byType.set(rt, params);
  }
  return {
    resourceTypes,
    get: (rt, code) => byType.get(rt)?.get(code),
    forType: (rt) => [...(byType.get(rt)?.values() ?? [])],
    has: (rt) => byType.has(rt),
  };
}
