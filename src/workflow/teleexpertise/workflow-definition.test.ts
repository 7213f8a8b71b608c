// Self-check of the téléexpertise workflow definitions (FHIR R4 Task state machines) and the registry.
import { expect } from 'chai';
import type { Task } from '@medplum/fhirtypes';
import { WORKFLOWS, workflowFor } from './index.js';
import { checkDefinition, stateOf, WORKFLOW_SYSTEM, type WorkflowDefinition } from './workflow-definition.js';
import { AVIS_PROGRAMME } from './workflows/avis-programme.js';
import { dossier } from './test-directory.js';

const base: WorkflowDefinition = {
  code: 'x', display: 'X', urgent: false, initial: 'a',
  states: { a: { status: 'requested', businessStatus: 'a', display: 'A' }, b: { status: 'completed', businessStatus: 'b', display: 'B' } },
  transitions: [{ code: 'go', display: 'Go', from: ['a'], to: 'b', roles: ['requis'] }],
};

describe('téléexpertise workflow definitions', () => {
  for (const def of WORKFLOWS) {
    it(`${def.code} passes the data-level self-check`, () => {
      expect(checkDefinition(def)).to.deep.equal([]);
    });
  }

  it('registers six workflows with unique codes', () => {
    expect(new Set(WORKFLOWS.map((w) => w.code)).size).to.equal(6);
  });

  it('marks the Urgences and AVC workflows urgent with read receipts, the others not urgent', () => {
    expect(WORKFLOWS.filter((w) => w.urgent).map((w) => w.code)).to.have.members(['avis-urgences', 'avis-avc']);
    expect(WORKFLOWS.find((w) => w.code === 'avis-avc')?.readReceipt).to.equal(true);
  });

  describe('checkDefinition', () => {
    it('accepts a sound definition', () => expect(checkDefinition(base)).to.deep.equal([]));
    it('reports a missing initial state', () => {
      expect(checkDefinition({ ...base, initial: 'z' }).join()).to.contain("initial state 'z' does not exist");
    });
    it('reports from/to states that do not exist', () => {
      const problems = checkDefinition({ ...base, transitions: [{ ...base.transitions[0], from: ['q'], to: 'r' }] }).join();
      expect(problems).to.contain("from state 'q'").and.contain("to state 'r'");
    });
    it('reports a non-terminal state without exit and an unreachable state', () => {
      const states = { ...base.states, c: { status: 'in-progress' as const, businessStatus: 'c', display: 'C' } };
      const problems = checkDefinition({ ...base, states }).join();
      expect(problems).to.contain("non-terminal state 'c' has no exit").and.contain("state 'c' is unreachable");
    });
    it('reports duplicate transition codes and duplicate businessStatus codes', () => {
      const states = { ...base.states, b: { ...base.states.b, businessStatus: 'a' } };
      const problems = checkDefinition({ ...base, states, transitions: [base.transitions[0], base.transitions[0]] }).join();
      expect(problems).to.contain("transition code 'go' is not unique").and.contain("businessStatus 'a' of 'b' is not unique");
    });
  });

  describe('workflowFor and stateOf', () => {
    it('finds the workflow from Task.code and the state from status + businessStatus', () => {
      const task = dossier(AVIS_PROGRAMME, 'attribuee');
      expect(workflowFor(task)?.code).to.equal('avis-programme');
      expect(stateOf(AVIS_PROGRAMME, task)).to.equal('attribuee');
      expect(stateOf(AVIS_PROGRAMME, { ...task, status: 'requested' })).to.equal(undefined);
    });
    it('ignores Tasks without a teleo-workflow code or with an unknown one', () => {
      const plain: Task = { resourceType: 'Task', status: 'requested', intent: 'order' };
      expect(workflowFor(plain)).to.equal(undefined);
      expect(workflowFor({ ...plain, code: { coding: [{ system: WORKFLOW_SYSTEM, code: 'nope' }] } })).to.equal(undefined);
      expect(workflowFor({ ...plain, code: { coding: [{ system: 'urn:other', code: 'avis-avc' }] } })).to.equal(undefined);
    });
  });
});
