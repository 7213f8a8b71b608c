// FHIR R4 §3.1.1 Search over HTTP (search.html): GET and POST _search, paging, result parameters, includes, chaining, _has, modifiers, prefixes.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Bundle, BundleLink, Organization, Patient, PractitionerRole, Provenance, Resource, Task } from '@medplum/fhirtypes';
import { httpBackends, startTestServer, type TestServer } from './test-server.js';

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A link of a Bundle as a path under the FHIR base (links carry the configured public base URL). */
function linkPath(bundle: Bundle, relation: string): string | undefined {
  const url = bundle.link?.find((l: BundleLink) => l.relation === relation)?.url;
  if (!url) return undefined;
  const u = new URL(url);
  return `${u.pathname.replace(/^\/fhir/, '')}${u.search}`;
}

const ids = (b: Bundle, mode?: 'match' | 'include') =>
  (b.entry ?? []).filter((e) => !mode || e.search?.mode === mode).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);

for (const backend of httpBackends()) {
  describe(`FHIR search over HTTP (${backend})`, () => {
    let server: TestServer;

    before(async () => {
      server = await startTestServer(backend);
    });

    after(async () => {
      await server?.close();
    });

    async function create<T extends Resource>(r: T): Promise<T> {
      const res = await server.fhir(`/${r.resourceType}`, { method: 'POST', body: JSON.stringify(r) });
      const body = await res.text();
      expect(res.status, body).to.equal(201);
      return JSON.parse(body) as T;
    }

    async function search(path: string, init: RequestInit = {}): Promise<Bundle> {
      const res = await server.fhir(path, init);
      const body = await res.text();
      expect(res.status, body).to.equal(200);
      const bundle = JSON.parse(body) as Bundle;
      expect(bundle.resourceType).to.equal('Bundle');
      expect(bundle.type).to.equal('searchset');
      return bundle;
    }

    /** Patients sharing a fresh identifier system, so a search can select exactly them. */
    async function patients(n: number, each: (i: number) => Partial<Patient> = () => ({})): Promise<{ system: string; list: Patient[] }> {
      const system = `urn:teleo:test:search:${randomUUID()}`;
      const list: Patient[] = [];
      for (let i = 0; i < n; i++) {
        list.push(await create<Patient>({ resourceType: 'Patient', identifier: [{ system, value: String(i) }], name: [{ family: `Fam${i}` }], ...each(i) }));
      }
      return { system, list };
    }

    const task = (extra: Partial<Task> = {}): Task => ({ resourceType: 'Task', status: 'requested', intent: 'order', ...extra });

    describe('GET and POST _search', () => {
      it('answers POST [type]/_search (form-encoded) like GET [type]', async () => {
        const { system, list } = await patients(3);
        const get = await search(`/Patient?identifier=${encodeURIComponent(`${system}|`)}&_sort=_id`);
        const post = await search('/Patient/_search', {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ identifier: `${system}|`, _sort: '_id' }).toString(),
        });
        expect(get.total).to.equal(3);
        expect(post.total).to.equal(3);
        expect(ids(post)).to.deep.equal(ids(get));
        expect(ids(get)).to.have.members(list.map((p) => `Patient/${p.id}`));
      });

      it('merges URL and form parameters of POST _search', async () => {
        const { system, list } = await patients(2, (i) => ({ gender: i === 0 ? 'female' : 'male' }));
        const post = await search(`/Patient/_search?gender=female`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ identifier: `${system}|` }).toString(),
        });
        expect(ids(post)).to.deep.equal([`Patient/${list[0].id}`]);
      });

      it('gives every match a fullUrl and search.mode match', async () => {
        const { system, list } = await patients(1);
        const b = await search(`/Patient?identifier=${encodeURIComponent(`${system}|0`)}`);
        expect(b.entry).to.have.length(1);
        expect(b.entry?.[0].fullUrl).to.match(new RegExp(`/fhir/Patient/${list[0].id}$`));
        expect(b.entry?.[0].search?.mode).to.equal('match');
      });
    });

    describe('paging', () => {
      it('walks every result through next links with _count=2, with self/first/previous/last links', async () => {
        const { system, list } = await patients(5);
        const first = await search(`/Patient?identifier=${encodeURIComponent(`${system}|`)}&_count=2&_sort=_lastUpdated&_total=accurate`);
        expect(first.total).to.equal(5);
        expect(first.entry).to.have.length(2);
        expect(linkPath(first, 'self')).to.be.a('string');
        expect(linkPath(first, 'first')).to.be.a('string');
        expect(linkPath(first, 'previous')).to.equal(undefined);
        expect(linkPath(first, 'last')).to.be.a('string');

        const seen = [...ids(first)];
        let page = first;
        let pages = 1;
        for (let next = linkPath(page, 'next'); next; next = linkPath(page, 'next')) {
          page = await search(next);
          pages++;
          expect(page.entry?.length).to.be.at.most(2);
          expect(linkPath(page, 'previous')).to.be.a('string');
          seen.push(...ids(page));
          expect(pages).to.be.at.most(5);
        }
        expect(pages).to.equal(3);
        expect(seen).to.deep.equal(list.map((p) => `Patient/${p.id}`));

        const last = await search(linkPath(first, 'last') as string);
        expect(ids(last)).to.deep.equal([`Patient/${list[4].id}`]);
        const back = await search(linkPath(page, 'previous') as string);
        expect(ids(back)).to.deep.equal(list.slice(2, 4).map((p) => `Patient/${p.id}`));
        const again = await search(linkPath(page, 'first') as string);
        expect(ids(again)).to.deep.equal(ids(first));
      });

      it('starts at _offset', async () => {
        const { system, list } = await patients(4);
        const b = await search(`/Patient?identifier=${encodeURIComponent(`${system}|`)}&_count=2&_offset=1&_sort=_lastUpdated`);
        expect(ids(b)).to.deep.equal(list.slice(1, 3).map((p) => `Patient/${p.id}`));
        expect(linkPath(b, 'previous')).to.be.a('string');
        expect(linkPath(b, 'next')).to.be.a('string');
      });

      it('keeps _include on every page and includes only what the page matched', async () => {
        const { list } = await patients(3);
        const group = `urn:teleo:test:search:${randomUUID()}`;
        for (const p of list) await create(task({ for: { reference: `Patient/${p.id}` }, identifier: [{ system: group, value: String(p.id) }] }));
        const first = await search(`/Task?identifier=${encodeURIComponent(`${group}|`)}&_include=Task:patient&_count=2&_sort=_lastUpdated`);
        expect(ids(first, 'include')).to.have.members(list.slice(0, 2).map((p) => `Patient/${p.id}`));
        const second = await search(linkPath(first, 'next') as string);
        expect(ids(second, 'match')).to.have.length(1);
        expect(ids(second, 'include')).to.deep.equal([`Patient/${list[2].id}`]);
      });

      it('answers _count=0 with the total only', async () => {
        const { system } = await patients(2);
        const b = await search(`/Patient?identifier=${encodeURIComponent(`${system}|`)}&_count=0`);
        expect(b.total).to.equal(2);
        expect(b.entry ?? []).to.have.length(0);
      });

      it('omits total with _total=none', async () => {
        const { system } = await patients(2);
        const b = await search(`/Patient?identifier=${encodeURIComponent(`${system}|`)}&_total=none`);
        expect(b).to.not.have.property('total');
        expect(b.entry).to.have.length(2);
      });

      it('by default gives total on the last page only (known without counting), and on every page with _total=accurate', async () => {
        const { system } = await patients(3);
        const q = `/Patient?identifier=${encodeURIComponent(`${system}|`)}&_sort=_lastUpdated&_count=2`;
        const full = await search(q);
        expect(full).to.not.have.property('total');
        expect(full.entry).to.have.length(2);
        expect(linkPath(full, 'next')).to.be.a('string');
        expect((await search(`${q}&_offset=2`)).total).to.equal(3);
        expect((await search(`${q}&_total=accurate`)).total).to.equal(3);
        expect((await search(`${q}&_total=estimate`)).total).to.equal(3);
      });

      it('answers _summary=count with the total and no entries', async () => {
        const { system } = await patients(3);
        const b = await search(`/Patient?identifier=${encodeURIComponent(`${system}|`)}&_summary=count`);
        expect(b.total).to.equal(3);
        expect(b.entry ?? []).to.have.length(0);
      });
    });

    describe('_summary and _elements', () => {
      it('drops non-summary elements with _summary=true and tags SUBSETTED', async () => {
        const { system, list } = await patients(1, () => ({
          gender: 'female', maritalStatus: { text: 'single' }, communication: [{ language: { text: 'fr' } }],
        }));
        const b = await search(`/Patient?identifier=${encodeURIComponent(`${system}|`)}&_summary=true`);
        const p = b.entry?.[0].resource as Patient;
        expect(p.id).to.equal(list[0].id);
        expect(p.name?.[0].family).to.equal('Fam0');
        expect(p.gender).to.equal('female');
        expect(p.identifier).to.have.length(1);
        expect(p).to.not.have.property('maritalStatus');
        expect(p).to.not.have.property('communication');
        expect(p.meta?.tag?.some((t) => t.code === 'SUBSETTED')).to.equal(true);
      });

      it('keeps only the named element (plus id and meta) with _elements=name and tags SUBSETTED', async () => {
        const { system, list } = await patients(1, () => ({ gender: 'male', birthDate: '1970-01-01' }));
        const b = await search(`/Patient?identifier=${encodeURIComponent(`${system}|`)}&_elements=name`);
        const p = b.entry?.[0].resource as Patient;
        expect(Object.keys(p).sort()).to.deep.equal(['id', 'meta', 'name', 'resourceType']);
        expect(p.id).to.equal(list[0].id);
        expect(p.meta?.tag?.some((t) => t.code === 'SUBSETTED')).to.equal(true);
      });

      it('leaves the stored resource whole', async () => {
        const { list } = await patients(1, () => ({ gender: 'male' }));
        await search(`/Patient?_id=${list[0].id}&_elements=name`);
        const read = await json<Patient>(await server.fhir(`/Patient/${list[0].id}`));
        expect(read.gender).to.equal('male');
        expect(read.meta?.tag ?? []).to.have.length(0);
      });
    });

    describe('_sort', () => {
      it('sorts by -_lastUpdated, newest first', async () => {
        const { system, list } = await patients(3);
        const b = await search(`/Patient?identifier=${encodeURIComponent(`${system}|`)}&_sort=-_lastUpdated`);
        expect(ids(b)).to.deep.equal(list.map((p) => `Patient/${p.id}`).reverse());
      });

      it('sorts by family, ascending and descending', async () => {
        const families = ['Moreau', 'Dubois', 'Petit', 'Bernard'];
        const { system, list } = await patients(4, (i) => ({ name: [{ family: families[i] }] }));
        const byFamily = [...list].sort((a, b) => (a.name?.[0].family as string).localeCompare(b.name?.[0].family as string));
        const asc = await search(`/Patient?identifier=${encodeURIComponent(`${system}|`)}&_sort=family`);
        expect(ids(asc)).to.deep.equal(byFamily.map((p) => `Patient/${p.id}`));
        const desc = await search(`/Patient?identifier=${encodeURIComponent(`${system}|`)}&_sort=-family`);
        expect(ids(desc)).to.deep.equal(byFamily.map((p) => `Patient/${p.id}`).reverse());
      });
    });

    describe('_include and _revinclude', () => {
      it('includes the Task patient with _include=Task:patient', async () => {
        const { list } = await patients(1);
        const t = await create(task({ for: { reference: `Patient/${list[0].id}` } }));
        const b = await search(`/Task?_id=${t.id}&_include=Task:patient`);
        expect(ids(b, 'match')).to.deep.equal([`Task/${t.id}`]);
        expect(ids(b, 'include')).to.deep.equal([`Patient/${list[0].id}`]);
      });

      it('includes the Provenance of a Task with _revinclude=Provenance:target', async () => {
        const t = await create(task());
        const prov = await create<Provenance>({ resourceType: 'Provenance', target: [{ reference: `Task/${t.id}` }], recorded: new Date().toISOString(),
          agent: [{ who: { reference: 'Practitioner/tester' } }] });
        const b = await search(`/Task?_id=${t.id}&_revinclude=Provenance:target`);
        expect(ids(b, 'match')).to.deep.equal([`Task/${t.id}`]);
        expect(ids(b, 'include')).to.deep.equal([`Provenance/${prov.id}`]);
      });

      it('follows _include:iterate from included resources', async () => {
        const org = await create<Organization>({ resourceType: 'Organization', name: `Org ${randomUUID()}` });
        const { list } = await patients(1, () => ({ managingOrganization: { reference: `Organization/${org.id}` } }));
        const t = await create(task({ for: { reference: `Patient/${list[0].id}` } }));
        const plain = await search(`/Task?_id=${t.id}&_include=Task:patient&_include=Patient:organization`);
        expect(ids(plain, 'include')).to.deep.equal([`Patient/${list[0].id}`]);
        const iterated = await search(`/Task?_id=${t.id}&_include=Task:patient&_include:iterate=Patient:organization`);
        expect(ids(iterated, 'include')).to.have.members([`Patient/${list[0].id}`, `Organization/${org.id}`]);
      });
    });

    describe('chaining and _has', () => {
      it('finds Tasks by their patient identifier (chained)', async () => {
        const { system, list } = await patients(2);
        const t0 = await create(task({ for: { reference: `Patient/${list[0].id}` } }));
        await create(task({ for: { reference: `Patient/${list[1].id}` } }));
        const b = await search(`/Task?patient.identifier=${encodeURIComponent(`${system}|0`)}`);
        expect(ids(b)).to.deep.equal([`Task/${t0.id}`]);
      });

      it('finds Patients that a requested Task points at (_has)', async () => {
        const { system, list } = await patients(3);
        await create(task({ for: { reference: `Patient/${list[0].id}` }, status: 'requested' }));
        await create(task({ for: { reference: `Patient/${list[1].id}` }, status: 'completed' }));
        const b = await search(`/Patient?identifier=${encodeURIComponent(`${system}|`)}&_has:Task:patient:status=requested`);
        expect(ids(b)).to.deep.equal([`Patient/${list[0].id}`]);
      });
    });

    describe('modifiers and prefixes', () => {
      it('excludes a token value with :not', async () => {
        const { list } = await patients(1);
        const ref = `Patient/${list[0].id}`;
        const requested = await create(task({ for: { reference: ref }, status: 'requested' }));
        const completed = await create(task({ for: { reference: ref }, status: 'completed' }));
        const b = await search(`/Task?patient=${ref}&status:not=requested`);
        expect(ids(b)).to.deep.equal([`Task/${completed.id}`]);
        const c = await search(`/Task?patient=${ref}&status=requested`);
        expect(ids(c)).to.deep.equal([`Task/${requested.id}`]);
      });

      it('matches strings by prefix by default, exactly with :exact and anywhere with :contains', async () => {
        const tag = randomUUID().replace(/-/g, '').slice(0, 10);
        const { system, list } = await patients(3, (i) => ({ name: [{ family: [`Lefebvre${tag}`, `lefebvre${tag}x`, `Du${tag}Lefebvre`][i] }] }));
        const q = `/Patient?identifier=${encodeURIComponent(`${system}|`)}`;
        expect(ids(await search(`${q}&family=lefebvre${tag}`))).to.have.members([list[0], list[1]].map((p) => `Patient/${p.id}`));
        expect(ids(await search(`${q}&family:exact=Lefebvre${tag}`))).to.deep.equal([`Patient/${list[0].id}`]);
        expect(ids(await search(`${q}&family:exact=lefebvre${tag}`))).to.deep.equal([]);
        expect(ids(await search(`${q}&family:contains=${tag}lef`))).to.deep.equal([`Patient/${list[2].id}`]);
        expect(ids(await search(`${q}&family:contains=${tag}`))).to.have.length(3);
      });

      it('applies date prefixes (eq, ge, lt, and a range)', async () => {
        const dates = ['1985-06-15', '1990-01-01', '1999-12-31', '2005-03-03'];
        const { system, list } = await patients(4, (i) => ({ birthDate: dates[i] }));
        const q = `/Patient?identifier=${encodeURIComponent(`${system}|`)}`;
        const refs = (...is: number[]) => is.map((i) => `Patient/${list[i].id}`);
        expect(ids(await search(`${q}&birthdate=1990-01-01`))).to.have.members(refs(1));
        expect(ids(await search(`${q}&birthdate=eq1990`))).to.have.members(refs(1));
        expect(ids(await search(`${q}&birthdate=ge1990-01-01`))).to.have.members(refs(1, 2, 3));
        expect(ids(await search(`${q}&birthdate=lt1990-01-01`))).to.have.members(refs(0));
        expect(ids(await search(`${q}&birthdate=ge1990-01-01&birthdate=lt2000-01-01`))).to.have.members(refs(1, 2));
        expect(ids(await search(`${q}&birthdate=gt1999-12-31`))).to.have.members(refs(3));
        expect(ids(await search(`${q}&birthdate=le1985-06-15`))).to.have.members(refs(0));
      });

      it('matches strings case- and accent-insensitively', async () => {
        const tag = randomUUID().replace(/-/g, '').slice(0, 8);
        const { system, list } = await patients(1, () => ({ name: [{ family: `Lefèvre-${tag}`, given: ['Hélène'] }] }));
        const q = `/Patient?identifier=${encodeURIComponent(`${system}|`)}`;
        expect(ids(await search(`${q}&family=${encodeURIComponent(`lefevre-${tag}`)}`))).to.deep.equal([`Patient/${list[0].id}`]);
        expect(ids(await search(`${q}&given=HELENE`))).to.deep.equal([`Patient/${list[0].id}`]);
      });

      it('filters on _lastUpdated with a prefix', async () => {
        const { system, list } = await patients(1);
        await sleep(20);
        const since = new Date().toISOString();
        await sleep(20);
        const later = await create<Patient>({ resourceType: 'Patient', identifier: [{ system, value: 'later' }] });
        const q = `/Patient?identifier=${encodeURIComponent(`${system}|`)}`;
        expect(ids(await search(`${q}&_lastUpdated=${encodeURIComponent(`gt${since}`)}`))).to.deep.equal([`Patient/${later.id}`]);
        expect(ids(await search(`${q}&_lastUpdated=${encodeURIComponent(`lt${since}`)}`))).to.deep.equal([`Patient/${list[0].id}`]);
      });

      it('selects by presence with :missing', async () => {
        const { system, list } = await patients(2, (i) => (i === 0 ? { birthDate: '2000-01-01' } : {}));
        const q = `/Patient?identifier=${encodeURIComponent(`${system}|`)}`;
        expect(ids(await search(`${q}&birthdate:missing=true`))).to.deep.equal([`Patient/${list[1].id}`]);
        expect(ids(await search(`${q}&birthdate:missing=false`))).to.deep.equal([`Patient/${list[0].id}`]);
      });

      it('matches a comma-separated list as OR', async () => {
        const { system, list } = await patients(3, (i) => ({ gender: (['male', 'female', 'other'] as const)[i] }));
        const b = await search(`/Patient?identifier=${encodeURIComponent(`${system}|`)}&gender=male,other`);
        expect(ids(b)).to.have.members([`Patient/${list[0].id}`, `Patient/${list[2].id}`]);
      });
    });

    describe('the worklist query', () => {
      it('answers Task?owner=PractitionerRole/x&status=requested&_include=Task:patient&_sort=-_lastUpdated', async () => {
        const role = await create<PractitionerRole>({ resourceType: 'PractitionerRole', active: true });
        const other = await create<PractitionerRole>({ resourceType: 'PractitionerRole', active: true });
        const { list } = await patients(2);
        const owner = { reference: `PractitionerRole/${role.id}` };
        const t1 = await create(task({ owner, for: { reference: `Patient/${list[0].id}` } }));
        await sleep(5);
        const t2 = await create(task({ owner, for: { reference: `Patient/${list[1].id}` } }));
        await create(task({ owner, status: 'completed', for: { reference: `Patient/${list[0].id}` } }));
        await create(task({ owner: { reference: `PractitionerRole/${other.id}` }, for: { reference: `Patient/${list[0].id}` } }));
        await sleep(5);
        // Touch t1 so that it becomes the most recently updated.
        const t1Updated = await server.fhir(`/Task/${t1.id}`, { method: 'PUT', body: JSON.stringify({ ...t1, description: 'seen' }) });
        expect(t1Updated.status).to.equal(200);

        const b = await search(`/Task?owner=PractitionerRole/${role.id}&status=requested&_include=Task:patient&_sort=-_lastUpdated`);
        expect(b.total).to.equal(2);
        expect(ids(b, 'match')).to.deep.equal([`Task/${t1.id}`, `Task/${t2.id}`]);
        expect(ids(b, 'include')).to.have.members(list.map((p) => `Patient/${p.id}`));
      });
    });

    describe('strict and lenient handling', () => {
      it('answers an unknown parameter with 400 by default (strict)', async () => {
        const res = await server.fhir('/Patient?unknown-param=1');
        expect(res.status).to.equal(400);
        expect((await json<{ resourceType: string }>(res)).resourceType).to.equal('OperationOutcome');
      });

      it('ignores an unknown parameter with Prefer: handling=lenient', async () => {
        const { system, list } = await patients(1);
        const b = await search(`/Patient?identifier=${encodeURIComponent(`${system}|`)}&unknown-param=1`, { headers: { Prefer: 'handling=lenient' } });
        expect(ids(b)).to.deep.equal([`Patient/${list[0].id}`]);
      });

      it('answers an unknown parameter with 400 under Prefer: handling=strict', async () => {
        const res = await server.fhir('/Patient?unknown-param=1', { headers: { Prefer: 'handling=strict' } });
        expect(res.status).to.equal(400);
      });
    });
  });
}
