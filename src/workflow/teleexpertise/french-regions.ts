// French regions (INSEE Code officiel géographique, 2016 regions) and the départements in each, as data;
// where an establishment (FHIR R4 Organization, FINESS) is: address.state, else its postal code, else its FINESS number.
import type { Organization } from '@medplum/fhirtypes';

/** FINESS identifier system (ANS, FR Core). */
export const FINESS_SYSTEM = 'urn:oid:1.2.250.1.71.4.2.2';
/** Coding system of the region codes below (INSEE region codes). */
export const INSEE_REGION_SYSTEM = 'https://www.insee.fr/fr/metadonnees/cog/region';

export interface Region { readonly code: string; readonly name: string }

/** INSEE region code → name and the départements it holds (COG: 13 metropolitan regions, 5 overseas). */
const REGIONS: readonly (Region & { readonly departements: readonly string[] })[] = [
  { code: '84', name: 'Auvergne-Rhône-Alpes', departements: ['01', '03', '07', '15', '26', '38', '42', '43', '63', '69', '73', '74'] },
  { code: '27', name: 'Bourgogne-Franche-Comté', departements: ['21', '25', '39', '58', '70', '71', '89', '90'] },
  { code: '53', name: 'Bretagne', departements: ['22', '29', '35', '56'] },
  { code: '24', name: 'Centre-Val de Loire', departements: ['18', '28', '36', '37', '41', '45'] },
  { code: '94', name: 'Corse', departements: ['2A', '2B'] },
  { code: '44', name: 'Grand Est', departements: ['08', '10', '51', '52', '54', '55', '57', '67', '68', '88'] },
  { code: '32', name: 'Hauts-de-France', departements: ['02', '59', '60', '62', '80'] },
  { code: '11', name: 'Île-de-France', departements: ['75', '77', '78', '91', '92', '93', '94', '95'] },
  { code: '28', name: 'Normandie', departements: ['14', '27', '50', '61', '76'] },
  { code: '75', name: 'Nouvelle-Aquitaine', departements: ['16', '17', '19', '23', '24', '33', '40', '47', '64', '79', '86', '87'] },
  { code: '76', name: 'Occitanie', departements: ['09', '11', '12', '30', '31', '32', '34', '46', '48', '65', '66', '81', '82'] },
  { code: '52', name: 'Pays de la Loire', departements: ['44', '49', '53', '72', '85'] },
  { code: '93', name: 'Provence-Alpes-Côte d\'Azur', departements: ['04', '05', '06', '13', '83', '84'] },
  { code: '01', name: 'Guadeloupe', departements: ['971'] },
  { code: '02', name: 'Martinique', departements: ['972'] },
  { code: '03', name: 'Guyane', departements: ['973'] },
  { code: '04', name: 'La Réunion', departements: ['974'] },
  { code: '06', name: 'Mayotte', departements: ['976'] },
];

/** FINESS numbers of the overseas départements start with 9A…9F instead of the INSEE code. */
const FINESS_OVERSEAS: Readonly<Record<string, string>> = { '9A': '971', '9B': '972', '9C': '973', '9D': '974', '9F': '976' };

const fold = (s: string) => s.normalize('NFD').replace(/\p{Diacritic}/gu, '').toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();

const BY_DEPARTEMENT = new Map<string, Region>(REGIONS.flatMap((r) => r.departements.map((d) => [d, { code: r.code, name: r.name }] as const)));
const BY_CODE = new Map<string, Region>(REGIONS.map((r) => [r.code, { code: r.code, name: r.name }]));
const BY_NAME = new Map<string, Region>(REGIONS.map((r) => [fold(r.name), { code: r.code, name: r.name }]));

export const ALL_REGIONS: readonly Region[] = REGIONS.map((r) => ({ code: r.code, name: r.name }));

/** The region of a département code ('31', '2A', '974'), or undefined. */
export function regionOfDepartement(departement: string): Region | undefined {
  return BY_DEPARTEMENT.get(departement.toUpperCase());
}

/** A region named by its INSEE code ('76') or its name, accents and case ignored ('occitanie'). */
export function regionNamed(state: string): Region | undefined {
  const s = state.trim();
  return BY_CODE.get(s) ?? BY_NAME.get(fold(s));
}

/**
 * The département of a French postal code: the first two digits, three overseas (97x), and Corsica's 20xxx
 * split at 20200 (Corse-du-Sud below, Haute-Corse from). A few communes carry a neighbouring département's
 * postal code: good enough for counting flows between regions.
 */
export function departementOfPostalCode(postalCode: string): string | undefined {
  const pc = postalCode.replace(/\s+/g, '');
  if (!/^\d{5}$/.test(pc)) return undefined;
  if (pc.startsWith('97')) return pc.slice(0, 3);
  if (pc.startsWith('20')) return Number(pc) < 20200 ? '2A' : '2B';
  return pc.slice(0, 2);
}

/** The département of a FINESS number (9 characters: département code first, 2A/2B for Corsica, 9A–9F overseas). */
export function departementOfFiness(finess: string): string | undefined {
  const f = finess.trim().toUpperCase();
  if (!/^[0-9][0-9AB][0-9]{7}$/.test(f) && !/^9[A-F][0-9]{7}$/.test(f)) return undefined;
  const head = f.slice(0, 2);
  return FINESS_OVERSEAS[head] ?? head;
}

/** Where an establishment is: address.state (region code or name), else the postal code's, else the FINESS number's region. */
export function regionOfOrganization(org: Organization): Region | undefined {
  for (const a of org.address ?? []) {
    const r = a.state ? regionNamed(a.state) : undefined;
    if (r) return r;
  }
  for (const a of org.address ?? []) {
    const d = a.postalCode ? departementOfPostalCode(a.postalCode) : undefined;
    const r = d ? regionOfDepartement(d) : undefined;
    if (r) return r;
  }
  for (const id of org.identifier ?? []) {
    if (id.system !== FINESS_SYSTEM || !id.value) continue;
    const d = departementOfFiness(id.value);
    const r = d ? regionOfDepartement(d) : undefined;
    if (r) return r;
  }
  return undefined;
}
