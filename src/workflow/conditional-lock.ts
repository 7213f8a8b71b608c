// FHIR R4 §3.1.0.8 conditional create (http.html#ccreate): the key that serialises concurrent match-or-create
// transactions on the same criteria (Storage.lock), so that a resource matched by ifNoneExist is never duplicated.
import type { Query } from './resource-service.js';

/**
 * `Type?canonical-query`: parameters sorted by name, each one's values sorted, URL-encoded; the same criteria
 * written in another order give the same key. Different criteria (a patient sought by INS in one request, by IPP
 * in another) give different keys: each request's own criteria are what its lookup must not race on.
 */
export function conditionalLockKey(type: string, query: Query): string {
  const params = new URLSearchParams();
  for (const name of Object.keys(query).sort()) for (const v of [...query[name]].sort()) params.append(name, v);
  return `${type}?${params.toString()}`;
}
