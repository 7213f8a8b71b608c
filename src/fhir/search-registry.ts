// FHIR R4 §3.1.1 Search: the search parameters registered per resource type (R4 standard + profiles/).
import { getSearchParameters, parseFhirPath, type FhirPathAtom } from '@medplum/core';
import type { SearchParameter } from '@medplum/fhirtypes';

export type SearchKind = 'token' | 'string' | 'reference' | 'date' | 'number' | 'quantity' | 'uri';

export interface SearchParamDef {
  readonly code: string;
  readonly kind: SearchKind;
  readonly expression: string;
  /**
   * The expression's branches that apply to this resource type (a shared parameter such as `patient` lists 30 types),
   * parsed once, on first use (undefined when the FHIRPath engine cannot parse it).
   */
  readonly fhirPath: FhirPathAtom | undefined;
  /**
   * The top-level elements the expression starts from (`subject` for `Observation.subject.where(…)`): a resource
   * with none of them yields no value, so the expression need not run. Undefined when not known (always run).
   */
  readonly roots: readonly string[] | undefined;
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
      const own = branchesFor(rt, expression);
      let parsed: FhirPathAtom | null | undefined;
      params.set(code, {
        code,
        kind: sp.type as SearchKind,
        expression,
        get fhirPath() {
          if (parsed === undefined) {
            try {
              parsed = parseFhirPath(own?.expression ?? expression);
            } catch {
              parsed = null;
            }
          }
          return parsed ?? undefined;
        },
        roots: own?.roots,
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

/** Splits a FHIRPath expression at its top-level `|` (outside parentheses, brackets and string literals). */
function topLevelUnion(expression: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === "'") quote = false;
    } else if (c === "'") quote = true;
    else if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (c === '|' && depth === 0) {
      out.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(expression.slice(start).trim());
  return out;
}

/**
 * The branches of `expression` that start from `resourceType` (others are empty on it: a type name in FHIRPath
 * filters the root), and the element each starts from. Undefined when a branch starts otherwise (`Resource.`,
 * `%resource`, a function): then the whole expression runs, always.
 */
export function branchesFor(resourceType: string, expression: string): { expression: string; roots: string[] } | undefined {
  const kept: string[] = [];
  const roots: string[] = [];
  for (const branch of topLevelUnion(expression)) {
    const m = /^\(*\s*([A-Z][A-Za-z]+)\.([a-z][A-Za-z0-9]*)/.exec(branch);
    if (!m || m[1] === 'Resource' || m[1] === 'DomainResource') return undefined;
    if (m[1] !== resourceType) continue;
    kept.push(branch);
    roots.push(m[2]);
  }
  if (kept.length === 0) return undefined;
  return { expression: kept.join(' | '), roots: [...new Set(roots)] };
}
