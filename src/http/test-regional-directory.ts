// Test fixture (not shipped): a realistic Occitanie directory for the HTTP scenarios — FR Core identifiers (FINESS
// establishments, RPPS/IDNPS professionals), PractitionerRoles with the teleo-role administrative functions, CareTeam
// communities — loaded over FHIR REST, and one `user/*.cruds` token per actor (fhirUser Practitioner + role).
import { expect } from 'chai';
import type { CareTeam, Organization, Practitioner, PractitionerRole, Resource } from '@medplum/fhirtypes';
import { TELEO_ROLE_SYSTEM } from '../workflow/teleexpertise/dossier-roles.js';
import type { TestServer } from './test-server.js';

export const FINESS_SYSTEM = 'https://finess.esante.gouv.fr';
export const IDNPS_SYSTEM = 'urn:oid:1.2.250.1.71.4.2.1';
const PROFILE = 'https://teleo.fr/fhir/StructureDefinition';

interface Site { id: string; name: string; finess: string; city: string; postalCode: string }
/** Establishments (FINESS géographique), by key. */
export const SITES = {
  chiva: { id: 'chiva', name: 'Centre Hospitalier Intercommunal des Vallées de l\'Ariège', finess: '090781774', city: 'Saint-Jean-de-Verges', postalCode: '09000' },
  chuToulouse: { id: 'chu-toulouse', name: 'CHU de Toulouse - Hôpital Pierre-Paul Riquet', finess: '310783048', city: 'Toulouse', postalCode: '31059' },
  pasteur: { id: 'clinique-pasteur', name: 'Clinique Pasteur', finess: '310780259', city: 'Toulouse', postalCode: '31076' },
  montauban: { id: 'ch-montauban', name: 'Centre Hospitalier de Montauban', finess: '820000016', city: 'Montauban', postalCode: '82000' },
} as const satisfies Record<string, Site>;

interface Person {
  family: string; given: string; prefix?: string; rpps?: string; site: keyof typeof SITES; specialty?: string;
  /** Administrative function (teleo-role): secretariat, bureau-entrees, facturation. */
  function?: 'secretariat' | 'bureau-entrees' | 'facturation';
}
/** One PractitionerRole per actor; physicians carry an RPPS (IDNPS = '8' + RPPS). */
export const PEOPLE = {
  dupont: { family: 'DUPONT', given: 'Paul', prefix: 'Dr', rpps: '10000000789', site: 'chiva', specialty: 'Médecine d\'urgence' },
  fontaine: { family: 'FONTAINE', given: 'Claire', prefix: 'Dr', rpps: '10000000790', site: 'chiva', specialty: 'Médecine d\'urgence' },
  robert: { family: 'ROBERT', given: 'Gilles', prefix: 'Dr', rpps: '10000000235', site: 'chiva', specialty: 'Médecine interne' },
  vincent: { family: 'VINCENT', given: 'Hugo', prefix: 'Dr', rpps: '10000000236', site: 'chiva', specialty: 'Médecine interne' },
  petit: { family: 'PETIT', given: 'Isabelle', site: 'chiva', function: 'secretariat' },
  durand: { family: 'DURAND', given: 'Marie', prefix: 'Dr', rpps: '10000000543', site: 'chuToulouse', specialty: 'Neurologie' },
  lambert: { family: 'LAMBERT', given: 'Julien', prefix: 'Dr', rpps: '10000000544', site: 'chuToulouse', specialty: 'Neurologie' },
  lefebvre: { family: 'LEFEBVRE', given: 'Antoine', prefix: 'Dr', rpps: '10000000545', site: 'chuToulouse', specialty: 'Cardiologie' },
  garnier: { family: 'GARNIER', given: 'Sophie', site: 'chuToulouse', function: 'secretariat' },
  roux: { family: 'ROUX', given: 'Karim', site: 'chuToulouse', function: 'bureau-entrees' },
  blanc: { family: 'BLANC', given: 'Nadia', site: 'chuToulouse', function: 'facturation' },
  mercier: { family: 'MERCIER', given: 'Hélène', prefix: 'Dr', rpps: '10000000611', site: 'pasteur', specialty: 'Neuroradiologie' },
  simon: { family: 'SIMON', given: 'Nicolas', prefix: 'Dr', rpps: '10000000712', site: 'montauban', specialty: 'Oncologie' },
  faure: { family: 'FAURE', given: 'Léa', site: 'montauban', function: 'secretariat' },
  girard: { family: 'GIRARD', given: 'Luc', prefix: 'Dr', rpps: '10000000713', site: 'montauban', specialty: 'Médecine interne' },
} as const satisfies Record<string, Person>;
export type ActorKey = keyof typeof PEOPLE;

/** Communities (CareTeam): who belongs, which site manages them. */
export const COMMUNITIES = {
  unv: { id: 'unv-chu-toulouse', name: 'Unité neurovasculaire (UNV) - astreinte', site: 'chuToulouse', members: ['durand', 'lambert'] },
  urgencesChiva: { id: 'urgences-chiva', name: 'Urgences CHIVA', site: 'chiva', members: ['dupont', 'fontaine'] },
  medecineChiva: { id: 'medecine-chiva', name: 'Médecine CHIVA', site: 'chiva', members: ['robert', 'vincent'] },
  rcpOnco: { id: 'rcp-onco-montauban', name: 'RCP oncologie CH Montauban', site: 'montauban', members: ['simon'] },
} as const satisfies Record<string, { id: string; name: string; site: keyof typeof SITES; members: readonly ActorKey[] }>;

export interface Actor {
  /** Practitioner/<id> */
  practitioner: string;
  /** PractitionerRole/<id> */
  role: string;
  /** A user/*.cruds bearer token: fhirUser = practitioner, role = role. */
  token: string;
}

export interface RegionalDirectory {
  actors: Record<ActorKey, Actor>;
  org(site: keyof typeof SITES): string;
  community(key: keyof typeof COMMUNITIES): string;
}

const practitionerId = (key: string) => `pr-${key}`;
const roleId = (key: string) => `role-${key}`;

/** The directory as FHIR resources (ids fixed, so the scenarios can name them). */
export function directoryResources(): Resource[] {
  const orgs = Object.values(SITES).map((s): Organization => ({
    resourceType: 'Organization', id: s.id, meta: { profile: [`${PROFILE}/teleo-organization`] }, active: true, name: s.name,
    identifier: [{ system: FINESS_SYSTEM, value: s.finess }],
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'prov' }] }],
    address: [{ city: s.city, postalCode: s.postalCode, country: 'FR' }],
  }));
  const people = Object.entries(PEOPLE).flatMap(([key, p]: [string, Person]): Resource[] => [
    {
      resourceType: 'Practitioner', id: practitionerId(key), active: true,
      ...(p.rpps ? { meta: { profile: [`${PROFILE}/teleo-practitioner`] }, identifier: [{ system: IDNPS_SYSTEM, value: `8${p.rpps}` }] } : {}),
      name: [{ family: p.family, given: [p.given], ...(p.prefix ? { prefix: [p.prefix] } : {}) }],
      telecom: [{ system: 'email', value: `${p.given}.${p.family}@${SITES[p.site].id}.example`.toLowerCase() }],
    } satisfies Practitioner,
    {
      resourceType: 'PractitionerRole', id: roleId(key), active: true,
      practitioner: { reference: `Practitioner/${practitionerId(key)}`, display: `${p.prefix ?? ''} ${p.given} ${p.family}`.trim() },
      organization: { reference: `Organization/${SITES[p.site].id}` },
      ...(p.specialty ? { specialty: [{ text: p.specialty }] } : {}),
      ...(p.function ? { code: [{ coding: [{ system: TELEO_ROLE_SYSTEM, code: p.function }] }] } : {}),
    } satisfies PractitionerRole,
  ]);
  const teams = Object.values(COMMUNITIES).map((c): CareTeam => ({
    resourceType: 'CareTeam', id: c.id, status: 'active', name: c.name,
    managingOrganization: [{ reference: `Organization/${SITES[c.site].id}` }],
    participant: c.members.map((m) => ({ member: { reference: `PractitionerRole/${roleId(m)}` } })),
  }));
  return [...orgs, ...people, ...teams];
}

/** PUTs the directory with the server's system token and mints one user token per actor. */
export async function loadRegionalDirectory(server: TestServer): Promise<RegionalDirectory> {
  for (const r of directoryResources()) {
    const res = await server.fhir(`/${r.resourceType}/${r.id}`, { method: 'PUT', body: JSON.stringify(r) });
    expect(res.status, `${r.resourceType}/${r.id}: ${await res.clone().text()}`).to.be.oneOf([200, 201]);
  }
  const actors = {} as Record<ActorKey, Actor>;
  for (const key of Object.keys(PEOPLE) as ActorKey[]) {
    const practitioner = `Practitioner/${practitionerId(key)}`;
    const role = `PractitionerRole/${roleId(key)}`;
    actors[key] = { practitioner, role, token: await server.token({ sub: key, fhirUser: practitioner, role, scope: 'user/*.cruds' }) };
  }
  return {
    actors,
    org: (site) => `Organization/${SITES[site].id}`,
    community: (key) => `CareTeam/${COMMUNITIES[key].id}`,
  };
}
