// FHIR R4 Task state machine (workflow.html#task) for the CI-SIS Téléradiologie volet order flow (HL7v2 flux 1–4).
import type { WorkflowDefinition } from '../workflow-definition.js';
import { ANNULEE, DEMANDEE, EXPERTS, REFUSEE, REQUESTING } from './common-steps.js';

/**
 * Order-driven: flux 1 (ORM NW) creates the dossier; the téléradiologue accepts with an imaging protocol
 * (flux 3 ORU OK, OBX PROTOCOLE_IMAGERIE) or refuses with a reason (flux 3 OC); the requester may cancel
 * (flux 2 ORM CA) until the exam is done; flux 4 (OMI SR) reports the exam done; the CR goes back to the
 * DPI and to the DMP.
 */
export const TELERADIOLOGIE: WorkflowDefinition = {
  code: 'teleradiologie',
  display: 'Téléradiologie',
  urgent: false,
  states: {
    demandee: DEMANDEE,
    acceptee: { status: 'accepted', businessStatus: 'acceptee', display: 'Acceptée, protocole transmis' },
    'examen-realise': { status: 'in-progress', businessStatus: 'examen-realise', display: 'Examen réalisé, en attente d\'interprétation' },
    interpretee: { status: 'completed', businessStatus: 'interpretee', display: 'Compte rendu validé' },
    refusee: REFUSEE,
    annulee: ANNULEE,
  },
  initial: 'demandee',
  transitions: [
    { code: 'accepter', display: 'Accepter (protocole d\'imagerie)', from: ['demandee'], to: 'acceptee',
      roles: EXPERTS, requires: ['protocol'], triggers: ['notify-requerant', 'send-order-response'] },
    { code: 'refuser', display: 'Refuser la demande', from: ['demandee'], to: 'refusee',
      roles: EXPERTS, requires: ['reason'], triggers: ['notify-requerant', 'send-order-response'] },
    { code: 'annuler', display: 'Annuler la demande', from: ['demandee', 'acceptee'], to: 'annulee',
      roles: REQUESTING, requires: ['reason'], triggers: ['notify-requis'] },
    { code: 'signaler-examen-realise', display: 'Signaler l\'examen réalisé', from: ['acceptee'], to: 'examen-realise',
      roles: REQUESTING, triggers: ['notify-requis'] },
    { code: 'interpreter', display: 'Valider le compte rendu', from: ['examen-realise'], to: 'interpretee',
      roles: EXPERTS, requires: ['report'], triggers: ['notify-requerant', 'send-report-dpi', 'publish-dmp'] },
  ],
};
