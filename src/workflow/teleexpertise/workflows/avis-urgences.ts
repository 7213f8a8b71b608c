// FHIR R4 Task state machine (workflow.html#task) for the CCTP 'Demande d'avis Urgences' workflow.
import type { WorkflowDefinition } from '../workflow-definition.js';
import { urgentAvis } from './urgent-avis.js';

/** The CCTP slide covers Urgences and AVC aigu together, read timestamp included: both keep readReceipt. */
export const AVIS_URGENCES: WorkflowDefinition = urgentAvis('avis-urgences', 'Demande d\'avis Urgences');
