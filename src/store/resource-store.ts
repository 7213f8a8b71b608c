// Storage ports: versioned FHIR resources (R4 §3.1.0 RESTful API semantics) and the unit of work around them.
import type { Resource } from '@medplum/fhirtypes';
import type { ParsedSearch } from '../fhir/search-request.js';
import type { JobQueue } from './job-queue.js';
import type { MessageLog } from './message-log.js';

export interface HistoryEntry {
  readonly resourceType: string;
  readonly id: string;
  readonly versionId: string;
  readonly lastUpdated: string;
  /** Undefined for a deletion. */
  readonly resource?: Resource;
  readonly method: 'POST' | 'PUT' | 'DELETE';
}

export interface HistoryQuery {
  count: number;
  offset?: number;
  /** Only versions after this instant (R4 `_since`). */
  since?: string;
}

export interface SearchResult {
  readonly resources: Resource[];
  readonly included: Resource[];
  readonly total?: number;
  /** Whether a further page exists. */
  readonly hasMore: boolean;
}

export interface WriteOptions {
  /** `W/"3"` or `3`: the write fails with 412 unless the current version matches. */
  ifMatch?: string;
}

export interface ResourceStore {
  /** Stores a new resource; assigns `id` (unless `options.id`), `meta.versionId` "1" and `meta.lastUpdated`. */
  create<T extends Resource>(resource: T, options?: { id?: string }): Promise<T>;
  /** Current version; 404 when never stored, 410 when deleted. */
  read<T extends Resource = Resource>(resourceType: string, id: string): Promise<T>;
  vread<T extends Resource = Resource>(resourceType: string, id: string, versionId: string): Promise<T>;
  /** New version of `resource.id` (created with that id if absent: update-as-create). */
  update<T extends Resource>(resource: T, options?: WriteOptions): Promise<{ resource: T; created: boolean }>;
  /** Marks deleted (history kept). Deleting an absent or deleted resource is a no-op (R4 §3.1.0.7.1). */
  delete(resourceType: string, id: string, options?: WriteOptions): Promise<void>;
  history(resourceType: string | undefined, id: string | undefined, query: HistoryQuery): Promise<{ entries: HistoryEntry[]; total: number }>;
  search(search: ParsedSearch): Promise<SearchResult>;
}

export interface Storage {
  readonly resources: ResourceStore;
  readonly jobs: JobQueue;
  /** Inbound interface messages (HL7 v2): inside `transaction`, a message's settlement commits with the writes. */
  readonly messages: MessageLog;
  /** Runs `fn` atomically: everything it wrote through `tx` is committed together or not at all. */
  transaction<T>(fn: (tx: Storage) => Promise<T>): Promise<T>;
  /**
   * Inside `transaction`: waits until no other transaction holds `key`, then holds it until this transaction
   * commits or rolls back (so a lookup-then-create on a key cannot interleave: conditional create). Re-entrant
   * within one transaction. Keys are opaque strings; distinct keys may (rarely) wait on each other, never deadlock
   * alone. Outside a transaction it only waits for the current holder.
   */
  lock(key: string): Promise<void>;
  close(): Promise<void>;
}

/** Parses an If-Match header value (`W/"3"`, `"3"`, `3`) into a version id. */
export function parseIfMatch(ifMatch: string): string {
  return ifMatch.replace(/^W\//, '').replace(/"/g, '').trim();
}
