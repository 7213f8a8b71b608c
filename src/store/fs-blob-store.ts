// Filesystem BlobStore: content-addressed (sha256) files, streamed through a temp file, fsync'd and renamed atomically.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat as fsStat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { errors } from '../kernel/errors.js';
import { BLOB_KEY_PATTERN, consumeHashing, resolveRange, type BlobInfo, type BlobStore } from './blob-store.js';

function isErrno(err: unknown, ...codes: string[]): boolean {
  return err instanceof Error && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

/** Writes the whole buffer (FileHandle.write may in principle write partially). */
async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
    offset += bytesWritten;
  }
}

/** Bytes gathered before one write: fewer thread-pool round trips than one write per socket chunk (~64 KiB). */
const WRITE_BATCH_BYTES = 1024 * 1024;

/**
 * Copies chunks into two alternating 1 MiB buffers and writes each full buffer with one write in flight: the next
 * chunks are received and hashed while the thread pool writes the other buffer (the upload was CPU-bound on the main
 * thread, see bench/RESULTS.md). Copying leaves the source free to reuse its chunks; reusing the two buffers adds no
 * allocation (and no garbage collection) per byte.
 */
function batchedWriter(handle: FileHandle): { write(chunk: Uint8Array): Promise<void>; end(): Promise<void>; settle(): Promise<void> } {
  const buffers = [Buffer.allocUnsafe(WRITE_BATCH_BYTES), Buffer.allocUnsafe(WRITE_BATCH_BYTES)];
  let current = 0;
  let used = 0;
  let inFlight: Promise<void> = Promise.resolve();
  const flush = async (): Promise<void> => {
    const full = buffers[current].subarray(0, used);
    await inFlight; // the other buffer is written: it may be refilled next
    const p = writeAll(handle, full);
    p.catch(() => undefined); // observed by the next flush / end; never an unhandled rejection meanwhile
    inFlight = p;
    current = 1 - current;
    used = 0;
  };
  return {
    async write(chunk) {
      for (let off = 0; off < chunk.byteLength;) {
        const n = Math.min(chunk.byteLength - off, WRITE_BATCH_BYTES - used);
        buffers[current].set(chunk.subarray(off, off + n), used);
        used += n;
        off += n;
        if (used === WRITE_BATCH_BYTES) await flush();
      }
    },
    async end() {
      if (used > 0) await flush();
      await inFlight;
    },
    /** Waits for the write in flight (errors ignored), so the handle can be closed after a failure. */
    settle: () => inFlight.catch(() => undefined),
  };
}

/** fsyncs a directory so that entries created or renamed in it survive a crash (no-op where unsupported). */
async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    if (!isErrno(err, 'EISDIR', 'EPERM', 'EINVAL', 'EBADF')) throw err;
  } finally {
    await handle?.close();
  }
}

/**
 * Opens (creating if needed) a blob store rooted at `root`. Layout: `<root>/<hh>/<hh>/sha256-<hex>`,
 * in-flight writes under `<root>/tmp/`. Leftover temp files (from crashed writes) are removed on start,
 * so a root must not be shared by two live stores.
 */
export async function createFsBlobStore(root: string): Promise<BlobStore> {
  const tmpDir = join(root, 'tmp');
  await mkdir(tmpDir, { recursive: true });
  for (const entry of await readdir(tmpDir)) {
    await rm(join(tmpDir, entry), { force: true, recursive: true });
  }

  const pathOf = (key: string): string => {
    const hex = key.slice('sha256-'.length);
    return join(root, hex.slice(0, 2), hex.slice(2, 4), key);
  };

  /** Streams the source into `tmpPath`, hashing and counting; the file is fsync'd and closed on success. */
  async function writeTemp(
    tmpPath: string,
    source: Readable | AsyncIterable<Uint8Array>,
    maxBytes: number,
  ): Promise<BlobInfo> {
    const handle = await open(tmpPath, 'wx');
    const writer = batchedWriter(handle);
    try {
      const info = await consumeHashing(source, maxBytes, (chunk) => writer.write(chunk));
      await writer.end();
      await handle.sync();
      return info;
    } finally {
      await writer.settle();
      await handle.close();
    }
  }

  return {
    async put(source, options) {
      const maxBytes = options?.maxBytes ?? Number.POSITIVE_INFINITY;
      const tmpPath = join(tmpDir, `${randomBytes(16).toString('hex')}.part`);
      // Until iteration starts (after the temp file is opened) nothing listens to a Readable source: keep an
      // 'error' emitted in that window from crashing the process. The stream records it and the loop rethrows it.
      const swallow = (): void => undefined;
      if (source instanceof Readable) source.on('error', swallow);
      try {
        const info = await writeTemp(tmpPath, source, maxBytes);
        const target = pathOf(info.key);
        const shardDir = join(target, '..');
        const created = await mkdir(shardDir, { recursive: true });
        if (created !== undefined) {
          // New shard directories must themselves be durable entries of their parents.
          await syncDir(root);
          await syncDir(join(shardDir, '..'));
        }
        const exists = await fsStat(target).then(
          () => true,
          (err: unknown) => {
            if (isErrno(err, 'ENOENT')) return false;
            throw err;
          },
        );
        if (exists) {
          await rm(tmpPath, { force: true });
        } else {
          await rename(tmpPath, target);
          await syncDir(shardDir);
        }
        return info;
      } catch (err) {
        await rm(tmpPath, { force: true }).catch(() => undefined);
        throw err;
      } finally {
        if (source instanceof Readable) source.off('error', swallow);
      }
    },

    async stat(key) {
      if (!BLOB_KEY_PATTERN.test(key)) return undefined;
      try {
        const st = await fsStat(pathOf(key));
        return { key, size: st.size };
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return undefined;
        throw err;
      }
    },

    async get(key, range) {
      if (!BLOB_KEY_PATTERN.test(key)) throw errors.notFound(`Blob ${key} not found`);
      let handle: FileHandle;
      try {
        handle = await open(pathOf(key), 'r');
      } catch (err) {
        if (isErrno(err, 'ENOENT')) throw errors.notFound(`Blob ${key} not found`);
        throw err;
      }
      try {
        // Stat through the open handle: a concurrent delete cannot pull the file from under the stream.
        const { size } = await handle.stat();
        const bounds = range ? resolveRange(range, size) : undefined;
        // 1 MiB reads (the default is 64 KiB): a 0.5 MB DICOM instance in one read, a large Binary in fewer turns.
        return handle.createReadStream({ ...bounds, autoClose: true, highWaterMark: 1024 * 1024 });
      } catch (err) {
        await handle.close();
        throw err;
      }
    },

    async delete(key) {
      if (!BLOB_KEY_PATTERN.test(key)) return;
      await rm(pathOf(key), { force: true });
    },
  };
}
