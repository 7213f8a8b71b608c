// Registry of the téléexpertise workflows (FHIR R4 Task.code in the teleo-workflow CodeSystem).
import type { Task } from '@medplum/fhirtypes';
import { WORKFLOW_SYSTEM, type WorkflowDefinition } from './workflow-definition.js';
import { AVIS_AVC } from './workflows/avis-avc.js';
import { AVIS_PROGRAMME } from './workflows/avis-programme.js';
import { AVIS_URGENCES } from './workflows/avis-urgences.js';
import { RCP_GREFFE_RENALE } from './workflows/rcp-greffe-renale.js';
import { TELERADIOLOGIE } from './workflows/teleradiologie.js';
import { TRANSFERT_IMAGERIE } from './workflows/transfert-imagerie.js';

export const WORKFLOWS: readonly WorkflowDefinition[] = Object.freeze([
  AVIS_URGENCES, AVIS_AVC, AVIS_PROGRAMME, TRANSFERT_IMAGERIE, RCP_GREFFE_RENALE, TELERADIOLOGIE,
]);

/** The workflow code of a Task (Task.code coding in WORKFLOW_SYSTEM), or undefined for a plain Task. */
export function workflowCodeOf(task: Task): string | undefined {
  return task.code?.coding?.find((c) => c.system === WORKFLOW_SYSTEM)?.code;
}

/** The definition a télédossier follows; undefined when the Task is not a télédossier or its workflow is unknown. */
export function workflowFor(task: Task, workflows: readonly WorkflowDefinition[] = WORKFLOWS): WorkflowDefinition | undefined {
  const code = workflowCodeOf(task);
  return code === undefined ? undefined : workflows.find((w) => w.code === code);
}
