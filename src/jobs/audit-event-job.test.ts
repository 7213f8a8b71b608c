// AuditEvent jobs: DICOM instance transfers of one study by one sender become one event (PS3.15 A.5.3.10), others stay one per job.
import type { AuditEvent } from '@medplum/fhirtypes';
import { expect } from 'chai';
import { loadDefinitions, PLATFORM_RESOURCE_TYPES } from '../fhir/definitions.js';
import { createSearchRegistry } from '../fhir/search-registry.js';
import { createLogger } from '../kernel/logger.js';
import { createMemoryStorage } from '../store/memory-storage.js';
import { parseSearch } from '../fhir/search-request.js';
import { AUDIT_JOB, queueAudit } from '../workflow/audit.js';
import { auditEventHandler } from './audit-event-job.js';
import { createJobRunner } from './job-runner.js';

describe('AuditEvent jobs', () => {
  loadDefinitions();
  const registry = createSearchRegistry(PLATFORM_RESOURCE_TYPES);
  const transferred = { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110104', display: 'DICOM Instances Transferred' };
  const modality = { principal: { sub: 'dicom:MODALITY', scopes: [], iss: 'dicom:TELEO' }, remoteAddress: '10.0.0.7' };

  it('merges the instance transfers of one study by one sender into one event, keeping every other event apart', async () => {
    const storage = createMemoryStorage(registry);
    for (const [study, sop] of [['1.2.1', '1.2.1.1'], ['1.2.1', '1.2.1.2'], ['1.2.2', '1.2.2.1'], ['1.2.1', '1.2.1.3']]) {
      await queueAudit(storage.jobs, modality, { interaction: 'create', action: 'C', entities: [`urn:oid:${study}`, `urn:oid:${sop}`], subtype: transferred, outcome: '0' });
    }
    await queueAudit(storage.jobs, { ...modality, remoteAddress: '10.0.0.8' }, { interaction: 'create', action: 'C', entities: ['urn:oid:1.2.1', 'urn:oid:1.2.1.4'], subtype: transferred, outcome: '0' });
    await queueAudit(storage.jobs, modality, { interaction: 'create', action: 'C', entities: ['urn:oid:1.2.1', 'urn:oid:1.2.1.5'], subtype: transferred, outcome: '4', outcomeDesc: 'quarantined' });
    await queueAudit(storage.jobs, modality, { interaction: 'search-type', action: 'E', entities: ['urn:oid:1.2.1'] });
    const runner = createJobRunner(storage.jobs, { [AUDIT_JOB]: auditEventHandler(storage) }, createLogger('silent'));
    expect(await runner.drain()).to.equal(7);

    const events = (await storage.resources.search(parseSearch(registry, 'AuditEvent', { _count: ['100'] }, { defaultCount: 100, maxCount: 1000 }))).resources as AuditEvent[];
    const entities = (e: AuditEvent) => (e.entity ?? []).map((x) => x.what?.reference);
    const merged = events.filter((e) => entities(e).includes('urn:oid:1.2.1.1'));
    expect(merged).to.have.length(1);
    expect(entities(merged[0])).to.deep.equal(['urn:oid:1.2.1', 'urn:oid:1.2.1.1', 'urn:oid:1.2.1.2', 'urn:oid:1.2.1.3']);
    expect(merged[0].period?.start).to.be.a('string');
    expect(events).to.have.length(5); // merged study 1.2.1; study 1.2.2; another sender; a failure; a query
  });
});
