// FHIR R4 §3.1.1.5.8 _summary and §3.1.1.5.9 _elements: subsetted resources, tagged SUBSETTED.
import { tryGetDataType } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };
const ALWAYS = ['resourceType', 'id', 'meta'];

function tagged<T extends Resource>(r: T): T {
  const tags = [...(r.meta?.tag ?? []).filter((t) => t.code !== 'SUBSETTED'), SUBSETTED];
  return { ...r, meta: { ...r.meta, tag: tags } };
}

function pick<T extends Resource>(r: T, keep: (key: string) => boolean): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) if (ALWAYS.includes(k) || keep(k)) out[k] = v;
  return tagged(out as T);
}

export function applySummary<T extends Resource>(r: T, mode: 'true' | 'text' | 'data' | 'false' | 'count' | undefined): T {
  switch (mode) {
    case 'true': {
      const summary = tryGetDataType(r.resourceType)?.summaryProperties;
      return pick(r, (k) => (summary ? summary.has(k) || summary.has(k.replace(/[A-Z].*$/, '[x]')) : false));
    }
    case 'text':
      return pick(r, (k) => k === 'text' || (tryGetDataType(r.resourceType)?.mandatoryProperties?.has(k) ?? false));
    case 'data':
      return pick(r, (k) => k !== 'text');
    default:
      return r;
  }
}

export function applyElements<T extends Resource>(r: T, elements: string[] | undefined): T {
  if (!elements || elements.length === 0) return r;
  const wanted = new Set(elements.map((e) => e.replace(new RegExp(`^${r.resourceType}\\.`), '').split('.')[0]));
  const mandatory = tryGetDataType(r.resourceType)?.mandatoryProperties;
  return pick(r, (k) => wanted.has(k) || (mandatory?.has(k) ?? false));
}
