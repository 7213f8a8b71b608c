// Tests for the BlobStore implementations: the shared contract plus filesystem-specific durability and memory checks.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { blobStoreContract, failingMidway, generated, readAll, rejectionStatus, sha256Key } from './blob-store.contract.js';
import { createFsBlobStore } from './fs-blob-store.js';
import { createMemoryBlobStore } from './memory-blob-store.js';

const MB = 1024 * 1024;

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'blob-store-test-'));
}

blobStoreContract('memory', async () => ({ store: createMemoryBlobStore(), cleanup: async () => undefined }));

blobStoreContract('filesystem', async () => {
  const root = await tempRoot();
  return { store: await createFsBlobStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});

describe('createFsBlobStore', () => {
  let root: string;
  beforeEach(async () => {
    root = await tempRoot();
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('places a blob at <root>/<hh>/<hh>/<key>', async () => {
    const store = await createFsBlobStore(root);
    const { key } = await store.put(Readable.from([Buffer.from('layout')]));
    expect(key).to.equal(sha256Key('layout'));
    const hex = key.slice('sha256-'.length);
    expect(await readdir(join(root, hex.slice(0, 2), hex.slice(2, 4)))).to.deep.equal([key]);
  });

  it('leaves no file in tmp/ after a successful put', async () => {
    const store = await createFsBlobStore(root);
    await store.put(Readable.from([Buffer.from('hello')]));
    await store.put(Readable.from([Buffer.from('hello')])); // the idempotent path too
    expect(await readdir(join(root, 'tmp'))).to.deep.equal([]);
  });

  it('leaves no file in tmp/ after a failed put', async () => {
    const store = await createFsBlobStore(root);
    expect(await rejectionStatus(store.put(generated(4 * MB), { maxBytes: MB }))).to.equal(413);
    await store.put(failingMidway()).catch(() => undefined);
    expect(await readdir(join(root, 'tmp'))).to.deep.equal([]);
  });

  it('removes leftover temp files from crashed writes on creation', async () => {
    await mkdir(join(root, 'tmp'), { recursive: true });
    await writeFile(join(root, 'tmp', 'deadbeef.part'), 'half-written');
    await mkdir(join(root, 'tmp', 'stray-dir'));
    await createFsBlobStore(root);
    expect(await readdir(join(root, 'tmp'))).to.deep.equal([]);
  });

  it('keeps stored blobs across re-creation', async () => {
    const first = await createFsBlobStore(root);
    const { key } = await first.put(Readable.from([Buffer.from('persistent')]));
    const second = await createFsBlobStore(root);
    expect(await second.stat(key)).to.deep.equal({ key, size: 10 });
    expect((await readAll(await second.get(key))).toString()).to.equal('persistent');
  });

  it('does not escape the root for traversal-shaped keys', async () => {
    await writeFile(join(root, 'secret'), 'secret');
    const store = await createFsBlobStore(root);
    expect(await rejectionStatus(store.get('../secret'))).to.equal(404);
    expect(await rejectionStatus(store.get(`sha256-${'0'.repeat(58)}/../../../secret`))).to.equal(404);
    await store.delete('../secret');
    expect(await readdir(root)).to.include('secret');
  });

  it('grows memory by less than 64 MB while putting a 300 MB stream', async () => {
    const store = await createFsBlobStore(root);
    const before = process.memoryUsage().rss;
    let peak = before;
    async function* sampled(): AsyncGenerator<Uint8Array> {
      for await (const chunk of generated(300 * MB, 256 * 1024)) {
        peak = Math.max(peak, process.memoryUsage().rss);
        yield chunk;
      }
    }
    const info = await store.put(sampled());
    const after = process.memoryUsage().rss;
    expect(info.size).to.equal(300 * MB);
    expect(after - before, 'rss growth after put').to.be.lessThan(64 * MB);
    expect(peak - before, 'peak rss growth during put').to.be.lessThan(64 * MB);
    expect(await readdir(join(root, 'tmp'))).to.deep.equal([]);
  });
});
