// Test fixture (not shipped): a seeded year of télédossiers as a FHIR R4 transaction Bundle, and the statistics
// expected from it, computed here from the generator's own choices (not by the code under test).
import type { Bundle, BundleEntry, Extension, Resource } from '@medplum/fhirtypes';
import { DOSSIER_CONTENT_SYSTEM, IMAGE_SOURCE_URL, READ_RECEIPT_URL } from '../workflow/teleexpertise/dossier-model.js';
import { DOSSIER_STATUS_SYSTEM, TRANSITION_SYSTEM, WORKFLOW_SYSTEM } from '../workflow/teleexpertise/workflow-definition.js';

const FINESS = 'urn:oid:1.2.250.1.71.4.2.2';

/** Establishments, and the region each one is in (by address.state, postal code, FINESS, or unknown). */
export const ORGS: Record<string, { resource: Resource; region: string }> = {
  'chu-tlse': { region: '76', resource: { resourceType: 'Organization', id: 'chu-tlse', name: 'CHU de Toulouse',
    identifier: [{ system: FINESS, value: '310781406' }], address: [{ state: 'Occitanie' }] } },
  'ch-albi': { region: '76', resource: { resourceType: 'Organization', id: 'ch-albi', name: 'CH d\'Albi', address: [{ postalCode: '81000' }] } },
  'chu-bdx': { region: '75', resource: { resourceType: 'Organization', id: 'chu-bdx', name: 'CHU de Bordeaux',
    identifier: [{ system: FINESS, value: '330781196' }] } },
  aphp: { region: '11', resource: { resourceType: 'Organization', id: 'aphp', name: 'AP-HP',
    identifier: [{ system: FINESS, value: '750712184' }], address: [{ state: '11', postalCode: '75004' }] } },
  clinique: { region: 'unknown', resource: { resourceType: 'Organization', id: 'clinique', name: 'Clinique sans adresse' } },
};

/** Requesters and owners: reference → establishment ('unknown' when it has none). */
export const PARTIES: Record<string, string> = {
  'PractitionerRole/dr-albi': 'ch-albi',
  'PractitionerRole/dr-bdx': 'chu-bdx',
  'PractitionerRole/dr-clin': 'clinique',
  'PractitionerRole/dr-free': 'unknown',
  'PractitionerRole/dr-tlse': 'chu-tlse',
  'CareTeam/neuro-tlse': 'chu-tlse',
  'Organization/aphp': 'aphp',
};
const REQUESTERS = ['PractitionerRole/dr-albi', 'PractitionerRole/dr-bdx', 'PractitionerRole/dr-clin', 'PractitionerRole/dr-free', 'PractitionerRole/dr-tlse'];
const OWNERS = ['PractitionerRole/dr-tlse', 'CareTeam/neuro-tlse', 'Organization/aphp'];

/** The answering transition of each workflow, and one that is not an answer (per the workflow definitions). */
export const ANSWER: Record<string, { answer: string; other: string; initial: string }> = {
  'avis-urgences': { answer: 'repondre', other: 'prendre-en-charge', initial: 'demandee' },
  'avis-avc': { answer: 'repondre', other: 'refuser', initial: 'demandee' },
  'avis-programme': { answer: 'repondre', other: 'accuser-reception', initial: 'demandee' },
  'transfert-imagerie': { answer: 'accuser-reception', other: 'receptionner', initial: 'transmis' },
  'rcp-greffe-renale': { answer: 'rendre-avis', other: 'inscrire-seance', initial: 'demandee' },
  teleradiologie: { answer: 'interpreter', other: 'accepter', initial: 'demandee' },
};
export const WORKFLOW_CODES = Object.keys(ANSWER);
const SOURCES = ['c-store', 'pacs-query', 'file-import', 'stow-rs', undefined] as const;
const READ_ROLES = ['requis', 'membre-communaute', 'secretariat-requis', 'requerant', 'tiers'];
const REQUIS_SIDE = new Set(['requis', 'membre-communaute', 'secretariat-requis']);

export interface DossierSpec {
  workflow: string;
  requester: string;
  owner: string;
  authoredOn: string;
  /** Paris calendar month, or undefined when outside 2024 in Paris (not counted). */
  month?: string;
  exams: (string | undefined)[];
  reads: { role: string; afterMin: number }[];
  transitions: { code: string; afterMin: number }[];
}

/** A small deterministic generator (LCG), so that the data set is the same on every run. */
function random(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.floor((s / 2147483648) * n); // the high bits: an LCG's low bits cycle quickly
  };
}

export function dossierSpecs(count = 40): DossierSpec[] {
  const r = random(42);
  const specs: DossierSpec[] = [];
  for (let i = 0; i < count; i++) {
    const workflow = WORKFLOW_CODES[r(WORKFLOW_CODES.length)];
    const month = String(1 + r(12)).padStart(2, '0');
    const day = String(2 + r(26)).padStart(2, '0');
    const hour = String(9 + r(6)).padStart(2, '0');
    const exams = Array.from({ length: r(4) }, () => SOURCES[r(SOURCES.length)]);
    const reads = Array.from({ length: r(3) }, () => ({ role: READ_ROLES[r(READ_ROLES.length)], afterMin: 1 + r(300) }));
    const { answer, other } = ANSWER[workflow];
    const plan = r(4);
    const transitions = plan === 0 ? [] : plan === 1 ? [{ code: other, afterMin: 5 + r(100) }]
      : plan === 2 ? [{ code: other, afterMin: 2 }, { code: answer, afterMin: 10 + r(2000) }]
        : [{ code: answer, afterMin: 30 + r(600) }, { code: answer, afterMin: 5000 }]; // answered twice (reopened): the first counts
    specs.push({ workflow, requester: REQUESTERS[r(REQUESTERS.length)], owner: OWNERS[r(OWNERS.length)],
      authoredOn: `2024-${month}-${day}T${hour}:${String(r(60)).padStart(2, '0')}:00Z`, month: `2024-${month}`, exams, reads, transitions });
  }
  // The edges of the Paris calendar: 23:30Z on 31 December is already the next year in Paris.
  const edge = (authoredOn: string, month: string | undefined): DossierSpec => ({
    workflow: 'avis-avc', requester: 'PractitionerRole/dr-albi', owner: 'CareTeam/neuro-tlse', authoredOn, month, exams: [],
    reads: [{ role: 'requis', afterMin: 7 }], transitions: [{ code: 'repondre', afterMin: 20 }],
  });
  specs.push(edge('2023-12-31T22:30:00Z', undefined), edge('2023-12-31T23:30:00Z', '2024-01'),
    edge('2024-12-31T22:30:00Z', '2024-12'), edge('2024-12-31T23:30:00Z', undefined));
  return specs;
}

const at = (iso: string, min: number) => new Date(Date.parse(iso) + min * 60_000).toISOString();

/** The fullUrl of the i-th dossier's Task in the transaction. */
export const taskFullUrl = (i: number) => `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

/**
 * The read receipts of a dossier (Task extension dossier-read). Only the platform writes them (a write guard refuses
 * them from clients): tests put them straight into the storage, as the receipt writer would have.
 */
export function readReceipts(spec: DossierSpec): Extension[] {
  return spec.reads.map((rd) => ({ url: READ_RECEIPT_URL, extension: [
    { url: 'reader', valueReference: { reference: 'PractitionerRole/dr-tlse' } }, { url: 'role', valueCode: rd.role },
    { url: 'time', valueDateTime: at(spec.authoredOn, rd.afterMin) }] }));
}

/** The establishments, professionals, community and patient the dossiers refer to (fixed ids). */
function directory(put: (r: Resource) => void): void {
  for (const o of Object.values(ORGS)) put(o.resource);
  for (const [ref, org] of Object.entries(PARTIES)) {
    const [type, id] = ref.split('/');
    if (type === 'PractitionerRole') {
      put({ resourceType: 'Practitioner', id: `p-${id}` });
      put({ resourceType: 'PractitionerRole', id, practitioner: { reference: `Practitioner/p-${id}` },
        ...(org === 'unknown' ? {} : { organization: { reference: `Organization/${org}` } }) });
    }
  }
  put({ resourceType: 'CareTeam', id: 'neuro-tlse', managingOrganization: [{ reference: 'Organization/chu-tlse' }],
    participant: [{ member: { reference: 'PractitionerRole/dr-tlse' } }] });
  put({ resourceType: 'Patient', id: 'stats-patient', name: [{ family: 'Martin' }] });
}

/**
 * One transaction: the directory (PUT, fixed ids; left out with directory: false), then each dossier with its exams
 * and Provenances (its read receipts apart: see readReceipts), plus decoys.
 */
export function datasetBundle(specs: DossierSpec[], options: { directory?: boolean } = {}): Bundle {
  const entries: BundleEntry[] = [];
  const put = (resource: Resource) => entries.push({ resource, request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}` } });
  const post = (fullUrl: string, resource: Resource) => entries.push({ fullUrl, resource, request: { method: 'POST', url: resource.resourceType } });
  if (options.directory !== false) directory(put);
  specs.forEach((s, i) => {
    const task = taskFullUrl(i);
    const sr = `urn:uuid:00000000-0000-4000-9000-${String(i).padStart(12, '0')}`;
    post(sr, { resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: 'Patient/stats-patient' } });
    const exams = s.exams.map((source, n) => {
      const url = `urn:uuid:00000000-0000-4000-a${String(n).padStart(3, '0')}-${String(i).padStart(12, '0')}`;
      post(url, { resourceType: 'ImagingStudy', status: 'available', subject: { reference: 'Patient/stats-patient' },
        ...(source ? { extension: [{ url: IMAGE_SOURCE_URL, valueCode: source }] } : {}) });
      return url;
    });
    post(task, {
      resourceType: 'Task', status: 'requested', intent: 'order', authoredOn: s.authoredOn,
      code: { coding: [{ system: WORKFLOW_SYSTEM, code: s.workflow }] },
      businessStatus: { coding: [{ system: DOSSIER_STATUS_SYSTEM, code: ANSWER[s.workflow].initial }] },
      for: { reference: 'Patient/stats-patient' }, requester: { reference: s.requester }, owner: { reference: s.owner }, focus: { reference: sr },
      input: exams.map((url) => ({ type: { coding: [{ system: DOSSIER_CONTENT_SYSTEM, code: 'exam' }] }, valueReference: { reference: url } })),
    });
    s.transitions.forEach((t, n) => post(`urn:uuid:00000000-0000-4000-b${String(n).padStart(3, '0')}-${String(i).padStart(12, '0')}`, {
      resourceType: 'Provenance', target: [{ reference: task }], recorded: at(s.authoredOn, t.afterMin),
      activity: { coding: [{ system: TRANSITION_SYSTEM, code: t.code }] }, agent: [{ who: { reference: s.owner } }],
    }));
    if (i === 0) { // a step of this dossier (child Task) and a plain Task: neither is a dossier
      post('urn:uuid:00000000-0000-4000-c000-000000000000', { resourceType: 'Task', status: 'requested', intent: 'order', authoredOn: s.authoredOn,
        partOf: [{ reference: task }], owner: { reference: 'PractitionerRole/dr-bdx' } });
      post('urn:uuid:00000000-0000-4000-c000-000000000001', { resourceType: 'Task', status: 'requested', intent: 'order', authoredOn: s.authoredOn });
    }
  });
  return { resourceType: 'Bundle', type: 'transaction', entry: entries };
}

/** What one counted dossier should contribute, derived from its spec. */
export interface Expected {
  spec: DossierSpec;
  month: string;
  requesterOrg: string;
  requisOrg: string;
  sources: string[];
  firstReadMin?: number;
  answerMin?: number;
}

export function expectedFacts(specs: DossierSpec[]): Expected[] {
  return specs.filter((s) => s.month).map((spec) => {
    const reads = spec.reads.filter((r) => REQUIS_SIDE.has(r.role)).map((r) => r.afterMin);
    const answers = spec.transitions.filter((t) => t.code === ANSWER[spec.workflow].answer).map((t) => t.afterMin);
    return {
      spec, month: spec.month as string,
      requesterOrg: PARTIES[spec.requester], requisOrg: PARTIES[spec.owner],
      sources: spec.exams.length === 0 ? ['none'] : [...new Set(spec.exams.map((e) => e ?? 'unknown'))],
      firstReadMin: reads.length ? Math.min(...reads) : undefined,
      answerMin: answers.length ? Math.min(...answers) : undefined,
    };
  });
}

export const regionOf = (org: string) => (org === 'unknown' ? 'unknown' : ORGS[org].region);
