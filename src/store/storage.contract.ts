// Behavioural contract every Storage backend must pass (memory twin, PGlite, PostgreSQL): CRUD, versioning,
// concurrency, transactions, FHIR R4 §3.1.1 search and the job queue. Same tests everywhere, so the twins agree.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type {
  ChargeItem, Coding, DiagnosticReport, Encounter, Observation, Patient, Practitioner, Provenance, Resource,
  ServiceRequest, Subscription, Task,
} from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../kernel/errors.js';
import type { SearchResult, Storage } from './resource-store.js';
import { searchOf, type StorageContext } from './test-storages.js';

const TAG_SYSTEM = 'urn:teleo:test-run';
const SYS = 'urn:teleo:test-ids';

/** The `outcome.id` (HTTP status) of the OperationOutcomeError the promise rejects with. */
async function rejection(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(OperationOutcomeError);
    return (e as OperationOutcomeError).outcome.id;
  }
  throw new Error('expected the promise to reject');
}

const pause = (ms = 5) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const key = (r: Resource) => `${r.resourceType}/${r.id}`;

/** Per-test data: resources tagged with a fresh code, and searches restricted to that tag. */
class Fixture {
  readonly uid = randomUUID();
  readonly tag: Coding = { system: TAG_SYSTEM, code: this.uid };
  constructor(readonly storage: Storage) {}

  create<T extends Resource>(resource: T): Promise<T> {
    return this.storage.resources.create({ ...resource, meta: { ...resource.meta, tag: [...(resource.meta?.tag ?? []), this.tag] } });
  }

  /** Searches `qs` among this test's resources. */
  search(resourceType: string, qs: string): Promise<SearchResult> {
    const sep = qs ? '&' : '';
    return this.storage.resources.search(searchOf(resourceType, `${qs}${sep}_tag=${TAG_SYSTEM}|${this.uid}`));
  }

  /** Ids of the matches, sorted (for set comparisons). */
  async ids(resourceType: string, qs: string): Promise<string[]> {
    return (await this.search(resourceType, qs)).resources.map((r) => r.id as string).sort();
  }

  /** Ids of the matches in the order returned. */
  async ordered(resourceType: string, qs: string): Promise<string[]> {
    return (await this.search(resourceType, qs)).resources.map((r) => r.id as string);
  }
}

const sorted = (...ids: (string | undefined)[]) => (ids as string[]).slice().sort();

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

  describe('search: string', () => {
    let dupont: Patient;
    let martin: Patient;
    beforeEach(async () => {
      dupont = await fx.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Dùpont', given: ['Élodie'] }] });
      martin = await fx.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Martin', given: ['Paul'] }] });
    });

    it('matches by case- and accent-insensitive prefix by default', async () => {
      expect(await fx.ids('Patient', 'family=dupont')).to.deep.equal([dupont.id]);
      expect(await fx.ids('Patient', 'family=DUP')).to.deep.equal([dupont.id]);
      expect(await fx.ids('Patient', 'given=elo')).to.deep.equal([dupont.id]);
      expect(await fx.ids('Patient', 'name=mar')).to.deep.equal([martin.id]);
      expect(await fx.ids('Patient', 'family=pont')).to.deep.equal([]);
      expect(await fx.ids('Patient', 'family=dupontx')).to.deep.equal([]);
    });

    it('matches :exact on the exact stored value only', async () => {
      expect(await fx.ids('Patient', 'family:exact=Dùpont')).to.deep.equal([dupont.id]);
      expect(await fx.ids('Patient', 'family:exact=dupont')).to.deep.equal([]);
      expect(await fx.ids('Patient', 'family:exact=Dùp')).to.deep.equal([]);
    });

    it('matches :contains anywhere in the value', async () => {
      expect(await fx.ids('Patient', 'family:contains=PONT')).to.deep.equal([dupont.id]);
      expect(await fx.ids('Patient', 'family:contains=rti')).to.deep.equal([martin.id]);
      expect(await fx.ids('Patient', 'family:contains=xyz')).to.deep.equal([]);
    });

    it('treats LIKE wildcards in the value literally', async () => {
      expect(await fx.ids('Patient', 'family=%25')).to.deep.equal([]);
      expect(await fx.ids('Patient', 'family:contains=_')).to.deep.equal([]);
    });

    it('ORs comma-separated values', async () => {
      expect(await fx.ids('Patient', 'family=dup,mart')).to.deep.equal(sorted(dupont.id, martin.id));
      expect(await fx.ids('Patient', 'family=xx,yy')).to.deep.equal([]);
    });

    it('ANDs repeated parameters', async () => {
      expect(await fx.ids('Patient', 'family=dup&given=elo')).to.deep.equal([dupont.id]);
      expect(await fx.ids('Patient', 'family=dup&given=paul')).to.deep.equal([]);
    });
  });

  describe('search: token', () => {
    const LOINC = 'http://loinc.org';
    let withSystem: Observation;
    let noSystem: Observation;
    let textOnly: Observation;
    beforeEach(async () => {
      withSystem = await fx.create<Observation>({
        resourceType: 'Observation', status: 'final',
        code: { coding: [{ system: LOINC, code: '15074-8', display: 'Glucose' }], text: 'Glycémie à jeun' },
      });
      noSystem = await fx.create<Observation>({
        resourceType: 'Observation', status: 'preliminary', code: { coding: [{ code: '15074-8' }] },
      });
      textOnly = await fx.create<Observation>({
        resourceType: 'Observation', status: 'final', code: { text: 'Tension artérielle' },
      });
    });

    it('matches a code in any system', async () => {
      expect(await fx.ids('Observation', 'code=15074-8')).to.deep.equal(sorted(withSystem.id, noSystem.id));
      expect(await fx.ids('Observation', 'code=99999-9')).to.deep.equal([]);
      expect(await fx.ids('Observation', 'status=final')).to.deep.equal(sorted(withSystem.id, textOnly.id));
    });

    it('matches system|code', async () => {
      expect(await fx.ids('Observation', `code=${LOINC}|15074-8`)).to.deep.equal([withSystem.id]);
      expect(await fx.ids('Observation', 'code=http://snomed.info/sct|15074-8')).to.deep.equal([]);
    });

    it('matches |code only when the coding has no system', async () => {
      expect(await fx.ids('Observation', 'code=|15074-8')).to.deep.equal([noSystem.id]);
      expect(await fx.ids('Observation', 'code=|99999-9')).to.deep.equal([]);
    });

    it('matches system| with any code of that system', async () => {
      expect(await fx.ids('Observation', `code=${LOINC}|`)).to.deep.equal([withSystem.id]);
      expect(await fx.ids('Observation', 'code=http://snomed.info/sct|')).to.deep.equal([]);
    });

    it('matches :not on resources without the code, including those without any value', async () => {
      const unknown = await fx.create<Patient>({ resourceType: 'Patient' });
      const male = await fx.create<Patient>({ resourceType: 'Patient', gender: 'male' });
      const female = await fx.create<Patient>({ resourceType: 'Patient', gender: 'female' });
      expect(await fx.ids('Patient', 'gender:not=male')).to.deep.equal(sorted(unknown.id, female.id));
      expect(await fx.ids('Patient', 'gender:not=male,female')).to.deep.equal([unknown.id]);
      expect(await fx.ids('Patient', 'gender=male')).to.deep.equal([male.id]);
      expect(await fx.ids('Observation', 'code:not=15074-8')).to.deep.equal([textOnly.id]);
    });

    it('matches :text on Coding.display and CodeableConcept.text', async () => {
      expect(await fx.ids('Observation', 'code:text=gluc')).to.deep.equal([withSystem.id]);
      expect(await fx.ids('Observation', 'code:text=tension arterielle')).to.deep.equal([textOnly.id]);
      expect(await fx.ids('Observation', 'code:text=glycemie')).to.deep.equal([withSystem.id]);
      expect(await fx.ids('Observation', 'code:text=cholesterol')).to.deep.equal([]);
    });

    it('matches identifiers by system|value and :of-type', async () => {
      const v2 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
      const ins = await fx.create<Patient>({
        resourceType: 'Patient',
        identifier: [{ type: { coding: [{ system: v2, code: 'MR' }] }, system: SYS, value: fx.uid }],
      });
      expect(await fx.ids('Patient', `identifier=${SYS}|${fx.uid}`)).to.deep.equal([ins.id]);
      expect(await fx.ids('Patient', `identifier=${fx.uid}`)).to.deep.equal([ins.id]);
      expect(await fx.ids('Patient', `identifier=urn:other|${fx.uid}`)).to.deep.equal([]);
      expect(await fx.ids('Patient', `identifier:of-type=${v2}|MR|${fx.uid}`)).to.deep.equal([ins.id]);
      expect(await fx.ids('Patient', `identifier:of-type=${v2}|SS|${fx.uid}`)).to.deep.equal([]);
      expect(await fx.ids('Patient', `identifier:of-type=${v2}|MR|other`)).to.deep.equal([]);
    });

    it('matches boolean tokens', async () => {
      const active = await fx.create<Patient>({ resourceType: 'Patient', active: true });
      const inactive = await fx.create<Patient>({ resourceType: 'Patient', active: false });
      expect(await fx.ids('Patient', 'active=true')).to.deep.equal([active.id]);
      expect(await fx.ids('Patient', 'active=false')).to.deep.equal([inactive.id]);
    });
  });

  describe('search: reference', () => {
    let patient: Patient;
    let other: Patient;
    let task: Task;
    let unowned: Task;
    beforeEach(async () => {
      patient = await fx.create<Patient>({ resourceType: 'Patient' });
      other = await fx.create<Patient>({ resourceType: 'Patient' });
      task = await fx.create<Task>({
        resourceType: 'Task', status: 'requested', intent: 'order',
        for: { reference: `Patient/${patient.id}` },
        owner: { identifier: { system: SYS, value: `owner-${fx.uid}` }, display: 'Dr Who' },
      });
      unowned = await fx.create<Task>({
        resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${other.id}` },
      });
    });

    it('matches a bare id and Type/id', async () => {
      expect(await fx.ids('Task', `subject=${patient.id}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `subject=Patient/${patient.id}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `patient=${other.id}`)).to.deep.equal([unowned.id]);
      expect(await fx.ids('Task', `subject=Patient/${randomUUID()}`)).to.deep.equal([]);
      expect(await fx.ids('Task', `subject=Device/${patient.id}`)).to.deep.equal([]);
    });

    it('matches with a :Type modifier', async () => {
      expect(await fx.ids('Task', `subject:Patient=${patient.id}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `subject:Device=${patient.id}`)).to.deep.equal([]);
    });

    it('matches an absolute URL reference value', async () => {
      expect(await fx.ids('Task', `subject=https://fhir.example.org/fhir/Patient/${patient.id}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `subject=https://fhir.example.org/fhir/Patient/${randomUUID()}`)).to.deep.equal([]);
    });

    it('matches a stored absolute reference by its URL', async () => {
      const url = `https://elsewhere.example.org/fhir/Patient/${fx.uid}`;
      const ext = await fx.create<Task>({ resourceType: 'Task', status: 'draft', intent: 'order', for: { reference: url } });
      expect(await fx.ids('Task', `subject=${url}`)).to.deep.equal([ext.id]);
    });

    it('matches :identifier on Reference.identifier', async () => {
      expect(await fx.ids('Task', `owner:identifier=${SYS}|owner-${fx.uid}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `owner:identifier=owner-${fx.uid}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `owner:identifier=${SYS}|someone-else`)).to.deep.equal([]);
      expect(await fx.ids('Task', `owner:identifier=urn:other|owner-${fx.uid}`)).to.deep.equal([]);
    });

    it('matches :missing on references', async () => {
      const orphan = await fx.create<Task>({ resourceType: 'Task', status: 'draft', intent: 'order' });
      expect(await fx.ids('Task', 'subject:missing=true')).to.deep.equal([orphan.id]);
      expect(await fx.ids('Task', 'subject:missing=false')).to.deep.equal(sorted(task.id, unowned.id));
    });
    it('pages the referring resources by _lastUpdated, each once, with the other predicates applied', async () => {
      const owner = `PractitionerRole/${fx.uid}`;
      const made: Task[] = [];
      for (let i = 0; i < 7; i++) {
        made.push(await fx.create<Task>({
          resourceType: 'Task', status: i % 2 === 0 ? 'requested' : 'accepted', intent: 'order', owner: { reference: owner },
          ...(i === 4 ? { owner: { reference: `https://fhir.example.org/fhir/${owner}` } } : {}),
        }));
        await pause(3);
      }
      // a relative and an absolute reference to the same target: two index rows, one match
      const twice = await fx.create<DiagnosticReport>({
        resourceType: 'DiagnosticReport', status: 'final', code: { text: 'x' },
        result: [{ reference: `Observation/${fx.uid}` }, { reference: `https://fhir.example.org/fhir/Observation/${fx.uid}` }],
      });
      const newest = made.map((t) => t.id as string).reverse();
      const requested = made.filter((t) => t.status === 'requested').map((t) => t.id as string).reverse();
      expect(await fx.ordered('Task', `owner=${owner}`)).to.deep.equal(newest);
      expect(await fx.ordered('Task', `owner=${owner}&_sort=-_lastUpdated`)).to.deep.equal(newest);
      expect(await fx.ordered('Task', `owner=${owner}&_sort=_lastUpdated`)).to.deep.equal([...newest].reverse());
      expect(await fx.ordered('Task', `owner=${owner}&status=requested`)).to.deep.equal(requested);
      expect(await fx.ordered('Task', `owner=${owner}&status=requested&_count=2&_offset=1`)).to.deep.equal(requested.slice(1, 3));
      const page = await fx.search('Task', `owner=${owner}&_count=3&_offset=3&_total=accurate`);
      expect(page.resources.map((r) => r.id)).to.deep.equal(newest.slice(3, 6));
      expect(page.total).to.equal(7);
      expect(page.hasMore).to.equal(true);
      expect(await fx.ordered('DiagnosticReport', `result=Observation/${fx.uid}`)).to.deep.equal([twice.id]);
      expect(await fx.ordered('DiagnosticReport', `result=${fx.uid}`)).to.deep.equal([twice.id]);
      // after an update the resource moves to the front, after a delete it is gone
      await store().update({ ...made[0], status: 'requested' });
      await store().delete('Task', made[6].id as string);
      expect((await fx.ordered('Task', `owner=${owner}`)).slice(0, 2)).to.deep.equal([made[0].id, made[5].id]);
      expect(await fx.ordered('Task', `owner=${owner}`)).to.not.include(made[6].id);
    });

    it('pages the resources referring to any of several targets by _lastUpdated, each once', async () => {
      const [a, b] = [`PractitionerRole/a-${fx.uid}`, `CareTeam/b-${fx.uid}`];
      const made: Task[] = [];
      for (let i = 0; i < 6; i++) {
        made.push(await fx.create<Task>({
          resourceType: 'Task', status: i % 3 === 0 ? 'accepted' : 'requested', intent: 'order', owner: { reference: i % 2 === 0 ? a : b },
        }));
        await pause(3);
      }
      const both = await fx.create<DiagnosticReport>({
        resourceType: 'DiagnosticReport', status: 'final', code: { text: 'x' },
        result: [{ reference: `Observation/x-${fx.uid}` }, { reference: `Observation/y-${fx.uid}` }],
      });
      const newest = made.map((t) => t.id as string).reverse();
      const requested = made.filter((t) => t.status === 'requested').map((t) => t.id as string).reverse();
      expect(await fx.ordered('Task', `owner=${a},${b}`)).to.deep.equal(newest);
      expect(await fx.ordered('Task', `owner=${a},${b}&_sort=_lastUpdated`)).to.deep.equal([...newest].reverse());
      expect(await fx.ordered('Task', `owner=${a},${b},PractitionerRole/none-${fx.uid}&status=requested`)).to.deep.equal(requested);
      expect(await fx.ordered('Task', `owner=${b},${a}&_count=2&_offset=1`)).to.deep.equal(newest.slice(1, 3));
      expect(await fx.ordered('DiagnosticReport', `result=Observation/x-${fx.uid},Observation/y-${fx.uid}`)).to.deep.equal([both.id]);
    });
  });

  describe('search: date', () => {
    let p1980: Patient;
    let p1990: Patient;
    let noDate: Patient;
    beforeEach(async () => {
      p1980 = await fx.create<Patient>({ resourceType: 'Patient', birthDate: '1980-05-17' });
      p1990 = await fx.create<Patient>({ resourceType: 'Patient', birthDate: '1990-01-01' });
      noDate = await fx.create<Patient>({ resourceType: 'Patient' });
    });

    it('matches eq at year, month and day precision', async () => {
      expect(await fx.ids('Patient', 'birthdate=1980')).to.deep.equal([p1980.id]);
      expect(await fx.ids('Patient', 'birthdate=1980-05')).to.deep.equal([p1980.id]);
      expect(await fx.ids('Patient', 'birthdate=1980-05-17')).to.deep.equal([p1980.id]);
      expect(await fx.ids('Patient', 'birthdate=eq1990-01-01')).to.deep.equal([p1990.id]);
      expect(await fx.ids('Patient', 'birthdate=1981')).to.deep.equal([]);
      expect(await fx.ids('Patient', 'birthdate=1980-06')).to.deep.equal([]);
      expect(await fx.ids('Patient', 'birthdate=1980-05-18')).to.deep.equal([]);
      // a day is wider than an instant within it: eq does not match
      expect(await fx.ids('Patient', 'birthdate=1980-05-17T10:00:00Z')).to.deep.equal([]);
    });

    it('applies gt, lt, ge and le to the value range', async () => {
      expect(await fx.ids('Patient', 'birthdate=gt1980-05-16')).to.deep.equal(sorted(p1980.id, p1990.id));
      expect(await fx.ids('Patient', 'birthdate=gt1980-05-17')).to.deep.equal([p1990.id]);
      expect(await fx.ids('Patient', 'birthdate=lt1980-05-18')).to.deep.equal([p1980.id]);
      expect(await fx.ids('Patient', 'birthdate=lt1980-05-17')).to.deep.equal([]);
      expect(await fx.ids('Patient', 'birthdate=ge1980-05-17')).to.deep.equal(sorted(p1980.id, p1990.id));
      expect(await fx.ids('Patient', 'birthdate=ge1980-05-18')).to.deep.equal([p1990.id]);
      expect(await fx.ids('Patient', 'birthdate=le1980-05-17')).to.deep.equal([p1980.id]);
      expect(await fx.ids('Patient', 'birthdate=le1980-05-16')).to.deep.equal([]);
    });

    it('applies sa, eb and ne', async () => {
      expect(await fx.ids('Patient', 'birthdate=sa1980-05-16')).to.deep.equal(sorted(p1980.id, p1990.id));
      expect(await fx.ids('Patient', 'birthdate=sa1980-05-17')).to.deep.equal([p1990.id]);
      expect(await fx.ids('Patient', 'birthdate=eb1980-05-18')).to.deep.equal([p1980.id]);
      expect(await fx.ids('Patient', 'birthdate=eb1980-05-17')).to.deep.equal([]);
      expect(await fx.ids('Patient', 'birthdate=ne1980-05-17')).to.deep.equal([p1990.id]);
      expect(await fx.ids('Patient', 'birthdate=ne1980')).to.deep.equal([p1990.id]);
    });

    it('ORs comma-separated values with mixed prefixes', async () => {
      expect(await fx.ids('Patient', 'birthdate=lt1970,1980-05-17')).to.deep.equal([p1980.id]);
      expect(await fx.ids('Patient', 'birthdate=1980,ge1990')).to.deep.equal(sorted(p1980.id, p1990.id));
      expect(await fx.ids('Patient', 'birthdate=lt1970,gt1995')).to.deep.equal([]);
    });

    it('ANDs two date parameters into a range', async () => {
      expect(await fx.ids('Patient', 'birthdate=ge1980&birthdate=lt1985')).to.deep.equal([p1980.id]);
    });

    it('matches :missing on dates', async () => {
      expect(await fx.ids('Patient', 'birthdate:missing=true')).to.deep.equal([noDate.id]);
      expect(await fx.ids('Patient', 'birthdate:missing=false')).to.deep.equal(sorted(p1980.id, p1990.id));
    });

    it('compares Period values by their start and end', async () => {
      const march = await fx.create<Encounter>({
        resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' },
        period: { start: '2024-03-01T08:00:00Z', end: '2024-03-10T18:00:00Z' },
      });
      const open = await fx.create<Encounter>({
        resourceType: 'Encounter', status: 'in-progress', class: { code: 'IMP' }, period: { start: '2024-06-01' },
      });
      expect(await fx.ids('Encounter', 'date=2024-03')).to.deep.equal([march.id]);
      expect(await fx.ids('Encounter', 'date=2024-03-05')).to.deep.equal([]);
      expect(await fx.ids('Encounter', 'date=ge2024-03-05')).to.deep.equal(sorted(march.id, open.id));
      expect(await fx.ids('Encounter', 'date=le2024-03-05')).to.deep.equal([march.id]);
      expect(await fx.ids('Encounter', 'date=gt2024-03-10T18:00:00Z')).to.deep.equal([open.id]);
      expect(await fx.ids('Encounter', 'date=lt2024-03-01')).to.deep.equal([]);
      expect(await fx.ids('Encounter', 'date=sa2024-02-28')).to.deep.equal(sorted(march.id, open.id));
      expect(await fx.ids('Encounter', 'date=eb2024-03-11')).to.deep.equal([march.id]);
      expect(await fx.ids('Encounter', 'date=eb2024-03-10')).to.deep.equal([]);
      expect(await fx.ids('Encounter', 'date=ge2030-01-01')).to.deep.equal([open.id]);
    });

    it('honours time zones of dateTime values', async () => {
      const enc = await fx.create<Encounter>({
        resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' },
        period: { start: '2024-03-01T23:30:00+02:00', end: '2024-03-01T23:45:00+02:00' },
      });
      expect(await fx.ids('Encounter', 'date=2024-03-01')).to.deep.equal([enc.id]);
      expect(await fx.ids('Encounter', `date=${encodeURIComponent('2024-03-01T22:00:00+01:00')}`)).to.deep.equal([]);
      expect(await fx.ids('Encounter', 'date=gt2024-03-01T21:00:00Z')).to.deep.equal([enc.id]);
    });
  });

  describe('search: number, quantity and uri', () => {
    it('matches numbers with implicit precision and prefixes', async () => {
      const ci = await fx.create<ChargeItem>({
        resourceType: 'ChargeItem', status: 'billable', code: { text: 'acte' }, subject: { reference: 'Patient/x' },
        factorOverride: 0.8,
      });
      const big = await fx.create<ChargeItem>({
        resourceType: 'ChargeItem', status: 'billable', code: { text: 'acte' }, subject: { reference: 'Patient/x' },
        factorOverride: 12,
      });
      expect(await fx.ids('ChargeItem', 'factor-override=0.8')).to.deep.equal([ci.id]);
      expect(await fx.ids('ChargeItem', 'factor-override=0.80')).to.deep.equal([ci.id]);
      expect(await fx.ids('ChargeItem', 'factor-override=0.9')).to.deep.equal([]);
      expect(await fx.ids('ChargeItem', 'factor-override=12')).to.deep.equal([big.id]);
      expect(await fx.ids('ChargeItem', 'factor-override=gt1')).to.deep.equal([big.id]);
      expect(await fx.ids('ChargeItem', 'factor-override=lt1')).to.deep.equal([ci.id]);
      expect(await fx.ids('ChargeItem', 'factor-override=ge0.8')).to.deep.equal(sorted(ci.id, big.id));
      expect(await fx.ids('ChargeItem', 'factor-override=le0.5')).to.deep.equal([]);
      expect(await fx.ids('ChargeItem', 'factor-override=ne12')).to.deep.equal([ci.id]);
    });

    it('matches quantities by value, system and unit', async () => {
      const UCUM = 'http://unitsofmeasure.org';
      const mmol = await fx.create<Observation>({
        resourceType: 'Observation', status: 'final', code: { text: 'glucose' },
        valueQuantity: { value: 5.4, unit: 'mmol/L', system: UCUM, code: 'mmol/L' },
      });
      const mg = await fx.create<Observation>({
        resourceType: 'Observation', status: 'final', code: { text: 'glucose' },
        valueQuantity: { value: 98, unit: 'mg/dL', system: UCUM, code: 'mg/dL' },
      });
      expect(await fx.ids('Observation', 'value-quantity=5.4')).to.deep.equal([mmol.id]);
      expect(await fx.ids('Observation', `value-quantity=5.4|${UCUM}|mmol/L`)).to.deep.equal([mmol.id]);
      expect(await fx.ids('Observation', 'value-quantity=5.4||mmol/L')).to.deep.equal([mmol.id]);
      expect(await fx.ids('Observation', `value-quantity=5.4|${UCUM}|mg/dL`)).to.deep.equal([]);
      expect(await fx.ids('Observation', 'value-quantity=5.4|urn:other|mmol/L')).to.deep.equal([]);
      expect(await fx.ids('Observation', 'value-quantity=gt5')).to.deep.equal(sorted(mmol.id, mg.id));
      expect(await fx.ids('Observation', `value-quantity=gt5|${UCUM}|mmol/L`)).to.deep.equal([mmol.id]);
      expect(await fx.ids('Observation', 'value-quantity=lt5')).to.deep.equal([]);
      expect(await fx.ids('Observation', 'value-quantity=6')).to.deep.equal([]);
    });

    it('matches uris exactly, :below and :above', async () => {
      const base = `https://hooks.example.org/${fx.uid}`;
      const sub = await fx.create<Subscription>({
        resourceType: 'Subscription', status: 'active', reason: 'test', criteria: 'Task?status=requested',
        channel: { type: 'rest-hook', endpoint: `${base}/notify` },
      });
      expect(await fx.ids('Subscription', `url=${base}/notify`)).to.deep.equal([sub.id]);
      expect(await fx.ids('Subscription', `url=${base}`)).to.deep.equal([]);
      expect(await fx.ids('Subscription', `url:below=${base}/`)).to.deep.equal([sub.id]);
      expect(await fx.ids('Subscription', 'url:below=https://other.example.org/')).to.deep.equal([]);
      expect(await fx.ids('Subscription', `url:above=${base}/notify/deeper/path`)).to.deep.equal([sub.id]);
      expect(await fx.ids('Subscription', `url:above=${base}/other`)).to.deep.equal([]);
    });

    it('matches _profile on meta.profile', async () => {
      const profile = `https://teleo.example.org/StructureDefinition/${fx.uid}`;
      const p = await fx.create<Patient>({ resourceType: 'Patient', meta: { profile: [profile] } });
      await fx.create<Patient>({ resourceType: 'Patient' });
      expect(await fx.ids('Patient', `_profile=${profile}`)).to.deep.equal([p.id]);
      expect(await fx.ids('Patient', `_profile=${profile}-v2`)).to.deep.equal([]);
    });
  });

  describe('search: _id, _lastUpdated and :missing', () => {
    it('matches _id with one or several ids', async () => {
      const a = await fx.create<Patient>({ resourceType: 'Patient' });
      const b = await fx.create<Patient>({ resourceType: 'Patient' });
      await fx.create<Patient>({ resourceType: 'Patient' });
      expect(await fx.ids('Patient', `_id=${a.id}`)).to.deep.equal([a.id]);
      expect(await fx.ids('Patient', `_id=${a.id},${b.id}`)).to.deep.equal(sorted(a.id, b.id));
      expect(await fx.ids('Patient', `_id=${randomUUID()}`)).to.deep.equal([]);
    });

    it('matches _lastUpdated with gt, lt and a day', async () => {
      const a = await fx.create<Patient>({ resourceType: 'Patient' });
      await pause();
      const b = await fx.create<Patient>({ resourceType: 'Patient' });
      const ta = a.meta?.lastUpdated as string;
      const tb = b.meta?.lastUpdated as string;
      expect(await fx.ids('Patient', `_lastUpdated=gt${ta}`)).to.deep.equal([b.id]);
      expect(await fx.ids('Patient', `_lastUpdated=lt${tb}`)).to.deep.equal([a.id]);
      expect(await fx.ids('Patient', `_lastUpdated=ge${ta}`)).to.deep.equal(sorted(a.id, b.id));
      expect(await fx.ids('Patient', `_lastUpdated=${ta}`)).to.deep.equal([a.id]);
      expect(await fx.ids('Patient', `_lastUpdated=gt${tb}`)).to.deep.equal([]);
      expect(await fx.ids('Patient', `_lastUpdated=${ta.slice(0, 10)}`)).to.include(a.id);
      expect(await fx.ids('Patient', '_lastUpdated=lt2000-01-01')).to.deep.equal([]);
    });

    it('matches :missing on strings and tokens', async () => {
      const named = await fx.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Durand' }], gender: 'male' });
      const anon = await fx.create<Patient>({ resourceType: 'Patient' });
      expect(await fx.ids('Patient', 'family:missing=true')).to.deep.equal([anon.id]);
      expect(await fx.ids('Patient', 'family:missing=false')).to.deep.equal([named.id]);
      expect(await fx.ids('Patient', 'gender:missing=true')).to.deep.equal([anon.id]);
      expect(await fx.ids('Patient', 'gender:missing=false')).to.deep.equal([named.id]);
    });
  });

  describe('search: sorting, paging and totals', () => {
    let pats: Patient[];
    beforeEach(async () => {
      pats = [];
      const rows: [string | undefined, string | undefined][] = [
        ['Bernard', '1975-02-01'], ['alain', '1990-07-14'], ['Émile', '1960-12-31'], ['Dubois', undefined], [undefined, '1985-01-01'],
      ];
      for (const [family, birthDate] of rows) {
        pats.push(await fx.create<Patient>({ resourceType: 'Patient', ...(family ? { name: [{ family }] } : {}), ...(birthDate ? { birthDate } : {}) }));
        await pause(3);
      }
    });
    const id = (i: number) => pats[i].id as string;

    it('sorts by a string ascending and descending, missing values last', async () => {
      expect(await fx.ordered('Patient', '_sort=family')).to.deep.equal([id(1), id(0), id(3), id(2), id(4)]);
      expect(await fx.ordered('Patient', '_sort=-family')).to.deep.equal([id(2), id(3), id(0), id(1), id(4)]);
    });

    it('sorts by a date ascending and descending, missing values last', async () => {
      expect(await fx.ordered('Patient', '_sort=birthdate')).to.deep.equal([id(2), id(0), id(4), id(1), id(3)]);
      expect(await fx.ordered('Patient', '_sort=-birthdate')).to.deep.equal([id(1), id(4), id(0), id(2), id(3)]);
    });

    it('sorts by _lastUpdated and newest first by default', async () => {
      const oldestFirst = pats.map((p) => p.id as string);
      expect(await fx.ordered('Patient', '_sort=_lastUpdated')).to.deep.equal(oldestFirst);
      expect(await fx.ordered('Patient', '_sort=-_lastUpdated')).to.deep.equal([...oldestFirst].reverse());
      expect(await fx.ordered('Patient', '')).to.deep.equal([...oldestFirst].reverse());
    });

    it('sorts by several keys', async () => {
      const twin = await fx.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Bernard' }], birthDate: '1999-01-01' });
      const order = await fx.ordered('Patient', '_sort=family,-birthdate');
      expect(order.slice(0, 3)).to.deep.equal([id(1), twin.id, id(0)]);
    });

    it('pages with _count and _offset and reports whether more exist', async () => {
      const all = await fx.ordered('Patient', '_sort=_lastUpdated');
      const p1 = await fx.search('Patient', '_sort=_lastUpdated&_count=2&_total=accurate');
      expect(p1.resources.map((r) => r.id)).to.deep.equal(all.slice(0, 2));
      expect(p1.hasMore).to.equal(true);
      expect(p1.total).to.equal(5);
      const p2 = await fx.search('Patient', '_sort=_lastUpdated&_count=2&_offset=2&_total=accurate');
      expect(p2.resources.map((r) => r.id)).to.deep.equal(all.slice(2, 4));
      expect(p2.hasMore).to.equal(true);
      expect(p2.total).to.equal(5);
      const p3 = await fx.search('Patient', '_sort=_lastUpdated&_count=2&_offset=4&_total=accurate');
      expect(p3.resources.map((r) => r.id)).to.deep.equal(all.slice(4));
      expect(p3.hasMore).to.equal(false);
      expect(p3.total).to.equal(5);
      const exact = await fx.search('Patient', '_count=5');
      expect(exact.resources).to.have.length(5);
      expect(exact.hasMore).to.equal(false);
      const beyond = await fx.search('Patient', '_count=2&_offset=10&_total=accurate');
      expect(beyond.resources).to.deep.equal([]);
      expect(beyond.hasMore).to.equal(false);
      expect(beyond.total).to.equal(5);
    });

    it('returns only the total with _count=0', async () => {
      const r = await fx.search('Patient', '_count=0');
      expect(r.resources).to.deep.equal([]);
      expect(r.total).to.equal(5);
      expect(r.hasMore).to.equal(false);
      expect((await fx.search('Patient', '_count=0&_total=none')).total).to.equal(undefined);
    });

    it('by default gives the total only when the last page tells it, without counting', async () => {
      expect((await fx.search('Patient', '_count=2')).total).to.equal(undefined); // a full page: more may follow
      expect((await fx.search('Patient', '_count=2&_offset=2')).total).to.equal(undefined);
      expect((await fx.search('Patient', '_count=2&_offset=4')).total).to.equal(5); // the last page: 4 + 1
      expect((await fx.search('Patient', '_count=10')).total).to.equal(5);
      expect((await fx.search('Patient', 'family=b&_count=1')).total).to.equal(1);
      expect((await fx.search('Patient', '_count=2&_offset=10')).total).to.equal(undefined); // past the end
      expect((await fx.search('Patient', '_count=5')).total).to.equal(5); // full, but the store looked one row ahead
    });

    it('counts with _total=accurate or estimate, and gives none with _total=none', async () => {
      expect((await fx.search('Patient', '_total=accurate&_count=1')).total).to.equal(5);
      expect((await fx.search('Patient', '_total=estimate&_count=1')).total).to.equal(5);
      const none = await fx.search('Patient', '_total=none&_count=1');
      expect(none.total).to.equal(undefined);
      expect(none.resources).to.have.length(1);
      expect(none.hasMore).to.equal(true);
      expect((await fx.search('Patient', '_total=none&_count=10')).total).to.equal(undefined);
    });
  });

  describe('search: _include and _revinclude', () => {
    let patient: Patient;
    let gp: Practitioner;
    let request: ServiceRequest;
    let task: Task;
    let prov: Provenance;
    beforeEach(async () => {
      gp = await store().create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: `Gp${fx.uid}` }] });
      patient = await store().create<Patient>({ resourceType: 'Patient', generalPractitioner: [{ reference: `Practitioner/${gp.id}` }] });
      request = await fx.create<ServiceRequest>({
        resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: `Patient/${patient.id}` },
      });
      task = await fx.create<Task>({
        resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${patient.id}` },
        basedOn: [{ reference: `ServiceRequest/${request.id}` }], owner: { reference: `Practitioner/${gp.id}` },
      });
      prov = await fx.create<Provenance>({
        resourceType: 'Provenance', recorded: '2024-05-01T10:00:00Z', target: [{ reference: `Task/${task.id}` }],
        agent: [{ who: { reference: `Practitioner/${gp.id}` } }],
      });
    });
    const keys = (r: SearchResult) => r.included.map(key).sort();

    it('includes referenced resources', async () => {
      const r = await fx.search('Task', `_id=${task.id}&_include=Task:patient&_include=Task:owner`);
      expect(r.resources.map(key)).to.deep.equal([`Task/${task.id}`]);
      expect(keys(r)).to.deep.equal([`Patient/${patient.id}`, `Practitioner/${gp.id}`].sort());
    });

    it('includes only the target type named by the include', async () => {
      const r = await fx.search('Task', `_id=${task.id}&_include=Task:owner:Organization`);
      expect(r.included).to.deep.equal([]);
      const r2 = await fx.search('Task', `_id=${task.id}&_include=Task:owner:Practitioner`);
      expect(keys(r2)).to.deep.equal([`Practitioner/${gp.id}`]);
    });

    it('includes referencing resources with _revinclude', async () => {
      const r = await fx.search('Task', `_id=${task.id}&_revinclude=Provenance:target`);
      expect(keys(r)).to.deep.equal([`Provenance/${prov.id}`]);
      const none = await fx.search('ServiceRequest', `_id=${request.id}&_revinclude=Provenance:target`);
      expect(none.included).to.deep.equal([]);
    });

    it('follows _include:iterate from included resources', async () => {
      const flat = await fx.search('Provenance', `_id=${prov.id}&_include=Provenance:target&_include=Task:patient`);
      expect(keys(flat)).to.deep.equal([`Task/${task.id}`]);
      const deep = await fx.search('Provenance', `_id=${prov.id}&_include=Provenance:target&_include:iterate=Task:patient`);
      expect(keys(deep)).to.deep.equal([`Patient/${patient.id}`, `Task/${task.id}`].sort());
      const chain = await fx.search('Task',
        `_id=${task.id}&_include=Task:based-on&_include:iterate=ServiceRequest:subject&_include:iterate=Patient:general-practitioner`);
      expect(keys(chain)).to.deep.equal([`Patient/${patient.id}`, `Practitioner/${gp.id}`, `ServiceRequest/${request.id}`].sort());
    });

    it('iterates _revinclude from included resources', async () => {
      const r = await fx.search('ServiceRequest',
        `_id=${request.id}&_revinclude=Task:based-on&_revinclude:iterate=Provenance:target`);
      expect(keys(r)).to.deep.equal([`Provenance/${prov.id}`, `Task/${task.id}`].sort());
    });

    it('does not include deleted resources', async () => {
      await store().delete('Practitioner', gp.id as string);
      const r = await fx.search('Task', `_id=${task.id}&_include=Task:owner`);
      expect(r.included).to.deep.equal([]);
    });

    it('includes nothing for an empty page', async () => {
      const r = await fx.search('Task', `_id=${randomUUID()}&_include=Task:patient`);
      expect(r.resources).to.deep.equal([]);
      expect(r.included).to.deep.equal([]);
    });
  });

  describe('search: chains and _has', () => {
    let gp: Practitioner;
    let patient: Patient;
    let other: Patient;
    let task: Task;
    let otherTask: Task;
    beforeEach(async () => {
      gp = await store().create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: `Médecin${fx.uid.slice(0, 8)}` }] });
      patient = await store().create<Patient>({
        resourceType: 'Patient', name: [{ family: `Lefèvre${fx.uid.slice(0, 8)}` }],
        identifier: [{ system: SYS, value: `pat-${fx.uid}` }], generalPractitioner: [{ reference: `Practitioner/${gp.id}` }],
      });
      other = await store().create<Patient>({ resourceType: 'Patient', name: [{ family: `Autre${fx.uid.slice(0, 8)}` }] });
      task = await fx.create<Task>({ resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${patient.id}` } });
      otherTask = await fx.create<Task>({ resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${other.id}` } });
    });

    it('matches a chained token parameter', async () => {
      expect(await fx.ids('Task', `patient.identifier=${SYS}|pat-${fx.uid}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `subject:Patient.identifier=pat-${fx.uid}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `patient.identifier=${SYS}|nobody`)).to.deep.equal([]);
    });

    it('matches a chained string parameter', async () => {
      expect(await fx.ids('Task', `patient.name=lefevre${fx.uid.slice(0, 8)}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `patient.name=autre${fx.uid.slice(0, 8)}`)).to.deep.equal([otherTask.id]);
      expect(await fx.ids('Task', `patient.name=personne${fx.uid.slice(0, 8)}`)).to.deep.equal([]);
    });

    it('does not match through a deleted target', async () => {
      await store().delete('Patient', patient.id as string);
      expect(await fx.ids('Task', `patient.identifier=${SYS}|pat-${fx.uid}`)).to.deep.equal([]);
    });

    it('only matches through targets that exist', async () => {
      const ghost = randomUUID();
      const dangling = await fx.create<Task>({ resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${ghost}` } });
      expect(await fx.ids('Task', `patient=${ghost}`)).to.deep.equal([dangling.id]);
      expect(await fx.ids('Task', `patient._id=${ghost}`)).to.deep.equal([]);
      expect(await fx.ids('Task', `patient._id=${patient.id}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', 'patient.birthdate:missing=true')).to.deep.equal(sorted(task.id, otherTask.id));
      expect(await fx.ids('Task', 'patient.gender:not=male')).to.deep.equal(sorted(task.id, otherTask.id));
      await store().delete('Patient', other.id as string);
      expect(await fx.ids('Task', `patient._id=${other.id}`)).to.deep.equal([]);
      expect(await fx.ids('Task', 'patient.birthdate:missing=true')).to.deep.equal([task.id]);
      expect(await fx.ids('Task', 'patient._lastUpdated=gt2000-01-01')).to.deep.equal([task.id]);
    });

    it('matches a two-level chain', async () => {
      const report = await fx.create<DiagnosticReport>({
        resourceType: 'DiagnosticReport', status: 'final', code: { text: 'IRM' }, subject: { reference: `Patient/${patient.id}` },
      });
      await fx.create<DiagnosticReport>({
        resourceType: 'DiagnosticReport', status: 'final', code: { text: 'IRM' }, subject: { reference: `Patient/${other.id}` },
      });
      const gpName = `medecin${fx.uid.slice(0, 8)}`;
      expect(await fx.ids('DiagnosticReport', `subject:Patient.general-practitioner.name=${gpName}`)).to.deep.equal([report.id]);
      expect(await fx.ids('DiagnosticReport', `subject:Patient.general-practitioner:Practitioner.name=${gpName}`)).to.deep.equal([report.id]);
      expect(await fx.ids('DiagnosticReport', 'subject:Patient.general-practitioner.name=nobody-at-all')).to.deep.equal([]);
    });

    it('matches _has on referencing resources', async () => {
      const code = `code-${fx.uid}`;
      await fx.create<Observation>({
        resourceType: 'Observation', status: 'final', code: { coding: [{ system: SYS, code }] }, subject: { reference: `Patient/${patient.id}` },
      });
      await fx.create<Observation>({
        resourceType: 'Observation', status: 'final', code: { coding: [{ system: SYS, code: 'other' }] }, subject: { reference: `Patient/${other.id}` },
      });
      const q = (s: string) => store().search(searchOf('Patient', `_id=${patient.id},${other.id}&${s}`)).then((r) => r.resources.map((x) => x.id).sort());
      expect(await q(`_has:Observation:patient:code=${code}`)).to.deep.equal([patient.id]);
      expect(await q(`_has:Observation:subject:code=${SYS}|other`)).to.deep.equal([other.id]);
      expect(await q('_has:Observation:patient:code=missing-code')).to.deep.equal([]);
      expect(await q(`_has:Task:patient:status=requested`)).to.deep.equal(sorted(patient.id, other.id));
    });

    it('matches nested _has', async () => {
      const obs = await fx.create<Observation>({
        resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${patient.id}` },
      });
      const obs2 = await fx.create<Observation>({
        resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${other.id}` },
      });
      await fx.create<DiagnosticReport>({
        resourceType: 'DiagnosticReport', status: 'final', code: { text: 'bilan' }, result: [{ reference: `Observation/${obs.id}` }],
      });
      await fx.create<DiagnosticReport>({
        resourceType: 'DiagnosticReport', status: 'preliminary', code: { text: 'bilan' }, result: [{ reference: `Observation/${obs2.id}` }],
      });
      const q = (s: string) => store().search(searchOf('Patient', `_id=${patient.id},${other.id}&${s}`)).then((r) => r.resources.map((x) => x.id).sort());
      expect(await q('_has:Observation:patient:_has:DiagnosticReport:result:status=final')).to.deep.equal([patient.id]);
      expect(await q('_has:Observation:patient:_has:DiagnosticReport:result:status=preliminary')).to.deep.equal([other.id]);
      expect(await q('_has:Observation:patient:_has:DiagnosticReport:result:status=cancelled')).to.deep.equal([]);
    });
  });

  describe('job queue', () => {
    const jobs = () => ctx.storage().jobs;
    let type: string;
    beforeEach(() => {
      type = `test-${randomUUID()}`;
    });

    it('claims a due job once, running, and completes it', async () => {
      await jobs().enqueue(type, { hello: 'world' });
      const claimed = await jobs().claim([type], 10);
      expect(claimed).to.have.length(1);
      expect(claimed[0]).to.include({ type, status: 'running', attempts: 1 });
      expect(claimed[0].payload).to.deep.equal({ hello: 'world' });
      expect(await jobs().claim([type], 10)).to.deep.equal([]);
      await jobs().complete(claimed[0].id);
      const [done] = await jobs().list({ type });
      expect(done.status).to.equal('done');
      expect(await jobs().list({ type, status: 'pending' })).to.deep.equal([]);
    });

    it('claims only the requested types, oldest first, up to the limit', async () => {
      const other = `test-${randomUUID()}`;
      await jobs().enqueue(type, { n: 1 });
      await jobs().enqueue(other, { n: 2 });
      await jobs().enqueue(type, { n: 3 });
      await jobs().enqueue(type, { n: 4 });
      const first = await jobs().claim([type], 2);
      expect(first.map((j) => j.payload.n)).to.deep.equal([1, 3]);
      const rest = await jobs().claim([type, other], 10);
      expect(rest.map((j) => j.payload.n)).to.deep.equal([2, 4]);
    });

    it('does not claim a job before its runAt', async () => {
      const now = Date.now();
      await jobs().enqueue(type, {}, { runAt: new Date(now + 3_600_000) });
      expect(await jobs().claim([type], 10)).to.deep.equal([]);
      expect(await jobs().claim([type], 10, new Date(now + 1_800_000))).to.deep.equal([]);
      const later = await jobs().claim([type], 10, new Date(now + 7_200_000));
      expect(later).to.have.length(1);
    });

    it('retries a failed job at retryAt and records the error', async () => {
      const now = Date.now();
      await jobs().enqueue(type, { x: 1 });
      const [job] = await jobs().claim([type], 1);
      await jobs().fail(job.id, 'boom', new Date(now + 60_000));
      const [pending] = await jobs().list({ type });
      expect(pending).to.include({ status: 'pending', lastError: 'boom', attempts: 1 });
      expect(pending.runAt.getTime()).to.equal(now + 60_000);
      expect(await jobs().claim([type], 1, new Date(now + 30_000))).to.deep.equal([]);
      const [again] = await jobs().claim([type], 1, new Date(now + 61_000));
      expect(again.id).to.equal(job.id);
      expect(again.attempts).to.equal(2);
      await jobs().fail(again.id, 'fatal');
      const [failed] = await jobs().list({ type });
      expect(failed).to.include({ status: 'failed', lastError: 'fatal', attempts: 2 });
      expect(await jobs().claim([type], 1, new Date(now + 3_600_000))).to.deep.equal([]);
      expect((await jobs().list({ type, status: 'failed' })).map((j) => j.id)).to.deep.equal([job.id]);
    });

    it('ignores a second enqueue with the same idempotency key', async () => {
      const idempotencyKey = `idem-${randomUUID()}`;
      await jobs().enqueue(type, { first: true }, { idempotencyKey });
      await jobs().enqueue(type, { first: false }, { idempotencyKey });
      const listed = await jobs().list({ type });
      expect(listed).to.have.length(1);
      expect(listed[0].payload).to.deep.equal({ first: true });
      // still deduplicated once the first job is done
      const [j] = await jobs().claim([type], 1);
      await jobs().complete(j.id);
      await jobs().enqueue(type, { first: false }, { idempotencyKey });
      expect(await jobs().list({ type })).to.have.length(1);
    });

    it('runs jobs with the same ordering key one at a time, in order', async () => {
      const orderingKey = `key-${randomUUID()}`;
      await jobs().enqueue(type, { n: 1 }, { orderingKey });
      await jobs().enqueue(type, { n: 2 }, { orderingKey });
      await jobs().enqueue(type, { n: 3 });
      const first = await jobs().claim([type], 10);
      expect(first.map((j) => j.payload.n)).to.deep.equal([1, 3]);
      expect(first[0].orderingKey).to.equal(orderingKey);
      expect(await jobs().claim([type], 10)).to.deep.equal([]);
      // a retry keeps the key blocked
      await jobs().fail(first[0].id, 'later', new Date(Date.now() - 1000));
      const retried = await jobs().claim([type], 10);
      expect(retried.map((j) => j.payload.n)).to.deep.equal([1]);
      await jobs().complete(retried[0].id);
      const second = await jobs().claim([type], 10);
      expect(second.map((j) => j.payload.n)).to.deep.equal([2]);
    });

    it('unblocks the next job of a key once the previous one failed for good', async () => {
      const orderingKey = `key-${randomUUID()}`;
      await jobs().enqueue(type, { n: 1 }, { orderingKey });
      await jobs().enqueue(type, { n: 2 }, { orderingKey });
      const [first] = await jobs().claim([type], 10);
      await jobs().fail(first.id, 'fatal');
      expect((await jobs().claim([type], 10)).map((j) => j.payload.n)).to.deep.equal([2]);
    });

    it('completes several jobs at once', async () => {
      for (let n = 1; n <= 3; n++) await jobs().enqueue(type, { n });
      const claimed = await jobs().claim([type], 10);
      await jobs().complete(claimed.slice(0, 2).map((j) => j.id));
      expect((await jobs().list({ type })).map((j) => [j.payload.n, j.status])).to.deep.equal([[1, 'done'], [2, 'done'], [3, 'running']]);
    });

    it('purges done jobs done before a cutoff, keeping pending, running and failed ones', async () => {
      for (let n = 1; n <= 4; n++) await jobs().enqueue(type, { n });
      const [a, b, c] = await jobs().claim([type], 3);
      await jobs().complete([a.id, b.id]);
      await jobs().fail(c.id, 'fatal');
      expect(await jobs().purgeDone(new Date(Date.now() - 60_000))).to.equal(0);
      expect(await jobs().list({ type })).to.have.length(4);
      await pause(5);
      expect(await jobs().purgeDone(new Date(Date.now() + 1000))).to.be.at.least(2);
      expect((await jobs().list({ type })).map((j) => [j.payload.n, j.status])).to.deep.equal([[3, 'failed'], [4, 'pending']]);
    });

    it('moves running jobs back to pending on recover', async () => {
      await jobs().enqueue(type, {});
      await jobs().enqueue(type, {});
      const claimed = await jobs().claim([type], 1);
      expect(claimed).to.have.length(1);
      expect(await jobs().recover()).to.be.at.least(1);
      expect((await jobs().list({ type })).map((j) => j.status)).to.deep.equal(['pending', 'pending']);
      const again = await jobs().claim([type], 10);
      expect(again.map((j) => j.id)).to.include(claimed[0].id);
      expect(again.find((j) => j.id === claimed[0].id)?.attempts).to.equal(2);
      for (const j of again) await jobs().complete(j.id);
    });
  });
}
