// Task/$worklist over HTTP: the requis', the secretariat's and the requérant's lists, with filters and paging.
import { expect } from 'chai';
import type { Bundle, Task } from '@medplum/fhirtypes';
import { httpBackends, startTestServer, type TestServer } from './test-server.js';
import { DOSSIER_STATUS_SYSTEM, WORKFLOW_SYSTEM } from '../workflow/teleexpertise/workflow-definition.js';
import { TELEO_ROLE_SYSTEM } from '../workflow/teleexpertise/dossier-roles.js';

for (const backend of httpBackends()) {
  describe(`Task/$worklist over HTTP (${backend})`, () => {
    let server: TestServer;
    const tokens: Record<string, string> = {};
    const refs: Record<string, string> = {};
    const dossiers: Record<string, Task> = {};

    before(async () => {
      server = await startTestServer(backend);
      const post = async (body: object) => (await (await server.fhir('/' + (body as { resourceType: string }).resourceType, { method: 'POST', body: JSON.stringify(body) })).json()) as { id: string };
      const chu = `Organization/${(await post({ resourceType: 'Organization', name: 'CHU' })).id}`;
      const chiva = `Organization/${(await post({ resourceType: 'Organization', name: 'CHIVA' })).id}`;
      const person = async (name: string, org: string, code?: string) => {
        const pr = await post({ resourceType: 'Practitioner', name: [{ family: name }] });
        const role = await post({ resourceType: 'PractitionerRole', active: true, practitioner: { reference: `Practitioner/${pr.id}` }, organization: { reference: org },
          ...(code ? { code: [{ coding: [{ system: TELEO_ROLE_SYSTEM, code }] }] } : {}) });
        refs[name] = `PractitionerRole/${role.id}`;
        tokens[name] = await server.token({ fhirUser: `Practitioner/${pr.id}`, role: refs[name], scope: 'user/*.cruds' });
      };
      await person('durand', chu);
      await person('martin', chu);
      await person('sec', chu, 'secretariat');
      await person('robert', chiva);
      await person('outsider', chiva);
      refs.team = `CareTeam/${(await post({ resourceType: 'CareTeam', managingOrganization: [{ reference: chu }], participant: [{ member: { reference: refs.durand } }] })).id}`;
      const patient = await post({ resourceType: 'Patient', name: [{ family: 'MARTIN' }] });
      refs.patient = `Patient/${patient.id}`;
      const dossier = async (key: string, workflow: string, owner: string, forPatient?: string) => {
        const res = await server.fhir('/Task', { method: 'POST', token: tokens.robert, body: JSON.stringify({
          resourceType: 'Task', status: 'requested', intent: 'order',
          code: { coding: [{ system: WORKFLOW_SYSTEM, code: workflow }] },
          businessStatus: { coding: [{ system: DOSSIER_STATUS_SYSTEM, code: 'demandee' }] },
          requester: { reference: refs.robert }, owner: { reference: owner }, ...(forPatient ? { for: { reference: forPatient } } : {}),
        } satisfies Task) });
        expect(res.status, key).to.equal(201);
        dossiers[key] = (await res.json()) as Task;
      };
      await dossier('mine', 'avis-avc', refs.durand, refs.patient);
      await dossier('community', 'avis-programme', refs.team);
      await dossier('colleague', 'avis-programme', refs.martin);
    });
    after(() => server.close());

    const worklist = async (who: string, qs: string) => {
      const res = await server.fhir(`/Task/$worklist?${qs}`, { token: tokens[who] });
      expect(res.status, await res.clone().text()).to.equal(200);
      return (await res.json()) as Bundle<Task>;
    };
    const ids = (b: Bundle<Task>) => (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource?.id);

    it("lists the requis' own and community dossiers, newest first, and not a colleague's", async () => {
      expect(ids(await worklist('durand', ''))).to.deep.equal([dossiers.community.id, dossiers.mine.id]);
      expect(ids(await worklist('martin', 'view=requis'))).to.deep.equal([dossiers.colleague.id]);
    });

    it('filters by workflow, status and patient', async () => {
      expect(ids(await worklist('durand', 'workflow=avis-avc'))).to.deep.equal([dossiers.mine.id]);
      expect(ids(await worklist('durand', 'status=in-progress'))).to.deep.equal([]);
      expect(ids(await worklist('durand', `patient=${refs.patient}`))).to.deep.equal([dossiers.mine.id]);
    });

    it('lists the secretariat every dossier addressed to its organization', async () => {
      expect(ids(await worklist('sec', 'view=secretariat'))).to.have.members([dossiers.mine.id, dossiers.community.id, dossiers.colleague.id]);
      const refused = await server.fhir('/Task/$worklist?view=secretariat', { token: tokens.durand });
      expect(refused.status).to.equal(403);
    });

    it("lists the requérant's sent dossiers, and which nobody has opened yet", async () => {
      const before = await worklist('robert', 'view=sent&unread=true&_total=accurate');
      expect(ids(before)).to.have.members([dossiers.mine.id, dossiers.community.id, dossiers.colleague.id]);
      expect((await server.fhir(`/Task/${dossiers.colleague.id}`, { token: tokens.martin })).status).to.equal(200);
      const after = await worklist('robert', 'view=sent&unread=true');
      expect(ids(after)).to.have.members([dossiers.mine.id, dossiers.community.id]);
      expect(ids(await worklist('robert', 'view=sent&unread=false'))).to.deep.equal([dossiers.colleague.id]);
    });

    it("keeps a requis' unread dossiers until they open them", async () => {
      const before = ids(await worklist('durand', 'unread=true'));
      expect(before).to.include(dossiers.mine.id);
      expect((await server.fhir(`/Task/${dossiers.mine.id}`, { token: tokens.durand })).status).to.equal(200);
      expect(ids(await worklist('durand', 'unread=true'))).to.not.include(dossiers.mine.id);
      expect(ids(await worklist('durand', 'unread=false'))).to.include(dossiers.mine.id);
    });

    it('pages with links back to the operation', async () => {
      const page = await worklist('durand', '_count=1&_total=accurate');
      expect(page.total).to.equal(2);
      const next = page.link?.find((l) => l.relation === 'next')?.url ?? '';
      expect(next).to.match(/\/Task\/\$worklist\?.*_offset=1/);
      const second = await (await server.fhir(next.slice(next.indexOf('/Task')), { token: tokens.durand })).json() as Bundle<Task>;
      expect([...ids(page), ...ids(second)]).to.have.members([dossiers.mine.id, dossiers.community.id]);
    });

    it('shows a professional who takes part in nothing an empty list and a zero count', async () => {
      const list = await worklist('outsider', 'view=all&_total=accurate');
      expect(list.total).to.equal(0);
      expect(ids(list)).to.deep.equal([]);
    });

    it('answers 400 for a bad view, and for a personal view without a professional user', async () => {
      expect((await server.fhir('/Task/$worklist?view=mine', { token: tokens.durand })).status).to.equal(400);
      const system = await server.token({ fhirUser: 'Device/dpi', scope: 'system/*.rs' });
      expect((await server.fhir('/Task/$worklist?view=requis', { token: system })).status).to.equal(400);
      expect((await server.fhir('/Task/$worklist?view=all', { token: system })).status).to.equal(200);
    });
  });
}
