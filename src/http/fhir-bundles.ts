// FHIR R4 §3.1.1.3 searchset and §3.1.0.12 history Bundles, with paging links (R4 §3.1.1.5.7 / http.html#paging).
import type { Bundle, BundleEntry, BundleLink, Resource } from '@medplum/fhirtypes';
import type { SearchOutcome } from '../workflow/resource-service.js';
import type { HistoryEntry } from '../store/resource-store.js';
import { applyElements, applySummary } from '../fhir/summary.js';

export type Query = Record<string, string[]>;

function withParams(base: string, query: Query, changes: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, vs] of Object.entries(query)) if (!(k in changes)) for (const v of vs) params.append(k, v);
  for (const [k, v] of Object.entries(changes)) if (v !== undefined) params.append(k, v);
  const s = params.toString();
  return s ? `${base}?${s}` : base;
}

function pagingLinks(self: string, query: Query, offset: number, count: number, hasMore: boolean, total?: number): BundleLink[] {
  const links: BundleLink[] = [{ relation: 'self', url: withParams(self, query, {}) }];
  links.push({ relation: 'first', url: withParams(self, query, { _offset: '0', _count: String(count) }) });
  if (offset > 0) links.push({ relation: 'previous', url: withParams(self, query, { _offset: String(Math.max(0, offset - count)), _count: String(count) }) });
  if (hasMore) links.push({ relation: 'next', url: withParams(self, query, { _offset: String(offset + count), _count: String(count) }) });
  if (total !== undefined && count > 0) {
    const last = Math.max(0, Math.floor((total - 1) / count) * count);
    links.push({ relation: 'last', url: withParams(self, query, { _offset: String(last), _count: String(count) }) });
  }
  return links;
}

export function searchBundle(baseUrl: string, type: string, query: Query, result: SearchOutcome): Bundle {
  const p = result.parsed;
  const present = (r: Resource) => applyElements(applySummary(r, p.summary), p.elements);
  const entry: BundleEntry[] = [
    ...result.resources.map((r) => ({ fullUrl: `${baseUrl}/${r.resourceType}/${r.id}`, resource: present(r), search: { mode: 'match' as const } })),
    ...result.included.map((r) => ({ fullUrl: `${baseUrl}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'include' as const } })),
  ];
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(result.total !== undefined ? { total: result.total } : {}),
    link: pagingLinks(`${baseUrl}/${type}`, query, p.offset, p.count, result.hasMore, result.total),
    entry,
  };
}

export function historyBundle(baseUrl: string, path: string, query: Query, entries: HistoryEntry[], total: number, offset: number, count: number): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'history',
    total,
    link: pagingLinks(`${baseUrl}${path}`, query, offset, count, offset + entries.length < total, total),
    entry: entries.map((e) => ({
      fullUrl: `${baseUrl}/${e.resourceType}/${e.id}`,
      ...(e.resource ? { resource: e.resource } : {}),
      request: { method: e.method, url: e.method === 'POST' ? e.resourceType : `${e.resourceType}/${e.id}` },
      response: {
        status: e.method === 'POST' ? '201 Created' : e.method === 'DELETE' ? '204 No Content' : '200 OK',
        etag: `W/"${e.versionId}"`,
        lastModified: e.lastUpdated,
      },
    })),
  };
}
