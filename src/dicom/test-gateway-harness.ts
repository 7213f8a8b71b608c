// Test harness: a DIMSE gateway on port 0 over a real store service (fs blob store + memory or PGlite index).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger } from '../kernel/logger.js';
import { migrate } from '../postgres/migrations.js';
import { createPostgresInstanceIndex } from '../postgres/postgres-instance-index.js';
import { storageOn } from '../postgres/postgres-storage.js';
import { createPgliteClient } from '../postgres/sql-client.js';
import type { BlobStore } from '../store/blob-store.js';
import { createFsBlobStore } from '../store/fs-blob-store.js';
import type { InstanceIndex } from '../store/instance-index.js';
import { createMemoryInstanceIndex } from '../store/memory-instance-index.js';
import { createMemoryStorage } from '../store/memory-storage.js';
import type { Storage } from '../store/resource-store.js';
import { testRegistry } from '../store/test-storages.js';
import { createInstanceStore } from '../workflow/imaging/instance-store.js';
import type { AssociationPolicy } from './association-policy.js';
import { startDimseGateway, type DimseGateway, type DicomTlsOptions } from './dimse-gateway.js';

export interface GatewayHarness {
  readonly gateway: DimseGateway;
  readonly port: number;
  readonly index: InstanceIndex;
  readonly blobs: BlobStore;
  /** The storage whose job queue holds the audit jobs. */
  readonly storage: Storage;
  /** Where the fs blob store keeps a blob (`<root>/<hh>/<hh>/<key>`). */
  blobPath(key: string): string;
  blobBytes(key: string): Promise<Buffer>;
  close(): Promise<void>;
}

export const TEST_POLICY: AssociationPolicy = {
  aeTitle: 'TELEO',
  knownAes: [
    { aeTitle: 'MODALITY', host: '127.0.0.1', operations: ['echo', 'store'] },
    { aeTitle: 'ECHOONLY', operations: ['echo'] },
    { aeTitle: 'ELSEWHERE', host: '192.0.2.1', operations: ['echo', 'store'] },
  ],
  acceptUnknownAes: false,
  maxAssociations: 4,
};

/** `dir` holds the blobs (and the PGlite database): reopening the same `dir` is a restart. */
export async function openGatewayHarness(dir: string, backend: 'memory' | 'pglite', policy: Partial<AssociationPolicy> = {}, tls?: DicomTlsOptions): Promise<GatewayHarness> {
  const blobs = await createFsBlobStore(join(dir, 'blobs'));
  let storage: Storage;
  let index: InstanceIndex;
  if (backend === 'memory') {
    storage = createMemoryStorage(testRegistry);
    index = createMemoryInstanceIndex(storage);
  } else {
    const db = await createPgliteClient(join(dir, 'pglite'));
    await migrate(db);
    storage = storageOn(db, testRegistry);
    index = createPostgresInstanceIndex(db);
  }
  const store = createInstanceStore({ blobs, index });
  const blobPath = (key: string): string => {
    const hex = key.slice('sha256-'.length);
    return join(dir, 'blobs', hex.slice(0, 2), hex.slice(2, 4), key);
  };
  const gateway = await startDimseGateway({ ...TEST_POLICY, ...policy, port: 0, store, index, blobs, tls, logger: createLogger('silent') });
  return {
    gateway, port: gateway.port, index, blobs, storage,
    blobPath,
    blobBytes: (key) => readFile(blobPath(key)),
    async close() {
      await gateway.close();
      await storage.close();
    },
  };
}
