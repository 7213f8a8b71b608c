// FHIR R4 Task state machine (workflow.html#task) for the CCTP 'Demande d'avis AVC aigu' workflow.
import type { WorkflowDefinition } from '../workflow-definition.js';
import { urgentAvis } from './urgent-avis.js';

/** Urgent; readReceipt: the urgentiste sees "Dossier lu par Dr X à hh:mm" to know when to call back. */
export const AVIS_AVC: WorkflowDefinition = urgentAvis('avis-avc', 'Demande d\'avis AVC aigu');
