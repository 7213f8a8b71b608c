// The TéléO profiles of profiles/ (FR Core identifiers: INS-NIR, RPPS/IDNPS, FINESS/IDNST; the télédossier Task and
// its ServiceRequest), checked by the FHIR R4 §6.1.0 validator.
import { expect } from 'chai';
import type { OperationOutcomeIssue, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import { loadDefinitions } from './definitions.js';
import { createValidator } from './validation.js';

const P = 'https://teleo.fr/fhir/StructureDefinition';
const WORKFLOW = 'https://teleo.fr/fhir/CodeSystem/teleo-workflow';

describe('TéléO profiles', () => {
  const validator = createValidator(loadDefinitions('profiles').profiles);
  const errorsOf = (r: Resource, profile: string): OperationOutcomeIssue[] =>
    validator.check({ ...r, meta: { profile: [`${P}/${profile}`] } } as Resource).filter((i) => i.severity === 'error');
  const where = (issues: OperationOutcomeIssue[]) => issues.map((i) => `${i.expression?.[0]} ${i.details?.text ?? ''}`);

  const dossier = {
    resourceType: 'Task', status: 'requested', intent: 'order',
    code: { coding: [{ system: WORKFLOW, code: 'avis-avc' }] },
    for: { reference: 'Patient/p1' }, requester: { reference: 'PractitionerRole/r1' },
    owner: { reference: 'CareTeam/neuro' }, focus: { reference: 'ServiceRequest/sr1' },
  } satisfies Task;

  describe('teleo-teledossier (Task)', () => {
    it('accepts a dossier with workflow, patient, requester, owner and request', () => {
      expect(errorsOf(dossier, 'teleo-teledossier')).to.deep.equal([]);
    });

    it('requires code, for, requester, owner and focus', () => {
      const issues = errorsOf({ resourceType: 'Task', status: 'requested', intent: 'order' }, 'teleo-teledossier');
      expect(issues.map((i) => i.expression?.[0])).to.include.members(['Task.code', 'Task.for', 'Task.requester', 'Task.owner', 'Task.focus']);
    });

    it('fixes intent to order', () => {
      expect(where(errorsOf({ ...dossier, intent: 'plan' }, 'teleo-teledossier'))).to.deep.equal(['Task.intent Value did not match expected pattern']);
    });

    it('needs exactly one workflow coding in the teleo-workflow system', () => {
      expect(where(errorsOf({ ...dossier, code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill' }] } }, 'teleo-teledossier'))[0])
        .to.match(/teleo-dos-1/);
    });

    it('refuses a patient or a request of the wrong type', () => {
      expect(where(errorsOf({ ...dossier, for: { reference: 'Group/g1' } }, 'teleo-teledossier'))[0]).to.match(/Task.for references a Patient/);
      expect(where(errorsOf({ ...dossier, focus: { reference: 'Task/t0' } }, 'teleo-teledossier'))[0]).to.match(/Task.focus references a ServiceRequest/);
      expect(where(errorsOf({ ...dossier, owner: { reference: 'Patient/p1' } }, 'teleo-teledossier'))[0]).to.match(/Task.owner references a PractitionerRole/);
    });
  });

  describe('teleo-demande (ServiceRequest)', () => {
    const demande = { resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: 'Patient/p1' }, requester: { reference: 'PractitionerRole/r1' } } satisfies ServiceRequest;
    it('accepts a request with patient and requester', () => {
      expect(errorsOf(demande, 'teleo-demande')).to.deep.equal([]);
    });
    it('requires the requester and a Patient subject', () => {
      const { requester: _r, ...noRequester } = demande;
      expect(errorsOf(noRequester, 'teleo-demande').map((i) => i.expression?.[0])).to.deep.equal(['ServiceRequest.requester']);
      expect(where(errorsOf({ ...demande, subject: { reference: 'Group/g1' } }, 'teleo-demande'))[0]).to.match(/subject references a Patient/);
    });
  });

  describe('teleo-practitioner', () => {
    it('accepts an IDNPS (RPPS) identifier in urn:oid:1.2.250.1.71.4.2.1', () => {
      expect(errorsOf({ resourceType: 'Practitioner', identifier: [{ system: 'urn:oid:1.2.250.1.71.4.2.1', value: '810001234567' }] }, 'teleo-practitioner')).to.deep.equal([]);
    });
    it('refuses a professional without one', () => {
      expect(where(errorsOf({ resourceType: 'Practitioner', identifier: [{ system: 'https://example.org/login', value: 'durand' }] }, 'teleo-practitioner'))[0]).to.match(/teleo-prat-1/);
      expect(errorsOf({ resourceType: 'Practitioner' }, 'teleo-practitioner').map((i) => i.expression?.[0])).to.include('Practitioner.identifier');
    });
  });

  describe('teleo-organization', () => {
    it('accepts a FINESS or a FINESS-based IDNST, including Corsican departments', () => {
      expect(errorsOf({ resourceType: 'Organization', name: 'CHU de Toulouse', identifier: [{ system: 'https://finess.esante.gouv.fr', value: '310781406' }] }, 'teleo-organization')).to.deep.equal([]);
      expect(errorsOf({ resourceType: 'Organization', name: 'CH d\'Ajaccio', identifier: [{ system: 'urn:oid:1.2.250.1.71.4.2.2', value: '12A0000010' }] }, 'teleo-organization')).to.deep.equal([]);
    });
    it('refuses an establishment without a well-formed FINESS', () => {
      expect(where(errorsOf({ resourceType: 'Organization', name: 'Clinique', identifier: [{ system: 'https://finess.esante.gouv.fr', value: '3107' }] }, 'teleo-organization'))[0]).to.match(/teleo-org-1/);
      expect(where(errorsOf({ resourceType: 'Organization', name: 'Clinique', identifier: [{ system: 'https://sirene.fr', value: '26310045200013' }] }, 'teleo-organization'))[0]).to.match(/teleo-org-1/);
    });
  });

  describe('teleo-patient', () => {
    it('accepts an INS-NIR or an IPP with its issuer', () => {
      expect(errorsOf({ resourceType: 'Patient', name: [{ family: 'FABRE' }], identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '285051234567842' }] }, 'teleo-patient')).to.deep.equal([]);
      expect(errorsOf({ resourceType: 'Patient', name: [{ family: 'FABRE' }], identifier: [{ system: 'urn:oid:1.2.250.1.999.12.1', value: 'R123' }] }, 'teleo-patient')).to.deep.equal([]);
    });
    it('refuses an identifier without its system (an IPP without its issuer cannot be matched)', () => {
      expect(where(errorsOf({ resourceType: 'Patient', name: [{ family: 'FABRE' }], identifier: [{ value: 'R123' }] }, 'teleo-patient'))[0]).to.match(/teleo-pat-1/);
    });
  });
});
