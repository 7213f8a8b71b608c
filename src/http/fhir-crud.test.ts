// FHIR R4 §3.1.0 RESTful API over HTTP: create, read, vread, update, patch, delete, history, conditional and versioned interactions.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Bundle, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { httpBackends, startTestServer, type TestServer } from './test-server.js';

const SYSTEM = 'urn:teleo:test:crud';

function newPatient(value = randomUUID(), extra: Partial<Patient> = {}): Patient {
  return { resourceType: 'Patient', identifier: [{ system: SYSTEM, value }], name: [{ family: 'Crud', given: ['Test'] }], ...extra };
}

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const backend of httpBackends()) {
  describe(`FHIR REST CRUD over HTTP (${backend})`, () => {
    let server: TestServer;

    before(async () => {
      server = await startTestServer(backend);
    });

    after(async () => {
      await server?.close();
    });

    async function create(p: Patient = newPatient()): Promise<Patient> {
      const res = await server.fhir('/Patient', { method: 'POST', body: JSON.stringify(p) });
      expect(res.status).to.equal(201);
      return json<Patient>(res);
    }

    async function put(p: Patient, headers: Record<string, string> = {}): Promise<Response> {
      return server.fhir(`/Patient/${p.id}`, { method: 'PUT', body: JSON.stringify(p), headers });
    }

    async function patch(id: string, ops: unknown, contentType = 'application/json-patch+json', headers: Record<string, string> = {}): Promise<Response> {
      return server.fhir(`/Patient/${id}`, { method: 'PATCH', body: JSON.stringify(ops), headers: { 'Content-Type': contentType, ...headers } });
    }

    async function searchByIdentifier(value: string): Promise<Bundle<Patient>> {
      const res = await server.fhir(`/Patient?identifier=${encodeURIComponent(`${SYSTEM}|${value}`)}`);
      expect(res.status).to.equal(200);
      return json<Bundle<Patient>>(res);
    }

    describe('create', () => {
      it('answers 201 with Location, ETag W/"1", Last-Modified and the stored resource', async () => {
        const res = await server.fhir('/Patient', { method: 'POST', body: JSON.stringify(newPatient()) });
        expect(res.status).to.equal(201);
        expect(res.headers.get('content-type')).to.match(/^application\/fhir\+json/);
        const body = await json<Patient>(res);
        expect(body.resourceType).to.equal('Patient');
        expect(body.id).to.be.a('string').and.not.equal('');
        expect(body.meta?.versionId).to.equal('1');
        expect(body.meta?.lastUpdated).to.be.a('string');
        expect(res.headers.get('etag')).to.equal('W/"1"');
        expect(res.headers.get('location')).to.match(new RegExp(`/fhir/Patient/${body.id}/_history/1$`));
        const lastModified = res.headers.get('last-modified');
        expect(lastModified).to.be.a('string');
        expect(Math.abs(Date.parse(lastModified as string) - Date.parse(body.meta?.lastUpdated as string))).to.be.lessThan(1000);
      });

      it('ignores a client-supplied id on create and assigns its own', async () => {
        const res = await server.fhir('/Patient', { method: 'POST', body: JSON.stringify({ ...newPatient(), id: 'client-chosen' }) });
        expect(res.status).to.equal(201);
        const body = await json<Patient>(res);
        expect(body.id).to.not.equal('client-chosen');
      });
    });

    describe('read and vread', () => {
      it('reads the current version with its ETag and Last-Modified', async () => {
        const p = await create();
        const res = await server.fhir(`/Patient/${p.id}`);
        expect(res.status).to.equal(200);
        expect(res.headers.get('etag')).to.equal('W/"1"');
        expect(res.headers.get('last-modified')).to.be.a('string');
        const body = await json<Patient>(res);
        expect(body).to.deep.equal(p);
      });

      it('vreads a given version', async () => {
        const p = await create();
        const res = await server.fhir(`/Patient/${p.id}/_history/1`);
        expect(res.status).to.equal(200);
        expect(res.headers.get('etag')).to.equal('W/"1"');
        expect((await json<Patient>(res)).meta?.versionId).to.equal('1');
      });

      it('answers 404 for a version that does not exist', async () => {
        const p = await create();
        const res = await server.fhir(`/Patient/${p.id}/_history/7`);
        expect(res.status).to.equal(404);
      });

      it('answers a matching If-None-Match with 304 and no body', async () => {
        const p = await create();
        const res = await server.fhir(`/Patient/${p.id}`, { headers: { 'If-None-Match': 'W/"1"' } });
        expect(res.status).to.equal(304);
        expect(await res.text()).to.equal('');
        const stale = await server.fhir(`/Patient/${p.id}`, { headers: { 'If-None-Match': 'W/"0"' } });
        expect(stale.status).to.equal(200);
      });

      it('answers If-None-Match: * and a list holding the current ETag with 304', async () => {
        const p = await create();
        expect((await server.fhir(`/Patient/${p.id}`, { headers: { 'If-None-Match': '*' } })).status).to.equal(304);
        expect((await server.fhir(`/Patient/${p.id}`, { headers: { 'If-None-Match': 'W/"7", W/"1"' } })).status).to.equal(304);
        expect((await server.fhir(`/Patient/${p.id}`, { headers: { 'If-None-Match': '"1"' } })).status).to.equal(304);
        expect((await server.fhir(`/Patient/${p.id}`, { headers: { 'If-None-Match': 'W/"7", W/"11"' } })).status).to.equal(200);
      });
    });

    describe('update', () => {
      it('updates to version 2 with a new ETag and Location', async () => {
        const p = await create();
        const res = await put({ ...p, gender: 'female' });
        expect(res.status).to.equal(200);
        expect(res.headers.get('etag')).to.equal('W/"2"');
        expect(res.headers.get('location')).to.match(new RegExp(`/Patient/${p.id}/_history/2$`));
        const body = await json<Patient>(res);
        expect(body.meta?.versionId).to.equal('2');
        expect(body.gender).to.equal('female');
        const read = await json<Patient>(await server.fhir(`/Patient/${p.id}`));
        expect(read.gender).to.equal('female');
        expect(read.meta?.versionId).to.equal('2');
      });

      it('creates with the client id when updating a resource that does not exist (201)', async () => {
        const id = `client-${randomUUID()}`;
        const res = await put({ ...newPatient(), id });
        expect(res.status).to.equal(201);
        expect(res.headers.get('etag')).to.equal('W/"1"');
        const body = await json<Patient>(res);
        expect(body.id).to.equal(id);
        expect((await server.fhir(`/Patient/${id}`)).status).to.equal(200);
      });

      it('answers a stale If-Match with 412 and leaves the resource alone', async () => {
        const p = await create();
        expect((await put({ ...p, gender: 'male' })).status).to.equal(200);
        const res = await put({ ...p, gender: 'female' }, { 'If-Match': 'W/"1"' });
        expect(res.status).to.equal(412);
        expect((await json<OperationOutcome>(res)).resourceType).to.equal('OperationOutcome');
        const read = await json<Patient>(await server.fhir(`/Patient/${p.id}`));
        expect(read.gender).to.equal('male');
        expect(read.meta?.versionId).to.equal('2');
      });

      it('applies an update whose If-Match names the current version (200)', async () => {
        const p = await create();
        const res = await put({ ...p, gender: 'other' }, { 'If-Match': 'W/"1"' });
        expect(res.status).to.equal(200);
        expect((await json<Patient>(res)).meta?.versionId).to.equal('2');
      });

      it('lets exactly one of two concurrent updates with the same If-Match win (one 200, one 412)', async () => {
        const p = await create();
        const [a, b] = await Promise.all([
          put({ ...p, gender: 'male' }, { 'If-Match': 'W/"1"' }),
          put({ ...p, gender: 'female' }, { 'If-Match': 'W/"1"' }),
        ]);
        expect([a.status, b.status].sort()).to.deep.equal([200, 412]);
        const read = await json<Patient>(await server.fhir(`/Patient/${p.id}`));
        expect(read.meta?.versionId).to.equal('2');
        const winner = (a.status === 200 ? await json<Patient>(a) : await json<Patient>(b));
        expect(read.gender).to.equal(winner.gender);
      });
    });

    describe('conditional create (If-None-Exist)', () => {
      it('creates when nothing matches (201)', async () => {
        const value = randomUUID();
        const res = await server.fhir('/Patient', { method: 'POST', body: JSON.stringify(newPatient(value)),
          headers: { 'If-None-Exist': `identifier=${SYSTEM}|${value}` } });
        expect(res.status).to.equal(201);
        expect((await searchByIdentifier(value)).total).to.equal(1);
      });

      it('returns the existing resource when one matches (200) and creates nothing', async () => {
        const value = randomUUID();
        const existing = await create(newPatient(value));
        const res = await server.fhir('/Patient', { method: 'POST', body: JSON.stringify(newPatient(value, { gender: 'male' })),
          headers: { 'If-None-Exist': `identifier=${SYSTEM}|${value}` } });
        expect(res.status).to.equal(200);
        const body = await json<Patient>(res);
        expect(body.id).to.equal(existing.id);
        expect(body.gender).to.equal(undefined);
        expect((await searchByIdentifier(value)).total).to.equal(1);
      });

      it('answers 412 when several match', async () => {
        const value = randomUUID();
        await create(newPatient(value));
        await create(newPatient(value));
        const res = await server.fhir('/Patient', { method: 'POST', body: JSON.stringify(newPatient(value)),
          headers: { 'If-None-Exist': `Patient?identifier=${SYSTEM}|${value}` } });
        expect(res.status).to.equal(412);
        expect((await searchByIdentifier(value)).total).to.equal(2);
      });
    });

    describe('conditional update (PUT [type]?criteria)', () => {
      const url = (value: string) => `/Patient?identifier=${encodeURIComponent(`${SYSTEM}|${value}`)}`;

      it('creates when nothing matches (201)', async () => {
        const value = randomUUID();
        const res = await server.fhir(url(value), { method: 'PUT', body: JSON.stringify(newPatient(value)) });
        expect(res.status).to.equal(201);
        const body = await json<Patient>(res);
        expect(body.meta?.versionId).to.equal('1');
        expect((await searchByIdentifier(value)).total).to.equal(1);
      });

      it('updates the single match (200, version 2)', async () => {
        const value = randomUUID();
        const existing = await create(newPatient(value));
        const res = await server.fhir(url(value), { method: 'PUT', body: JSON.stringify(newPatient(value, { gender: 'female' })) });
        expect(res.status).to.equal(200);
        const body = await json<Patient>(res);
        expect(body.id).to.equal(existing.id);
        expect(body.meta?.versionId).to.equal('2');
        expect(body.gender).to.equal('female');
      });

      it('answers 412 when several match', async () => {
        const value = randomUUID();
        await create(newPatient(value));
        await create(newPatient(value));
        const res = await server.fhir(url(value), { method: 'PUT', body: JSON.stringify(newPatient(value)) });
        expect(res.status).to.equal(412);
        expect((await searchByIdentifier(value)).total).to.equal(2);
      });
    });

    describe('patch (JSON Patch)', () => {
      it('applies a JSON Patch and answers the new version', async () => {
        const p = await create();
        const res = await patch(p.id as string, [{ op: 'add', path: '/active', value: true }, { op: 'replace', path: '/name/0/family', value: 'Patched' }]);
        expect(res.status).to.equal(200);
        expect(res.headers.get('etag')).to.equal('W/"2"');
        const body = await json<Patient>(res);
        expect(body.active).to.equal(true);
        expect(body.name?.[0].family).to.equal('Patched');
        expect(body.meta?.versionId).to.equal('2');
      });

      it('answers 400 to an unknown operation', async () => {
        const p = await create();
        const res = await patch(p.id as string, [{ op: 'frobnicate', path: '/active', value: true }]);
        expect(res.status).to.equal(400);
        expect((await json<OperationOutcome>(res)).resourceType).to.equal('OperationOutcome');
      });

      it('answers a 4xx when a test operation fails, and changes nothing', async () => {
        const p = await create(newPatient(randomUUID(), { active: true }));
        const res = await patch(p.id as string, [{ op: 'test', path: '/active', value: false }, { op: 'replace', path: '/active', value: false }]);
        expect(res.status).to.be.within(400, 499);
        expect((await json<OperationOutcome>(res)).resourceType).to.equal('OperationOutcome');
        const read = await json<Patient>(await server.fhir(`/Patient/${p.id}`));
        expect(read.active).to.equal(true);
        expect(read.meta?.versionId).to.equal('1');
      });

      it('answers 400 to a patch that changes the id', async () => {
        const p = await create();
        const res = await patch(p.id as string, [{ op: 'replace', path: '/id', value: 'someone-else' }]);
        expect(res.status).to.equal(400);
      });

      it('answers 415 to a patch that is not application/json-patch+json', async () => {
        const p = await create();
        const res = await patch(p.id as string, [{ op: 'add', path: '/active', value: true }], 'application/json');
        expect(res.status).to.equal(415);
      });

      it('answers a stale If-Match on a patch with 412', async () => {
        const p = await create();
        await put({ ...p, gender: 'male' });
        const res = await patch(p.id as string, [{ op: 'add', path: '/active', value: true }], 'application/json-patch+json', { 'If-Match': 'W/"1"' });
        expect(res.status).to.equal(412);
      });
    });

    describe('delete', () => {
      it('answers 204, then reads are 410 while older versions stay readable', async () => {
        const p = await create();
        const res = await server.fhir(`/Patient/${p.id}`, { method: 'DELETE' });
        expect(res.status).to.equal(204);
        expect(await res.text()).to.equal('');
        const gone = await server.fhir(`/Patient/${p.id}`);
        expect(gone.status).to.equal(410);
        expect((await json<OperationOutcome>(gone)).resourceType).to.equal('OperationOutcome');
        const old = await server.fhir(`/Patient/${p.id}/_history/1`);
        expect(old.status).to.equal(200);
        expect((await json<Patient>(old)).id).to.equal(p.id);
      });

      it('answers 410 to a vread of the deletion version', async () => {
        const p = await create();
        expect((await server.fhir(`/Patient/${p.id}`, { method: 'DELETE' })).status).to.equal(204);
        const res = await server.fhir(`/Patient/${p.id}/_history/2`);
        expect(res.status).to.equal(410);
      });

      it('no longer finds a deleted resource by search', async () => {
        const value = randomUUID();
        const p = await create(newPatient(value));
        expect((await server.fhir(`/Patient/${p.id}`, { method: 'DELETE' })).status).to.equal(204);
        expect((await searchByIdentifier(value)).total).to.equal(0);
      });
    });

    describe('history', () => {
      it('lists the versions of one resource, newest first, with their methods', async () => {
        const p = await create();
        expect((await put({ ...p, gender: 'male' })).status).to.equal(200);
        expect((await server.fhir(`/Patient/${p.id}`, { method: 'DELETE' })).status).to.equal(204);
        const res = await server.fhir(`/Patient/${p.id}/_history`);
        expect(res.status).to.equal(200);
        const bundle = await json<Bundle<Patient>>(res);
        expect(bundle.type).to.equal('history');
        expect(bundle.total).to.equal(3);
        expect(bundle.entry).to.have.length(3);
        expect(bundle.entry?.map((e) => e.request?.method)).to.deep.equal(['DELETE', 'PUT', 'POST']);
        expect(bundle.entry?.map((e) => e.response?.etag)).to.deep.equal(['W/"3"', 'W/"2"', 'W/"1"']);
        expect(bundle.entry?.[0].resource).to.equal(undefined);
        expect(bundle.entry?.[1].resource?.gender).to.equal('male');
        expect(bundle.entry?.[2].resource?.meta?.versionId).to.equal('1');
      });

      it('pages instance history with _count through next links', async () => {
        const p = await create();
        for (const gender of ['male', 'female', 'other'] as const) expect((await put({ ...p, gender })).status).to.equal(200);
        const etags: string[] = [];
        let path: string | undefined = `/Patient/${p.id}/_history?_count=3`;
        while (path) {
          const page: Bundle<Patient> = await json<Bundle<Patient>>(await server.fhir(path));
          expect(page.total).to.equal(4);
          expect(page.entry?.length).to.be.at.most(3);
          etags.push(...(page.entry ?? []).map((e) => e.response?.etag as string));
          const next = page.link?.find((l) => l.relation === 'next')?.url;
          path = next ? next.slice(next.indexOf('/fhir') + '/fhir'.length) : undefined;
          expect(etags.length).to.be.at.most(4);
        }
        expect(etags).to.deep.equal(['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']);
      });

      it('answers 404 for the history of a resource that never existed', async () => {
        const res = await server.fhir(`/Patient/${randomUUID()}/_history`);
        expect(res.status).to.equal(404);
      });

      it('lists type history restricted by _since', async () => {
        const before = await create();
        await sleep(20);
        const since = new Date().toISOString();
        await sleep(20);
        const after = await create();
        await put({ ...after, gender: 'female' });
        const res = await server.fhir(`/Patient/_history?_since=${encodeURIComponent(since)}&_count=100`);
        expect(res.status).to.equal(200);
        const bundle = await json<Bundle<Patient>>(res);
        expect(bundle.type).to.equal('history');
        const refs = (bundle.entry ?? []).map((e) => `${e.resource?.id}/${e.response?.etag}`);
        expect(refs).to.include(`${after.id}/W/"1"`);
        expect(refs).to.include(`${after.id}/W/"2"`);
        expect(refs.some((r) => r.startsWith(`${before.id}/`))).to.equal(false);
        for (const e of bundle.entry ?? []) expect(e.resource?.resourceType).to.equal('Patient');
      });

      it('lists type history with all versions of a new resource', async () => {
        const p = await create();
        await put({ ...p, gender: 'male' });
        const bundle = await json<Bundle<Patient>>(await server.fhir('/Patient/_history?_count=1000'));
        const mine = (bundle.entry ?? []).filter((e) => e.resource?.id === p.id);
        expect(mine.map((e) => e.request?.method)).to.deep.equal(['PUT', 'POST']);
      });

      it('lists system history across types with _since', async () => {
        await sleep(20);
        const since = new Date().toISOString();
        await sleep(20);
        const p = await create();
        const org = await server.fhir('/Organization', { method: 'POST', body: JSON.stringify({ resourceType: 'Organization', name: `Org ${randomUUID()}` }) });
        expect(org.status).to.equal(201);
        const orgId = (await json<{ id: string }>(org)).id;
        const res = await server.fhir(`/_history?_since=${encodeURIComponent(since)}`);
        expect(res.status).to.equal(200);
        const bundle = await json<Bundle>(res);
        expect(bundle.type).to.equal('history');
        const refs = (bundle.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);
        expect(refs).to.include(`Patient/${p.id}`);
        expect(refs).to.include(`Organization/${orgId}`);
        for (const e of bundle.entry ?? []) {
          expect(Date.parse(e.response?.lastModified as string)).to.be.at.least(Date.parse(since));
        }
      });

      it('answers 400 to an invalid _since', async () => {
        const res = await server.fhir('/Patient/_history?_since=yesterday-ish');
        expect(res.status).to.equal(400);
      });
    });

    describe('Prefer: return', () => {
      it('answers return=minimal with an empty body but the headers', async () => {
        const res = await server.fhir('/Patient', { method: 'POST', body: JSON.stringify(newPatient()), headers: { Prefer: 'return=minimal' } });
        expect(res.status).to.equal(201);
        expect(await res.text()).to.equal('');
        expect(res.headers.get('location')).to.match(/\/Patient\/[^/]+\/_history\/1$/);
        expect(res.headers.get('etag')).to.equal('W/"1"');
      });

      it('answers return=OperationOutcome with an OperationOutcome', async () => {
        const res = await server.fhir('/Patient', { method: 'POST', body: JSON.stringify(newPatient()), headers: { Prefer: 'return=OperationOutcome' } });
        expect(res.status).to.equal(201);
        const body = await json<OperationOutcome>(res);
        expect(body.resourceType).to.equal('OperationOutcome');
        expect(body.issue?.[0].severity).to.equal('information');
        expect(res.headers.get('location')).to.match(/\/Patient\/[^/]+\/_history\/1$/);
      });

      it('applies Prefer to updates too', async () => {
        const p = await create();
        const res = await put({ ...p, gender: 'male' }, { Prefer: 'return=minimal' });
        expect(res.status).to.equal(200);
        expect(await res.text()).to.equal('');
        expect(res.headers.get('etag')).to.equal('W/"2"');
      });
    });

    describe('persistence', () => {
      it('keeps resources across a restart: same version, still searchable', async () => {
        const value = randomUUID();
        const p = await create(newPatient(value));
        await put({ ...p, gender: 'female' });
        await server.restart();
        const res = await server.fhir(`/Patient/${p.id}`);
        expect(res.status).to.equal(200);
        const read = await json<Patient>(res);
        expect(read.meta?.versionId).to.equal('2');
        expect(read.gender).to.equal('female');
        const found = await searchByIdentifier(value);
        expect(found.total).to.equal(1);
        expect(found.entry?.[0].resource?.id).to.equal(p.id);
        const history = await json<Bundle>(await server.fhir(`/Patient/${p.id}/_history`));
        expect(history.total).to.equal(2);
      });
    });
  });
}
