// Blob store port: content-addressed, streamed, atomic (no half-written blob is ever visible).
import type { Readable } from 'node:stream';

export interface BlobInfo {
  /** Content address, `sha256-<hex>`. */
  readonly key: string;
  readonly size: number;
}

export interface BlobRange {
  /** First byte, inclusive. */
  readonly start: number;
  /** Last byte, inclusive. */
  readonly end: number;
}

export interface BlobStore {
  /**
   * Streams `source` into the store. Resolves once the content is durable (fsync'd) and visible under its key.
   * Rejects (and leaves nothing visible) if the source errors or exceeds `maxBytes`.
   */
  put(source: Readable | AsyncIterable<Uint8Array>, options?: { maxBytes?: number }): Promise<BlobInfo>;
  /** Size of a stored blob, or undefined when absent. */
  stat(key: string): Promise<BlobInfo | undefined>;
  /** Streams a blob (or a byte range of it). Rejects with a 404 OperationOutcomeError when absent. */
  get(key: string, range?: BlobRange): Promise<Readable>;
  /** Removes a blob (used only by garbage collection); absent keys are ignored. */
  delete(key: string): Promise<void>;
}
