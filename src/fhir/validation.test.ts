// FHIR R4 §6.1.0 validation against the base definitions and the profiles in profiles/.
import { expect } from 'chai';
import type { Patient } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../kernel/errors.js';
import { loadDefinitions, PLATFORM_RESOURCE_TYPES } from './definitions.js';
import { createSearchRegistry } from './search-registry.js';
import { createValidator } from './validation.js';

const TELEO_PATIENT = 'https://teleo.fr/fhir/StructureDefinition/teleo-patient';

describe('validation', () => {
  const defs = loadDefinitions('profiles');

  it('loads the profiles and search parameters of profiles/', () => {
    expect([...defs.profiles.keys()]).to.include(TELEO_PATIENT);
    const ins = createSearchRegistry(PLATFORM_RESOURCE_TYPES).get('Patient', 'ins');
    expect(ins?.kind).to.equal('token');
  });

  it('accepts a valid base resource', () => {
    expect(createValidator(defs.profiles).validate({ resourceType: 'Patient', birthDate: '1970-01-01' })).to.deep.equal([]);
  });

  it('rejects an invalid resource with 422 and a FHIRPath location per issue', () => {
    const bad = { resourceType: 'Patient', birthDate: 'yesterday', colour: 'blue' } as unknown as Patient;
    try {
      createValidator(defs.profiles).validate(bad);
      expect.fail('should throw');
    } catch (e) {
      const o = (e as OperationOutcomeError).outcome;
      expect(o.id).to.equal('422');
      const where = o.issue.flatMap((i) => i.expression ?? []);
      expect(where).to.include.members(['Patient.birthDate', 'Patient.colour']);
    }
  });

  it('checks a profile the resource declares in meta.profile', () => {
    const issues = createValidator(defs.profiles).check({ resourceType: 'Patient', meta: { profile: [TELEO_PATIENT] } });
    expect(issues.filter((i) => i.severity === 'error').flatMap((i) => i.expression)).to.have.members(['Patient.identifier', 'Patient.name']);
  });

  it('checks profiles required per type by configuration even when undeclared', () => {
    const v = createValidator(defs.profiles, { Patient: [TELEO_PATIENT] });
    expect(v.check({ resourceType: 'Patient' }).some((i) => i.severity === 'error')).to.equal(true);
    expect(v.check({ resourceType: 'Patient', name: [{ family: 'Durand' }], identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '1' }] })).to.deep.equal([]);
  });

  it('reports a required profile that is not loaded as an error', () => {
    const v = createValidator(defs.profiles, { Task: ['https://example.org/missing'] });
    expect(v.check({ resourceType: 'Task', status: 'draft', intent: 'order' })[0].details?.text).to.match(/not loaded/);
  });

  it('warns about, and does not check, a declared profile the server does not know', () => {
    const issues = createValidator(defs.profiles).check({ resourceType: 'Patient', meta: { profile: ['https://example.org/other'] } });
    expect(issues).to.have.length(1);
    expect(issues[0].severity).to.equal('warning');
  });
});

describe('required bindings', () => {
  const defs = loadDefinitions('profiles');
  const v = createValidator(defs.profiles);

  it('rejects a code outside a required ValueSet, at its path', () => {
    const issues = v.check({ resourceType: 'Patient', gender: 'sometimes' as 'male' });
    expect(issues.map((i) => [i.code, i.expression?.[0]])).to.deep.equal([['code-invalid', 'Patient.gender']]);
  });

  it('checks codes inside data types and backbone elements', () => {
    const issues = v.check({ resourceType: 'Patient', identifier: [{ use: 'bogus' as 'usual' }], contact: [{ name: { family: 'A' }, gender: 'x' as 'male' }] });
    expect(issues.filter((i) => i.code === 'code-invalid').map((i) => i.expression?.[0])).to.have.members(['Patient.identifier[0].use', 'Patient.contact[0].gender']);
  });

  it('checks choice-type elements (valueQuantity.comparator)', () => {
    const issues = v.check({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: 1, comparator: '<<' as '<' } });
    expect(issues.map((i) => i.expression?.[0])).to.deep.equal(['Observation.valueQuantity.comparator']);
  });

  it('accepts codes from the ValueSet, including CodeSystem-wide includes', () => {
    expect(v.check({ resourceType: 'Task', status: 'requested', intent: 'order', priority: 'stat' })).to.deep.equal([]);
    expect(v.check({ resourceType: 'AuditEvent', type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' }, action: 'R',
      recorded: '2024-01-01T00:00:00Z', agent: [{ requestor: true }], source: { observer: { display: 'x' } } })).to.deep.equal([]);
  });
});
