// Where an establishment is: INSEE regions from address.state, postal code or FINESS number.
import { expect } from 'chai';
import type { Organization } from '@medplum/fhirtypes';
import {
  ALL_REGIONS, departementOfFiness, departementOfPostalCode, FINESS_SYSTEM, regionNamed, regionOfDepartement, regionOfOrganization,
} from './french-regions.js';

const org = (o: Omit<Organization, 'resourceType'>): Organization => ({ resourceType: 'Organization', ...o });

describe('French regions of establishments', () => {
  it('holds the 18 regions and the 101 départements, each in one region', () => {
    expect(ALL_REGIONS).to.have.length(18);
    const deps = [...Array.from({ length: 95 }, (_, i) => String(i + 1).padStart(2, '0')).filter((d) => d !== '20'), '2A', '2B', '971', '972', '973', '974', '976'];
    expect(deps).to.have.length(101);
    for (const d of deps) expect(regionOfDepartement(d), d).to.not.equal(undefined);
    expect(regionOfDepartement('20')).to.equal(undefined);
  });

  it('names a region by its INSEE code or by its name, accents and case ignored', () => {
    expect(regionNamed('76')?.name).to.equal('Occitanie');
    expect(regionNamed('ile-de-france')?.code).to.equal('11');
    expect(regionNamed('PROVENCE ALPES COTE D AZUR')?.code).to.equal('93');
    expect(regionNamed('Midi-Pyrénées')).to.equal(undefined);
  });

  it('reads the département of a postal code, Corsica and overseas included', () => {
    expect(departementOfPostalCode('31059')).to.equal('31');
    expect(departementOfPostalCode('20000')).to.equal('2A');
    expect(departementOfPostalCode('20200')).to.equal('2B');
    expect(departementOfPostalCode('97400')).to.equal('974');
    expect(departementOfPostalCode('3105')).to.equal(undefined);
  });

  it('reads the département of a FINESS number (2A/2B, 9A–9F overseas)', () => {
    expect(departementOfFiness('310781406')).to.equal('31');
    expect(departementOfFiness('2A0000012')).to.equal('2A');
    expect(departementOfFiness('9D0000012')).to.equal('974');
    expect(departementOfFiness('31078140')).to.equal(undefined);
  });

  it('prefers address.state, then the postal code, then the FINESS number', () => {
    const finessBdx = [{ system: FINESS_SYSTEM, value: '330781196' }];
    expect(regionOfOrganization(org({ identifier: finessBdx, address: [{ state: 'Occitanie', postalCode: '75004' }] }))?.code).to.equal('76');
    expect(regionOfOrganization(org({ identifier: finessBdx, address: [{ postalCode: '75004' }] }))?.code).to.equal('11');
    expect(regionOfOrganization(org({ identifier: finessBdx, address: [{ state: 'Gascogne' }] }))?.code).to.equal('75');
    expect(regionOfOrganization(org({ identifier: [{ system: 'urn:other', value: '330781196' }] }))).to.equal(undefined);
  });
});
