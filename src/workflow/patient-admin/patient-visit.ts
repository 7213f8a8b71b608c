// The visit feed (IHE ITI-31 "gestion des mouvements" as PAM-FR profiles it) on FHIR R4 Encounter (encounter.html):
// admit, register, pre-admit, update, discharge, cancel admit — each with the patient identity it carries.
//
// - The Encounter is identified by the visit number (its authority as Identifier.system); movements (ZBE-1) are added
//   as further identifiers. Admit / register → in-progress, pre-admit → planned (a later admit of the same visit
//   number updates it); discharge → finished with period.end; cancel admit → cancelled when the visit had not begun
//   (planned), entered-in-error otherwise (R4: "should not have been part of this patient's record").
// - A visit that does not exist is refused (404) by discharge and cancel admit; an update (A08) of an unknown visit
//   updates the patient and records no visit (only movements create visits).
// - A new visit (admit, register, pre-admit) completes the bureau-des-entrées step of the dossier waiting for it
//   (admissions-step.ts). A cancel admit does not undo a step already done (the CR was filed): it says so.
import type { Coding, Encounter, EncounterParticipant, Identifier, Patient, Task } from '@medplum/fhirtypes';
import { errors } from '../../kernel/errors.js';
import type { AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';
import { completeAdmissionsStep } from './admissions-step.js';
import { upsertPatient } from './patient-identity.js';

export type VisitEvent = 'admit' | 'register' | 'pre-admit' | 'update' | 'discharge' | 'cancel-admit';

/** Encounter.identifier.type of a movement (IHE PAM-FR ZBE-1). */
export const MOVEMENT_TYPE: Coding = { system: 'https://teleo.fr/fhir/CodeSystem/teleo-identifier-type', code: 'movement', display: 'Mouvement (IHE PAM-FR ZBE-1)' };

export interface VisitFeed {
  readonly event: VisitEvent;
  /** The patient as the message describes it (patient-identity.ts upserts it). */
  readonly patient: Patient;
  readonly visitNumber: Identifier;
  readonly encounterClass: Coding;
  readonly start?: string;
  readonly end?: string;
  readonly participants: readonly EncounterParticipant[];
  readonly movement?: Identifier;
  /** meta.source of what is written (the partner). */
  readonly source: string;
  /** The organisations the partner admits for (dossier matching). */
  readonly organizations: readonly string[];
  /** When the event happened (discharge time when the message gives none). */
  readonly occurred: string;
}

export interface VisitOutcome {
  readonly patient: Patient;
  readonly patientCreated: boolean;
  readonly encounter?: Encounter;
  readonly encounterCreated?: boolean;
  /** The dossier whose bureau-des-entrées step this visit completed. */
  readonly dossier?: Task;
  readonly notes: readonly string[];
}

const STARTED: Record<string, Encounter['status']> = { admit: 'in-progress', register: 'in-progress', 'pre-admit': 'planned' };
const token = (i: Identifier) => `${i.system}|${i.value}`;

async function findVisit(t: ResourceService, ctx: AuditContext, visitNumber: Identifier): Promise<Encounter | undefined> {
  const found = (await t.search(ctx, 'Encounter', { identifier: [token(visitNumber)], _count: ['2'], _total: ['none'] })).resources as Encounter[];
  if (found.length > 1) throw errors.conflict(`Two Encounters hold visit number ${token(visitNumber)}`);
  return found[0];
}

function withMovement(identifiers: Identifier[], movement: Identifier | undefined): Identifier[] {
  if (!movement || identifiers.some((i) => i.system === movement.system && i.value === movement.value)) return identifiers;
  return [...identifiers, { use: 'secondary', type: { coding: [MOVEMENT_TYPE] }, ...movement }];
}

/** Applies one visit message as `ctx`, atomically (patient, visit, dossier step). */
export async function recordVisit(svc: ResourceService, ctx: AuditContext, feed: VisitFeed, now?: () => Date): Promise<VisitOutcome> {
  return svc.transaction(async (t) => {
    const { patient, created: patientCreated } = await upsertPatient(t, ctx, feed.patient);
    const subject = { reference: `Patient/${patient.id}` };
    const stored = await findVisit(t, ctx, feed.visitNumber);
    const notes: string[] = [];
    const period = { ...stored?.period, ...(feed.start ? { start: feed.start } : {}), ...(feed.end ? { end: feed.end } : {}) };
    const common = {
      meta: { ...stored?.meta, source: feed.source },
      identifier: withMovement(stored?.identifier ?? [{ use: 'official' as const, ...feed.visitNumber }], feed.movement),
      class: feed.encounterClass,
      subject,
      ...(feed.participants.length ? { participant: [...feed.participants] } : stored?.participant ? { participant: stored.participant } : {}),
    };
    const write = async (e: Encounter) => (e.id ? (await t.update(ctx, e)).resource : (await t.create(ctx, e)).resource);

    if (feed.event === 'update') {
      if (!stored) return { patient, patientCreated, notes: [`visit ${feed.visitNumber.value} unknown: patient updated, no visit recorded`] };
      const encounter = await write({ ...stored, ...common, ...(Object.keys(period).length ? { period } : {}) });
      return { patient, patientCreated, encounter, encounterCreated: false, notes };
    }
    if (feed.event === 'discharge' || feed.event === 'cancel-admit') {
      if (!stored) throw errors.notFound(`Visit ${token(feed.visitNumber)} is unknown: nothing to ${feed.event === 'discharge' ? 'discharge' : 'cancel'}`);
      const status: Encounter['status'] = feed.event === 'discharge' ? 'finished' : stored.status === 'planned' ? 'cancelled' : 'entered-in-error';
      const end = feed.event === 'discharge' ? { ...period, end: feed.end ?? feed.occurred } : period;
      const encounter = await write({ ...stored, ...common, status, ...(Object.keys(end).length ? { period: end } : {}) });
      if (feed.event === 'cancel-admit') {
        const done = (await t.search(ctx, 'Task', { encounter: [`Encounter/${stored.id}`], _count: ['10'] })).resources as Task[];
        for (const task of done) notes.push(`Task/${task.id} completed its bureau-des-entrées step with this visit: that step and the DPI filing are not undone`);
      }
      return { patient, patientCreated, encounter, encounterCreated: false, notes };
    }
    const encounter = await write({
      ...(stored ?? { resourceType: 'Encounter' as const }), ...common, status: STARTED[feed.event],
      ...(Object.keys(period).length ? { period } : {}),
    } as Encounter);
    if (encounter.basedOn?.length) return { patient, patientCreated, encounter, encounterCreated: !stored, notes };
    const step = await completeAdmissionsStep(t, ctx, patient, encounter, feed.visitNumber, feed.organizations, now);
    if (step.note) notes.push(step.note);
    return { patient, patientCreated, encounter: step.encounter, encounterCreated: !stored, ...(step.task ? { dossier: step.task } : {}), notes };
  });
}
