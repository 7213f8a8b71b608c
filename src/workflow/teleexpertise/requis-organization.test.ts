// The establishment a télédossier is addressed to, recorded by the server on every write (requis-organization.ts).
import { expect } from 'chai';
import type { Task } from '@medplum/fhirtypes';
import { REQUIS_ORGANIZATION_URL } from './dossier-model.js';
import { AVIS_PROGRAMME } from './workflows/avis-programme.js';
import { COMMUNITY, createPlatform, dossier, SEED, type Platform } from './test-directory.js';

const requisOrg = (t: Task) => t.extension?.filter((e) => e.url === REQUIS_ORGANIZATION_URL).map((e) => e.valueReference?.reference);

describe('requis organization of a télédossier', () => {
  let p: Platform;
  before(async () => { p = await createPlatform(); });

  it("records the owner's organization, for a PractitionerRole, a CareTeam or an Organization owner", async () => {
    for (const owner of ['PractitionerRole/durand-chu', COMMUNITY, 'Organization/chu']) {
      const { resource } = await p.svc.create(SEED, dossier(AVIS_PROGRAMME, 'demandee', { owner }));
      expect(requisOrg(resource as Task), owner).to.deep.equal(['Organization/chu']);
    }
  });

  it('replaces whatever a client sends, and follows the owner when the dossier is routed', async () => {
    const forged = dossier(AVIS_PROGRAMME, 'demandee');
    forged.extension = [...forged.extension ?? [], { url: REQUIS_ORGANIZATION_URL, valueReference: { reference: 'Organization/ext' } }];
    const created = (await p.svc.create(SEED, forged)).resource as Task;
    expect(requisOrg(created)).to.deep.equal(['Organization/chu']);
    const routed = (await p.svc.update(SEED, { ...created, owner: { reference: 'PractitionerRole/bernard-ext' } })).resource as Task;
    expect(requisOrg(routed)).to.deep.equal(['Organization/ext']);
  });

  it('leaves Tasks outside the workflows alone', async () => {
    const { resource } = await p.svc.create(SEED, { resourceType: 'Task', status: 'requested', intent: 'order', owner: { reference: 'PractitionerRole/durand-chu' } } as Task);
    expect(requisOrg(resource as Task)).to.equal(undefined);
  });
});
