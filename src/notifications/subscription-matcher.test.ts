// FHIR R4 Subscription criteria: parsed by the search parser, matched in memory like the in-memory store would.
import { expect } from 'chai';
import type { Task } from '@medplum/fhirtypes';
import { loadDefinitions, PLATFORM_RESOURCE_TYPES } from '../fhir/definitions.js';
import { createSearchRegistry } from '../fhir/search-registry.js';
import { OperationOutcomeError } from '../kernel/errors.js';
import { matcherFor } from './subscription-matcher.js';
import { parseCriteria, payloadContentOf, channelHeaders, PAYLOAD_CONTENT_URL } from './subscription-model.js';

loadDefinitions();
const registry = createSearchRegistry(PLATFORM_RESOURCE_TYPES);

const task: Task = {
  resourceType: 'Task', id: 't1', meta: { versionId: '2', lastUpdated: '2024-08-08T05:34:00Z' }, status: 'requested', intent: 'order',
  owner: { reference: 'PractitionerRole/durand' }, for: { reference: 'Patient/p1' },
  code: { coding: [{ system: 'https://teleo.fr/fhir/CodeSystem/teleo-workflow', code: 'avis-avc' }] },
};

const selects = (criteria: string, resource = task) => matcherFor(registry, resource)(parseCriteria(registry, criteria));

describe('Subscription criteria matching', () => {
  it('selects a Task by owner and status, as the search would', () => {
    expect(selects('Task?owner=PractitionerRole/durand&status=requested')).to.equal(true);
    expect(selects('Task?owner=PractitionerRole/martin&status=requested')).to.equal(false);
    expect(selects('Task?owner=PractitionerRole/durand&status=in-progress')).to.equal(false);
  });

  it('honours OR lists, :not, token systems and a bare resource type', () => {
    expect(selects('Task?status=in-progress,requested')).to.equal(true);
    expect(selects('Task?status:not=requested')).to.equal(false);
    expect(selects('Task?code=https://teleo.fr/fhir/CodeSystem/teleo-workflow|avis-avc')).to.equal(true);
    expect(selects('Task?code=https://teleo.fr/fhir/CodeSystem/teleo-workflow|avis-urgences')).to.equal(false);
    expect(selects('Task')).to.equal(true);
  });

  it('never selects a resource of another type', () => {
    expect(selects('ServiceRequest?status=active')).to.equal(false);
  });

  it('leaves chained criteria to the store (undefined)', () => {
    expect(selects('Task?patient.identifier=urn:oid:1.2.250.1.213.1.4.8|1234')).to.equal(undefined);
  });

  it('rejects criteria the search parser rejects, naming the problem', () => {
    for (const [criteria, text] of [['Task?colour=blue', 'colour'], ['Nope?x=1', 'Nope'], ['', 'required'], ['Task?_include=Task:patient', '_include']]) {
      try {
        parseCriteria(registry, criteria);
        expect.fail(`accepted ${criteria}`);
      } catch (e) {
        expect(e).to.be.instanceOf(OperationOutcomeError);
        expect((e as OperationOutcomeError).outcome.issue?.[0]?.details?.text).to.contain(text);
      }
    }
  });

  it('reads the R4 payload (mime type or nothing, backport content code) and the channel headers', () => {
    expect(payloadContentOf({ resourceType: 'Subscription', status: 'active', reason: 'x', criteria: 'Task', channel: { type: 'rest-hook' } })).to.equal('empty');
    expect(payloadContentOf({ resourceType: 'Subscription', status: 'active', reason: 'x', criteria: 'Task', channel: { type: 'rest-hook', payload: 'application/fhir+json' } })).to.equal('full-resource');
    const idOnly = { resourceType: 'Subscription' as const, status: 'active' as const, reason: 'x', criteria: 'Task',
      channel: { type: 'rest-hook' as const, payload: 'application/fhir+json', _payload: { extension: [{ url: PAYLOAD_CONTENT_URL, valueCode: 'id-only' }] }, header: ['Authorization: Bearer abc', 'X-Site: CHU'] } };
    expect(payloadContentOf(idOnly)).to.equal('id-only');
    expect(channelHeaders(idOnly)).to.deep.equal({ Authorization: 'Bearer abc', 'X-Site': 'CHU' });
  });
});
