// The correspondent picker of the ORTIF kit ("Définir les correspondants": établissement → communauté → correspondant)
// as plain FHIR R4 searches (search.html, §3.1.1.5.4 _include) over a realistic directory (FINESS, RPPS), as a user.
import { expect } from 'chai';
import type { Bundle, CareTeam, Organization, Practitioner, PractitionerRole, Resource, Task } from '@medplum/fhirtypes';
import { httpBackends, startTestServer, type TestServer } from './test-server.js';
import { FINESS_SYSTEM, IDNPS_SYSTEM, loadRegionalDirectory, SITES, type RegionalDirectory } from './test-regional-directory.js';
import { dossierClient, included, matches, type DossierClient } from './test-dossier-client.js';

const refOf = (r: Resource) => `${r.resourceType}/${r.id}`;
const refs = (rs: Resource[]) => rs.map(refOf).sort();

for (const backend of httpBackends()) {
  describe(`directory picker: establishment → community → person over FHIR search (${backend})`, () => {
    let server: TestServer;
    let dir: RegionalDirectory;
    let api: DossierClient;
    /** The picker runs for the user who is writing the request. */
    const pick = (query: string) => api.search(dir.actors.dupont, query);

    before(async () => {
      server = await startTestServer(backend);
      dir = await loadRegionalDirectory(server);
      api = dossierClient(server);
    });
    after(() => server?.close());

    describe('1. establishment (Organization)', () => {
      it('finds establishments by the start of their name or a part of it (:contains), case- and accent-insensitively', async () => {
        expect(refs(matches(await pick('Organization?name=chu')))).to.deep.equal([dir.org('chuToulouse')]);
        expect(refs(matches(await pick('Organization?name:contains=hopital')))).to.deep.equal([dir.org('chuToulouse')]);
        expect(refs(matches(await pick('Organization?name:contains=vallees')))).to.deep.equal([dir.org('chiva')]);
      });

      it('finds one establishment by its FINESS number', async () => {
        const found = matches(await pick(`Organization?identifier=${encodeURIComponent(`${FINESS_SYSTEM}|${SITES.montauban.finess}`)}`)) as Organization[];
        expect(found.map((o) => o.name)).to.deep.equal([SITES.montauban.name]);
        expect(matches(await pick(`Organization?identifier=${encodeURIComponent(`${FINESS_SYSTEM}|000000000`)}`))).to.deep.equal([]);
      });

      it('finds establishments by city or postal code, sorted by name', async () => {
        const toulouse = matches(await pick('Organization?address-city=Toulouse&_sort=name')) as Organization[];
        expect(toulouse.map((o) => o.name)).to.deep.equal([SITES.chuToulouse.name, SITES.pasteur.name]);
        expect(refs(matches(await pick('Organization?address-postalcode=31')))).to.deep.equal([dir.org('chuToulouse'), dir.org('pasteur')].sort());
        expect(refs(matches(await pick('Organization?address=Montauban')))).to.deep.equal([dir.org('montauban')]);
      });
    });

    describe('2. community (CareTeam) of the chosen establishment', () => {
      it('lists the active communities the establishment manages', async () => {
        const teams = matches(await pick(`CareTeam?managing-organization=${dir.org('chuToulouse')}&status=active`)) as CareTeam[];
        expect(teams.map((t) => t.name)).to.deep.equal(['Unité neurovasculaire (UNV) - astreinte']);
        expect(matches(await pick(`CareTeam?managing-organization=${dir.org('pasteur')}`))).to.deep.equal([]);
      });

      it('lists the members of a community with their names in one call (_include, then _include:iterate)', async () => {
        const bundle = await pick(`CareTeam?_id=${dir.community('unv').split('/')[1]}&_include=CareTeam:participant`
          + '&_include:iterate=PractitionerRole:practitioner');
        expect(refs(matches(bundle))).to.deep.equal([dir.community('unv')]);
        const extra = included(bundle);
        expect(refs(extra.filter((r) => r.resourceType === 'PractitionerRole'))).to.deep.equal([dir.actors.durand.role, dir.actors.lambert.role].sort());
        const names = (extra.filter((r) => r.resourceType === 'Practitioner') as Practitioner[]).map((p) => p.name?.[0]?.family).sort();
        expect(names).to.deep.equal(['DURAND', 'LAMBERT']);
      });

      it('lists the sender\'s own communities for "Ma communauté"', async () => {
        expect(refs(matches(await pick(`CareTeam?participant=${dir.actors.dupont.role}`)))).to.deep.equal([dir.community('urgencesChiva')]);
      });
    });

    describe('3. person (PractitionerRole) of the chosen establishment', () => {
      it('lists the roles of the establishment with their practitioners (_include=PractitionerRole:practitioner)', async () => {
        const bundle = await pick(`PractitionerRole?organization=${dir.org('chuToulouse')}&active=true&_include=PractitionerRole:practitioner&_count=50`);
        const roles = matches(bundle) as PractitionerRole[];
        expect(refs(roles)).to.deep.equal(['durand', 'lambert', 'lefebvre', 'garnier', 'roux', 'blanc'].map((k) => dir.actors[k as 'durand'].role).sort());
        const practitioners = included(bundle) as Practitioner[];
        expect(refs(practitioners)).to.deep.equal(roles.map((r) => r.practitioner?.reference).sort());
      });

      it('narrows to a specialty, and finds a physician by RPPS (IDNPS) directly or through the role', async () => {
        const neuro = matches(await pick(`PractitionerRole?organization=${dir.org('chuToulouse')}&specialty:text=neuro`));
        expect(refs(neuro)).to.deep.equal([dir.actors.durand.role, dir.actors.lambert.role].sort());
        const rpps = encodeURIComponent(`${IDNPS_SYSTEM}|810000000543`);
        expect(refs(matches(await pick(`Practitioner?identifier=${rpps}`)))).to.deep.equal([dir.actors.durand.practitioner]);
        expect(refs(matches(await pick(`PractitionerRole?practitioner.identifier=${rpps}`)))).to.deep.equal([dir.actors.durand.role]);
      });
    });

    it('the picked correspondent becomes the owner of the new dossier, which lands in their worklist', async () => {
      const [role] = matches(await pick(`PractitionerRole?organization=${dir.org('chuToulouse')}&specialty:text=cardio`)) as PractitionerRole[];
      const task: Task = await api.createTeledossier(dir.actors.dupont, [
        { name: 'patient', part: [{ name: 'ins', valueString: '279021234567891' }, { name: 'family', valueString: 'SIMON' }] },
        { name: 'workflow', valueCode: 'avis-programme' }, { name: 'requester', valueReference: { reference: dir.actors.dupont.role } },
        { name: 'owner', valueReference: { reference: refOf(role) } },
      ]);
      expect(task.owner?.reference).to.equal(dir.actors.lefebvre.role);
      expect(await api.worklist(dir.actors.lefebvre, 'view=requis')).to.deep.equal([task.id]);
      const bundle: Bundle = await api.search(dir.actors.lefebvre, `Task?_id=${task.id}&_include=Task:owner&_include=Task:requester`);
      expect(refs(included(bundle))).to.deep.equal([dir.actors.dupont.role, dir.actors.lefebvre.role].sort());
    });
  });
}
