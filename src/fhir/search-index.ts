// FHIR R4 §3.1.1.4 search parameter types: the index rows a resource yields for each registered parameter.
import { evalFhirPathTyped, toTypedValue, type TypedValue } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { SearchRegistry } from './search-registry.js';
import { dateRange, MAX_TIME, MIN_TIME } from './search-values.js';

export interface TokenRow { code: string; system: string | null; value: string | null; text: string | null }
export interface StringRow { code: string; value: string; norm: string }
export interface ReferenceRow { code: string; targetType: string | null; targetId: string | null; ref: string }
export interface DateRow { code: string; low: number; high: number }
export interface NumberRow { code: string; value: number }
export interface QuantityRow { code: string; value: number; system: string | null; unit: string | null }
export interface UriRow { code: string; value: string }

export interface IndexRows {
  token: TokenRow[];
  string: StringRow[];
  reference: ReferenceRow[];
  date: DateRow[];
  number: NumberRow[];
  quantity: QuantityRow[];
  uri: UriRow[];
}

/** Case- and accent-insensitive form used by string search (R4 §3.1.1.4.8: "Dùpont" matches "dupont"). */
export function normalizeString(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().replace(/\s+/g, ' ').trim();
}

const REF_PATTERN = /^(?:.*\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

/** Splits a literal reference into type and id ("Patient/1", "http://x/fhir/Patient/1"). */
export function parseReference(ref: string): { type: string; id: string } | undefined {
  const m = REF_PATTERN.exec(ref);
  return m ? { type: m[1], id: m[2] } : undefined;
}

export function extractIndexRows(resource: Resource, registry: SearchRegistry): IndexRows {
  const rows: IndexRows = { token: [], string: [], reference: [], date: [], number: [], quantity: [], uri: [] };
  const typed = [toTypedValue(resource)];
  for (const p of registry.forType(resource.resourceType)) {
    if (p.code === '_id' || p.code === '_lastUpdated') continue;
    if (p.roots && !p.roots.some((root) => hasElement(resource, root))) continue;
    const expression = p.fhirPath; // parsed once per parameter, not once per resource
    if (!expression) continue;
    let values: TypedValue[];
    try {
      values = evalFhirPathTyped(expression, typed);
    } catch {
      continue; // an expression our FHIRPath engine cannot evaluate yields no index rows
    }
    for (const tv of values) addRows(rows, p.kind, p.code, tv);
  }
  dedupe(rows);
  return rows;
}

/** The resource has element `name`: as such, as a choice (`valueQuantity` for `value`), or as a primitive's extension. */
function hasElement(resource: Resource, name: string): boolean {
  const r = resource as unknown as Record<string, unknown>;
  if (r[name] !== undefined || r[`_${name}`] !== undefined) return true;
  for (const key of Object.keys(r)) {
    if (key.length > name.length && key.startsWith(name) && key[name.length] >= 'A' && key[name.length] <= 'Z') return true;
  }
  return false;
}

function addRows(rows: IndexRows, kind: string, code: string, tv: TypedValue): void {
  const raw: unknown = tv.value;
  if (raw === undefined || raw === null) return;
  const v = (typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  switch (kind) {
    case 'token': return addToken(rows, code, tv);
    case 'string': {
      for (const s of stringLeaves(tv)) rows.string.push({ code, value: s, norm: normalizeString(s) });
      return;
    }
    case 'reference': {
      if (tv.type === 'Reference') {
        const ref = v.reference as string | undefined;
        if (ref && !ref.startsWith('#')) {
          const parsed = parseReference(ref);
          rows.reference.push({ code, targetType: parsed?.type ?? null, targetId: parsed?.id ?? null, ref });
        }
        const ident = v.identifier as { system?: string; value?: string } | undefined;
        if (ident?.value) {
          rows.token.push({ code: `${code}:identifier`, system: ident.system ?? null, value: ident.value, text: null });
        }
      } else if (typeof raw === 'string') {
        const parsed = parseReference(raw);
        rows.reference.push({ code, targetType: parsed?.type ?? null, targetId: parsed?.id ?? null, ref: raw });
      }
      return;
    }
    case 'date': {
      if (tv.type === 'Period') {
        const start = v.start as string | undefined;
        const end = v.end as string | undefined;
        rows.date.push({
          code,
          low: start ? dateRange(start)?.low ?? MIN_TIME : MIN_TIME,
          high: end ? dateRange(end)?.high ?? MAX_TIME : MAX_TIME,
        });
      } else if (tv.type === 'Timing') {
        for (const e of (v.event as string[] | undefined) ?? []) pushDate(rows, code, e);
      } else if (typeof raw === 'string') {
        pushDate(rows, code, raw);
      }
      return;
    }
    case 'number':
      if (typeof raw === 'number') rows.number.push({ code, value: raw });
      return;
    case 'quantity':
      if (typeof v.value === 'number') {
        rows.quantity.push({
          code, value: v.value as number, system: (v.system as string) ?? null,
          unit: ((v.code as string) ?? (v.unit as string)) ?? null,
        });
      } else if (typeof raw === 'number') {
        rows.quantity.push({ code, value: raw, system: null, unit: null });
      }
      return;
    case 'uri':
      if (typeof raw === 'string') rows.uri.push({ code, value: raw });
      return;
  }
}

function pushDate(rows: IndexRows, code: string, s: string): void {
  const r = dateRange(s);
  if (r) rows.date.push({ code, low: r.low, high: r.high });
}

function addToken(rows: IndexRows, code: string, tv: TypedValue): void {
  const v = tv.value as Record<string, unknown>;
  const push = (system: unknown, value: unknown, text: unknown): void => {
    rows.token.push({
      code,
      system: typeof system === 'string' ? system : null,
      value: typeof value === 'string' ? value : typeof value === 'boolean' ? String(value) : null,
      text: typeof text === 'string' ? normalizeString(text) : null,
    });
  };
  switch (tv.type) {
    case 'CodeableConcept': {
      const codings = (v.coding as Record<string, unknown>[] | undefined) ?? [];
      for (const c of codings) push(c.system, c.code, c.display ?? v.text);
      // :text searches CodeableConcept.text too (R4 §3.1.1.5.5), also when the codings carry their own display.
      const textIndexed = codings.some((c) => (c.display ?? v.text) === v.text);
      if (typeof v.text === 'string' && !textIndexed) push(null, null, v.text);
      return;
    }
    case 'Coding':
      return push(v.system, v.code, v.display);
    case 'Identifier': {
      const typeText = (v.type as { text?: string } | undefined)?.text;
      push(v.system, v.value, typeText);
      // :of-type (R4 §3.1.1.5.6) matches Identifier.type coding + value: kept as a composite token.
      for (const c of ((v.type as { coding?: Record<string, unknown>[] } | undefined)?.coding ?? [])) {
        rows.token.push({
          code: `${code}:of-type`, system: typeof c.system === 'string' ? c.system : null,
          value: `${String(c.code)}|${String(v.value)}`, text: null,
        });
      }
      return;
    }
    case 'ContactPoint':
      return push(v.system, v.value, null);
    default:
      if (typeof tv.value === 'string' || typeof tv.value === 'boolean') push(null, tv.value, null);
  }
}

function stringLeaves(tv: TypedValue): string[] {
  const v = tv.value as Record<string, unknown>;
  if (typeof tv.value === 'string') return [tv.value];
  const out: string[] = [];
  const keys = tv.type === 'HumanName' ? ['text', 'family', 'given', 'prefix', 'suffix']
    : tv.type === 'Address' ? ['text', 'line', 'city', 'district', 'state', 'postalCode', 'country']
      : Object.keys(v);
  for (const k of keys) {
    const x = v[k];
    if (typeof x === 'string') out.push(x);
    else if (Array.isArray(x)) for (const y of x) if (typeof y === 'string') out.push(y);
  }
  return out;
}

function dedupe(rows: IndexRows): void {
  for (const key of Object.keys(rows) as (keyof IndexRows)[]) {
    const seen = new Set<string>();
    (rows[key] as unknown[]) = (rows[key] as unknown[]).filter((r) => {
      const k = JSON.stringify(r);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  }
}
