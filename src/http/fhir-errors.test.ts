// FHIR R4 §3.1.0.5 / §3.1.0.1 error handling (OperationOutcome per status), §3.1.0.10 capabilities (metadata) and $validate (resource-operation-validate).
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { CapabilityStatement, OperationOutcome, Parameters, Patient } from '@medplum/fhirtypes';
import { httpBackends, startTestServer, type TestServer } from './test-server.js';

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

/** Asserts a FHIR error answer: the status, application/fhir+json, and an OperationOutcome with at least one issue. */
async function expectOutcome(res: Response, status: number): Promise<OperationOutcome> {
  const text = await res.text();
  expect(res.status, text).to.equal(status);
  expect(res.headers.get('content-type')).to.match(/^application\/fhir\+json/);
  const body = JSON.parse(text) as OperationOutcome;
  expect(body.resourceType).to.equal('OperationOutcome');
  expect(body.issue).to.be.an('array').with.length.greaterThan(0);
  for (const issue of body.issue ?? []) {
    expect(issue.severity).to.be.oneOf(['fatal', 'error', 'warning', 'information']);
    expect(issue.code).to.be.a('string');
  }
  return body;
}

const patient = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ resourceType: 'Patient', identifier: [{ system: 'urn:teleo:test:errors', value: randomUUID() }], ...extra });

for (const backend of httpBackends()) {
  describe(`FHIR HTTP errors, metadata and $validate (${backend})`, () => {
    let server: TestServer;

    before(async () => {
      server = await startTestServer(backend);
    });

    after(async () => {
      await server?.close();
    });

    async function createPatient(): Promise<Patient> {
      const res = await server.fhir('/Patient', { method: 'POST', body: JSON.stringify(patient()) });
      expect(res.status).to.equal(201);
      return json<Patient>(res);
    }

    describe('400 Bad Request', () => {
      it('answers malformed JSON with 400', async () => {
        await expectOutcome(await server.fhir('/Patient', { method: 'POST', body: '{"resourceType": "Patient",' }), 400);
      });

      it('answers a body whose resourceType differs from the URL with 400', async () => {
        await expectOutcome(await server.fhir('/Patient', { method: 'POST', body: JSON.stringify({ resourceType: 'Organization', name: 'x' }) }), 400);
      });

      it('answers a body that is not a resource with 400', async () => {
        await expectOutcome(await server.fhir('/Patient', { method: 'POST', body: '[1, 2, 3]' }), 400);
      });

      it('answers an update whose body id differs from the URL id with 400', async () => {
        const p = await createPatient();
        const res = await server.fhir(`/Patient/${p.id}`, { method: 'PUT', body: JSON.stringify({ ...p, id: 'another-id' }) });
        await expectOutcome(res, 400);
      });

      it('answers an update without a body id with 400', async () => {
        const p = await createPatient();
        const { id: _id, ...withoutId } = p;
        await expectOutcome(await server.fhir(`/Patient/${p.id}`, { method: 'PUT', body: JSON.stringify(withoutId) }), 400);
      });

      it('answers an update whose id is not a valid FHIR id with 400', async () => {
        for (const id of ['bad_id!', 'a'.repeat(65)]) {
          const res = await server.fhir(`/Patient/${encodeURIComponent(id)}`, { method: 'PUT', body: JSON.stringify({ ...patient(), id }) });
          await expectOutcome(res, 400);
        }
      });

      it('answers an unknown search parameter with 400', async () => {
        await expectOutcome(await server.fhir('/Patient?no-such-param=1'), 400);
      });

      it('answers a bad date search value with 400', async () => {
        await expectOutcome(await server.fhir('/Patient?birthdate=not-a-date'), 400);
      });

      it('answers a bad _count with 400', async () => {
        await expectOutcome(await server.fhir('/Patient?_count=-3'), 400);
      });
    });

    describe('401 Unauthorized', () => {
      it('answers a request without a token with 401 and WWW-Authenticate', async () => {
        const res = await server.fhir('/Patient', { token: null });
        expect(res.headers.get('www-authenticate')).to.match(/^Bearer/);
        await expectOutcome(res, 401);
      });

      it('answers a garbage token with 401 and WWW-Authenticate', async () => {
        const res = await server.fhir('/Patient', { token: 'not.a.jwt' });
        expect(res.headers.get('www-authenticate')).to.match(/^Bearer/);
        await expectOutcome(res, 401);
      });

      it('answers a non-Bearer Authorization with 401', async () => {
        const res = await fetch(`${server.base}/Patient`, { headers: { Authorization: 'Basic dXNlcjpwYXNz' } });
        await expectOutcome(res, 401);
      });

      it('checks the token before revealing whether a path exists', async () => {
        await expectOutcome(await server.fhir('/NoSuchType/1', { token: null }), 401);
      });
    });

    describe('403 Forbidden', () => {
      it('answers a create outside the token scope with 403', async () => {
        const token = await server.token({ scope: 'user/Patient.rs' });
        await expectOutcome(await server.fhir('/Patient', { method: 'POST', body: JSON.stringify(patient()), token }), 403);
      });

      it('answers a read of a type outside the token scope with 403', async () => {
        const token = await server.token({ scope: 'user/Patient.rs' });
        await expectOutcome(await server.fhir(`/Task/${randomUUID()}`, { token }), 403);
      });

      it('answers a search of a type outside the token scope with 403', async () => {
        const token = await server.token({ scope: 'user/Patient.rs' });
        await expectOutcome(await server.fhir('/Task?status=requested', { token }), 403);
      });

      it('never returns _include-d resources of a type outside the token scope', async () => {
        const p = await createPatient();
        const created = await server.fhir('/Task', { method: 'POST',
          body: JSON.stringify({ resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${p.id}` } }) });
        expect(created.status).to.equal(201);
        const taskId = (await json<{ id: string }>(created)).id;
        const query = `/Task?_id=${taskId}&_include=Task:patient`;
        const full = await json<{ entry?: { resource?: { resourceType: string } }[] }>(await server.fhir(query));
        expect(full.entry?.map((e) => e.resource?.resourceType)).to.have.members(['Task', 'Patient']);
        const res = await server.fhir(query, { token: await server.token({ scope: 'system/Task.rs' }) });
        // Either refused outright or answered without the Patient: never leaked.
        if (res.status === 403) {
          await expectOutcome(res, 403);
        } else {
          expect(res.status).to.equal(200);
          const narrow = await json<{ entry?: { resource?: { resourceType: string } }[] }>(res);
          expect(narrow.entry?.map((e) => e.resource?.resourceType)).to.deep.equal(['Task']);
        }
      });

      it('answers a _revinclude of a type outside the token scope with 403', async () => {
        const token = await server.token({ scope: 'user/Patient.rs' });
        await expectOutcome(await server.fhir('/Patient?_revinclude=Provenance:target', { token }), 403);
      });

      it('answers a delete outside the token scope with 403 and keeps the resource', async () => {
        const p = await createPatient();
        const token = await server.token({ scope: 'user/Patient.rs' });
        await expectOutcome(await server.fhir(`/Patient/${p.id}`, { method: 'DELETE', token }), 403);
        expect((await server.fhir(`/Patient/${p.id}`)).status).to.equal(200);
      });

      it('still allows what the scope grants', async () => {
        const p = await createPatient();
        const token = await server.token({ scope: 'user/Patient.rs' });
        expect((await server.fhir(`/Patient/${p.id}`, { token })).status).to.equal(200);
      });
    });

    describe('404 Not Found', () => {
      it('answers an unknown id with 404', async () => {
        await expectOutcome(await server.fhir(`/Patient/${randomUUID()}`), 404);
      });

      it('answers an unknown resource type with 404 (read and search)', async () => {
        await expectOutcome(await server.fhir('/Spaceship/1'), 404);
        await expectOutcome(await server.fhir('/Spaceship'), 404);
      });

      it('answers an unknown path under /fhir with 404', async () => {
        await expectOutcome(await server.fhir('/Patient/1/not/a/path'), 404);
      });

      it('answers an unknown operation with 404', async () => {
        await expectOutcome(await server.fhir('/Patient/$no-such-op', { method: 'POST', body: JSON.stringify(patient()) }), 404);
      });
    });

    describe('405, 406, 410, 412, 415', () => {
      it('answers DELETE on a type with 405 and an Allow header', async () => {
        const res = await server.fhir('/Patient', { method: 'DELETE' });
        const allow = res.headers.get('allow') ?? '';
        expect(allow.split(/,\s*/)).to.include.members(['GET', 'POST']);
        expect(allow).to.not.include('DELETE');
        await expectOutcome(res, 405);
      });

      it('answers _format=xml with 406', async () => {
        await expectOutcome(await server.fhir('/Patient?_format=xml'), 406);
      });

      it('answers Accept: application/fhir+xml with 406', async () => {
        await expectOutcome(await server.fhir('/Patient', { headers: { Accept: 'application/fhir+xml' } }), 406);
      });

      it('accepts _format=json and Accept: application/fhir+json', async () => {
        expect((await server.fhir('/Patient?_format=json&_count=1')).status).to.equal(200);
        expect((await server.fhir('/Patient?_count=1', { headers: { Accept: 'application/fhir+json' } })).status).to.equal(200);
      });

      it('answers a read of a deleted resource with 410', async () => {
        const p = await createPatient();
        expect((await server.fhir(`/Patient/${p.id}`, { method: 'DELETE' })).status).to.equal(204);
        await expectOutcome(await server.fhir(`/Patient/${p.id}`), 410);
      });

      it('answers a stale If-Match with 412', async () => {
        const p = await createPatient();
        expect((await server.fhir(`/Patient/${p.id}`, { method: 'PUT', body: JSON.stringify({ ...p, active: true }) })).status).to.equal(200);
        const res = await server.fhir(`/Patient/${p.id}`, { method: 'PUT', body: JSON.stringify({ ...p, active: false }), headers: { 'If-Match': 'W/"1"' } });
        await expectOutcome(res, 412);
      });

      it('answers a body in another format (XML, text) with 415', async () => {
        await expectOutcome(await server.fhir('/Patient', { method: 'POST', body: '<Patient xmlns="http://hl7.org/fhir"/>',
          headers: { 'Content-Type': 'application/fhir+xml' } }), 415);
        const p = await createPatient();
        await expectOutcome(await server.fhir(`/Patient/${p.id}`, { method: 'PUT', body: JSON.stringify(p), headers: { 'Content-Type': 'text/plain' } }), 415);
      });

      it('answers a PATCH with a JSON content type with 415', async () => {
        const p = await createPatient();
        const res = await server.fhir(`/Patient/${p.id}`, { method: 'PATCH', body: JSON.stringify([{ op: 'add', path: '/active', value: true }]),
          headers: { 'Content-Type': 'application/json' } });
        await expectOutcome(res, 415);
      });
    });

    describe('422 Unprocessable Entity', () => {
      it('answers an invalid date with 422 and the FHIRPath of the problem', async () => {
        const body = await expectOutcome(await server.fhir('/Patient', { method: 'POST', body: JSON.stringify(patient({ birthDate: 'not-a-date' })) }), 422);
        const errorsOnly = (body.issue ?? []).filter((i) => i.severity === 'error');
        expect(errorsOnly).to.have.length.greaterThan(0);
        for (const issue of errorsOnly) expect(issue.expression).to.be.an('array').with.length.greaterThan(0);
        expect(errorsOnly.flatMap((i) => i.expression ?? []).some((e) => /birthDate/.test(e))).to.equal(true);
      });

      it('answers an unknown property with 422 and the FHIRPath of the problem', async () => {
        const body = await expectOutcome(await server.fhir('/Patient', { method: 'POST', body: JSON.stringify(patient({ favouriteColour: 'blue' })) }), 422);
        const errorsOnly = (body.issue ?? []).filter((i) => i.severity === 'error');
        expect(errorsOnly).to.have.length.greaterThan(0);
        for (const issue of errorsOnly) expect(issue.expression).to.be.an('array').with.length.greaterThan(0);
        expect(errorsOnly.flatMap((i) => i.expression ?? []).some((e) => /favouriteColour/.test(e))).to.equal(true);
      });

      it('answers a value of the wrong type with 422 and the FHIRPath of the problem', async () => {
        const body = await expectOutcome(await server.fhir('/Patient', { method: 'POST', body: JSON.stringify(patient({ active: 'yes' })) }), 422);
        expect((body.issue ?? []).some((i) => i.severity === 'error' && (i.expression ?? []).some((e) => /active/.test(e)))).to.equal(true);
      });

      it('answers a code outside a required binding (Patient.gender) with 422', async () => {
        const body = await expectOutcome(await server.fhir('/Patient', { method: 'POST', body: JSON.stringify(patient({ gender: 'sometimes' })) }), 422);
        expect((body.issue ?? []).some((i) => (i.expression ?? []).some((e) => /gender/.test(e)))).to.equal(true);
      });

      it('answers an invalid update with 422 and keeps the previous version', async () => {
        const p = await createPatient();
        await expectOutcome(await server.fhir(`/Patient/${p.id}`, { method: 'PUT', body: JSON.stringify({ ...p, birthDate: '31/12/1999' }) }), 422);
        const read = await json<Patient>(await server.fhir(`/Patient/${p.id}`));
        expect(read.meta?.versionId).to.equal('1');
      });
    });

    describe('error bodies', () => {
      it('never carries a stack trace or internal detail', async () => {
        const responses = await Promise.all([
          server.fhir('/Patient', { method: 'POST', body: '{oops' }),
          server.fhir('/Patient?birthdate=not-a-date'),
          server.fhir(`/Patient/${randomUUID()}`),
        ]);
        for (const res of responses) {
          const text = await res.text();
          expect(text).to.not.match(/\bat .+\.(ts|js):\d+/);
          expect(text).to.not.match(/node_modules|SELECT |INSERT /i);
        }
      });
      // A natural 500 cannot be triggered from outside: the internal-error mapping is exercised by the unit tests of the error handler.
    });

    describe('413 Payload Too Large', () => {
      let small: TestServer;

      before(async () => {
        small = await startTestServer(backend, { maxJsonBytes: 2048, maxBinaryBytes: 4096 });
      });

      after(async () => {
        await small?.close();
      });

      it('answers a JSON body over maxJsonBytes with 413', async () => {
        const big = patient({ name: [{ family: 'x'.repeat(4096) }] });
        await expectOutcome(await small.fhir('/Patient', { method: 'POST', body: JSON.stringify(big) }), 413);
      });

      it('still accepts a JSON body under the limit', async () => {
        expect((await small.fhir('/Patient', { method: 'POST', body: JSON.stringify(patient()) })).status).to.equal(201);
      });

      it('answers a Binary upload over maxBinaryBytes with 413 (declared length)', async () => {
        const res = await small.fhir('/Binary', { method: 'POST', body: new Uint8Array(10_000), headers: { 'Content-Type': 'application/pdf' } });
        await expectOutcome(res, 413);
      });

      it('answers a streamed Binary upload over maxBinaryBytes with 413 (no declared length)', async () => {
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent >= 64 * 1024) { controller.close(); return; }
            sent += 1024;
            controller.enqueue(new Uint8Array(1024));
          },
        });
        const res = await fetch(`${small.base}/Binary`, { method: 'POST', body, duplex: 'half',
          headers: { Authorization: `Bearer ${await small.token()}`, 'Content-Type': 'application/pdf' } } as RequestInit);
        await expectOutcome(res, 413);
        // The server keeps serving.
        expect((await small.fhir('/Patient?_count=1')).status).to.equal(200);
      });
    });

    describe('metadata and health', () => {
      it('serves the CapabilityStatement without a token', async () => {
        const res = await server.fhir('/metadata', { token: null });
        expect(res.status).to.equal(200);
        expect(res.headers.get('content-type')).to.match(/^application\/fhir\+json/);
        const cs = await json<CapabilityStatement>(res);
        expect(cs.resourceType).to.equal('CapabilityStatement');
        expect(cs.fhirVersion).to.equal('4.0.1');
        expect(cs.format).to.include('application/fhir+json');
        const rest = cs.rest?.[0];
        expect(rest?.mode).to.equal('server');
        expect(rest?.interaction?.map((i) => i.code)).to.include.members(['transaction', 'batch', 'history-system']);
        const types = rest?.resource?.map((r) => r.type) ?? [];
        expect(types).to.include.members(['Patient', 'Task', 'ServiceRequest', 'Binary', 'AuditEvent', 'Provenance']);
        expect(types).to.not.include('Bundle');
      });

      it('lists every type interaction, Task search parameters and the validate operation', async () => {
        const cs = await json<CapabilityStatement>(await server.fhir('/metadata', { token: null }));
        const task = cs.rest?.[0].resource?.find((r) => r.type === 'Task');
        expect(task, 'Task in CapabilityStatement').to.not.equal(undefined);
        expect(task?.interaction?.map((i) => i.code)).to.have.members(
          ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type']);
        expect(task?.searchParam?.map((p) => p.name)).to.include.members(['owner', 'status', 'patient']);
        expect(task?.searchParam?.find((p) => p.name === 'owner')?.type).to.equal('reference');
        expect(task?.searchInclude).to.include('Task:patient');
        expect(task?.operation?.map((o) => o.name)).to.include('validate');
        expect(task?.conditionalCreate).to.equal(true);
        expect(task?.conditionalUpdate).to.equal(true);
      });

      it('answers metadata in XML with 406, like every other endpoint', async () => {
        await expectOutcome(await server.fhir('/metadata?_format=xml', { token: null }), 406);
        await expectOutcome(await server.fhir('/metadata', { token: null, headers: { Accept: 'application/fhir+xml' } }), 406);
      });

      it('answers /healthz with 200 {status: ok}', async () => {
        const res = await fetch(`${server.platform.url}/healthz`);
        expect(res.status).to.equal(200);
        expect(await res.json()).to.deep.equal({ status: 'ok' });
      });
    });

    describe('$validate', () => {
      it('answers a valid resource with 200 and an informational outcome', async () => {
        const res = await server.fhir('/Patient/$validate', { method: 'POST', body: JSON.stringify(patient({ birthDate: '1980-02-29' })) });
        expect(res.status).to.equal(200);
        const body = await json<OperationOutcome>(res);
        expect(body.resourceType).to.equal('OperationOutcome');
        expect((body.issue ?? []).every((i) => i.severity === 'information' || i.severity === 'warning')).to.equal(true);
        expect(body.issue?.[0].severity).to.equal('information');
      });

      it('answers an invalid resource with 200 and error issues that carry their FHIRPath', async () => {
        const res = await server.fhir('/Patient/$validate', { method: 'POST', body: JSON.stringify(patient({ birthDate: 'not-a-date', active: 'yes' })) });
        expect(res.status).to.equal(200);
        const body = await json<OperationOutcome>(res);
        const errorsOnly = (body.issue ?? []).filter((i) => i.severity === 'error');
        expect(errorsOnly.length).to.be.at.least(2);
        for (const issue of errorsOnly) expect(issue.expression).to.be.an('array').with.length.greaterThan(0);
        const paths = errorsOnly.flatMap((i) => i.expression ?? []);
        expect(paths.some((e) => /birthDate/.test(e))).to.equal(true);
        expect(paths.some((e) => /active/.test(e))).to.equal(true);
      });

      it('validates a resource passed in a Parameters resource parameter', async () => {
        const params: Parameters = { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: patient({ birthDate: 'not-a-date' }) as unknown as Patient }] };
        const res = await server.fhir('/Patient/$validate', { method: 'POST', body: JSON.stringify(params) });
        expect(res.status).to.equal(200);
        const body = await json<OperationOutcome>(res);
        expect((body.issue ?? []).some((i) => i.severity === 'error' && (i.expression ?? []).some((e) => /birthDate/.test(e)))).to.equal(true);

        const ok: Parameters = { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: patient() as unknown as Patient }] };
        const okBody = await json<OperationOutcome>(await server.fhir('/Patient/$validate', { method: 'POST', body: JSON.stringify(ok) }));
        expect(okBody.issue?.[0].severity).to.equal('information');
      });

      it('validates at instance level too', async () => {
        const p = await createPatient();
        const res = await server.fhir(`/Patient/${p.id}/$validate`, { method: 'POST', body: JSON.stringify({ ...p, birthDate: 'soon' }) });
        expect(res.status).to.equal(200);
        const body = await json<OperationOutcome>(res);
        expect((body.issue ?? []).some((i) => i.severity === 'error')).to.equal(true);
      });

      it('stores nothing', async () => {
        const value = randomUUID();
        const res = await server.fhir('/Patient/$validate', { method: 'POST',
          body: JSON.stringify({ resourceType: 'Patient', identifier: [{ system: 'urn:teleo:test:errors', value }] }) });
        expect(res.status).to.equal(200);
        const found = await json<{ total?: number }>(await server.fhir(`/Patient?identifier=urn:teleo:test:errors|${value}`));
        expect(found.total).to.equal(0);
      });

      it('answers a body of another type with 400', async () => {
        await expectOutcome(await server.fhir('/Patient/$validate', { method: 'POST', body: JSON.stringify({ resourceType: 'Organization' }) }), 400);
      });
    });
  });
}
