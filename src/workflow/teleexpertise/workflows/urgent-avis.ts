// Shared shape of the CCTP 'Demande d'avis Urgences/AVC aigu' use case (FHIR R4 Task state machine, workflow.html#task).
import type { WorkflowDefinition } from '../workflow-definition.js';
import { ANNULEE, CLOTUREE, DEMANDEE, EN_COURS, EXPERTS, REFUSEE, REPONDUE, REQUESTING } from './common-steps.js';

/**
 * Urgent avis: the on-call expert (or community) takes the dossier in charge, answers with a CR, or refuses;
 * the requérant may cancel before the answer, reopen an answered dossier with a question, or close it.
 * Cancellation alerts the whole community: anyone on call may have started on it.
 */
export function urgentAvis(code: string, display: string): WorkflowDefinition {
  return {
    code, display, urgent: true, readReceipt: true,
    states: { demandee: DEMANDEE, 'en-cours': EN_COURS, repondue: REPONDUE, cloturee: CLOTUREE, refusee: REFUSEE, annulee: ANNULEE },
    initial: 'demandee',
    transitions: [
      { code: 'prendre-en-charge', display: 'Prendre en charge', from: ['demandee'], to: 'en-cours', roles: EXPERTS, triggers: ['notify-requerant'] },
      { code: 'repondre', display: 'Rendre l\'avis (compte rendu)', from: ['demandee', 'en-cours'], to: 'repondue', roles: EXPERTS,
        requires: ['report'], triggers: ['notify-requerant', 'send-report-dpi'] },
      { code: 'refuser', display: 'Refuser la demande', from: ['demandee', 'en-cours'], to: 'refusee', roles: EXPERTS,
        requires: ['reason'], triggers: ['notify-requerant'] },
      { code: 'annuler', display: 'Annuler la demande', from: ['demandee', 'en-cours'], to: 'annulee', roles: REQUESTING,
        requires: ['reason'], triggers: ['notify-communaute'] },
      { code: 'rouvrir', display: 'Rouvrir (question complémentaire)', from: ['repondue'], to: 'en-cours', roles: REQUESTING,
        requires: ['reason'], triggers: ['notify-requis'] },
      { code: 'cloturer', display: 'Clôturer le dossier', from: ['repondue'], to: 'cloturee', roles: REQUESTING },
    ],
  };
}
