// In-memory BlobStore: the test twin of the filesystem store, with the same hashing, limits and range semantics.
import { Readable } from 'node:stream';
import { errors } from '../kernel/errors.js';
import { BLOB_KEY_PATTERN, consumeHashing, resolveRange, type BlobStore } from './blob-store.js';

const READ_CHUNK = 64 * 1024;

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
      const chunks: Buffer[] = [];
      // copy each chunk: the producer may reuse its buffer
      const { key, size } = await consumeHashing(source, maxBytes, (chunk) => { chunks.push(Buffer.from(chunk)); });
      if (!blobs.has(key)) blobs.set(key, Buffer.concat(chunks, size));
      return { key, size };
    },

    async stat(key) {
      const data = BLOB_KEY_PATTERN.test(key) ? blobs.get(key) : undefined;
      return data ? { key, size: data.byteLength } : undefined;
    },

    async get(key, range) {
      const data = BLOB_KEY_PATTERN.test(key) ? blobs.get(key) : undefined;
      if (!data) throw errors.notFound(`Blob ${key} not found`);
      const { start, end } = range ? resolveRange(range, data.byteLength) : { start: 0, end: data.byteLength - 1 };
      return Readable.from(slices(data, start, end), { objectMode: false });
    },

    async delete(key) {
      blobs.delete(key);
    },
  };
}
