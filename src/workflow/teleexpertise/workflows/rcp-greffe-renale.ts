// FHIR R4 Task state machine (workflow.html#task) for the 'RCP greffe rénale' workflow (annex 3 of the CCTP).
import type { WorkflowDefinition } from '../workflow-definition.js';
import { ANNULEE, DEMANDEE, RECUE, REFUSEE, REPONDUE, REQUESTING } from './common-steps.js';

/**
 * The RCP secretariat receives the dossier and puts it on a meeting's agenda; the RCP (the owning community)
 * gives its opinion as a CR, filed in the DPI and published to the DMP; a dossier may be postponed back
 * to the secretariat for a later meeting.
 */
export const RCP_GREFFE_RENALE: WorkflowDefinition = {
  code: 'rcp-greffe-renale',
  display: 'RCP greffe rénale',
  urgent: false,
  states: {
    demandee: DEMANDEE,
    recue: RECUE,
    inscrite: { status: 'accepted', businessStatus: 'inscrite', display: 'Inscrite en séance de RCP' },
    repondue: { ...REPONDUE, display: 'Avis de RCP rendu' },
    refusee: REFUSEE,
    annulee: ANNULEE,
  },
  initial: 'demandee',
  transitions: [
    { code: 'accuser-reception', display: 'Accuser réception', from: ['demandee'], to: 'recue',
      roles: ['secretariat-requis', 'membre-communaute'], triggers: ['notify-requerant'] },
    { code: 'inscrire-seance', display: 'Inscrire en séance', from: ['recue'], to: 'inscrite',
      roles: ['secretariat-requis'], triggers: ['notify-requerant', 'notify-communaute'] },
    { code: 'ajourner', display: 'Ajourner à une séance ultérieure', from: ['inscrite'], to: 'recue',
      roles: ['secretariat-requis', 'membre-communaute'], requires: ['reason'], triggers: ['notify-requerant'] },
    { code: 'rendre-avis', display: 'Rendre l\'avis de RCP', from: ['inscrite'], to: 'repondue',
      roles: ['membre-communaute', 'requis'], requires: ['report'], triggers: ['notify-requerant', 'send-report-dpi', 'publish-dmp'] },
    { code: 'refuser', display: 'Refuser le dossier', from: ['demandee', 'recue'], to: 'refusee',
      roles: ['secretariat-requis', 'membre-communaute', 'requis'], requires: ['reason'], triggers: ['notify-requerant'] },
    { code: 'annuler', display: 'Annuler la demande', from: ['demandee', 'recue', 'inscrite'], to: 'annulee',
      roles: REQUESTING, requires: ['reason'], triggers: ['notify-communaute'] },
  ],
};
