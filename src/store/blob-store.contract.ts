// Behavioural contract every BlobStore implementation must pass (run against memory and filesystem stores).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { OperationOutcomeError, statusOf } from '../kernel/errors.js';
import type { BlobStore } from './blob-store.js';

const MB = 1024 * 1024;

export function sha256Key(data: Uint8Array | string): string {
  return `sha256-${createHash('sha256').update(data).digest('hex')}`;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Resolves with the HTTP status of the OperationOutcomeError the promise rejects with. */
export async function rejectionStatus(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(OperationOutcomeError);
    return statusOf((err as OperationOutcomeError).outcome);
  }
  throw new Error('expected the promise to reject');
}

/** Deterministic pseudo-random chunks, generated lazily (never all in memory). */
export async function* generated(totalBytes: number, chunkBytes = MB): AsyncGenerator<Uint8Array> {
  let seed = 0x9e3779b9;
  for (let sent = 0; sent < totalBytes; sent += chunkBytes) {
    const chunk = Buffer.allocUnsafe(Math.min(chunkBytes, totalBytes - sent));
    for (let i = 0; i + 4 <= chunk.length; i += 4) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      chunk.writeUInt32LE(seed, i);
    }
    chunk.fill(7, chunk.length - (chunk.length % 4));
    yield chunk;
  }
}

/** A source that yields some bytes and then fails, as a dropped upload would. */
export async function* failingMidway(): AsyncGenerator<Uint8Array> {
  yield Buffer.from('first part of an upload that ');
  yield Buffer.from('will never finish');
  throw new Error('connection reset');
}

export function blobStoreContract(
  name: string,
  make: () => Promise<{ store: BlobStore; cleanup: () => Promise<void> }>,
): void {
  describe(`BlobStore contract: ${name}`, () => {
    let store: BlobStore;
    let cleanup: () => Promise<void>;
    const content = Buffer.from('0123456789abcdefghij');

    beforeEach(async () => {
      ({ store, cleanup } = await make());
    });
    afterEach(async () => {
      await cleanup();
    });

    it('stores and reads back content under its sha256 key', async () => {
      const info = await store.put(Readable.from([content.subarray(0, 7), content.subarray(7)]));
      expect(info).to.deep.equal({ key: sha256Key(content), size: content.length });
      expect(await store.stat(info.key)).to.deep.equal(info);
      expect(await readAll(await store.get(info.key))).to.deep.equal(content);
    });

    it('accepts an async iterable as the source', async () => {
      const info = await store.put((async function* () { yield content; })());
      expect(info.key).to.equal(sha256Key(content));
    });

    it('stores empty content', async () => {
      const info = await store.put(Readable.from([]));
      expect(info).to.deep.equal({ key: sha256Key(''), size: 0 });
      expect(await readAll(await store.get(info.key))).to.have.length(0);
    });

    it('is idempotent when the same content is put twice', async () => {
      const first = await store.put(Readable.from([content]));
      const second = await store.put(Readable.from([content]));
      expect(second).to.deep.equal(first);
      expect(await readAll(await store.get(first.key))).to.deep.equal(content);
    });

    it('accepts concurrent puts of the same content', async () => {
      const infos = await Promise.all([1, 2, 3].map(() => store.put(Readable.from([content]))));
      expect(new Set(infos.map((i) => i.key)).size).to.equal(1);
      expect(await readAll(await store.get(infos[0].key))).to.deep.equal(content);
    });

    describe('range reads', () => {
      let key: string;
      beforeEach(async () => {
        ({ key } = await store.put(Readable.from([content])));
      });
      const cases: Array<[string, number, number]> = [
        ['the first byte', 0, 0],
        ['a middle slice', 3, 6],
        ['the last byte', 19, 19],
        ['the whole blob', 0, 19],
      ];
      for (const [what, start, end] of cases) {
        it(`returns ${what}`, async () => {
          const bytes = await readAll(await store.get(key, { start, end }));
          expect(bytes).to.deep.equal(content.subarray(start, end + 1));
        });
      }

      it('clamps an end beyond the blob to its last byte', async () => {
        const bytes = await readAll(await store.get(key, { start: 15, end: 1000 }));
        expect(bytes).to.deep.equal(content.subarray(15));
      });

      it('rejects with 416 when start is after end or beyond the blob', async () => {
        expect(await rejectionStatus(store.get(key, { start: 5, end: 4 }))).to.equal(416);
        expect(await rejectionStatus(store.get(key, { start: 20, end: 25 }))).to.equal(416);
        expect(await rejectionStatus(store.get(key, { start: -1, end: 4 }))).to.equal(416);
      });
    });

    it('rejects with 404 for an unknown key', async () => {
      const key = sha256Key('never stored');
      expect(await store.stat(key)).to.equal(undefined);
      expect(await rejectionStatus(store.get(key))).to.equal(404);
    });

    it('rejects with 404 for malformed keys, including path traversal attempts', async () => {
      const hex = sha256Key('x').slice('sha256-'.length);
      const malformed = [
        '../../etc/passwd',
        `sha256-../../${hex.slice(6)}`,
        `sha256-${hex.toUpperCase()}`,
        `sha256-${hex.slice(1)}`,
        `sha256-${hex}/`,
        `md5-${hex}`,
        '',
      ];
      for (const key of malformed) {
        expect(await store.stat(key), key).to.equal(undefined);
        expect(await rejectionStatus(store.get(key)), key).to.equal(404);
        await store.delete(key); // ignored, must not throw
      }
    });

    it('rejects with 413 and leaves nothing visible when maxBytes is exceeded', async () => {
      const big = Buffer.alloc(1000, 1);
      expect(await rejectionStatus(store.put(Readable.from([big.subarray(0, 600), big.subarray(600)]), { maxBytes: 999 })))
        .to.equal(413);
      expect(await store.stat(sha256Key(big))).to.equal(undefined);
    });

    it('accepts content of exactly maxBytes', async () => {
      const info = await store.put(Readable.from([content]), { maxBytes: content.length });
      expect(info.size).to.equal(content.length);
    });

    it('destroys a Readable source that exceeds maxBytes', async () => {
      const source = Readable.from(generated(10 * MB, 64 * 1024));
      await rejectionStatus(store.put(source, { maxBytes: MB }));
      expect(source.destroyed).to.equal(true);
    });

    it('leaves nothing visible when the source fails midway', async () => {
      let failure: unknown;
      await store.put(failingMidway()).catch((err: unknown) => (failure = err));
      expect((failure as Error | undefined)?.message).to.equal('connection reset');
      const partial = sha256Key('first part of an upload that ');
      expect(await store.stat(partial)).to.equal(undefined);
      expect(await store.stat(sha256Key('first part of an upload that will never finish'))).to.equal(undefined);
    });

    it('leaves nothing visible when a Readable source emits an error', async () => {
      const source = new Readable({ read() {} });
      source.push(Buffer.from('some bytes'));
      setImmediate(() => source.destroy(new Error('socket hang up')));
      let failure: unknown;
      await store.put(source).catch((err: unknown) => (failure = err));
      expect((failure as Error | undefined)?.message).to.equal('socket hang up');
      expect(await store.stat(sha256Key('some bytes'))).to.equal(undefined);
    });

    it('streams large content (50 MB) through put and get', async () => {
      const size = 50 * MB;
      const expected = createHash('sha256');
      for await (const chunk of generated(size)) expected.update(chunk);
      const info = await store.put(generated(size));
      expect(info).to.deep.equal({ key: `sha256-${expected.digest('hex')}`, size });

      const actual = createHash('sha256');
      let read = 0;
      for await (const chunk of (await store.get(info.key)) as AsyncIterable<Buffer>) {
        actual.update(chunk);
        read += chunk.length;
      }
      expect(read).to.equal(size);
      expect(`sha256-${actual.digest('hex')}`).to.equal(info.key);
    });

    it('deletes a blob and ignores deleting an absent one', async () => {
      const { key } = await store.put(Readable.from([content]));
      await store.delete(key);
      expect(await store.stat(key)).to.equal(undefined);
      expect(await rejectionStatus(store.get(key))).to.equal(404);
      await store.delete(key);
      const again = await store.put(Readable.from([content]));
      expect(await readAll(await store.get(again.key))).to.deep.equal(content);
    });
  });
}
