// Blob store port: content-addressed, streamed, atomic (no half-written blob is ever visible).
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { errors } from '../kernel/errors.js';

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

/** A content address: `sha256-` and 64 lowercase hex digits (anything else names no blob). */
export const BLOB_KEY_PATTERN = /^sha256-[0-9a-f]{64}$/;

/** Validates a byte range against a blob size; `end` beyond the blob is clamped (HTTP Range semantics). */
export function resolveRange(range: BlobRange, size: number): { start: number; end: number } {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || start >= size) {
    throw errors.rangeNotSatisfiable(`Range ${start}-${end} not satisfiable for a blob of ${size} bytes`);
  }
  return { start, end: Math.min(end, size - 1) };
}

/**
 * Pulls `source` one chunk at a time (backpressure), hashing and counting; `sink` receives each chunk.
 * Throws a 413 past `maxBytes`. Leaving the loop by throwing destroys a Readable / returns a generator.
 */
export async function consumeHashing(
  source: Readable | AsyncIterable<Uint8Array>, maxBytes: number, sink: (chunk: Uint8Array) => Promise<void> | void,
): Promise<BlobInfo> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const raw of source as AsyncIterable<Uint8Array | string>) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    size += chunk.byteLength;
    if (size > maxBytes) throw errors.payloadTooLarge(`Content exceeds the limit of ${maxBytes} bytes`);
    hash.update(chunk);
    await sink(chunk);
  }
  return { key: `sha256-${hash.digest('hex')}`, size };
}
