// Building blocks shared by the téléexpertise workflows (FHIR R4 Task.status + teleo-dossier-status businessStatus).
import type { DossierRole, WorkflowState } from '../workflow-definition.js';

export const DEMANDEE: WorkflowState = { status: 'requested', businessStatus: 'demandee', display: 'Demande envoyée' };
export const RECUE: WorkflowState = { status: 'received', businessStatus: 'recue', display: 'Reçue (accusé de réception)' };
export const EN_COURS: WorkflowState = { status: 'in-progress', businessStatus: 'en-cours', display: 'Prise en charge' };
export const REPONDUE: WorkflowState = { status: 'completed', businessStatus: 'repondue', display: 'Avis rendu' };
export const CLOTUREE: WorkflowState = { status: 'completed', businessStatus: 'cloturee', display: 'Clôturée' };
export const REFUSEE: WorkflowState = { status: 'rejected', businessStatus: 'refusee', display: 'Refusée' };
export const ANNULEE: WorkflowState = { status: 'cancelled', businessStatus: 'annulee', display: 'Annulée' };

/** The requesting side: the physician, or an author acting on their behalf. */
export const REQUESTING: readonly DossierRole[] = ['requerant', 'auteur'];
/** The expert side: the named expert, or any member of the owning community. */
export const EXPERTS: readonly DossierRole[] = ['requis', 'membre-communaute'];
