// Dossier visibility (ORTIF kit "Moi-même" / "Ma communauté") through the resource service, on the memory twin and PGlite.
import { expect } from 'chai';
import type { Binary, Bundle, CareTeam, Subscription, Communication, DocumentReference, ImagingStudy, Provenance, Resource, Task } from '@medplum/fhirtypes';
import { SYSTEM_PRINCIPAL, type Principal } from '../../kernel/principal.js';
import { openPostgresStorage } from '../../postgres/postgres-storage.js';
import { createMemoryStorage } from '../../store/memory-storage.js';
import type { Storage } from '../../store/resource-store.js';
import { rolesOf, serviceLookup } from './dossier-roles.js';
import { DOSSIER_CONTENT_SYSTEM, SENDER_COMMUNITY_URL } from './dossier-model.js';
import { createDossierVisibility } from './dossier-visibility.js';
import { DOSSIER_ROLES } from './workflow-definition.js';
import { AVIS_PROGRAMME } from './workflows/avis-programme.js';
import {
  COMMUNITY, createPlatform, ctxOf, EXPERT, ownerFor, PRINCIPALS, registry, rejection, SEED, seedDossier, SR_DONE, type Platform,
} from './test-directory.js';

const user = (practitioner: string, role: string): Principal => ({
  sub: practitioner, iss: 'test', scopes: ['user/*.cruds'], fhirUser: `Practitioner/${practitioner}`, role: `PractitionerRole/${role}`,
});
/** martin-chu works at the requis' site but takes no part in the dossiers below. */
const OUTSIDER = user('martin', 'martin-chu');
/** A colleague of the requérant at CHIVA, member of the requérant's community. */
const COLLEAGUE = user('colleague', 'colleague-chiva');
const SENDER_TEAM = 'CareTeam/urgences-chiva';

const backends: { name: string; open: () => Promise<{ storage: Storage; close: () => Promise<void> }> }[] = [
  { name: 'memory', open: async () => { const storage = createMemoryStorage(registry); return { storage, close: () => storage.close() }; } },
  { name: 'pglite', open: async () => { const { storage } = await openPostgresStorage(registry, {}); return { storage, close: () => storage.close() }; } },
];

for (const backend of backends) {
  describe(`dossier visibility (${backend.name})`, function () {
    this.timeout(120_000);
    let p: Platform;
    let close: () => Promise<void>;
    before(async () => {
      const opened = await backend.open();
      close = opened.close;
      p = await createPlatform(opened.storage);
      await p.svc.update(SEED, { resourceType: 'Patient', id: 'p1', name: [{ family: 'MARTIN' }] });
      await p.svc.update(SEED, { resourceType: 'Practitioner', id: 'colleague' });
      await p.svc.update(SEED, { resourceType: 'PractitionerRole', id: 'colleague-chiva', active: true,
        practitioner: { reference: 'Practitioner/colleague' }, organization: { reference: 'Organization/chiva' } });
      await p.svc.update(SEED, { resourceType: 'CareTeam', id: 'urgences-chiva', managingOrganization: [{ reference: 'Organization/chiva' }],
        participant: [{ member: { reference: 'PractitionerRole/colleague-chiva' } }, { member: { reference: 'PractitionerRole/robert-chiva' } }] } as CareTeam);
    });
    after(async () => close());

    const ids = (b: { resources: Resource[] }) => b.resources.map((r) => r.id);
    const search = async (who: Principal, type: string, qs: string) => {
      const query: Record<string, string[]> = {};
      for (const [k, v] of new URLSearchParams(qs)) (query[k] ??= []).push(v);
      return p.svc.search(ctxOf(who), type, query);
    };

    /** A dossier with a document, an exam, a Communication and a Provenance. */
    async function fullDossier(options: { community?: boolean } = {}) {
      const doc = (await p.svc.create(SEED, { resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { contentType: 'text/plain', data: 'YQ==' } }] } as DocumentReference)).resource;
      const exam = (await p.svc.create(SEED, { resourceType: 'ImagingStudy', status: 'available', subject: { reference: 'Patient/p1' } } as ImagingStudy)).resource;
      const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'demandee');
      const updated = (await p.svc.update(SEED, {
        ...task,
        input: [
          { type: { coding: [{ system: DOSSIER_CONTENT_SYSTEM, code: 'document' }] }, valueReference: { reference: `DocumentReference/${doc.id}` } },
          { type: { coding: [{ system: DOSSIER_CONTENT_SYSTEM, code: 'exam' }] }, valueReference: { reference: `ImagingStudy/${exam.id}` } },
        ],
        extension: [...task.extension ?? [], ...(options.community ? [{ url: SENDER_COMMUNITY_URL, valueReference: { reference: SENDER_TEAM } }] : [])],
      })).resource as Task;
      const comm = (await p.svc.create(SEED, { resourceType: 'Communication', status: 'completed', partOf: [{ reference: `Task/${task.id}` }] } as Communication)).resource;
      const prov = (await p.svc.create(SEED, { resourceType: 'Provenance', recorded: new Date().toISOString(), target: [{ reference: `Task/${task.id}` }],
        agent: [{ who: { reference: 'Device/platform' } }] } as Provenance)).resource;
      return { task: updated, doc, exam, comm, prov };
    }

    it('shows a non-participant nothing: no read, no match, no count, no include', async () => {
      const d = await fullDossier();
      for (const [type, id] of [['Task', d.task.id], ['DocumentReference', d.doc.id], ['ImagingStudy', d.exam.id],
        ['Communication', d.comm.id], ['Provenance', d.prov.id], ['ServiceRequest', 'sr-done'], ['DiagnosticReport', 'cr-done']] as const) {
        expect((await rejection(p.svc.read(ctxOf(OUTSIDER), type, id as string))).status, `${type} read`).to.equal(404);
        const found = await search(OUTSIDER, type, `_id=${id}&_total=accurate`);
        expect(found.resources, `${type} search`).to.deep.equal([]);
        expect(found.total, `${type} total`).to.equal(0);
      }
      expect((await search(OUTSIDER, 'Task', '_summary=count')).total).to.equal(0);
      const viaPatient = await search(OUTSIDER, 'Patient', '_id=p1&_revinclude=Task:patient');
      expect(ids(viaPatient)).to.deep.equal(['p1']);
      expect(viaPatient.included).to.deep.equal([]);
      const history = await p.svc.history(ctxOf(OUTSIDER), 'Task', d.task.id, { count: 10 });
      expect(history.entries).to.deep.equal([]);
    });

    it('shows the dossier and everything it holds to its participants', async () => {
      const d = await fullDossier();
      const found = await search(PRINCIPALS.requerant, 'Task', `_id=${d.task.id}&_include=Task:focus&_include=Task:dossier-content&_revinclude=Provenance:target`);
      expect(ids(found)).to.deep.equal([d.task.id]);
      expect(found.included.map((r) => `${r.resourceType}/${r.id}`)).to.have.members([
        SR_DONE, `DocumentReference/${d.doc.id}`, `ImagingStudy/${d.exam.id}`, `Provenance/${d.prov.id}`,
      ]);
      for (const [type, id] of [['Communication', d.comm.id], ['DiagnosticReport', 'cr-done'], ['DocumentReference', d.doc.id]] as const) {
        expect((await p.svc.read(ctxOf(PRINCIPALS.requis), type, id as string)).id).to.equal(id);
      }
    });

    for (const role of DOSSIER_ROLES) {
      it(`lets the ${role} see the dossier, in agreement with rolesOf`, async () => {
        const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'demandee', { owner: ownerFor(role), tiers: role === 'tiers' });
        expect((await rolesOf(PRINCIPALS[role], task, serviceLookup(p.svc))).size).to.be.greaterThan(0);
        expect((await p.svc.read(ctxOf(PRINCIPALS[role]), 'Task', task.id as string)).id).to.equal(task.id);
        expect(ids(await search(PRINCIPALS[role], 'Task', `_id=${task.id}`))).to.deep.equal([task.id]);
      });
    }

    it('agrees with rolesOf for the outsider too (no role, nothing visible)', async () => {
      for (const owner of [EXPERT, COMMUNITY, 'Organization/chu']) {
        const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'demandee', { owner });
        expect((await rolesOf(OUTSIDER, task, serviceLookup(p.svc))).size).to.equal(0);
        expect(ids(await search(OUTSIDER, 'Task', `_id=${task.id}`))).to.deep.equal([]);
      }
    });

    it('shares a "Ma communauté" dossier with the sender community, and a "Moi-même" one with no one else', async () => {
      const shared = await fullDossier({ community: true });
      const private_ = await fullDossier();
      const found = await search(COLLEAGUE, 'Task', `_id=${shared.task.id},${private_.task.id}&_total=accurate`);
      expect(ids(found)).to.deep.equal([shared.task.id]);
      expect(found.total).to.equal(1);
      expect((await p.svc.read(ctxOf(COLLEAGUE), 'DocumentReference', shared.doc.id as string)).id).to.equal(shared.doc.id);
      expect((await rejection(p.svc.read(ctxOf(COLLEAGUE), 'DocumentReference', private_.doc.id as string))).status).to.equal(404);
    });

    it('shows a step (child Task) to the dossier participants and to the tiers who owns it', async () => {
      const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'demandee', { tiers: true });
      const children = await search(PRINCIPALS.requerant, 'Task', `part-of=Task/${task.id}`);
      expect(children.resources).to.have.length(1);
      expect(ids(await search(PRINCIPALS.tiers, 'Task', `part-of=Task/${task.id}`))).to.deep.equal(ids(children));
      expect(ids(await search(OUTSIDER, 'Task', `part-of=Task/${task.id}`))).to.deep.equal([]);
    });

    it('refuses to write into a dossier one does not take part in, and hides it on update', async () => {
      const d = await fullDossier();
      const note: Communication = { resourceType: 'Communication', status: 'completed', partOf: [{ reference: `Task/${d.task.id}` }] };
      const refused = await rejection(p.svc.create(ctxOf(OUTSIDER), { ...note }));
      expect(refused.status).to.equal(403);
      expect(refused.text).to.equal(`Task/${d.task.id} is not a télédossier you take part in`);
      expect((await p.svc.create(ctxOf(PRINCIPALS.requis), { ...note })).created).to.equal(true);
      expect((await rejection(p.svc.update(ctxOf(OUTSIDER), { ...d.doc, description: 'x' }))).status).to.equal(404);
      expect((await rejection(p.svc.delete(ctxOf(OUTSIDER), 'Communication', d.comm.id as string))).status).to.equal(404);
    });

    it('shows a Binary only to those who see its securityContext (the DocumentReference it is the content of)', async () => {
      const d = await fullDossier();
      const binary = (await p.svc.create(SEED, { resourceType: 'Binary', contentType: 'text/plain', data: 'YQ==',
        securityContext: { reference: `DocumentReference/${d.doc.id}` } } as Binary)).resource;
      expect((await p.svc.read(ctxOf(PRINCIPALS.requis), 'Binary', binary.id as string)).id).to.equal(binary.id);
      expect((await rejection(p.svc.read(ctxOf(OUTSIDER), 'Binary', binary.id as string))).status).to.equal(404);
    });

    it("shows a user only their own Subscriptions (criteria and channel headers are theirs)", async () => {
      const owner = (who: Principal) => ({ url: 'https://teleo.fr/fhir/StructureDefinition/subscription-owner', extension: [
        { url: 'sub', valueString: who.sub }, { url: 'iss', valueString: who.iss }] });
      const sub = (await p.svc.create(SEED, { resourceType: 'Subscription', status: 'off', reason: 'worklist', criteria: 'Task?status=requested',
        channel: { type: 'rest-hook', endpoint: 'https://dpi.example/hook', header: ['Authorization: Bearer secret'] },
        extension: [owner(PRINCIPALS.requis)] } as Subscription)).resource;
      expect((await p.svc.read(ctxOf(PRINCIPALS.requis), 'Subscription', sub.id as string)).id).to.equal(sub.id);
      expect((await rejection(p.svc.read(ctxOf(OUTSIDER), 'Subscription', sub.id as string))).status).to.equal(404);
      expect(ids(await search(OUTSIDER, 'Subscription', `_id=${sub.id}`))).to.deep.equal([]);
      const sameSubOtherIssuer = { ...PRINCIPALS.requis, iss: 'another-issuer' };
      expect(ids(await search(sameSubOtherIssuer, 'Subscription', `_id=${sub.id}`))).to.deep.equal([]);
    });

    it('does not filter platform and integration clients acting under system/ scopes', async () => {
      const d = await fullDossier();
      const integration: Principal = { sub: 'dpi', iss: 'test', scopes: ['system/*.rs'] };
      expect(ids(await search(integration, 'Task', `_id=${d.task.id}`))).to.deep.equal([d.task.id]);
      expect(ids(await search(SYSTEM_PRINCIPAL, 'DocumentReference', `_id=${d.doc.id}`))).to.deep.equal([d.doc.id]);
    });

    it('sees a new community membership at once (the directory write clears cached parties)', async () => {
      const d = await fullDossier({ community: true });
      const newcomer = user('newcomer', 'newcomer-chiva');
      expect(ids(await search(newcomer, 'Task', `_id=${d.task.id}`))).to.deep.equal([]);
      const team = await p.svc.read<CareTeam>(SEED, 'CareTeam', 'urgences-chiva');
      await p.svc.update(SEED, { ...team, participant: [...team.participant ?? [], { member: { reference: 'Practitioner/newcomer' } }] });
      expect(ids(await search(newcomer, 'Task', `_id=${d.task.id}`))).to.deep.equal([d.task.id]);
    });

    it('applies inside transactions (a Bundle-style write path)', async () => {
      const d = await fullDossier();
      const seen = await p.svc.transaction(async (t) => (await t.search(ctxOf(OUTSIDER), 'Task', { _id: [d.task.id as string] })).resources);
      expect(seen).to.deep.equal([] as Bundle[]);
    });
  });
}

describe('dossier visibility set-up', () => {
  it('refuses to start without the platform search parameters of profiles/', () => {
    const withoutProfiles = { ...registry, get: (type: string, code: string) => (code.includes('-') ? undefined : registry.get(type, code)) };
    expect(() => createDossierVisibility(withoutProfiles))
      .to.throw(/Dossier visibility needs the search parameters .*Task\.dossier-author/);
  });
});
