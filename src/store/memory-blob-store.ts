// In-memory BlobStore: the test twin of the filesystem store, with the same hashing, limits and range semantics.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { errors } from '../kernel/errors.js';
import type { BlobRange, BlobStore } from './blob-store.js';

const KEY_PATTERN = /^sha256-[0-9a-f]{64}$/;
const READ_CHUNK = 64 * 1024;

/** Validates a byte range against a blob size; `end` beyond the blob is clamped (HTTP Range semantics). */
function resolveRange(range: BlobRange | undefined, size: number): { start: number; end: number } {
  if (!range) return { start: 0, end: size - 1 };
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || start >= size) {
    throw errors.rangeNotSatisfiable(`Range ${start}-${end} not satisfiable for a blob of ${size} bytes`);
  }
  return { start, end: Math.min(end, size - 1) };
}

/** Yields a slice of the buffer in bounded chunks, like a file stream would. */
function* slices(data: Buffer, start: number, end: number): Generator<Buffer> {
  for (let offset = start; offset <= end; offset += READ_CHUNK) {
    yield data.subarray(offset, Math.min(offset + READ_CHUNK, end + 1));
  }
}

export function createMemoryBlobStore(): BlobStore {
  const blobs = new Map<string, Buffer>();

  return {
    async put(source, options) {
      const maxBytes = options?.maxBytes ?? Number.POSITIVE_INFINITY;
      const hash = createHash('sha256');
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const raw of source as AsyncIterable<Uint8Array | string>) {
        const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
        size += chunk.byteLength;
        if (size > maxBytes) throw errors.payloadTooLarge(`Content exceeds the limit of ${maxBytes} bytes`);
        hash.update(chunk);
        chunks.push(Buffer.from(chunk)); // copy: the producer may reuse its buffer
      }
      const key = `sha256-${hash.digest('hex')}`;
      if (!blobs.has(key)) blobs.set(key, Buffer.concat(chunks, size));
      return { key, size };
    },

    async stat(key) {
      const data = KEY_PATTERN.test(key) ? blobs.get(key) : undefined;
      return data ? { key, size: data.byteLength } : undefined;
    },

    async get(key, range) {
      const data = KEY_PATTERN.test(key) ? blobs.get(key) : undefined;
      if (!data) throw errors.notFound(`Blob ${key} not found`);
      const { start, end } = resolveRange(range, data.byteLength);
      return Readable.from(slices(data, start, end), { objectMode: false });
    },

    async delete(key) {
      blobs.delete(key);
    },
  };
}
