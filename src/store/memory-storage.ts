// In-memory twin of the PostgreSQL storage (Medplum's MemoryRepository idea): same ports, same contract tests.
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { errors } from '../kernel/errors.js';
import { extractIndexRows } from '../fhir/search-index.js';
import type { SearchRegistry } from '../fhir/search-registry.js';
import type { HistoryEntry, ResourceStore, Storage, WriteOptions } from './resource-store.js';
import { totalWithoutCount } from '../fhir/search-request.js';
import { parseIfMatch } from './resource-store.js';
import { compareEntries, matches, type EntryLookup, type IndexedEntry } from './memory-search.js';
import { resolveIncludes } from './search-includes.js';
import { createMemoryJobQueue, type MemoryJobState } from './memory-job-queue.js';
import { createMemoryMessageLog, type MemoryMessageState } from './memory-message-log.js';

interface Current { entry?: IndexedEntry; resource?: Resource; version: number }

interface State {
  current: Map<string, Current>;
  history: HistoryEntry[];
  jobs: MemoryJobState;
  messages: MemoryMessageState;
}

const k = (type: string, id: string) => `${type}/${id}`;

/** A simple FIFO mutex: the twin runs one operation (or one transaction) at a time, like a serialisable database. */
function createMutex() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

export function createMemoryStorage(registry: SearchRegistry): Storage {
  const state: State = { current: new Map(), history: [], jobs: { jobs: [], seq: 0 }, messages: { rows: [], seq: 0 } };
  const lock = createMutex();
  return build(state, registry, lock, false);
}

function build(state: State, registry: SearchRegistry, lock: ReturnType<typeof createMutex>, inTx: boolean): Storage {
  const guarded = <T>(fn: () => Promise<T>) => (inTx ? fn() : lock(fn));
  const resources = createMemoryResourceStore(state, registry, guarded);
  const storage: Storage = {
    resources,
    jobs: createMemoryJobQueue(state.jobs, guarded),
    messages: createMemoryMessageLog(state.messages, guarded),
    transaction: (fn) => {
      if (inTx) return fn(storage);
      return lock(async () => {
        const snapshot = { current: new Map(state.current), history: state.history.length, jobs: structuredClone(state.jobs), messages: structuredClone(state.messages) };
        try {
          return await fn(build(state, registry, lock, true));
        } catch (e) {
          state.current = snapshot.current;
          state.history.length = snapshot.history;
          state.jobs.jobs = snapshot.jobs.jobs;
          state.jobs.seq = snapshot.jobs.seq;
          state.messages.rows = snapshot.messages.rows;
          state.messages.seq = snapshot.messages.seq;
          throw e;
        }
      });
    },
    // A no-op is exact here: the twin runs one transaction at a time, from its first read to its commit (the
    // mutex above), so no other transaction can interleave with the holder of any key.
    lock: async () => undefined,
    close: async () => undefined,
  };
  return storage;
}

function createMemoryResourceStore(state: State, registry: SearchRegistry, guarded: <T>(fn: () => Promise<T>) => Promise<T>): ResourceStore {
  const lookup: EntryLookup = {
    get: (type, id) => state.current.get(k(type, id))?.entry,
    *ofType(type) {
      for (const c of state.current.values()) if (c.entry && c.entry.type === type) yield c.entry;
    },
  };

  function put<T extends Resource>(resource: T, version: number, method: 'POST' | 'PUT'): T {
    const id = resource.id as string;
    const lastUpdated = new Date().toISOString();
    const stored = structuredClone({ ...resource, id, meta: { ...resource.meta, versionId: String(version), lastUpdated } }) as T;
    const entry: IndexedEntry = { type: resource.resourceType, id, lastUpdated: Date.parse(lastUpdated), rows: extractIndexRows(stored, registry) };
    state.current.set(k(resource.resourceType, id), { entry, resource: stored, version });
    state.history.push({ resourceType: resource.resourceType, id, versionId: String(version), lastUpdated, method, resource: stored });
    return structuredClone(stored);
  }

  function checkIfMatch(cur: Current | undefined, options: WriteOptions | undefined, ref: string): void {
    if (options?.ifMatch === undefined) return;
    if (!cur || String(cur.version) !== parseIfMatch(options.ifMatch)) {
      throw errors.preconditionFailed(`${ref}: If-Match ${options.ifMatch} does not match current version ${cur ? cur.version : '(none)'}`);
    }
  }

  const fetchAll = (type: string, ids: Iterable<string>): Resource[] => {
    const out: Resource[] = [];
    for (const id of ids) {
      const r = state.current.get(k(type, id))?.resource;
      if (r) out.push(structuredClone(r));
    }
    return out;
  };

  return {
    create: (resource, options) => guarded(async () => {
      const id = options?.id ?? randomUUID();
      if (state.current.has(k(resource.resourceType, id))) throw errors.conflict(`${resource.resourceType}/${id} was written concurrently`);
      return put({ ...resource, id }, 1, 'POST');
    }),
    read: <T extends Resource>(type: string, id: string) => guarded(async () => {
      const cur = state.current.get(k(type, id));
      if (!cur) throw errors.notFound(`${type}/${id} not found`);
      if (!cur.resource) throw errors.gone(`${type}/${id} was deleted`);
      return structuredClone(cur.resource) as T;
    }),
    vread: <T extends Resource>(type: string, id: string, versionId: string) => guarded(async () => {
      const h = state.history.find((e) => e.resourceType === type && e.id === id && e.versionId === versionId);
      if (!h) throw errors.notFound(`${type}/${id}/_history/${versionId} not found`);
      if (!h.resource) throw errors.gone(`${type}/${id}/_history/${versionId} is a deletion`);
      return structuredClone(h.resource) as T;
    }),
    update: <T extends Resource>(resource: T, options?: WriteOptions) => guarded(async () => {
      const cur = state.current.get(k(resource.resourceType, resource.id as string));
      checkIfMatch(cur, options, `${resource.resourceType}/${resource.id}`);
      const saved = put(resource, cur ? cur.version + 1 : 1, cur ? 'PUT' : 'POST');
      return { resource: saved, created: !cur || !cur.resource };
    }),
    delete: (type, id, options) => guarded(async () => {
      const cur = state.current.get(k(type, id));
      checkIfMatch(cur, options, `${type}/${id}`);
      if (!cur || !cur.resource) return;
      const version = cur.version + 1;
      state.current.set(k(type, id), { version });
      state.history.push({ resourceType: type, id, versionId: String(version), lastUpdated: new Date().toISOString(), method: 'DELETE' });
    }),
    history: (type, id, q) => guarded(async () => {
      const since = q.since ? Date.parse(q.since) : undefined;
      const all = state.history
        .filter((e) => (!type || e.resourceType === type) && (!id || e.id === id) && (since === undefined || Date.parse(e.lastUpdated) > since))
        .sort((a, b) => (a.lastUpdated === b.lastUpdated ? Number(b.versionId) - Number(a.versionId) : a.lastUpdated < b.lastUpdated ? 1 : -1));
      const offset = q.offset ?? 0;
      return { entries: structuredClone(all.slice(offset, offset + q.count)), total: all.length };
    }),
    search: (search) => guarded(async () => {
      const found = [...lookup.ofType(search.resourceType)]
        .filter((e) => search.predicates.every((p) => matches(e, p, lookup)))
        .sort(compareEntries(search.sort));
      const page = found.slice(search.offset, search.offset + search.count);
      const resources = fetchAll(search.resourceType, page.map((e) => e.id));
      const fetcher = {
        forward: async (sourceType: string, code: string, sourceIds: string[], targetType?: string) => {
          const targets = new Map<string, string[]>();
          for (const sid of sourceIds) {
            for (const x of lookup.get(sourceType, sid)?.rows.reference ?? []) {
              if (x.code !== code || !x.targetType || !x.targetId || (targetType && x.targetType !== targetType)) continue;
              targets.set(x.targetType, [...(targets.get(x.targetType) ?? []), x.targetId]);
            }
          }
          return [...targets].flatMap(([t, ids]) => fetchAll(t, new Set(ids)));
        },
        reverse: async (sourceType: string, code: string, targetType: string, targetIds: string[]) => {
          const wanted = new Set(targetIds);
          const ids = [...lookup.ofType(sourceType)]
            .filter((s) => s.rows.reference.some((x) => x.code === code && x.targetType === targetType && x.targetId !== null && wanted.has(x.targetId)))
            .map((s) => s.id);
          return fetchAll(sourceType, ids);
        },
      };
      const included = await resolveIncludes(fetcher, search, resources);
      const hasMore = search.count > 0 && found.length > search.offset + search.count;
      return {
        resources, included, hasMore,
        total: search.total === 'none' ? undefined
          : search.total === 'auto' ? totalWithoutCount(search, resources.length, hasMore) : found.length,
      };
    }),
  };
}
