// Dossier roles computed from FHIR R4 Task requester/owner, PractitionerRole and CareTeam (dossier-roles.ts).
import { expect } from 'chai';
import type { Resource } from '@medplum/fhirtypes';
import type { Principal } from '../../kernel/principal.js';
import { rolesOf, serviceLookup, type DirectoryLookup } from './dossier-roles.js';
import { DOSSIER_ROLES } from './workflow-definition.js';
import { AVIS_PROGRAMME } from './workflows/avis-programme.js';
import { createPlatform, dossier, ownerFor, PRINCIPALS, seedDossier, SEED, type Platform } from './test-directory.js';

describe('rolesOf', () => {
  let p: Platform;
  let lookup: DirectoryLookup;
  beforeEach(async () => {
    p = await createPlatform();
    lookup = serviceLookup(p.svc);
  });

  for (const role of DOSSIER_ROLES) {
    it(`gives the ${role} principal exactly the role ${role}`, async () => {
      const task = await seedDossier(p.svc, AVIS_PROGRAMME, 'demandee', { owner: ownerFor(role), tiers: role === 'tiers' });
      expect([...await rolesOf(PRINCIPALS[role], task, lookup)]).to.deep.equal([role]);
    });
  }

  it('recognises the requérant by Practitioner alone when Task.requester is their PractitionerRole', async () => {
    const principal: Principal = { ...PRINCIPALS.requerant, role: undefined };
    expect([...await rolesOf(principal, dossier(AVIS_PROGRAMME, 'demandee'), lookup)]).to.deep.equal(['requerant']);
  });

  it('makes the owner organization an Organization owner for its secretariat', async () => {
    const task = dossier(AVIS_PROGRAMME, 'demandee', { owner: 'Organization/chu' });
    expect([...await rolesOf(PRINCIPALS['secretariat-requis'], task, lookup)]).to.deep.equal(['secretariat-requis']);
  });

  it('gives no administrative role to a secretariat of another organization than the owner’s', async () => {
    const task = dossier(AVIS_PROGRAMME, 'demandee', { owner: 'PractitionerRole/bernard-ext' });
    for (const r of ['secretariat-requis', 'bureau-entrees', 'facturation'] as const) {
      expect(await rolesOf(PRINCIPALS[r], task, lookup)).to.have.property('size', 0);
    }
  });

  it('ignores an inactive PractitionerRole for administrative roles', async () => {
    const sec = await p.svc.read(SEED, 'PractitionerRole', 'sec-chu');
    await p.svc.update(SEED, { ...sec, active: false });
    expect((await rolesOf(PRINCIPALS['secretariat-requis'], dossier(AVIS_PROGRAMME, 'demandee'), lookup)).size).to.equal(0);
  });

  it('counts a CareTeam member referenced by Practitioner, and works over any lookup', async () => {
    const team: Resource = { resourceType: 'CareTeam', id: 't', managingOrganization: [{ reference: 'Organization/chu' }],
      participant: [{ member: { reference: 'Practitioner/durand' } }] };
    const map: DirectoryLookup = { read: async (type, id) => (type === 'CareTeam' && id === 't' ? team : undefined), search: async () => [] };
    const task = dossier(AVIS_PROGRAMME, 'demandee', { owner: 'CareTeam/t' });
    expect([...await rolesOf(PRINCIPALS.requis, task, map)]).to.deep.equal(['membre-communaute']);
  });

  it('gives nothing to a principal without fhirUser or role', async () => {
    const anonymous: Principal = { sub: 'x', iss: 'test', scopes: ['user/*.cruds'] };
    expect((await rolesOf(anonymous, dossier(AVIS_PROGRAMME, 'demandee'), lookup)).size).to.equal(0);
  });
});
