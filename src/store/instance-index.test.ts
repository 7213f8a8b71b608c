// Runs the InstanceIndex contract on the memory twin, PGlite, and a PostgreSQL server when TEST_DATABASE_URL is set.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../postgres/migrations.js';
import { createPostgresInstanceIndex } from '../postgres/postgres-instance-index.js';
import { createPgClient, createPgliteClient } from '../postgres/sql-client.js';
import { instanceIndexContract } from './instance-index.contract.js';
import { createMemoryInstanceIndex } from './memory-instance-index.js';
import { createMemoryStorage } from './memory-storage.js';
import { testRegistry } from './test-storages.js';

instanceIndexContract('memory', async () => {
  const storage = createMemoryStorage(testRegistry);
  return { index: createMemoryInstanceIndex(storage), cleanup: () => storage.close() };
});

instanceIndexContract('pglite', async () => {
  const db = await createPgliteClient();
  await migrate(db);
  return { index: createPostgresInstanceIndex(db), cleanup: () => db.close() };
});

const databaseUrl = process.env.TEST_DATABASE_URL;
if (databaseUrl) {
  instanceIndexContract('postgres', async () => {
    const dbName = `teleo_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    const url = new URL(databaseUrl);
    url.pathname = `/${dbName}`;
    const db = createPgClient(url.toString());
    await migrate(db);
    return {
      index: createPostgresInstanceIndex(db),
      cleanup: async () => {
        await db.close();
        await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
        await admin.end();
      },
    };
  });
} else if (process.env.CI === 'true') {
  describe('InstanceIndex contract: postgres', () => {
    it('runs against a PostgreSQL server', () => {
      throw new Error('TEST_DATABASE_URL is required in CI');
    });
  });
} else {
  describe('InstanceIndex contract: postgres (skipped: TEST_DATABASE_URL not set)', function () {
    before(function () {
      this.skip();
    });
    it('runs the instance index contract against a PostgreSQL server');
  });
}
