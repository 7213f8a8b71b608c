// Tests PGlite persistence across a restart: data, versions and search survive close/reopen; migrations run once.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Patient } from '@medplum/fhirtypes';
import { searchOf, testRegistry } from '../store/test-storages.js';
import { listMigrations, migrate } from './migrations.js';
import { openPostgresStorage, storageOn } from './postgres-storage.js';
import { createPgliteClient } from './sql-client.js';

describe('PGlite storage restart', function () {
  this.timeout(120_000);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pglite-restart-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps resources, versions, jobs and search indexes after close and reopen, without re-applying migrations', async () => {
    const firstDb = await createPgliteClient(dir);
    expect(await migrate(firstDb)).to.deep.equal(listMigrations().map((m) => m.name));
    const first = storageOn(firstDb, testRegistry);
    const v1 = await first.resources.create<Patient>({
      resourceType: 'Patient', identifier: [{ system: 'urn:test', value: 'restart-1' }], name: [{ family: 'Persistant' }],
    });
    const { resource: v2 } = await first.resources.update<Patient>({ ...v1, gender: 'female' });
    await first.jobs.enqueue('restart-test', { patient: v1.id }, { idempotencyKey: 'restart-job' });
    await first.close();

    const db = await createPgliteClient(dir);
    try {
      expect(await migrate(db)).to.deep.equal([]);
      const rows = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migration');
      expect(rows[0].n).to.equal(listMigrations().length);
      const storage = storageOn(db, testRegistry);
      const read = await storage.resources.read<Patient>('Patient', v1.id as string);
      expect(read).to.deep.equal(v2);
      expect(read.meta?.versionId).to.equal('2');
      expect((await storage.resources.vread<Patient>('Patient', v1.id as string, '1')).gender).to.equal(undefined);
      const found = await storage.resources.search(searchOf('Patient', 'identifier=urn:test|restart-1&family=persist&gender=female'));
      expect(found.resources.map((r) => r.id)).to.deep.equal([v1.id]);
      const { resource: v3 } = await storage.resources.update<Patient>({ ...read, active: true }, { ifMatch: 'W/"2"' });
      expect(v3.meta?.versionId).to.equal('3');
      await storage.jobs.enqueue('restart-test', { again: true }, { idempotencyKey: 'restart-job' });
      const jobs = await storage.jobs.list({ type: 'restart-test' });
      expect(jobs.map((j) => j.payload)).to.deep.equal([{ patient: v1.id }]);
    } finally {
      await db.close();
    }
  });

  it('opens the same folder again through openPostgresStorage', async () => {
    const { storage, db } = await openPostgresStorage(testRegistry, { pgliteDir: dir });
    try {
      expect(await migrate(db)).to.deep.equal([]);
      const found = await storage.resources.search(searchOf('Patient', 'identifier=urn:test|restart-1'));
      expect(found.resources.map((r) => r.meta?.versionId)).to.deep.equal(['3']);
    } finally {
      await storage.close();
    }
  });
});
