// The Task status write guard through a real ResourceService (create/update/patch of FHIR R4 Task télédossiers).
import { expect } from 'chai';
import type { Task } from '@medplum/fhirtypes';
import { DOSSIER_STATUS_SYSTEM, WORKFLOW_SYSTEM } from './workflow-definition.js';
import { AVIS_PROGRAMME } from './workflows/avis-programme.js';
import { createPlatform, ctxOf, dossier, PRINCIPALS, REQUESTER, rejection, seedDossier, type Platform } from './test-directory.js';

const user = ctxOf(PRINCIPALS.requerant);

describe('Task status write guard', () => {
  let p: Platform;
  beforeEach(async () => { p = await createPlatform(); });

  it('lets a télédossier be created in its workflow’s initial state', async () => {
    const { resource } = await p.svc.create(user, dossier(AVIS_PROGRAMME, 'demandee'));
    expect(resource.status).to.equal('requested');
  });

  it('refuses to create a télédossier in another state (409)', async () => {
    const err = await rejection(p.svc.create(user, dossier(AVIS_PROGRAMME, 'repondue')));
    expect(err.status).to.equal(409);
    expect(err.text).to.contain("starts in state 'demandee'");
  });

  it('refuses to create a télédossier of an unknown workflow (409)', async () => {
    const task: Task = { ...dossier(AVIS_PROGRAMME, 'demandee'), code: { coding: [{ system: WORKFLOW_SYSTEM, code: 'inconnu' }] } };
    expect((await rejection(p.svc.create(user, task))).status).to.equal(409);
  });

  it('refuses a plain PUT changing Task.status (409: use $transition)', async () => {
    const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'demandee');
    const err = await rejection(p.svc.update(user, { ...task, status: 'completed' }));
    expect(err.status).to.equal(409);
    expect(err.text).to.contain('use the $transition operation');
  });

  it('refuses a plain PUT changing only the businessStatus', async () => {
    const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'demandee');
    const businessStatus = { coding: [{ system: DOSSIER_STATUS_SYSTEM, code: 'recue' }] };
    expect((await rejection(p.svc.update(user, { ...task, businessStatus }))).status).to.equal(409);
  });

  it('refuses a JSON Patch changing Task.status', async () => {
    const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'demandee');
    const err = await rejection(p.svc.patch(user, 'Task', task.id as string, [{ op: 'replace', path: '/status', value: 'cancelled' }]));
    expect(err.status).to.equal(409);
  });

  it('refuses a PUT changing the workflow of a télédossier, or turning it into a plain Task', async () => {
    const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'demandee');
    const other = { coding: [{ system: WORKFLOW_SYSTEM, code: 'avis-avc' }] };
    expect((await rejection(p.svc.update(user, { ...task, code: other }))).status).to.equal(409);
    expect((await rejection(p.svc.update(user, { ...task, code: { text: 'plain' } }))).status).to.equal(409);
  });

  it('keeps the other Task fields writable by PUT and PATCH', async () => {
    const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'demandee');
    const { resource } = await p.svc.update(user, { ...task, description: 'ECG joint', note: [{ text: 'Rappeler le 12' }] });
    expect(resource.description).to.equal('ECG joint');
    const patched = await p.svc.patch(user, 'Task', task.id as string, [{ op: 'add', path: '/priority', value: 'urgent' }]);
    expect((patched as Task).priority).to.equal('urgent');
  });

  it('leaves Tasks outside the teleo-workflow system alone', async () => {
    const { resource } = await p.svc.create(user, { resourceType: 'Task', status: 'in-progress', intent: 'order', requester: { reference: REQUESTER } } as Task);
    const { resource: done } = await p.svc.update(user, { ...resource, status: 'completed' });
    expect(done.status).to.equal('completed');
  });
});
