// FHIR R4 Task state machine (workflow.html#task) for the CCTP / ORTIF 'Transfert d'imagerie' workflow.
import type { WorkflowDefinition } from '../workflow-definition.js';
import { ANNULEE, DEMANDEE, EXPERTS, REFUSEE, REQUESTING } from './common-steps.js';

/**
 * The recipient's secretariat (or the requis) receives the dossier, which forwards the exam to the recipient
 * PACS; the requis' acknowledgement of receipt closes the dossier (ORTIF kit: "l'accusé de réception
 * entraînera la clôture du télé dossier"). Nothing sent can be withdrawn once received: cancel only before.
 */
export const TRANSFERT_IMAGERIE: WorkflowDefinition = {
  code: 'transfert-imagerie',
  display: 'Transfert d\'imagerie',
  urgent: false,
  states: {
    transmis: { ...DEMANDEE, businessStatus: 'transmis', display: 'Transmis' },
    recu: { status: 'received', businessStatus: 'recu', display: 'Reçu, examen transféré au PACS' },
    cloture: { status: 'completed', businessStatus: 'cloture', display: 'Réception accusée, dossier clôturé' },
    refuse: { ...REFUSEE, businessStatus: 'refuse', display: 'Refusé' },
    annule: { ...ANNULEE, businessStatus: 'annule', display: 'Annulé' },
  },
  initial: 'transmis',
  transitions: [
    { code: 'receptionner', display: 'Réceptionner le dossier', from: ['transmis'], to: 'recu',
      roles: ['secretariat-requis', ...EXPERTS], triggers: ['forward-study'] },
    { code: 'accuser-reception', display: 'Accuser réception de l\'imagerie', from: ['recu'], to: 'cloture',
      roles: EXPERTS, triggers: ['notify-requerant'] },
    { code: 'refuser', display: 'Refuser le dossier', from: ['transmis', 'recu'], to: 'refuse',
      roles: ['secretariat-requis', ...EXPERTS], requires: ['reason'], triggers: ['notify-requerant'] },
    { code: 'annuler', display: 'Annuler le transfert', from: ['transmis'], to: 'annule',
      roles: REQUESTING, requires: ['reason'], triggers: ['notify-requis'] },
  ],
};
