// Test harness: the Storage backends (memory twin, in-memory PGlite, a real PostgreSQL) every storage contract runs on.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadDefinitions, PLATFORM_RESOURCE_TYPES } from '../fhir/definitions.js';
import { createSearchRegistry, type SearchRegistry } from '../fhir/search-registry.js';
import { parseSearch, type ParsedSearch } from '../fhir/search-request.js';
import { openPostgresStorage } from '../postgres/postgres-storage.js';
import { createMemoryStorage } from './memory-storage.js';
import type { Storage } from './resource-store.js';

loadDefinitions();

/** One registry for all test suites (the R4 parameters of the platform's resource types). */
export const testRegistry: SearchRegistry = createSearchRegistry(PLATFORM_RESOURCE_TYPES);

export interface StorageContext {
  readonly name: string;
  readonly registry: SearchRegistry;
  /** The storage opened for the enclosing suite (valid from its `before` hook on). */
  storage(): Storage;
}

interface Opened { storage: Storage; cleanup(): Promise<void> }
interface Backend { name: string; open(): Promise<Opened> }

/** Groups a query string (`a=1&a=2&b=3`) into the record `parseSearch` takes. */
export function queryOf(qs: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of new URLSearchParams(qs)) (out[k] ??= []).push(v);
  return out;
}

/** Parses a search the way the HTTP adapter does (default page 20, at most 1000). */
export function searchOf(resourceType: string, qs: string, registry: SearchRegistry = testRegistry): ParsedSearch {
  return parseSearch(registry, resourceType, queryOf(qs), { defaultCount: 20, maxCount: 1000 });
}

const memoryBackend: Backend = {
  name: 'memory',
  open: async () => {
    const storage = createMemoryStorage(testRegistry);
    return { storage, cleanup: () => storage.close() };
  },
};

const pgliteBackend: Backend = {
  name: 'pglite',
  open: async () => {
    const { storage } = await openPostgresStorage(testRegistry, {});
    return { storage, cleanup: () => storage.close() };
  },
};

/** A throw-away database on the server at `adminUrl`, dropped (even with open connections) at cleanup. */
function postgresBackend(adminUrl: string): Backend {
  return {
    name: 'postgres',
    open: async () => {
      const dbName = `teleo_test_${randomBytes(6).toString('hex')}`;
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      const drop = async () => {
        await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
        await admin.end();
      };
      try {
        await admin.query(`CREATE DATABASE ${dbName}`);
        const url = new URL(adminUrl);
        url.pathname = `/${dbName}`;
        const { storage } = await openPostgresStorage(testRegistry, { databaseUrl: url.toString() });
        return {
          storage,
          cleanup: async () => {
            try {
              await storage.close();
            } finally {
              await drop();
            }
          },
        };
      } catch (e) {
        await drop().catch(() => undefined);
        throw e;
      }
    },
  };
}

/**
 * Wraps `fn` in one `describe(name)` per backend, with the storage opened once in `before` and closed in `after`.
 * Tests share the suite's database, so each must only look at data it created (unique identifiers/tags).
 * Without `TEST_DATABASE_URL` the PostgreSQL suite is skipped visibly, or fails when `CI=true`.
 */
export function forEachStorage(fn: (name: string, ctx: StorageContext) => void): void {
  const backends: Backend[] = [memoryBackend, pgliteBackend];
  const databaseUrl = process.env.TEST_DATABASE_URL;
  if (databaseUrl) backends.push(postgresBackend(databaseUrl));

  for (const backend of backends) {
    describe(backend.name, function () {
      let opened: Opened | undefined;
      before(async function () {
        this.timeout(120_000);
        opened = await backend.open();
      });
      after(async () => {
        await opened?.cleanup();
        opened = undefined;
      });
      fn(backend.name, {
        name: backend.name,
        registry: testRegistry,
        storage: () => {
          if (!opened) throw new Error(`${backend.name} storage is not open (used outside a test?)`);
          return opened.storage;
        },
      });
    });
  }

  if (!databaseUrl) {
    if (process.env.CI === 'true') {
      describe('postgres', () => {
        it('runs against a PostgreSQL server', () => {
          throw new Error('TEST_DATABASE_URL is required in CI');
        });
      });
    } else {
      describe('postgres (skipped: TEST_DATABASE_URL not set)', function () {
        before(function () {
          this.skip();
        });
        it('runs the storage contract against a PostgreSQL server');
      });
    }
  }
}
