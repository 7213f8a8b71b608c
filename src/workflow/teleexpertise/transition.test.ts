// applyTransition: the FHIR R4 Task state machines of every téléexpertise workflow, exhaustively (transition.ts).
import { expect } from 'chai';
import type { Provenance, Task } from '@medplum/fhirtypes';
import type { AuditContext } from '../audit.js';
import { WORKFLOWS } from './index.js';
import { applyTransition, type TransitionInput } from './transition.js';
import { DOSSIER_ROLES, DOSSIER_STATUS_SYSTEM, type WorkflowDefinition, type WorkflowTransition } from './workflow-definition.js';
import { AVIS_PROGRAMME } from './workflows/avis-programme.js';
import { TELERADIOLOGIE } from './workflows/teleradiologie.js';
import { TRANSFERT_IMAGERIE } from './workflows/transfert-imagerie.js';
import {
  AUTHOR, createPlatform, EXPERT, ctxOf, EXPERT_2, ownerFor, PRINCIPALS, PROTOCOL, REASON, rejection, REQUESTER, SEED, seedDossier,
  SR_BARE, type Platform,
} from './test-directory.js';

const FULL_INPUT: TransitionInput = { reason: REASON, protocol: PROTOCOL, owner: EXPERT_2 };
const run = (p: Platform, ctx: AuditContext, id: string, code: string, input: TransitionInput = FULL_INPUT) =>
  applyTransition({ svc: p.svc, now: () => new Date('2024-08-08T05:34:00Z') }, ctx, id, code, input);
const provenances = async (p: Platform, task: Task) =>
  (await p.svc.search(SEED, 'Provenance', {})).resources.filter((r) => (r as Provenance).target[0].reference?.startsWith(`Task/${task.id}/`)) as Provenance[];
const jobsOf = async (p: Platform, task: Task) => (await p.storage.jobs.list()).filter((j) => j.payload.task === `Task/${task.id}`);

describe('applyTransition', () => {
  for (const def of WORKFLOWS) {
    describe(`${def.code}: every transition × state × role`, () => {
      let p: Platform;
      before(async () => { p = await createPlatform(); });
      for (const tr of def.transitions) {
        for (const state of Object.keys(def.states)) {
          for (const role of DOSSIER_ROLES) {
            const fromOk = tr.from.includes(state);
            const expected = !fromOk ? 409 : tr.roles.includes(role) ? 'allowed' : 403;
            it(`${tr.code} from ${state} by ${role}: ${expected}`, async () => {
              const task = await seedDossier(p.svc, def, state, { owner: ownerFor(role), tiers: role === 'tiers' });
              if (expected !== 'allowed') {
                expect((await rejection(run(p, ctxOf(PRINCIPALS[role]), task.id as string, tr.code))).status).to.equal(expected);
                expect(await jobsOf(p, task)).to.have.length(0);
                return;
              }
              const updated = await run(p, ctxOf(PRINCIPALS[role]), task.id as string, tr.code);
              const to = def.states[tr.to];
              expect(updated.status).to.equal(to.status);
              expect(updated.businessStatus?.coding?.[0]).to.include({ system: DOSSIER_STATUS_SYSTEM, code: to.businessStatus });
              expect(updated.meta?.versionId).to.equal('2');
              expect((await jobsOf(p, task)).map((j) => j.type)).to.have.members([...tr.triggers ?? []]);
            });
          }
        }
      }
    });
  }

  describe('errors', () => {
    let p: Platform;
    beforeEach(async () => { p = await createPlatform(); });

    it('rejects an unknown transition code with 400 listing the known ones', async () => {
      const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'demandee');
      const err = await rejection(run(p, ctxOf(PRINCIPALS.requis), task.id as string, 'teleporter'));
      expect(err.status).to.equal(400);
      expect(err.text).to.contain('teleporter').and.contain('accuser-reception');
    });

    it('names the current state and the transitions allowed from it in the 409', async () => {
      const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'repondue');
      const err = await rejection(run(p, ctxOf(PRINCIPALS.requis), task.id as string, 'accuser-reception'));
      expect(err.text).to.contain("state 'repondue'").and.contain('allowed from this state: creer-venue');
    });

    it('names the roles needed in the 403', async () => {
      const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'repondue');
      const err = await rejection(run(p, ctxOf(PRINCIPALS.requis), task.id as string, 'creer-venue'));
      expect(err).to.deep.equal({ status: 403, text: "Transition 'creer-venue' needs one of the dossier roles: bureau-entrees" });
    });

    it('refuses with 409 a Task that follows no known workflow', async () => {
      const plain = (await p.svc.create(SEED, { resourceType: 'Task', status: 'requested', intent: 'order', owner: { reference: EXPERT } } as Task)).resource;
      expect((await rejection(run(p, ctxOf(PRINCIPALS.requis), plain.id as string, 'repondre'))).status).to.equal(409);
    });
  });

  describe('requirements', () => {
    let p: Platform;
    beforeEach(async () => { p = await createPlatform(); });
    const cases: { def: WorkflowDefinition; tr: WorkflowTransition }[] = WORKFLOWS.flatMap((def) =>
      def.transitions.filter((tr) => tr.requires?.length).map((tr) => ({ def, tr })));
    const MISSING: Record<string, RegExp> = {
      reason: /a reason/, protocol: /an imaging protocol/, owner: /a new owner/,
      report: /a final DiagnosticReport whose basedOn is ServiceRequest\/sr-bare/, encounter: /an Encounter \(the visit\)/,
    };
    for (const { def, tr } of cases) {
      for (const req of tr.requires ?? []) {
        it(`${def.code} ${tr.code} without ${req}: 409 naming it, nothing written`, async () => {
          const role = tr.roles[0];
          const task = await seedDossier(p.svc, def, tr.from[0], { owner: ownerFor(role), focus: SR_BARE });
          const input: TransitionInput = { ...FULL_INPUT, [req]: req === 'reason' ? '  ' : undefined };
          const err = await rejection(run(p, ctxOf(PRINCIPALS[role]), task.id as string, tr.code, input));
          expect(err.status).to.equal(409);
          expect(err.text).to.match(MISSING[req]);
          expect((await p.svc.read<Task>(SEED, 'Task', task.id as string)).meta?.versionId).to.equal('1');
          expect(await provenances(p, task)).to.have.length(0);
          expect(await jobsOf(p, task)).to.have.length(0);
        });
      }
    }

    it('does not count a preliminary report as the CR', async () => {
      const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'attribuee', { focus: SR_BARE });
      await p.svc.create(SEED, { resourceType: 'DiagnosticReport', status: 'preliminary', code: { text: 'CR' }, basedOn: [{ reference: SR_BARE }] });
      expect((await rejection(run(p, ctxOf(PRINCIPALS.requis), task.id as string, 'repondre'))).status).to.equal(409);
    });

    it('records the refusal reason, the routed owner, the visit and the imaging protocol on the Task', async () => {
      const refused = await run(p, ctxOf(PRINCIPALS.requis), (await seedDossier(p.svc, AVIS_PROGRAMME, 'recue')).id as string, 'refuser');
      expect(refused.statusReason?.text).to.equal(REASON);
      const routed = await run(p, ctxOf(PRINCIPALS['secretariat-requis']), (await seedDossier(p.svc, AVIS_PROGRAMME, 'recue')).id as string, 'router');
      expect(routed.owner?.reference).to.equal(EXPERT_2);
      expect(routed.statusReason?.text).to.equal(REASON);
      const visited = await run(p, ctxOf(PRINCIPALS['bureau-entrees']), (await seedDossier(p.svc, AVIS_PROGRAMME, 'repondue')).id as string, 'creer-venue', {});
      expect(visited.encounter?.reference).to.equal('Encounter/venue-done');
      expect(visited.statusReason).to.equal(undefined);
      const accepted = await run(p, ctxOf(PRINCIPALS.requis), (await seedDossier(p.svc, TELERADIOLOGIE, 'demandee')).id as string, 'accepter', { protocol: PROTOCOL });
      expect(accepted.note?.[0]).to.deep.include({ text: `Protocole d'imagerie : ${PROTOCOL}`, authorReference: { reference: 'PractitionerRole/durand-chu' } });
      expect(accepted.lastModified).to.equal('2024-08-08T05:34:00.000Z');
    });

    it('refuses with 400 an owner that is not a possible owner type, and 409 one that does not exist', async () => {
      const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'recue');
      const sec = ctxOf(PRINCIPALS['secretariat-requis']);
      expect((await rejection(run(p, sec, task.id as string, 'router', { owner: 'Patient/p1' }))).status).to.equal(400);
      const err = await rejection(run(p, sec, task.id as string, 'router', { owner: 'PractitionerRole/ghost' }));
      expect(err.status).to.equal(409);
      expect(err.text).to.contain('PractitionerRole/ghost not found');
    });
  });

  describe('Provenance and jobs', () => {
    let p: Platform;
    beforeEach(async () => { p = await createPlatform(); });

    it('writes a Provenance on the new Task version, on behalf of the requérant when the author acts', async () => {
      const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'demandee');
      await run(p, ctxOf(PRINCIPALS.auteur), task.id as string, 'annuler');
      const [prov] = await provenances(p, task);
      expect(prov.target).to.deep.equal([{ reference: `Task/${task.id}/_history/2` }]);
      expect(prov.recorded).to.equal('2024-08-08T05:34:00.000Z');
      expect(prov.activity?.coding?.[0].code).to.equal('annuler');
      expect(prov.agent[0].who).to.deep.equal({ reference: AUTHOR });
      expect(prov.agent[0].onBehalfOf).to.deep.equal({ reference: REQUESTER });
      expect(prov.agent[0].role?.[0].coding?.[0].code).to.equal('auteur');
    });

    it('writes no onBehalfOf when the requérant acts', async () => {
      const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'demandee');
      await run(p, ctxOf(PRINCIPALS.requerant), task.id as string, 'annuler');
      const [prov] = await provenances(p, task);
      expect(prov.agent[0].who).to.deep.equal({ reference: REQUESTER });
      expect(prov.agent[0]).not.to.have.property('onBehalfOf');
    });

    it('enqueues one durable job per trigger with the Task version, idempotently keyed', async () => {
      const task = await seedDossier(p.svc, TRANSFERT_IMAGERIE, 'transmis');
      await run(p, ctxOf(PRINCIPALS['secretariat-requis']), task.id as string, 'receptionner');
      const [job] = await jobsOf(p, task);
      expect(job.type).to.equal('forward-study');
      expect(job.payload).to.deep.equal({ task: `Task/${task.id}`, version: '2', workflow: 'transfert-imagerie', transition: 'receptionner' });
      expect(job.orderingKey).to.equal(`Task/${task.id}#forward-study`);
    });
  });

  describe('concurrency', () => {
    let p: Platform;
    beforeEach(async () => { p = await createPlatform(); });

    it('lets one of two concurrent transitions on the same Task win; the other gets 409', async () => {
      const task = await seedDossier(p.svc, TRANSFERT_IMAGERIE, 'recu');
      const results = await Promise.allSettled([
        run(p, ctxOf(PRINCIPALS.requis), task.id as string, 'accuser-reception'),
        run(p, ctxOf(PRINCIPALS.requis), task.id as string, 'refuser'),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
      const [lost] = results.filter((r) => r.status === 'rejected');
      expect((await rejection(Promise.reject(lost.reason))).status).to.equal(409);
      expect(await provenances(p, task)).to.have.length(1);
    });

    it('answers 412 when the caller’s If-Match is no longer the current version', async () => {
      const task = await seedDossier(p.svc, TRANSFERT_IMAGERIE, 'transmis');
      await p.svc.update(SEED, { ...task, description: 'edited' });
      const err = await rejection(run(p, ctxOf(PRINCIPALS.requis), task.id as string, 'receptionner', { ifMatch: 'W/"1"' }));
      expect(err.status).to.equal(412);
      expect((await run(p, ctxOf(PRINCIPALS.requis), task.id as string, 'receptionner', { ifMatch: 'W/"2"' })).meta?.versionId).to.equal('3');
    });
  });
});
