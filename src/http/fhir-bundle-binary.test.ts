// FHIR R4 §3.1.0.11 batch/transaction (http.html#transaction), Binary (binary.html#rest) with HTTP Range (RFC 9110 §14), and AuditEvent (IHE BALP) over HTTP.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { AuditEvent, Binary, Bundle, BundleEntry, OperationOutcome, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { httpBackends, startTestServer, type TestServer } from './test-server.js';

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

async function bytesOf(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

const SYSTEM = 'urn:teleo:test:bundle';

for (const backend of httpBackends()) {
  describe(`FHIR bundles, Binary and audit over HTTP (${backend})`, () => {
    let server: TestServer;

    before(async () => {
      server = await startTestServer(backend);
    });

    after(async () => {
      await server?.close();
    });

    async function postBundle(bundle: Bundle): Promise<Response> {
      return server.fhir('/', { method: 'POST', body: JSON.stringify(bundle) });
    }

    async function countByIdentifier(type: string, value: string): Promise<number> {
      const res = await server.fhir(`/${type}?identifier=${encodeURIComponent(`${SYSTEM}|${value}`)}`);
      expect(res.status).to.equal(200);
      return (await json<Bundle>(res)).total as number;
    }

    describe('transaction', () => {
      it('creates Patient, ServiceRequest and Task together, resolving urn:uuid references', async () => {
        const value = randomUUID();
        const patientUrl = `urn:uuid:${randomUUID()}`;
        const srUrl = `urn:uuid:${randomUUID()}`;
        const bundle: Bundle = {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { fullUrl: srUrl, resource: { resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: patientUrl },
              identifier: [{ system: SYSTEM, value }] } as ServiceRequest, request: { method: 'POST', url: 'ServiceRequest' } },
            { fullUrl: patientUrl, resource: { resourceType: 'Patient', identifier: [{ system: SYSTEM, value }] } as Patient, request: { method: 'POST', url: 'Patient' } },
            { resource: { resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: patientUrl }, focus: { reference: srUrl },
              identifier: [{ system: SYSTEM, value }] } as Task, request: { method: 'POST', url: 'Task' } },
          ],
        };
        const res = await postBundle(bundle);
        const text = await res.text();
        expect(res.status, text).to.equal(200);
        const out = JSON.parse(text) as Bundle;
        expect(out.type).to.equal('transaction-response');
        expect(out.entry).to.have.length(3);
        for (const e of out.entry ?? []) {
          expect(e.response?.status).to.match(/^201/);
          expect(e.response?.location).to.match(/^(.*\/)?(ServiceRequest|Patient|Task)\/[^/]+\/_history\/1$/);
        }
        const idFrom = (e: BundleEntry | undefined) => /([A-Za-z]+)\/([^/]+)\/_history/.exec(e?.response?.location as string)?.[2] as string;
        const srId = idFrom(out.entry?.[0]);
        const patientId = idFrom(out.entry?.[1]);
        const taskId = idFrom(out.entry?.[2]);

        const sr = await json<ServiceRequest>(await server.fhir(`/ServiceRequest/${srId}`));
        expect(sr.subject?.reference).to.equal(`Patient/${patientId}`);
        const t = await json<Task>(await server.fhir(`/Task/${taskId}`));
        expect(t.for?.reference).to.equal(`Patient/${patientId}`);
        expect(t.focus?.reference).to.equal(`ServiceRequest/${srId}`);
        const found = await json<Bundle>(await server.fhir(`/Task?patient=Patient/${patientId}&_include=Task:patient`));
        expect(found.entry?.map((e) => e.resource?.resourceType)).to.have.members(['Task', 'Patient']);
      });

      it('rolls the whole transaction back when one entry fails, answering that entry\'s error status', async () => {
        const value = randomUUID();
        const patientUrl = `urn:uuid:${randomUUID()}`;
        const res = await postBundle({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { fullUrl: patientUrl, resource: { resourceType: 'Patient', identifier: [{ system: SYSTEM, value }] } as Patient, request: { method: 'POST', url: 'Patient' } },
            { resource: { resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: patientUrl }, identifier: [{ system: SYSTEM, value }] } as Task,
              request: { method: 'POST', url: 'Task' } },
            { resource: { resourceType: 'Patient', identifier: [{ system: SYSTEM, value }], birthDate: 'not-a-date' } as Patient, request: { method: 'POST', url: 'Patient' } },
          ],
        });
        expect(res.status).to.equal(422);
        expect(res.headers.get('content-type')).to.match(/^application\/fhir\+json/);
        const outcome = await json<OperationOutcome>(res);
        expect(outcome.resourceType).to.equal('OperationOutcome');
        expect(await countByIdentifier('Patient', value)).to.equal(0);
        expect(await countByIdentifier('Task', value)).to.equal(0);
      });

      it('rolls back on a failing precondition (stale If-Match) with 412', async () => {
        const value = randomUUID();
        const created = await server.fhir('/Patient', { method: 'POST', body: JSON.stringify({ resourceType: 'Patient', identifier: [{ system: SYSTEM, value }] }) });
        const p = await json<Patient>(created);
        await server.fhir(`/Patient/${p.id}`, { method: 'PUT', body: JSON.stringify({ ...p, active: true }) });
        const res = await postBundle({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { resource: { resourceType: 'Task', status: 'requested', intent: 'order', identifier: [{ system: SYSTEM, value }] } as Task, request: { method: 'POST', url: 'Task' } },
            { resource: { ...p, active: false }, request: { method: 'PUT', url: `Patient/${p.id}`, ifMatch: 'W/"1"' } },
          ],
        });
        expect(res.status).to.equal(412);
        expect((await json<OperationOutcome>(res)).resourceType).to.equal('OperationOutcome');
        expect(await countByIdentifier('Task', value)).to.equal(0);
        const read = await json<Patient>(await server.fhir(`/Patient/${p.id}`));
        expect(read.active).to.equal(true);
        expect(read.meta?.versionId).to.equal('2');
      });
    });

    describe('batch', () => {
      it('answers 200 with a status per entry, keeping the entries that succeeded', async () => {
        const value = randomUUID();
        const res = await postBundle({
          resourceType: 'Bundle',
          type: 'batch',
          entry: [
            { resource: { resourceType: 'Patient', identifier: [{ system: SYSTEM, value }] } as Patient, request: { method: 'POST', url: 'Patient' } },
            { resource: { resourceType: 'Patient', identifier: [{ system: SYSTEM, value }], birthDate: 'not-a-date' } as Patient, request: { method: 'POST', url: 'Patient' } },
            { request: { method: 'GET', url: `Patient/${randomUUID()}` } },
            { request: { method: 'GET', url: `Patient?identifier=${SYSTEM}|${value}` } },
          ],
        });
        const text = await res.text();
        expect(res.status, text).to.equal(200);
        const out = JSON.parse(text) as Bundle;
        expect(out.type).to.equal('batch-response');
        expect(out.entry).to.have.length(4);
        expect(out.entry?.[0].response?.status).to.match(/^201/);
        expect(out.entry?.[1].response?.status).to.match(/^422/);
        expect(out.entry?.[1].response?.outcome?.resourceType).to.equal('OperationOutcome');
        expect(out.entry?.[2].response?.status).to.match(/^404/);
        expect(out.entry?.[3].response?.status).to.match(/^200/);
        expect(await countByIdentifier('Patient', value)).to.equal(1);
      });

      it('answers a POST to the base that is not a Bundle with 400', async () => {
        const res = await server.fhir('/', { method: 'POST', body: JSON.stringify({ resourceType: 'Patient' }) });
        expect(res.status).to.equal(400);
      });
    });

    describe('Binary', () => {
      const pdf = randomBytes(1000);

      async function upload(bytes: Buffer<ArrayBuffer>, contentType = 'application/pdf'): Promise<Binary> {
        const res = await server.fhir('/Binary', { method: 'POST', body: bytes, headers: { 'Content-Type': contentType } });
        const text = await res.text();
        expect(res.status, text).to.equal(201);
        expect(res.headers.get('location')).to.match(/\/Binary\/[^/]+\/_history\/1$/);
        return JSON.parse(text) as Binary;
      }

      let pdfId: string;

      before(async () => {
        pdfId = (await upload(pdf)).id as string;
      });

      it('stores raw bytes POSTed with their Content-Type (201)', async () => {
        const b = await upload(randomBytes(10));
        expect(b.resourceType).to.equal('Binary');
        expect(b.contentType).to.equal('application/pdf');
        expect(b.meta?.versionId).to.equal('1');
      });

      it('returns the exact bytes with Content-Type, Content-Length and Accept-Ranges for Accept */*', async () => {
        const res = await server.fhir(`/Binary/${pdfId}`, { headers: { Accept: '*/*' } });
        expect(res.status).to.equal(200);
        expect(res.headers.get('content-type')).to.equal('application/pdf');
        expect(res.headers.get('content-length')).to.equal(String(pdf.length));
        expect(res.headers.get('accept-ranges')).to.equal('bytes');
        expect(res.headers.get('etag')).to.equal('W/"1"');
        expect((await bytesOf(res)).equals(pdf)).to.equal(true);
      });

      it('returns the raw bytes when Accept names the Binary content type', async () => {
        const res = await server.fhir(`/Binary/${pdfId}`, { headers: { Accept: 'application/pdf' } });
        expect(res.status).to.equal(200);
        expect(res.headers.get('content-type')).to.equal('application/pdf');
        expect((await bytesOf(res)).equals(pdf)).to.equal(true);
      });

      it('answers a Binary read asking for FHIR XML with 406', async () => {
        const res = await server.fhir(`/Binary/${pdfId}`, { headers: { Accept: 'application/fhir+xml' } });
        expect(res.status).to.equal(406);
        expect((await json<OperationOutcome>(res)).resourceType).to.equal('OperationOutcome');
      });

      it('answers Range bytes=0-9, bytes=-5 and bytes=10- with 206, Content-Range and the exact bytes', async () => {
        const cases: [string, number, number][] = [['bytes=0-9', 0, 9], ['bytes=-5', pdf.length - 5, pdf.length - 1], ['bytes=10-', 10, pdf.length - 1],
          ['bytes=990-5000', 990, pdf.length - 1]];
        for (const [range, start, end] of cases) {
          const res = await server.fhir(`/Binary/${pdfId}`, { headers: { Accept: '*/*', Range: range } });
          expect(res.status, range).to.equal(206);
          expect(res.headers.get('content-range'), range).to.equal(`bytes ${start}-${end}/${pdf.length}`);
          expect(res.headers.get('content-length'), range).to.equal(String(end - start + 1));
          expect((await bytesOf(res)).equals(pdf.subarray(start, end + 1)), range).to.equal(true);
        }
      });

      it('answers an unsatisfiable Range with 416, Content-Range bytes */size and an OperationOutcome', async () => {
        const res = await server.fhir(`/Binary/${pdfId}`, { headers: { Accept: '*/*', Range: `bytes=${pdf.length}-` } });
        expect(res.status).to.equal(416);
        expect(res.headers.get('content-type')).to.match(/^application\/fhir\+json/);
        expect(res.headers.get('content-range')).to.equal(`bytes */${pdf.length}`);
        expect((await json<OperationOutcome>(res)).resourceType).to.equal('OperationOutcome');
      });

      it('returns Binary JSON whose base64 data decodes to the bytes for Accept application/fhir+json', async () => {
        for (const length of [0, 1, 2, 3, 100, 101, 102, 65_537, 200_001]) {
          const bytes = randomBytes(length);
          const b = await upload(bytes, 'application/octet-stream');
          const res = await server.fhir(`/Binary/${b.id}`, { headers: { Accept: 'application/fhir+json' } });
          expect(res.status, `length ${length}`).to.equal(200);
          expect(res.headers.get('content-type')).to.match(/^application\/fhir\+json/);
          const body = await json<Binary>(res);
          expect(body.resourceType).to.equal('Binary');
          expect(body.id).to.equal(b.id);
          expect(body.contentType).to.equal('application/octet-stream');
          expect(Buffer.from(body.data ?? '', 'base64').equals(bytes), `length ${length}`).to.equal(true);
          expect(body.data ?? '').to.equal(bytes.toString('base64'));
        }
      });

      it('stores a FHIR-JSON Binary with inline data and serves its bytes raw', async () => {
        const bytes = randomBytes(301);
        const res = await server.fhir('/Binary', { method: 'POST', body: JSON.stringify({ resourceType: 'Binary', contentType: 'image/png', data: bytes.toString('base64') }) });
        expect(res.status).to.equal(201);
        const b = await json<Binary>(res);
        const raw = await server.fhir(`/Binary/${b.id}`, { headers: { Accept: '*/*' } });
        expect(raw.status).to.equal(200);
        expect(raw.headers.get('content-type')).to.equal('image/png');
        expect((await bytesOf(raw)).equals(bytes)).to.equal(true);
      });

      it('updates with a FHIR-JSON Binary carrying inline data: JSON and raw reads give the new bytes', async () => {
        const b = await upload(randomBytes(20));
        const bytes = randomBytes(44);
        const res = await server.fhir(`/Binary/${b.id}`, { method: 'PUT',
          body: JSON.stringify({ resourceType: 'Binary', id: b.id, contentType: 'text/plain', data: bytes.toString('base64') }) });
        expect(res.status).to.equal(200);
        expect((await json<Binary>(res)).meta?.versionId).to.equal('2');
        const asJson = await json<Binary>(await server.fhir(`/Binary/${b.id}`, { headers: { Accept: 'application/fhir+json' } }));
        expect(asJson.contentType).to.equal('text/plain');
        expect(Buffer.from(asJson.data ?? '', 'base64').equals(bytes)).to.equal(true);
        const raw = await server.fhir(`/Binary/${b.id}`, { headers: { Accept: '*/*' } });
        expect((await bytesOf(raw)).equals(bytes)).to.equal(true);
      });

      it('stores raw content of a JSON-like type (application/json-patch+json) as bytes, unparsed', async () => {
        const doc = Buffer.from(JSON.stringify([{ op: 'add', path: '/active', value: true }]));
        const b = await upload(doc, 'application/json-patch+json');
        const raw = await server.fhir(`/Binary/${b.id}`, { headers: { Accept: '*/*' } });
        expect(raw.headers.get('content-type')).to.match(/^application\/json-patch\+json/);
        expect((await bytesOf(raw)).equals(doc)).to.equal(true);
      });

      it('serves a Binary created in a transaction with its data (JSON) and its bytes (raw)', async () => {
        const bytes = randomBytes(31);
        const res = await postBundle({ resourceType: 'Bundle', type: 'transaction', entry: [
          { resource: { resourceType: 'Binary', contentType: 'application/pdf', data: bytes.toString('base64') } as Binary, request: { method: 'POST', url: 'Binary' } },
        ] });
        const text = await res.text();
        expect(res.status, text).to.equal(200);
        const location = (JSON.parse(text) as Bundle).entry?.[0].response?.location as string;
        const id = /Binary\/([^/]+)/.exec(location)?.[1] as string;
        const asJson = await json<Binary>(await server.fhir(`/Binary/${id}`, { headers: { Accept: 'application/fhir+json' } }));
        expect(Buffer.from(asJson.data ?? '', 'base64').equals(bytes)).to.equal(true);
        const raw = await server.fhir(`/Binary/${id}`, { headers: { Accept: '*/*' } });
        expect(raw.headers.get('content-type')).to.equal('application/pdf');
        expect((await bytesOf(raw)).equals(bytes)).to.equal(true);
      });

      it('updates with raw bytes via PUT: version 2 and the new bytes, the old version still readable', async () => {
        const first = randomBytes(50);
        const second = randomBytes(77);
        const b = await upload(first);
        const res = await server.fhir(`/Binary/${b.id}`, { method: 'PUT', body: second, headers: { 'Content-Type': 'application/pdf' } });
        expect(res.status).to.equal(200);
        expect(res.headers.get('etag')).to.equal('W/"2"');
        expect((await json<Binary>(res)).meta?.versionId).to.equal('2');
        const now = await server.fhir(`/Binary/${b.id}`, { headers: { Accept: '*/*' } });
        expect((await bytesOf(now)).equals(second)).to.equal(true);
        const old = await server.fhir(`/Binary/${b.id}/_history/1`, { headers: { Accept: '*/*' } });
        expect(old.status).to.equal(200);
        expect((await bytesOf(old)).equals(first)).to.equal(true);
      });

      it('streams a 200 MB upload and download with bounded memory (same sha256)', async function () {
        this.timeout(300_000);
        const total = 200 * 1024 * 1024;
        const chunkSize = 1024 * 1024;
        const seed = randomBytes(chunkSize);
        const upHash = createHash('sha256');
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent >= total) { controller.close(); return; }
            // Vary each chunk so that a misplaced chunk changes the hash.
            const chunk = Buffer.from(seed);
            chunk.writeUInt32BE(sent / chunkSize, 0);
            upHash.update(chunk);
            sent += chunk.length;
            controller.enqueue(chunk);
          },
        });
        const rssBefore = process.memoryUsage().rss;
        const res = await fetch(`${server.base}/Binary`, {
          method: 'POST',
          body,
          duplex: 'half',
          headers: { Authorization: `Bearer ${await server.token()}`, 'Content-Type': 'application/dicom' },
        } as RequestInit);
        const text = await res.text();
        expect(res.status, text).to.equal(201);
        const id = (JSON.parse(text) as Binary).id as string;

        const down = await server.fhir(`/Binary/${id}`, { headers: { Accept: '*/*' } });
        expect(down.status).to.equal(200);
        expect(down.headers.get('content-length')).to.equal(String(total));
        const downHash = createHash('sha256');
        let received = 0;
        const reader = (down.body as ReadableStream<Uint8Array>).getReader();
        for (let r = await reader.read(); !r.done; r = await reader.read()) {
          downHash.update(r.value);
          received += r.value.length;
        }
        expect(received).to.equal(total);
        expect(downHash.digest('hex')).to.equal(upHash.digest('hex'));
        // Server and client share this process: neither side may have held the 200 MB.
        expect(process.memoryUsage().rss - rssBefore).to.be.lessThan(150 * 1024 * 1024);
      });
    });

    describe('audit', () => {
      it('records AuditEvents for the create and the read of a Patient, with the caller as agent', async () => {
        const fhirUser = `Practitioner/${randomUUID()}`;
        const token = await server.token({ fhirUser, sub: `user-${randomUUID()}` });
        const created = await server.fhir('/Patient', { method: 'POST', body: JSON.stringify({ resourceType: 'Patient' }), token });
        expect(created.status).to.equal(201);
        const id = (await json<Patient>(created)).id as string;
        expect((await server.fhir(`/Patient/${id}`, { token })).status).to.equal(200);
        await server.platform.jobs.drain();

        const res = await server.fhir(`/AuditEvent?entity=Patient/${id}&_count=100`);
        const text = await res.text();
        expect(res.status, text).to.equal(200);
        const events = ((JSON.parse(text) as Bundle<AuditEvent>).entry ?? []).map((e) => e.resource as AuditEvent);
        const byInteraction = (code: string) => events.filter((e) => e.subtype?.some((s) => s.code === code));
        const create = byInteraction('create');
        const read = byInteraction('read');
        expect(create, 'create AuditEvent').to.have.length(1);
        expect(read, 'read AuditEvent').to.have.length(1);
        expect(create[0].action).to.equal('C');
        expect(read[0].action).to.equal('R');
        for (const e of [...create, ...read]) {
          expect(e.agent?.[0].who?.reference).to.equal(fhirUser);
          expect(e.outcome).to.equal('0');
          expect(e.entity?.some((en) => en.what?.reference === `Patient/${id}`)).to.equal(true);
        }
      });

      it('records a denied request as an AuditEvent with outcome 4', async () => {
        const fhirUser = `Practitioner/${randomUUID()}`;
        const token = await server.token({ fhirUser, scope: 'user/Patient.rs' });
        const res = await server.fhir('/Task', { method: 'POST', body: JSON.stringify({ resourceType: 'Task', status: 'requested', intent: 'order' }), token });
        expect(res.status).to.equal(403);
        await server.platform.jobs.drain();
        const found = await json<Bundle<AuditEvent>>(await server.fhir(`/AuditEvent?agent=${fhirUser}`));
        const events = (found.entry ?? []).map((e) => e.resource as AuditEvent);
        expect(events).to.have.length(1);
        expect(events[0].outcome).to.equal('4');
        expect(events[0].action).to.equal('C');
        expect(events[0].agent?.[0].who?.reference).to.equal(fhirUser);
      });
    });
  });
}
