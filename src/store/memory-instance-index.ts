// In-memory twin of the PostgreSQL instance index (same contract), transactional with a Storage's job queue.
import { randomUUID } from 'node:crypto';
import type { InstanceIndex, IndexedInstance, InstanceIndexTx, QuarantinedObject } from './instance-index.js';
import type { Storage } from './resource-store.js';

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
    listQuarantine: async (options) => [...state.quarantine]
      .sort((a, b) => (a.receivedAt === b.receivedAt ? 0 : a.receivedAt < b.receivedAt ? 1 : -1))
      .slice(0, options?.limit ?? 100)
      .map(copy),
  };
}
