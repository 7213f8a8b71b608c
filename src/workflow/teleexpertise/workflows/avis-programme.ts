// FHIR R4 Task state machine (workflow.html#task) for the CCTP 'Demande d'avis programmée' workflow.
import type { WorkflowDefinition } from '../workflow-definition.js';
import { ANNULEE, DEMANDEE, EXPERTS, RECUE, REFUSEE, REPONDUE, REQUESTING } from './common-steps.js';

/**
 * An author may write on behalf of the requérant; the requis' secretariat receives the request and routes it
 * to an expert (new owner); the expert answers with a CR; the bureau des entrées creates the visit, after
 * which the CR is filed in the DPI; the secretariat (or billing) then codes the act.
 */
export const AVIS_PROGRAMME: WorkflowDefinition = {
  code: 'avis-programme',
  display: 'Demande d\'avis programmée',
  urgent: false,
  states: {
    demandee: DEMANDEE,
    recue: RECUE,
    attribuee: { status: 'accepted', businessStatus: 'attribuee', display: 'Attribuée à un expert' },
    repondue: REPONDUE,
    'venue-creee': { status: 'completed', businessStatus: 'venue-creee', display: 'Venue créée, CR transmis au DPI' },
    cotee: { status: 'completed', businessStatus: 'cotee', display: 'Acte coté' },
    refusee: REFUSEE,
    annulee: ANNULEE,
  },
  initial: 'demandee',
  transitions: [
    { code: 'accuser-reception', display: 'Accuser réception', from: ['demandee'], to: 'recue',
      roles: ['secretariat-requis', ...EXPERTS], triggers: ['notify-requerant'] },
    { code: 'router', display: 'Attribuer à un expert', from: ['demandee', 'recue'], to: 'attribuee',
      roles: ['secretariat-requis'], requires: ['owner'], triggers: ['notify-requis'] },
    { code: 'repondre', display: 'Rendre l\'avis (compte rendu)', from: ['demandee', 'recue', 'attribuee'], to: 'repondue',
      roles: EXPERTS, requires: ['report'], triggers: ['notify-requerant'] },
    { code: 'refuser', display: 'Refuser la demande', from: ['demandee', 'recue', 'attribuee'], to: 'refusee',
      roles: ['secretariat-requis', ...EXPERTS], requires: ['reason'], triggers: ['notify-requerant'] },
    { code: 'annuler', display: 'Annuler la demande', from: ['demandee', 'recue', 'attribuee'], to: 'annulee',
      roles: REQUESTING, requires: ['reason'], triggers: ['notify-requis'] },
    { code: 'creer-venue', display: 'Créer la venue', from: ['repondue'], to: 'venue-creee',
      roles: ['bureau-entrees'], requires: ['encounter'], triggers: ['send-report-dpi'] },
    { code: 'coter-acte', display: 'Coter l\'acte', from: ['venue-creee'], to: 'cotee',
      roles: ['facturation', 'secretariat-requis'], triggers: ['record-charge'] },
  ],
};
