// FHIR R4 §3.1.0.8 conditional create (http.html#ccreate) and §3.1.0.11 transactions under concurrency: a Patient
// matched by INS or IPP + issuer is never duplicated, on every storage backend (Storage.lock serialises the match).
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Bundle, Patient, Task } from '@medplum/fhirtypes';
import { createValidator } from '../fhir/validation.js';
import { createLogger } from '../kernel/logger.js';
import type { Principal } from '../kernel/principal.js';
import { forEachStorage, testRegistry } from '../store/test-storages.js';
import { createScopeAccessPolicy } from './access-policy.js';
import { processBundle } from './bundle-processor.js';
import { conditionalLockKey } from './conditional-lock.js';
import { createResourceService, type ResourceService } from './resource-service.js';

const INS = 'urn:oid:1.2.250.1.213.1.4.8';
const IPP_ISSUER = 'urn:oid:1.2.250.1.999.31.1';
const principal: Principal = { sub: 'dpi', iss: 'test', scopes: ['user/*.cruds'], fhirUser: 'Practitioner/dpi' };
const ctx = { principal };

/** A 15-character fictitious NIR, unique per call. */
const nir = () => `1${String(Date.now() % 1e9).padStart(9, '0')}${String(Math.floor(Math.random() * 1e5)).padStart(5, '0')}`;

function patientEntryBundle(ins: string, ipp: string, tag: string): Bundle {
  return {
    resourceType: 'Bundle', type: 'transaction',
    entry: [{
      fullUrl: 'urn:uuid:patient',
      resource: { resourceType: 'Patient', identifier: [{ system: INS, value: ins }, { system: IPP_ISSUER, value: ipp }], name: [{ family: 'MARTIN', given: ['Claire'] }] },
      request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${INS}|${ins}` },
    }, {
      resource: { resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: 'urn:uuid:patient' }, meta: { tag: [{ system: 'urn:teleo:test', code: tag }] } },
      request: { method: 'POST', url: 'Task' },
    }],
  };
}

describe('conditional create under concurrency', () => {
  it('keys criteria canonically: the order of parameters and values does not matter', () => {
    expect(conditionalLockKey('Patient', { identifier: ['b', 'a'], birthdate: ['2000'] }))
      .to.equal(conditionalLockKey('Patient', { birthdate: ['2000'], identifier: ['a', 'b'] }));
    expect(conditionalLockKey('Patient', { identifier: ['a'] })).to.not.equal(conditionalLockKey('Patient', { identifier: ['b'] }));
  });

  forEachStorage((_name, sctx) => {
    let svc: ResourceService;
    before(() => {
      svc = createResourceService({
        storage: sctx.storage(), registry: testRegistry, validator: createValidator(new Map()), access: createScopeAccessPolicy(),
        logger: createLogger('silent'), searchDefaults: { defaultCount: 20, maxCount: 100 },
      });
    });
    const patientsWith = async (system: string, value: string) =>
      (await svc.search(ctx, 'Patient', { identifier: [`${system}|${value}`] })).resources as Patient[];

    it('creates one Patient from concurrent conditional creates (ifNoneExist on the INS)', async () => {
      const ins = nir();
      const results = await Promise.all(Array.from({ length: 6 }, () => svc.create<Patient>(ctx,
        { resourceType: 'Patient', identifier: [{ system: INS, value: ins }], name: [{ family: 'DURAND' }] },
        { ifNoneExist: { identifier: [`${INS}|${ins}`] } })));
      expect(results.filter((r) => r.created)).to.have.length(1);
      expect(new Set(results.map((r) => r.resource.id)).size).to.equal(1);
      expect(await patientsWith(INS, ins)).to.have.length(1);
    });

    it('creates one Patient from concurrent conditional creates on IPP + issuer', async () => {
      const ipp = randomUUID().slice(0, 8);
      const results = await Promise.all(Array.from({ length: 6 }, () => svc.create<Patient>(ctx,
        { resourceType: 'Patient', identifier: [{ system: IPP_ISSUER, value: ipp }], name: [{ family: 'DURAND' }] },
        { ifNoneExist: { identifier: [`${IPP_ISSUER}|${ipp}`] } })));
      expect(results.filter((r) => r.created)).to.have.length(1);
      expect(await patientsWith(IPP_ISSUER, ipp)).to.have.length(1);
    });

    it('creates one Patient from concurrent transaction Bundles, every Task pointing at it', async () => {
      const ins = nir();
      const tag = randomUUID();
      const responses = await Promise.all(Array.from({ length: 5 }, () =>
        processBundle(svc, ctx, patientEntryBundle(ins, `IPP-${ins.slice(-6)}`, tag), { baseUrl: 'http://test/fhir' })));
      const statuses = responses.map((b) => b.entry?.[0].response?.status);
      expect(statuses.filter((s) => s?.startsWith('201'))).to.have.length(1);
      expect(statuses.filter((s) => s?.startsWith('200'))).to.have.length(4);
      const [patient] = await patientsWith(INS, ins);
      expect(await patientsWith(INS, ins)).to.have.length(1);
      const tasks = (await svc.search(ctx, 'Task', { _tag: [`urn:teleo:test|${tag}`] })).resources as Task[];
      expect(tasks).to.have.length(5);
      expect(new Set(tasks.map((t) => t.for?.reference))).to.deep.equal(new Set([`Patient/${patient.id}`]));
    });
  });
});
