// Participant visibility in the resource service: reads, includes, history and writes into a dossier checked against the
// caller's visibility predicate (FHIR R4 search predicates, so the same indexed SQL as a search), Binary by securityContext.
import type { Binary, Resource } from '@medplum/fhirtypes';
import type { Predicate } from '../fhir/search-request.js';
import { errors } from '../kernel/errors.js';
import type { Principal } from '../kernel/principal.js';
import type { Storage } from '../store/resource-store.js';
import { refOf, type AuditContext } from './audit.js';

/** Participant-based visibility: a predicate ANDed into every search, read and include of restricted types. */
export interface VisibilityPort {
  filter(principal: Principal, resourceType: string, storage: Storage): Promise<Predicate | undefined>;
}

export function createVisibilityChecks(visibility: VisibilityPort | undefined, visible: <T extends Resource>(ctx: AuditContext, r: T) => T) {
  const restriction = (ctx: AuditContext, type: string, s: Storage) => visibility?.filter(ctx.principal, type, s);

  /** The subset of `resources` the caller may see under the visibility rules (one indexed query per restricted type). */
  async function visibleSubset<T extends Resource>(ctx: AuditContext, s: Storage, resources: T[]): Promise<T[]> {
    if (!visibility || resources.length === 0) return resources;
    const byType = new Map<string, Set<string>>();
    for (const r of resources) if (r.id) (byType.get(r.resourceType) ?? byType.set(r.resourceType, new Set()).get(r.resourceType))?.add(r.id);
    const hidden = new Set<string>();
    for (const [type, ids] of byType) {
      const filter = await restriction(ctx, type, s);
      if (!filter) continue;
      const found = await s.resources.search({
        resourceType: type, predicates: [{ t: 'id', ids: [...ids] }, filter], sort: [], count: ids.size, offset: 0,
        total: 'none', include: [], revinclude: [],
      });
      const seen = new Set(found.resources.map((r) => r.id));
      for (const id of ids) if (!seen.has(id)) hidden.add(`${type}/${id}`);
    }
    return hidden.size === 0 ? resources : resources.filter((r) => !hidden.has(refOf(r)));
  }

  /** Throws 404 when the caller may not see `r`: a resource outside one's dossiers does not exist for them. */
  async function mustSee<T extends Resource>(ctx: AuditContext, s: Storage, r: T): Promise<T> {
    visible(ctx, r);
    if ((await visibleSubset(ctx, s, [r])).length === 0) throw errors.notFound(`${r.resourceType}/${r.id} not found`);
    // A Binary is seen through its securityContext (R4 binary.html#security): e.g. the DocumentReference it is the content of.
    const context = r.resourceType === 'Binary' ? /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec((r as Binary).securityContext?.reference ?? '') : null;
    if (context && (await visibleSubset(ctx, s, [{ resourceType: context[1], id: context[2] } as Resource])).length === 0) {
      throw errors.notFound(`${r.resourceType}/${r.id} not found`);
    }
    return r;
  }

  /** Writing into a dossier (Communication.partOf, a step's Task.partOf, Provenance.target) needs to see it. */
  async function checkDossierLinks(ctx: AuditContext, s: Storage, resource: Resource): Promise<void> {
    if (!visibility) return;
    const rec = resource as unknown as Record<string, unknown>;
    const refs = ['partOf', 'target'].flatMap((k) => (Array.isArray(rec[k]) ? rec[k] as unknown[] : rec[k] ? [rec[k]] : []))
      .map((r) => (r as { reference?: unknown }).reference)
      .filter((r): r is string => typeof r === 'string' && /^Task\/[A-Za-z0-9\-.]{1,64}$/.test(r));
    if (refs.length === 0 || !(await restriction(ctx, 'Task', s))) return;
    const tasks = refs.map((r) => ({ resourceType: 'Task', id: r.slice(5) }) as Resource);
    const seen = new Set((await visibleSubset(ctx, s, tasks)).map(refOf));
    const outside = refs.find((r) => !seen.has(r));
    if (outside) throw errors.forbidden(`${outside} is not a télédossier you take part in`);
  }

  return { restriction, visibleSubset, mustSee, checkDossierLinks };
}
