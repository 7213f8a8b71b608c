// FHIR R4 §3.1.0.11 batch and transaction Bundles: behaviour of processBundle against the in-memory storage.
import { expect } from 'chai';
import type { Bundle, BundleEntry, OperationOutcome, Patient, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import { loadDefinitions, PLATFORM_RESOURCE_TYPES } from '../fhir/definitions.js';
import { createSearchRegistry } from '../fhir/search-registry.js';
import { createValidator } from '../fhir/validation.js';
import { OperationOutcomeError, statusOf } from '../kernel/errors.js';
import { createLogger } from '../kernel/logger.js';
import { createMemoryStorage } from '../store/memory-storage.js';
import type { Storage } from '../store/resource-store.js';
import { createScopeAccessPolicy } from './access-policy.js';
import { AUDIT_JOB, type AuditContext } from './audit.js';
import { processBundle } from './bundle-processor.js';
import { createResourceService, type ResourceService } from './resource-service.js';

loadDefinitions();
const registry = createSearchRegistry(PLATFORM_RESOURCE_TYPES);
const ctx: AuditContext = { principal: { sub: 'u', iss: 'test', scopes: ['user/*.cruds'], fhirUser: 'Practitioner/p1' } };
const baseUrl = 'http://localhost/fhir';
const SYS = 'urn:test:mrn';

let storage: Storage;
let svc: ResourceService;

beforeEach(() => {
  storage = createMemoryStorage(registry);
  svc = createResourceService({
    storage, registry, validator: createValidator(new Map()), access: createScopeAccessPolicy(),
    logger: createLogger('silent'), searchDefaults: { defaultCount: 20, maxCount: 1000 },
  });
});

const transaction = (entry: BundleEntry[]): Bundle => ({ resourceType: 'Bundle', type: 'transaction', entry });
const batch = (entry: BundleEntry[]): Bundle => ({ resourceType: 'Bundle', type: 'batch', entry });
const run = (bundle: Bundle) => processBundle(svc, ctx, bundle, { baseUrl });
const patient = (mrn: string, extra: Partial<Patient> = {}): Patient => ({ resourceType: 'Patient', identifier: [{ system: SYS, value: mrn }], ...extra });
const serviceRequest = (subject: string): ServiceRequest => ({ resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: subject } });
const jsonPatch = (ops: unknown[]) => ({ resourceType: 'Binary' as const, contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify(ops)).toString('base64') });

async function rejection(p: Promise<unknown>): Promise<OperationOutcomeError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(OperationOutcomeError);
    return e as OperationOutcomeError;
  }
  throw new Error('expected the bundle to be rejected');
}

async function count(type: string, query: Record<string, string[]> = {}): Promise<number> {
  return (await svc.search(ctx, type, query)).total ?? -1;
}

const auditJobs = () => storage.jobs.list({ type: AUDIT_JOB });
const interactionsOf = async (skip: number) =>
  (await auditJobs()).slice(skip).map((j) => (j.payload.event as { subtype: { code: string }[] }).subtype[0].code);

describe('processBundle', () => {
  describe('transaction', () => {
    it('creates resources linked by urn:uuid fullUrls with real references, whatever the entry order', async () => {
      const task: Task = {
        resourceType: 'Task', status: 'requested', intent: 'order',
        for: { reference: 'urn:uuid:p' }, focus: { reference: 'urn:uuid:sr' },
        extension: [{ url: 'urn:test:ext', valueReference: { reference: 'urn:uuid:p' } }],
      };
      const res = await run(transaction([
        { fullUrl: 'urn:uuid:t', resource: task, request: { method: 'POST', url: 'Task' } },
        { fullUrl: 'urn:uuid:sr', resource: serviceRequest('urn:uuid:p'), request: { method: 'POST', url: `${baseUrl}/ServiceRequest` } },
        { fullUrl: 'urn:uuid:p', resource: patient('tx-1'), request: { method: 'POST', url: 'Patient' } },
      ]));
      expect(res.type).to.equal('transaction-response');
      const [t, sr, p] = res.entry ?? [];
      for (const e of [t, sr, p]) {
        expect(e.response?.status).to.equal('201 Created');
        expect(e.response?.etag).to.equal('W/"1"');
        expect(e.response?.location).to.match(/^(Task|ServiceRequest|Patient)\/[\w-]+\/_history\/1$/);
        expect(e.response?.lastModified).to.be.a('string');
      }
      const pid = p.resource?.id;
      const storedSr = await svc.read<ServiceRequest>(ctx, 'ServiceRequest', sr.resource?.id as string);
      expect(storedSr.subject?.reference).to.equal(`Patient/${pid}`);
      const storedTask = await svc.read<Task>(ctx, 'Task', t.resource?.id as string);
      expect(storedTask.for?.reference).to.equal(`Patient/${pid}`);
      expect(storedTask.focus?.reference).to.equal(`ServiceRequest/${storedSr.id}`);
      expect(storedTask.extension?.[0].valueReference?.reference).to.equal(`Patient/${pid}`);
    });

    it('reuses an existing Patient for a conditional create and points references at it', async () => {
      const { resource: existing } = await svc.create(ctx, patient('cond-1'));
      const res = await run(transaction([
        { fullUrl: 'urn:uuid:p', resource: patient('cond-1'), request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYS}|cond-1` } },
        { fullUrl: 'urn:uuid:sr', resource: serviceRequest('urn:uuid:p'), request: { method: 'POST', url: 'ServiceRequest' } },
      ]));
      const [p, sr] = res.entry ?? [];
      expect(p.response?.status).to.equal('200 OK');
      expect(p.resource?.id).to.equal(existing.id);
      expect((sr.resource as ServiceRequest).subject?.reference).to.equal(`Patient/${existing.id}`);
      expect(await count('Patient', { identifier: [`${SYS}|cond-1`] })).to.equal(1);
    });

    it('resolves the urn:uuid fullUrl of a conditional PUT to the matched resource', async () => {
      const { resource: existing } = await svc.create(ctx, patient('cput-1'));
      const res = await run(transaction([
        { fullUrl: 'urn:uuid:sr', resource: serviceRequest('urn:uuid:p'), request: { method: 'POST', url: 'ServiceRequest' } },
        { fullUrl: 'urn:uuid:p', resource: patient('cput-1', { gender: 'female' }), request: { method: 'PUT', url: `Patient?identifier=${SYS}|cput-1` } },
      ]));
      expect(res.entry?.[1].response?.status).to.equal('200 OK');
      expect(res.entry?.[1].resource?.id).to.equal(existing.id);
      expect((res.entry?.[0].resource as ServiceRequest).subject?.reference).to.equal(`Patient/${existing.id}`);
    });

    it('rolls back every earlier write when the last entry fails a stale If-Match, reporting its index (412)', async () => {
      const { resource: p } = await svc.create(ctx, patient('rb-old'));
      await svc.update(ctx, { ...p, gender: 'male' });
      const err = await rejection(run(transaction([
        { fullUrl: 'urn:uuid:a', resource: patient('rb-new'), request: { method: 'POST', url: 'Patient' } },
        { resource: serviceRequest('urn:uuid:a'), request: { method: 'POST', url: 'ServiceRequest' } },
        { resource: { ...p, gender: 'female' }, request: { method: 'PUT', url: `Patient/${p.id}`, ifMatch: 'W/"1"' } },
      ])));
      expect(statusOf(err.outcome)).to.equal(412);
      expect(err.outcome.issue?.[0].expression).to.include('Bundle.entry[2]');
      expect(err.outcome.issue?.[0].details?.text).to.match(/^Bundle\.entry\[2\]: /);
      expect(await count('Patient', { identifier: [`${SYS}|rb-new`] })).to.equal(0);
      expect(await count('ServiceRequest')).to.equal(0);
      expect((await svc.read<Patient>(ctx, 'Patient', p.id as string)).gender).to.equal('male');
    });

    it('rolls back on an invalid resource (422) and points the outcome into the failing entry', async () => {
      const err = await rejection(run(transaction([
        { resource: patient('inv-1'), request: { method: 'POST', url: 'Patient' } },
        { resource: patient('inv-2', { birthDate: 'not-a-date' }), request: { method: 'POST', url: 'Patient' } },
      ])));
      expect(statusOf(err.outcome)).to.equal(422);
      expect(err.outcome.issue?.[0].expression?.[0]).to.equal('Bundle.entry[1]');
      expect(await count('Patient')).to.equal(0);
    });

    it('processes DELETE, then POST, then PUT, then GET, answering in the original order', async () => {
      const { resource: old } = await svc.create(ctx, patient('ord-1'));
      const skip = (await auditJobs()).length;
      const res = await run(transaction([
        { request: { method: 'GET', url: `Patient?identifier=${SYS}|ord-1` } },
        { resource: { resourceType: 'Patient', id: 'ord-put', active: true }, request: { method: 'PUT', url: 'Patient/ord-put' } },
        { fullUrl: 'urn:uuid:n', resource: patient('ord-1', { active: false }), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'DELETE', url: `Patient/${old.id}` } },
      ]));
      expect(res.entry?.map((e) => e.response?.status)).to.deep.equal(['200 OK', '201 Created', '201 Created', '204 No Content']);
      const searchset = res.entry?.[0].resource as Bundle;
      expect(searchset.type).to.equal('searchset');
      expect(searchset.total).to.equal(1);
      expect(searchset.entry?.[0].resource?.id).to.equal(res.entry?.[2].resource?.id);
      expect(await interactionsOf(skip)).to.deep.equal(['delete', 'create', 'update', 'search-type']);
    });

    it('applies a PATCH entry given as a Binary JSON Patch, with references to the transaction resolved', async () => {
      const { resource: p } = await svc.create(ctx, patient('patch-1'));
      const { resource: task } = await svc.create<Task>(ctx, { resourceType: 'Task', status: 'requested', intent: 'order' });
      const res = await run(transaction([
        { resource: jsonPatch([{ op: 'add', path: '/birthDate', value: '1970-01-01' }]), request: { method: 'PATCH', url: `Patient/${p.id}`, ifMatch: 'W/"1"' } },
        { resource: jsonPatch([{ op: 'add', path: '/focus', value: { reference: 'urn:uuid:sr' } }]), request: { method: 'PATCH', url: `Task/${task.id}` } },
        { fullUrl: 'urn:uuid:sr', resource: serviceRequest(`Patient/${p.id}`), request: { method: 'POST', url: 'ServiceRequest' } },
      ]));
      const [pp, tp, sr] = res.entry ?? [];
      expect(pp.response?.status).to.equal('200 OK');
      expect(pp.response?.etag).to.equal('W/"2"');
      expect((pp.resource as Patient).birthDate).to.equal('1970-01-01');
      expect((tp.resource as Task).focus?.reference).to.equal(`ServiceRequest/${sr.resource?.id}`);
    });

    it('queues audit jobs with a committed transaction and none with a rolled-back one', async () => {
      const before = (await auditJobs()).length;
      await run(transaction([
        { resource: patient('aud-1'), request: { method: 'POST', url: 'Patient' } },
        { resource: patient('aud-2'), request: { method: 'POST', url: 'Patient' } },
      ]));
      const afterCommit = (await auditJobs()).length;
      expect(afterCommit).to.equal(before + 2);
      await rejection(run(transaction([
        { resource: patient('aud-3'), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient/does-not-exist' } },
      ])));
      expect((await auditJobs()).length).to.equal(afterCommit);
    });

    it('rejects two entries acting on the same resource (400)', async () => {
      const err = await rejection(run(transaction([
        { resource: { resourceType: 'Patient', id: 'dup' }, request: { method: 'PUT', url: 'Patient/dup' } },
        { request: { method: 'DELETE', url: 'Patient/dup' } },
      ])));
      expect(statusOf(err.outcome)).to.equal(400);
      expect(await count('Patient')).to.equal(0);
    });
  });

  describe('batch', () => {
    it('runs entries independently, each failure with its own status and outcome', async () => {
      const { resource: p } = await svc.create(ctx, patient('b-1'));
      await svc.update(ctx, { ...p, active: true });
      const res = await run(batch([
        { fullUrl: 'urn:uuid:np', resource: patient('b-2'), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient/missing' } },
        { resource: { ...p, active: false }, request: { method: 'PUT', url: `Patient/${p.id}`, ifMatch: 'W/"1"' } },
        { resource: patient('b-3', { birthDate: 'nope' }), request: { method: 'POST', url: 'Patient' } },
        { resource: serviceRequest('urn:uuid:np'), request: { method: 'POST', url: 'ServiceRequest' } },
        { request: { method: 'GET', url: `Patient/${p.id}/_history/1` } },
      ]));
      expect(res.type).to.equal('batch-response');
      expect(res.entry?.map((e) => e.response?.status)).to.deep.equal(
        ['201 Created', '404 Not Found', '412 Precondition Failed', '422 Unprocessable Entity', '201 Created', '200 OK']);
      for (const i of [1, 2, 3]) expect((res.entry?.[i].response?.outcome as OperationOutcome).resourceType).to.equal('OperationOutcome');
      expect(await count('Patient', { identifier: [`${SYS}|b-2`] })).to.equal(1);
      // Batch entries are independent: urn:uuid references between them are left as they are.
      expect((res.entry?.[4].resource as ServiceRequest).subject?.reference).to.equal('urn:uuid:np');
      expect((res.entry?.[5].resource as Patient).meta?.versionId).to.equal('1');
    });
  });

  describe('envelope', () => {
    const cases: [string, unknown][] = [
      ['not a Bundle', { resourceType: 'Patient' }],
      ['a collection Bundle', { resourceType: 'Bundle', type: 'collection', entry: [] }],
      ['an entry without request', transaction([{ resource: patient('e-1') }])],
      ['an unknown method', batch([{ request: { method: 'FOO' as 'GET', url: 'Patient' } }])],
      ['a resource type that does not match the url', transaction([{ resource: patient('e-2'), request: { method: 'POST', url: 'Observation' } }])],
      ['a duplicate fullUrl', transaction([
        { fullUrl: 'urn:uuid:x', resource: patient('e-3'), request: { method: 'POST', url: 'Patient' } },
        { fullUrl: 'urn:uuid:x', resource: patient('e-4'), request: { method: 'POST', url: 'Patient' } },
      ])],
      ['a FHIRPath Patch (Parameters)', transaction([{ resource: { resourceType: 'Parameters', parameter: [] } as unknown as Resource, request: { method: 'PATCH', url: 'Patient/x' } }])],
      ['a url on another server', batch([{ request: { method: 'GET', url: 'http://elsewhere.example/Patient/1' } }])],
    ];
    for (const [name, bundle] of cases) {
      it(`rejects ${name} with 400 and writes nothing`, async () => {
        const err = await rejection(run(bundle as Bundle));
        expect(statusOf(err.outcome)).to.equal(400);
        expect(await count('Patient')).to.equal(0);
      });
    }
  });
});
