// In-memory twin of the PostgreSQL instance index (same contract), transactional with a Storage's job queue.
import { randomUUID } from 'node:crypto';
import { matchesFilter, stringValues } from '../imaging/dicom-matching.js';
import type { IndexedInstance, IndexQuery, IndexQueryMatch, InstanceIndex, InstanceIndexTx, QuarantinedObject, QueryLevel } from './instance-index.js';
import type { Storage } from './resource-store.js';

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The entity an instance belongs to at a level (the PostgreSQL index groups by the same columns). */
function entityKey(level: QueryLevel, i: IndexedInstance): string {
  switch (level) {
    case 'PATIENT': return `${i.patientId ?? ''}\u0000${i.issuerOfPatientId ?? ''}`;
    case 'STUDY': return i.studyInstanceUid;
    case 'SERIES': return i.seriesInstanceUid;
    case 'IMAGE': return i.sopInstanceUid;
  }
}

/** The same semantics as the SQL query of the PostgreSQL index, evaluated over the instances held. */
function evaluate(instances: Iterable<IndexedInstance>, q: IndexQuery): IndexQueryMatch[] {
  const all = [...instances];
  const matched = new Set(all.filter((i) => q.filters.every((f) => matchesFilter(f, i.metadata))).map((i) => entityKey(q.level, i)));
  const groups = new Map<string, IndexedInstance[]>();
  for (const i of all) {
    const k = entityKey(q.level, i);
    if (matched.has(k)) groups.set(k, [...(groups.get(k) ?? []), i]);
  }
  const distinct = (xs: Iterable<string>): string[] => [...new Set(xs)].sort(byString);
  return [...groups.entries()].sort(([a], [b]) => byString(a, b)).slice(q.offset ?? 0, q.limit === undefined ? undefined : (q.offset ?? 0) + q.limit)
    .map(([, members]) => {
      const first = [...members].sort((a, b) => byString(a.sopInstanceUid, b.sopInstanceUid))[0];
      return {
        metadata: structuredClone(first.metadata),
        studies: new Set(members.map((i) => i.studyInstanceUid)).size,
        series: new Set(members.map((i) => i.seriesInstanceUid)).size,
        instances: members.length,
        modalities: distinct(members.flatMap((i) => stringValues(i.metadata['00080060']).slice(0, 1))),
        sopClasses: distinct(members.map((i) => i.sopClassUid)),
      };
    });
}

interface State {
  instances: Map<string, IndexedInstance>;
  quarantine: QuarantinedObject[];
}

/**
 * `storage` provides the job queue and the unit of work: the twin's rows join its transaction (the memory storage
 * runs one transaction at a time), and are restored if the transaction throws.
 */
export function createMemoryInstanceIndex(storage: Storage): InstanceIndex {
  const state: State = { instances: new Map(), quarantine: [] };
  const copy = <T>(v: T): T => structuredClone(v);
  return {
    transaction: (fn) => storage.transaction(async (stx) => {
      const snapshot = { instances: new Map(state.instances), quarantine: [...state.quarantine] };
      const tx: InstanceIndexTx = {
        jobs: stx.jobs,
        async insert(instance) {
          const existing = state.instances.get(instance.sopInstanceUid);
          if (existing) return { kind: 'exists', existing: copy(existing) };
          state.instances.set(instance.sopInstanceUid, copy(instance));
          return { kind: 'inserted', instance: copy(instance) };
        },
        async quarantine(entry) {
          const same = state.quarantine.find((q) => q.blobKey === entry.blobKey && q.reason === entry.reason);
          if (same) return copy(same);
          const stored: QuarantinedObject = { ...copy(entry), id: randomUUID() };
          state.quarantine.push(stored);
          return copy(stored);
        },
        async markReplayed(id, replay) {
          const at = state.quarantine.findIndex((q) => q.id === id);
          if (at < 0) return undefined;
          const marked: QuarantinedObject = { ...state.quarantine[at], replayedAt: replay.at, replayOutcome: replay.outcome };
          state.quarantine = state.quarantine.map((q, i) => (i === at ? marked : q)); // the snapshot keeps the old array
          return copy(marked);
        },
      };
      try {
        return await fn(tx);
      } catch (e) {
        state.instances = snapshot.instances;
        state.quarantine = snapshot.quarantine;
        throw e;
      }
    }),
    get: async (uid) => {
      const found = state.instances.get(uid);
      return found && copy(found);
    },
    listStudy: async (studyUid) => [...state.instances.values()]
      .filter((i) => i.studyInstanceUid === studyUid)
      .sort((a, b) => (a.sopInstanceUid < b.sopInstanceUid ? -1 : a.sopInstanceUid > b.sopInstanceUid ? 1 : 0))
      .map(copy),
    studyMetadata: async (studyUid, seriesUid) => [...state.instances.values()]
      .filter((i) => i.studyInstanceUid === studyUid && (seriesUid === undefined || i.seriesInstanceUid === seriesUid))
      .sort((a, b) => (a.sopInstanceUid < b.sopInstanceUid ? -1 : a.sopInstanceUid > b.sopInstanceUid ? 1 : 0))
      .map((i) => JSON.stringify(i.metadata)),
    query: async (q) => evaluate(state.instances.values(), q),
    listQuarantine: async (options) => {
      const offset = options?.offset ?? 0;
      return state.quarantine
        .filter((q) => options?.reason === undefined || q.reason === options.reason)
        .sort((a, b) => byString(b.receivedAt, a.receivedAt) || byString(a.id, b.id))
        .slice(offset, offset + (options?.limit ?? 100))
        .map(copy);
    },
    getQuarantined: async (id) => {
      const found = state.quarantine.find((q) => q.id === id);
      return found && copy(found);
    },
  };
}
