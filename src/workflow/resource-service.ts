// FHIR R4 §3.1.0 RESTful interactions as one service: access check, validation, storage, audit — for every adapter.
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import fjp from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { errors, OperationOutcomeError } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';
import type { SearchRegistry } from '../fhir/search-registry.js';
import { parseSearch, type ParsedSearch, type Predicate } from '../fhir/search-request.js';
import type { Validator } from '../fhir/validation.js';
import { parseIfMatch, type HistoryEntry, type HistoryQuery, type SearchResult, type Storage } from '../store/resource-store.js';
import type { AccessPolicy, Interaction } from './access-policy.js';
import { conditionalLockKey } from './conditional-lock.js';
import { bufferAudits, isAudited, queueAudit, refOf, type AuditContext, type AuditRecord } from './audit.js';
import type { JobQueue } from '../store/job-queue.js';
import type { MessageLog } from '../store/message-log.js';
import { createVisibilityChecks, type VisibilityPort } from './visibility-checks.js';
import { implies } from '../fhir/predicate-implication.js';

/** A domain rule on writes: throws (an OperationOutcomeError) to refuse `next`; `previous` is undefined on create. */
export type WriteGuard = (ctx: AuditContext, previous: Resource | undefined, next: Resource) => void;

/** What a committed write did; `resource` is the stored version (for a delete: the last version before it). */
export interface WriteEvent { interaction: 'create' | 'update' | 'delete'; resource: Resource; previous?: Resource }

/**
 * Runs inside the write's transaction, after the write: enqueue durable follow-up work (subscriptions,
 * notifications) on `tx.jobs` so that it commits, or rolls back, with the write.
 */
export type AfterWrite = (tx: Storage, ctx: AuditContext, event: WriteEvent) => Promise<void>;

/**
 * Server-owned content of a write, set before validation and storage (e.g. the owner recorded on a Subscription):
 * returns `next` unchanged or a copy with the platform's elements. `previous` is undefined on create.
 */
export type PrepareWrite = (ctx: AuditContext, previous: Resource | undefined, next: Resource, storage: Storage) => Resource | Promise<Resource>;

export interface ResourceServiceDeps {
  storage: Storage;
  registry: SearchRegistry;
  validator: Validator;
  access: AccessPolicy;
  logger: Logger;
  searchDefaults: { defaultCount: number; maxCount: number };
  /** Checked on create and update (patch and conditional writes go through them). */
  writeGuards?: readonly WriteGuard[];
  /** Called in the transaction of every create, update and delete. */
  afterWrite?: readonly AfterWrite[];
  /** Applied to every create and update before validation (create) or before the guards (update). */
  prepareWrite?: readonly PrepareWrite[];
  /** Participant-based visibility: a predicate ANDed into every search, read and include of restricted types. */
  visibility?: VisibilityPort;
}

export type Query = Record<string, string[]>;

export interface SearchOutcome extends SearchResult { parsed: ParsedSearch }

export interface ResourceService {
  readonly registry: SearchRegistry;
  /** The job queue of this service's storage: inside `transaction`, jobs enqueued here commit with the writes. */
  readonly jobs: JobQueue;
  /** The message log of this service's storage: inside `transaction`, a message's settlement commits with the writes. */
  readonly messages: MessageLog;
  create<T extends Resource>(ctx: AuditContext, resource: T, options?: { ifNoneExist?: Query; id?: string }): Promise<{ resource: T; created: boolean }>;
  read<T extends Resource = Resource>(ctx: AuditContext, type: string, id: string): Promise<T>;
  vread<T extends Resource = Resource>(ctx: AuditContext, type: string, id: string, versionId: string): Promise<T>;
  update<T extends Resource>(ctx: AuditContext, resource: T, options?: { ifMatch?: string }): Promise<{ resource: T; created: boolean }>;
  conditionalUpdate<T extends Resource>(ctx: AuditContext, type: string, query: Query, resource: T, options?: { ifMatch?: string }): Promise<{ resource: T; created: boolean }>;
  patch(ctx: AuditContext, type: string, id: string, operations: unknown, options?: { ifMatch?: string }): Promise<Resource>;
  delete(ctx: AuditContext, type: string, id: string, options?: { ifMatch?: string }): Promise<void>;
  /** `where`: predicates a workflow adds to the query's (e.g. a worklist's view), under the same access rules. */
  search(ctx: AuditContext, type: string, query: Query, options?: { lenient?: boolean; where?: readonly Predicate[] }): Promise<SearchOutcome>;
  history(ctx: AuditContext, type: string | undefined, id: string | undefined, query: HistoryQuery): Promise<{ entries: HistoryEntry[]; total: number }>;
  validate(resource: Resource, profiles?: string[]): OperationOutcomeIssue[];
  /** Runs `fn` with a service whose every write (and audit) commits atomically. */
  transaction<T>(fn: (svc: ResourceService) => Promise<T>): Promise<T>;
  /** Inside `transaction`: holds `key` until commit (Storage.lock), e.g. before a transaction Bundle's conditional create. */
  lock(key: string): Promise<void>;
  /**
   * Throws 403 unless the caller's scopes allow `interaction` on `resourceType`: for adapters whose data is not a FHIR
   * resource but is governed by one (DICOMweb and DIMSE instances by ImagingStudy).
   */
  authorize(ctx: AuditContext, interaction: Interaction, resourceType: string): void;
}

/**
 * The predicates a search runs: the query's, the workflow's `where` and the caller's visibility filter — unless a
 * `where` predicate already implies the filter (a requis' worklist "owner ∈ my roles and communities" lists only
 * dossiers visibility lets them see), so that the rule's EXISTS alternatives are not tested again on every candidate.
 */
export function searchPredicates(query: readonly Predicate[], where: readonly Predicate[], filter: Predicate | undefined): Predicate[] {
  const needed = filter && !where.some((w) => implies(w, filter)) ? [filter] : [];
  return [...query, ...where, ...needed];
}

/** FHIR R4 id datatype: 1–64 of [A-Za-z0-9-.]. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** The current version, or undefined when the resource never existed or is deleted. */
async function readIfPresent(s: Storage, type: string, id: string): Promise<Resource | undefined> {
  try {
    return await s.resources.read(type, id);
  } catch (e) {
    if (e instanceof OperationOutcomeError && ['404', '410'].includes(String(e.outcome.id))) return undefined;
    throw e;
  }
}

export function createResourceService(deps: ResourceServiceDeps, inTransaction = false): ResourceService {
  const { storage, registry, validator, access, logger } = deps;

  function knownType(type: string): void {
    if (!registry.has(type) || type === 'Bundle') throw errors.notFound(`Unknown or unsupported resource type: ${type}`);
  }

  /** Writes go through a transaction together with their audit job; reads queue their audit off the request path. */
  async function audited<T>(ctx: AuditContext, type: string, rec: (result: T) => AuditRecord, fn: (s: Storage) => Promise<T>, write: boolean): Promise<T> {
    if (!isAudited(type)) return write && deps.afterWrite?.length ? storage.transaction(fn) : fn(storage);
    if (write) {
      return storage.transaction(async (tx) => {
        const result = await fn(tx);
        await queueAudit(tx.jobs, ctx, rec(result));
        return result;
      });
    }
    const result = await fn(storage);
    const queued = queueAudit(storage.jobs, ctx, rec(result));
    if (inTransaction) await queued;
    else queued.catch((e: unknown) => logger.error('audit enqueue failed', { err: String(e) }));
    return result;
  }

  /** The access decision; a denial is itself audited (outcome 4) before the 403 goes back. */
  function guard(ctx: AuditContext, interaction: Interaction, type: string, resource?: Resource): void {
    try {
      access.check(ctx.principal, interaction, type, resource);
    } catch (e) {
      const entity = resource?.id ? [refOf(resource)] : [];
      queueAudit(storage.jobs, ctx, {
        interaction, action: interaction === 'create' ? 'C' : interaction === 'update' ? 'U' : interaction === 'delete' ? 'D' : 'R',
        entities: entity, outcome: '4', outcomeDesc: e instanceof OperationOutcomeError ? e.outcome.issue?.[0]?.details?.text : 'denied',
      }).catch((err: unknown) => logger.error('audit enqueue failed', { err: String(err) }));
      throw e;
    }
  }

  function visible<T extends Resource>(ctx: AuditContext, r: T): T {
    // A resource the caller may not see does not exist for them (no 403 that would reveal it).
    if (!access.canSee(ctx.principal, r)) throw errors.notFound(`${r.resourceType}/${r.id} not found`);
    return r;
  }

  const { restriction, visibleSubset, mustSee, checkDossierLinks } = createVisibilityChecks(deps.visibility, visible);

  async function findOne(ctx: AuditContext, type: string, query: Query, s: Storage): Promise<Resource | undefined> {
    if (Object.keys(query).length === 0) throw errors.badRequest('A conditional request needs search criteria');
    const parsed = parseSearch(registry, type, query, { defaultCount: 2, maxCount: 2 });
    parsed.count = 2;
    parsed.total = 'none';
    const found = await s.resources.search(parsed);
    if (found.resources.length > 1) throw errors.preconditionFailed(`Conditional request matched more than one ${type}`);
    return found.resources[0];
  }

  const prepare = async <T extends Resource>(ctx: AuditContext, previous: Resource | undefined, next: T, s: Storage): Promise<T> => {
    let r: Resource = next;
    for (const hook of deps.prepareWrite ?? []) r = await hook(ctx, previous, r, s);
    return r as T;
  };
  const checkWrite = (ctx: AuditContext, previous: Resource | undefined, next: Resource) => {
    for (const writeGuard of deps.writeGuards ?? []) writeGuard(ctx, previous, next);
  };
  const afterWrite = async (tx: Storage, ctx: AuditContext, event: WriteEvent) => {
    for (const hook of deps.afterWrite ?? []) await hook(tx, ctx, event);
  };

  const svc: ResourceService = {
    registry,
    jobs: storage.jobs,
    messages: storage.messages,

    async create(ctx, submitted, options = {}) {
      knownType(submitted.resourceType);
      guard(ctx, 'create', submitted.resourceType, submitted);
      const resource = await prepare(ctx, undefined, submitted, storage);
      validator.validate(resource);
      checkWrite(ctx, undefined, resource);
      const doCreate = async (s: Storage) => {
        if (options.ifNoneExist) {
          // Match-or-create is serialised on its criteria until commit: two concurrent ones never both create.
          await s.lock(conditionalLockKey(resource.resourceType, options.ifNoneExist));
          const existing = await findOne(ctx, resource.resourceType, options.ifNoneExist, s);
          if (existing) return { resource: existing as typeof resource, created: false };
        }
        await checkDossierLinks(ctx, s, resource);
        const { id: _ignored, ...body } = resource;
        const stored = await s.resources.create({ ...body, resourceType: resource.resourceType } as typeof resource, { id: options.id });
        await afterWrite(s, ctx, { interaction: 'create', resource: stored });
        return { resource: stored, created: true };
      };
      // The lock holds until commit, so a conditional create always runs in a transaction (joined when inside one).
      const run = options.ifNoneExist ? (s: Storage) => s.transaction(doCreate) : doCreate;
      return audited(ctx, resource.resourceType, (r) => ({ interaction: 'create', action: 'C', entities: [refOf(r.resource)] }), run, true);
    },

    async read<T extends Resource>(ctx: AuditContext, type: string, id: string): Promise<T> {
      knownType(type);
      guard(ctx, 'read', type);
      return audited(ctx, type, (r) => ({ interaction: 'read', action: 'R', entities: [refOf(r)] }),
        async (s) => mustSee(ctx, s, await s.resources.read<T>(type, id)), false);
    },

    async vread<T extends Resource>(ctx: AuditContext, type: string, id: string, versionId: string): Promise<T> {
      knownType(type);
      guard(ctx, 'read', type);
      return audited(ctx, type, (r) => ({ interaction: 'vread', action: 'R', entities: [`${refOf(r)}/_history/${versionId}`] }),
        async (s) => {
          const version = visible(ctx, await s.resources.vread<T>(type, id, versionId));
          // Visibility follows the dossier as it is now; an old version of a dossier one left is not shown.
          if ((await visibleSubset(ctx, s, [{ resourceType: type, id } as Resource])).length === 0) throw errors.notFound(`${type}/${id} not found`);
          return version;
        }, false);
    },

    async update(ctx, resource, options = {}) {
      knownType(resource.resourceType);
      if (!resource.id) throw errors.badRequest('Resource id is required for update', `${resource.resourceType}.id`);
      if (!FHIR_ID.test(resource.id)) throw errors.badRequest(`Invalid resource id: ${resource.id.slice(0, 80)}`, `${resource.resourceType}.id`);
      guard(ctx, 'update', resource.resourceType, resource);
      validator.validate(resource);
      return audited(ctx, resource.resourceType, (r) => ({ interaction: 'update', action: r.created ? 'C' : 'U', entities: [refOf(r.resource)] }),
        async (s) => {
          const existing = await readIfPresent(s, resource.resourceType, resource.id as string);
          if (existing) {
            guard(ctx, 'update', existing.resourceType, existing);
            await mustSee(ctx, s, existing);
          }
          const prepared = await prepare(ctx, existing, resource, s);
          if (prepared !== resource) validator.validate(prepared);
          checkWrite(ctx, existing, prepared);
          await checkDossierLinks(ctx, s, prepared);
          const result = await s.resources.update(prepared, options);
          await afterWrite(s, ctx, { interaction: result.created ? 'create' : 'update', resource: result.resource, previous: existing });
          return result;
        }, true);
    },

    async conditionalUpdate(ctx, type, query, resource, options = {}) {
      knownType(type);
      return withTx(async (t, s) => {
        const existing = await findOne(ctx, type, query, s);
        if (!existing) {
          if (resource.id) return t.update(ctx, resource, options);
          return t.create(ctx, resource);
        }
        if (resource.id && resource.id !== existing.id) {
          throw errors.badRequest(`Resource id ${resource.id} differs from the matched ${type}/${existing.id}`);
        }
        return t.update(ctx, { ...resource, id: existing.id }, options);
      });
    },

    async patch(ctx, type, id, operations, options = {}) {
      knownType(type);
      if (!Array.isArray(operations)) throw errors.badRequest('JSON Patch body must be an array of operations');
      return withTx(async (t) => {
        const current = await t.read(ctx, type, id);
        if (options.ifMatch && parseIfMatch(options.ifMatch) !== current.meta?.versionId) {
          throw errors.preconditionFailed(`${type}/${id}: If-Match ${options.ifMatch} does not match current version ${current.meta?.versionId}`);
        }
        const invalid = fjp.validate(operations as Operation[], current);
        if (invalid) throw errors.badRequest(`Invalid JSON Patch: ${invalid.message.split('\n')[0]}`);
        let patched: Resource;
        try {
          patched = fjp.applyPatch(structuredClone(current), operations as Operation[], true, false).newDocument;
        } catch (e) {
          throw errors.unprocessable(`JSON Patch could not be applied: ${(e as Error).message.split('\n')[0]}`);
        }
        if (patched.resourceType !== type || patched.id !== id) throw errors.badRequest('JSON Patch may not change resourceType or id');
        return (await t.update(ctx, patched, { ifMatch: current.meta?.versionId })).resource;
      });
    },

    async delete(ctx, type, id, options = {}) {
      knownType(type);
      guard(ctx, 'delete', type);
      await audited(ctx, type, () => ({ interaction: 'delete', action: 'D', entities: [`${type}/${id}`] }), async (s) => {
        const existing = await readIfPresent(s, type, id);
        if (existing) {
          guard(ctx, 'delete', type, existing);
          await mustSee(ctx, s, existing);
        }
        await s.resources.delete(type, id, options);
        if (existing) await afterWrite(s, ctx, { interaction: 'delete', resource: existing });
      }, true);
    },

    async search(ctx, type, query, options = {}) {
      knownType(type);
      guard(ctx, 'search', type);
      const parsed = parseSearch(registry, type, query, { ...deps.searchDefaults, lenient: options.lenient });
      if (parsed.summary === 'count') { parsed.count = 0; parsed.total = 'accurate'; }
      for (const inc of [...parsed.include, ...parsed.revinclude]) guard(ctx, 'search', inc.sourceType);
      const queryString = new URLSearchParams(Object.entries(query).flatMap(([k, vs]) => vs.map((v) => [k, v]))).toString();
      return audited(ctx, type, (r) => ({
        interaction: 'search-type', action: 'E', query: `${type}?${queryString}`,
        entities: [...r.resources, ...r.included].map(refOf),
      }), async (s) => {
        const filter = await restriction(ctx, type, s);
        const predicates = searchPredicates(parsed.predicates, options.where ?? [], filter);
        const result = await s.resources.search({ ...parsed, predicates });
        const resources = result.resources.filter((r) => access.canSee(ctx.principal, r));
        const included = await visibleSubset(ctx, s, result.included.filter((r) => access.canSee(ctx.principal, r)));
        // Hidden matches are not counted either.
        const hidden = result.resources.length - resources.length;
        return { ...result, resources, included, total: result.total === undefined ? undefined : result.total - hidden, parsed };
      }, false);
    },

    async history(ctx, type, id, query) {
      if (type) knownType(type);
      guard(ctx, 'read', type ?? '*');
      return audited(ctx, type ?? 'Resource', (r) => ({
        interaction: id ? 'history-instance' : type ? 'history-type' : 'history-system', action: 'R',
        entities: r.entries.map((e) => `${e.resourceType}/${e.id}/_history/${e.versionId}`),
      }), async (s) => {
        const h = await s.resources.history(type, id, query);
        const shown = new Set((await visibleSubset(ctx, s, h.entries.map((e) => ({ resourceType: e.resourceType, id: e.id }) as Resource))).map(refOf));
        const entries = h.entries.filter((e) => shown.has(`${e.resourceType}/${e.id}`) && (!e.resource || access.canSee(ctx.principal, e.resource)));
        return { entries, total: h.total - (h.entries.length - entries.length) };
      }, false);
    },

    validate(resource, profiles) {
      return validator.check(resource, profiles);
    },

    lock(key) {
      return storage.lock(key);
    },

    authorize(ctx, interaction, resourceType) {
      deps.access.check(ctx.principal, interaction, resourceType);
    },

    transaction(fn) {
      if (inTransaction) return fn(svc);
      return inBufferedTransaction((tx) => fn(createResourceService({ ...deps, storage: tx }, true)));
    },
  };
  return svc;

  function withTx<T>(fn: (t: ResourceService, s: Storage) => Promise<T>): Promise<T> {
    if (inTransaction) return fn(svc, storage);
    return inBufferedTransaction((tx) => fn(createResourceService({ ...deps, storage: tx }, true), tx));
  }

  /** A transaction whose audit jobs are written together just before it commits. */
  function inBufferedTransaction<T>(fn: (tx: Storage) => Promise<T>): Promise<T> {
    return storage.transaction(async (tx) => {
      const buffered = bufferAudits(tx);
      const result = await fn(buffered.storage);
      await buffered.flush();
      return result;
    });
  }
}
