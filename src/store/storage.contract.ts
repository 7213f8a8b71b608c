// Behavioural contract every Storage backend must pass (memory twin, PGlite, PostgreSQL): CRUD, versioning, concurrency, deletes and history, transactions.
// Same tests everywhere, so the twins agree.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Observation, Patient, Practitioner } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../kernel/errors.js';
import type { StorageContext } from './test-storages.js';
import { Fixture, pause, rejection } from './storage-contract-fixture.js';

export function storageContract(_name: string, ctx: StorageContext): void {
  let fx: Fixture;
  const store = () => ctx.storage().resources;
  beforeEach(() => {
    fx = new Fixture(ctx.storage());
  });

  describe('create, read and versions', () => {
    it('assigns an id, versionId "1" and lastUpdated on create', async () => {
      const before = Date.now();
      const p = await store().create<Patient>({ resourceType: 'Patient', id: 'ignored', meta: { versionId: '9' }, gender: 'female' });
      expect(p.id).to.be.a('string').and.not.equal('ignored');
      expect(p.meta?.versionId).to.equal('1');
      const lu = Date.parse(p.meta?.lastUpdated as string);
      expect(lu).to.be.within(before - 1000, Date.now() + 1000);
      expect(p.gender).to.equal('female');
      expect(await store().read('Patient', p.id as string)).to.deep.equal(p);
    });

    it('creates with a client-chosen id', async () => {
      const id = randomUUID();
      const p = await store().create<Patient>({ resourceType: 'Patient' }, { id });
      expect(p.id).to.equal(id);
      expect((await store().read('Patient', id)).id).to.equal(id);
    });

    it('rejects a create with an id that already exists with 409', async () => {
      const p = await store().create<Patient>({ resourceType: 'Patient', gender: 'male' });
      expect(await rejection(store().create<Patient>({ resourceType: 'Patient' }, { id: p.id }))).to.equal('409');
      const current = await store().read<Patient>('Patient', p.id as string);
      expect(current.meta?.versionId).to.equal('1');
      expect(current.gender).to.equal('male');
    });

    it('reads an unknown id as 404', async () => {
      expect(await rejection(store().read('Patient', randomUUID()))).to.equal('404');
      expect(await rejection(store().vread('Patient', randomUUID(), '1'))).to.equal('404');
    });

    it('increments the version on update and keeps old versions readable', async () => {
      const v1 = await store().create<Patient>({ resourceType: 'Patient', gender: 'female' });
      await pause();
      const { resource: v2, created } = await store().update<Patient>({ ...v1, gender: 'other' });
      expect(created).to.equal(false);
      expect(v2.meta?.versionId).to.equal('2');
      expect(Date.parse(v2.meta?.lastUpdated as string)).to.be.greaterThan(Date.parse(v1.meta?.lastUpdated as string));
      expect((await store().read<Patient>('Patient', v1.id as string)).gender).to.equal('other');
      const old = await store().vread<Patient>('Patient', v1.id as string, '1');
      expect(old).to.deep.equal(v1);
      expect((await store().vread<Patient>('Patient', v1.id as string, '2')).gender).to.equal('other');
      expect(await rejection(store().vread('Patient', v1.id as string, '3'))).to.equal('404');
      expect(await rejection(store().vread('Patient', v1.id as string, 'abc'))).to.equal('404');
    });

    it('creates on update of an absent id (update-as-create)', async () => {
      const id = randomUUID();
      const { resource, created } = await store().update<Patient>({ resourceType: 'Patient', id, gender: 'unknown' });
      expect(created).to.equal(true);
      expect(resource.id).to.equal(id);
      expect(resource.meta?.versionId).to.equal('1');
      expect((await store().read<Patient>('Patient', id)).gender).to.equal('unknown');
      const h = await store().history('Patient', id, { count: 10 });
      expect(h.entries.map((e) => e.method)).to.deep.equal(['POST']);
    });

    it('accepts an update whose If-Match matches the current version', async () => {
      const v1 = await store().create<Patient>({ resourceType: 'Patient' });
      const { resource: v2 } = await store().update<Patient>({ ...v1, gender: 'male' }, { ifMatch: 'W/"1"' });
      expect(v2.meta?.versionId).to.equal('2');
      const { resource: v3 } = await store().update<Patient>({ ...v2, gender: 'female' }, { ifMatch: '2' });
      expect(v3.meta?.versionId).to.equal('3');
    });

    it('rejects a stale If-Match with 412', async () => {
      const v1 = await store().create<Patient>({ resourceType: 'Patient', gender: 'male' });
      await store().update<Patient>({ ...v1, gender: 'female' });
      expect(await rejection(store().update<Patient>({ ...v1, gender: 'other' }, { ifMatch: 'W/"1"' }))).to.equal('412');
      const current = await store().read<Patient>('Patient', v1.id as string);
      expect(current.meta?.versionId).to.equal('2');
      expect(current.gender).to.equal('female');
    });

    it('rejects If-Match on an absent resource with 412', async () => {
      const id = randomUUID();
      expect(await rejection(store().update<Patient>({ resourceType: 'Patient', id }, { ifMatch: '1' }))).to.equal('412');
      expect(await rejection(store().read('Patient', id))).to.equal('404');
    });

    it('rejects a delete with a stale If-Match with 412', async () => {
      const v1 = await store().create<Patient>({ resourceType: 'Patient' });
      await store().update<Patient>({ ...v1, active: true });
      expect(await rejection(store().delete('Patient', v1.id as string, { ifMatch: '1' }))).to.equal('412');
      expect((await store().read('Patient', v1.id as string)).meta?.versionId).to.equal('2');
      await store().delete('Patient', v1.id as string, { ifMatch: 'W/"2"' });
      expect(await rejection(store().read('Patient', v1.id as string))).to.equal('410');
    });

    it('serialises concurrent updates-as-create of the same id into successive versions', async () => {
      const id = randomUUID();
      const results = await Promise.all(['male', 'female', 'other'].map((gender) =>
        store().update<Patient>({ resourceType: 'Patient', id, gender: gender as Patient['gender'] })));
      expect(results.map((r) => r.resource.meta?.versionId).sort()).to.deep.equal(['1', '2', '3']);
      expect(results.filter((r) => r.created)).to.have.length(1);
      expect(results.find((r) => r.created)?.resource.meta?.versionId).to.equal('1');
      expect((await store().read('Patient', id)).meta?.versionId).to.equal('3');
    });

    it('rejects one of two concurrent creates with the same id with 409', async () => {
      const id = randomUUID();
      const results = await Promise.allSettled([
        store().create<Patient>({ resourceType: 'Patient', gender: 'male' }, { id }),
        store().create<Patient>({ resourceType: 'Patient', gender: 'female' }, { id }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected).to.have.length(1);
      expect((rejected[0].reason as OperationOutcomeError).outcome.id).to.equal('409');
      expect((await store().history('Patient', id, { count: 10 })).total).to.equal(1);
    });

    it('reindexes a resource on update', async () => {
      const v1 = await fx.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Avant' }], birthDate: '1970-01-01' });
      const { birthDate: _dropped, ...rest } = v1;
      await store().update<Patient>({ ...rest, name: [{ family: 'Après' }] });
      expect(await fx.ids('Patient', 'family=avant')).to.deep.equal([]);
      expect(await fx.ids('Patient', 'family=apres')).to.deep.equal([v1.id]);
      expect(await fx.ids('Patient', 'birthdate:missing=true')).to.deep.equal([v1.id]);
      expect(await fx.ids('Patient', 'birthdate=1970')).to.deep.equal([]);
    });

    it('lets exactly one of two concurrent updates with the same If-Match win', async () => {
      const v1 = await store().create<Patient>({ resourceType: 'Patient' });
      const results = await Promise.allSettled([
        store().update<Patient>({ ...v1, gender: 'male' }, { ifMatch: 'W/"1"' }),
        store().update<Patient>({ ...v1, gender: 'female' }, { ifMatch: 'W/"1"' }),
      ]);
      const fulfilled = results.filter((r) => r.status === 'fulfilled');
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(fulfilled).to.have.length(1);
      expect(rejected).to.have.length(1);
      expect((rejected[0].reason as OperationOutcomeError).outcome.id).to.equal('412');
      const current = await store().read<Patient>('Patient', v1.id as string);
      expect(current.meta?.versionId).to.equal('2');
      const h = await store().history('Patient', v1.id as string, { count: 10 });
      expect(h.total).to.equal(2);
    });
  });

  describe('delete and history', () => {
    it('reads a deleted resource as 410 and keeps its older versions', async () => {
      const v1 = await store().create<Patient>({ resourceType: 'Patient', gender: 'male' });
      await pause();
      await store().update<Patient>({ ...v1, gender: 'female' });
      await pause();
      await store().delete('Patient', v1.id as string);
      expect(await rejection(store().read('Patient', v1.id as string))).to.equal('410');
      expect((await store().vread<Patient>('Patient', v1.id as string, '1')).gender).to.equal('male');
      expect((await store().vread<Patient>('Patient', v1.id as string, '2')).gender).to.equal('female');
      expect(await rejection(store().vread('Patient', v1.id as string, '3'))).to.equal('410');
    });

    it('lists versions newest first with DELETE, PUT and POST', async () => {
      const v1 = await store().create<Patient>({ resourceType: 'Patient' });
      await pause();
      await store().update<Patient>({ ...v1, active: true });
      await pause();
      await store().delete('Patient', v1.id as string);
      const h = await store().history('Patient', v1.id as string, { count: 10 });
      expect(h.total).to.equal(3);
      expect(h.entries.map((e) => [e.versionId, e.method])).to.deep.equal([['3', 'DELETE'], ['2', 'PUT'], ['1', 'POST']]);
      expect(h.entries[0].resource).to.equal(undefined);
      expect(h.entries[1].resource?.meta?.versionId).to.equal('2');
      expect(h.entries.every((e) => e.resourceType === 'Patient' && e.id === v1.id)).to.equal(true);
      const times = h.entries.map((e) => Date.parse(e.lastUpdated));
      expect(times).to.deep.equal([...times].sort((a, b) => b - a));
    });

    it('treats deleting an absent or already deleted resource as a no-op', async () => {
      await store().delete('Patient', randomUUID());
      const p = await store().create<Patient>({ resourceType: 'Patient' });
      await store().delete('Patient', p.id as string);
      await store().delete('Patient', p.id as string);
      const h = await store().history('Patient', p.id as string, { count: 10 });
      expect(h.entries.map((e) => e.method)).to.deep.equal(['DELETE', 'POST']);
    });

    it('recreates a deleted resource on update with the next version', async () => {
      const p = await fx.create<Patient>({ resourceType: 'Patient', gender: 'female' });
      await store().delete('Patient', p.id as string);
      expect(await fx.ids('Patient', 'gender=female')).to.deep.equal([]);
      const { resource, created } = await store().update<Patient>({ resourceType: 'Patient', id: p.id, meta: { tag: [fx.tag] }, gender: 'male' });
      expect(created).to.equal(true);
      expect(resource.meta?.versionId).to.equal('3');
      expect((await store().read<Patient>('Patient', p.id as string)).gender).to.equal('male');
      expect(await fx.ids('Patient', 'gender=male')).to.deep.equal([p.id]);
      expect(await fx.ids('Patient', 'gender=female')).to.deep.equal([]);
    });

    it('removes a deleted resource from search results', async () => {
      const a = await fx.create<Patient>({ resourceType: 'Patient', gender: 'male' });
      const b = await fx.create<Patient>({ resourceType: 'Patient', gender: 'male' });
      await store().delete('Patient', a.id as string);
      expect(await fx.ids('Patient', 'gender=male')).to.deep.equal([b.id]);
      expect(await fx.ids('Patient', `_id=${a.id}`)).to.deep.equal([]);
    });

    it('pages history with count and offset and filters it with since', async () => {
      const v1 = await store().create<Patient>({ resourceType: 'Patient' });
      await pause();
      const { resource: v2 } = await store().update<Patient>({ ...v1, active: true });
      await pause();
      await store().update<Patient>({ ...v2, active: false });
      const id = v1.id as string;
      const page = await store().history('Patient', id, { count: 1, offset: 1 });
      expect(page.total).to.equal(3);
      expect(page.entries.map((e) => e.versionId)).to.deep.equal(['2']);
      const since = await store().history('Patient', id, { count: 10, since: v1.meta?.lastUpdated });
      expect(since.entries.map((e) => e.versionId)).to.deep.equal(['3', '2']);
      expect(since.total).to.equal(2);
      const none = await store().history('Patient', id, { count: 10, since: new Date(Date.now() + 60_000).toISOString() });
      expect(none.entries).to.deep.equal([]);
      expect(none.total).to.equal(0);
    });

    it('lists type-level and system-level history since an instant', async () => {
      await pause();
      const since = new Date().toISOString();
      await pause();
      const a = await store().create<Practitioner>({ resourceType: 'Practitioner' });
      await pause();
      const b = await store().create<Practitioner>({ resourceType: 'Practitioner' });
      await pause();
      await store().update<Practitioner>({ ...a, active: true });
      await pause();
      const o = await store().create<Observation>({ resourceType: 'Observation', status: 'final', code: { text: 'x' } });
      const h = await store().history('Practitioner', undefined, { count: 10, since });
      expect(h.total).to.equal(3);
      expect(h.entries.map((e) => `${e.id}/${e.versionId}`)).to.deep.equal([`${a.id}/2`, `${b.id}/1`, `${a.id}/1`]);
      const all = await store().history(undefined, undefined, { count: 10, since });
      expect(all.entries.map((e) => `${e.resourceType}/${e.id}/${e.versionId}`)).to.deep.equal(
        [`Observation/${o.id}/1`, `Practitioner/${a.id}/2`, `Practitioner/${b.id}/1`, `Practitioner/${a.id}/1`]);
    });
  });

  describe('transactions', () => {
    it('rolls back every write and enqueued job when the transaction throws', async () => {
      const jobType = `test-${randomUUID()}`;
      const existing = await store().create<Patient>({ resourceType: 'Patient', gender: 'male' });
      const createdId = randomUUID();
      const err = await ctx.storage().transaction(async (tx) => {
        await tx.resources.create<Patient>({ resourceType: 'Patient' }, { id: createdId });
        await tx.resources.update<Patient>({ ...existing, gender: 'female' });
        await tx.jobs.enqueue(jobType, { n: 1 });
        expect((await tx.resources.read<Patient>('Patient', createdId)).id).to.equal(createdId);
        throw new Error('abort');
      }).then(() => undefined, (e: unknown) => e);
      expect((err as Error).message).to.equal('abort');
      expect(await rejection(store().read('Patient', createdId))).to.equal('404');
      const current = await store().read<Patient>('Patient', existing.id as string);
      expect(current.meta?.versionId).to.equal('1');
      expect(current.gender).to.equal('male');
      expect((await store().history('Patient', existing.id as string, { count: 10 })).total).to.equal(1);
      expect(await ctx.storage().jobs.list({ type: jobType })).to.deep.equal([]);
      // the rolled-back id is free again
      expect((await store().create<Patient>({ resourceType: 'Patient' }, { id: createdId })).meta?.versionId).to.equal('1');
    });

    it('commits every write and enqueued job of a successful transaction', async () => {
      const jobType = `test-${randomUUID()}`;
      const result = await ctx.storage().transaction(async (tx) => {
        const p = await tx.resources.create<Patient>({ resourceType: 'Patient' });
        const { resource } = await tx.resources.update<Patient>({ ...p, gender: 'female' }, { ifMatch: '1' });
        await tx.jobs.enqueue(jobType, { patient: p.id });
        return resource;
      });
      expect(result.meta?.versionId).to.equal('2');
      expect((await store().read<Patient>('Patient', result.id as string)).gender).to.equal('female');
      const jobs = await ctx.storage().jobs.list({ type: jobType });
      expect(jobs.map((j) => j.payload)).to.deep.equal([{ patient: result.id }]);
    });
  });

}
