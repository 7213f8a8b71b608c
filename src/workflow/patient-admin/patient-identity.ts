// The patient identity feed (IHE ITI-30 as PAM-FR profiles it) on FHIR R4 Patient: match, create or update, merge
// (patient.html#links), identifier change. Protocol-neutral: the HL7 adapters hand a Patient as the feed describes it.
//
// - Match: by each identifier of the fed Patient in order (the qualified INS first, then the local IPPs with their
//   authority). A Patient merged away (inactive, link replaced-by) stands for its survivor. Two Patients for one
//   identifier, or the INS and the IPP naming two different Patients, is an identity conflict: 409, never guessed.
// - Update: the feed is the source of the traits it sends (names, birth date, sex, addresses, telecom, reliability
//   and birth place extensions); identifiers of the systems it sends are replaced, others (another site's IPP, an
//   INS written before) are kept. An INS is never removed by a feed that does not send it qualified.
// - Merge (A40): the merged Patient becomes inactive with link replaced-by → survivor; the survivor gets link
//   replaces → merged. Resources that reference the merged Patient (dossiers, visits, reports) are NOT repointed: a
//   sent dossier keeps what it was sent with, and R4 expresses a merge by these links (consumers follow replaced-by);
//   the visit workflow looks for dossiers of the survivor AND of the Patients it replaces.
import type { Extension, Identifier, Patient, PatientLink } from '@medplum/fhirtypes';
import { errors, OperationOutcomeError } from '../../kernel/errors.js';
import type { AuditContext } from '../audit.js';
import { conditionalLockKey } from '../conditional-lock.js';
import type { ResourceService } from '../resource-service.js';

const token = (i: Identifier) => `${i.system}|${i.value}`;
/** One identifier, two persons: 409 `duplicate` (an identity conflict for identity monitoring to resolve). */
const identityConflict = (text: string) =>
  new OperationOutcomeError({ resourceType: 'OperationOutcome', id: '409', issue: [{ severity: 'error', code: 'duplicate', details: { text } }] });
const matchable = (p: Patient) => (p.identifier ?? []).filter((i) => i.system && i.value);

/** The current Patient for `ref`, following replaced-by links of merged Patients (at most a few hops). */
async function survivor(t: ResourceService, ctx: AuditContext, patient: Patient): Promise<Patient> {
  let current = patient;
  for (let hop = 0; hop < 5; hop++) {
    const next = current.link?.find((l) => l.type === 'replaced-by')?.other.reference;
    if (!next?.startsWith('Patient/')) return current;
    current = await t.read<Patient>(ctx, 'Patient', next.slice('Patient/'.length));
  }
  return current;
}

/** The Patient holding `identifier` (its survivor when merged), undefined when none; 409 when several. */
export async function findPatient(t: ResourceService, ctx: AuditContext, identifier: Identifier): Promise<Patient | undefined> {
  const found = (await t.search(ctx, 'Patient', { identifier: [token(identifier)], _count: ['10'], _total: ['none'] })).resources as Patient[];
  const current = found.filter((p) => !p.link?.some((l) => l.type === 'replaced-by'));
  if (current.length > 1) {
    throw identityConflict(`Identity conflict: ${current.length} Patients hold ${token(identifier)} (${current.map((p) => `Patient/${p.id}`).join(', ')}); merge them first`);
  }
  if (current[0]) return current[0];
  return found[0] ? survivor(t, ctx, found[0]) : undefined;
}

/** Locks every identifier of `patient` (Storage.lock), so that two feeds for one person never create it twice. */
async function lockIdentifiers(t: ResourceService, identifiers: Identifier[]): Promise<void> {
  for (const key of identifiers.map((i) => conditionalLockKey('Patient', { identifier: [token(i)] })).sort()) await t.lock(key);
}

/** The stored Patient the fed one designates, by its identifiers in order; 409 when two of them disagree. */
export async function matchPatient(t: ResourceService, ctx: AuditContext, fed: Patient): Promise<Patient | undefined> {
  let matched: Patient | undefined;
  for (const id of matchable(fed)) {
    const p = await findPatient(t, ctx, id);
    if (!p) continue;
    if (matched && matched.id !== p.id) {
      throw identityConflict(`Identity conflict: ${token(id)} is Patient/${p.id} but an earlier identifier of the same message is Patient/${matched.id}; merge them first`);
    }
    matched = p;
  }
  return matched;
}

const FED_EXTENSIONS = (fed: Patient) => new Set((fed.extension ?? []).map((e) => e.url));

/** `stored` with what the feed sends (see the rules above). */
export function mergeTraits(stored: Patient, fed: Patient): Patient {
  const systems = new Set(matchable(fed).map((i) => i.system));
  const kept = (stored.identifier ?? []).filter((i) => !i.system || !systems.has(i.system));
  const replaced = FED_EXTENSIONS(fed);
  const extension: Extension[] = [...(stored.extension ?? []).filter((e) => !replaced.has(e.url)), ...(fed.extension ?? [])];
  const { id, meta, link, identifier: _ids, extension: _ext, ...rest } = stored;
  const { resourceType: _type, meta: fedMeta, identifier: fedIds, extension: _fedExt, ...traits } = fed;
  return {
    ...rest,
    ...traits,
    resourceType: 'Patient',
    id,
    meta: { ...meta, ...(fedMeta?.source ? { source: fedMeta.source } : {}) },
    identifier: [...(fedIds ?? []), ...kept],
    ...(extension.length ? { extension } : {}),
    ...(link ? { link } : {}),
  };
}

export interface PatientUpsert { patient: Patient; created: boolean }

/** Creates the fed Patient, or updates the one its identifiers designate (inside the caller's transaction). */
export async function upsertPatient(t: ResourceService, ctx: AuditContext, fed: Patient): Promise<PatientUpsert> {
  await lockIdentifiers(t, matchable(fed));
  const stored = await matchPatient(t, ctx, fed);
  if (!stored) return { patient: (await t.create(ctx, fed)).resource, created: true };
  return { patient: (await t.update(ctx, mergeTraits(stored, fed), { ifMatch: `W/"${stored.meta?.versionId}"` })).resource, created: false };
}

/** A28 / A31 (and an A08 without a visit): the fed Patient created or updated, atomically. */
export async function feedPatient(svc: ResourceService, ctx: AuditContext, fed: Patient): Promise<{ patient: Patient; patientCreated: boolean; notes: string[] }> {
  const { patient, created } = await svc.transaction((t) => upsertPatient(t, ctx, fed));
  return { patient, patientCreated: created, notes: [] };
}

/** A40: the survivor (fed, upserted) replaces the Patient designated by `merged` identifiers. */
export async function mergePatient(svc: ResourceService, ctx: AuditContext, fed: Patient, merged: Identifier[]): Promise<{ survivor: Patient; merged?: Patient }> {
  return svc.transaction(async (t) => {
    await lockIdentifiers(t, [...matchable(fed), ...merged]);
    let old: Patient | undefined;
    for (const id of merged) old ??= await findPatient(t, ctx, id);
    const { patient: kept } = await upsertPatient(t, ctx, fed);
    if (!old || old.id === kept.id) return { survivor: kept };
    const keptRef = `Patient/${kept.id}`;
    const oldRef = `Patient/${old.id}`;
    const oldLinks = (old.link ?? []).filter((l) => l.other.reference !== keptRef);
    const retired = (await t.update(ctx, { ...old, active: false, link: [...oldLinks, { other: { reference: keptRef }, type: 'replaced-by' }] })).resource;
    const links: PatientLink[] = [...(kept.link ?? []).filter((l) => l.other.reference !== oldRef), { other: { reference: oldRef }, type: 'replaces' }];
    const survivorPatient = (await t.update(ctx, { ...kept, link: links })).resource;
    return { survivor: survivorPatient, merged: retired };
  });
}

/**
 * A47: the Patient holding `previous` gets `next` instead (same authority). 404 when no Patient holds `previous`;
 * 409 when another Patient already holds `next` (that is a merge, A40).
 */
export async function changePatientIdentifier(svc: ResourceService, ctx: AuditContext, previous: Identifier, next: Identifier, fed?: Patient): Promise<Patient> {
  return svc.transaction(async (t) => {
    await lockIdentifiers(t, [previous, next]);
    const patient = await findPatient(t, ctx, previous);
    if (!patient) throw errors.notFound(`No Patient holds ${token(previous)}`);
    const other = await findPatient(t, ctx, next);
    if (other && other.id !== patient.id) throw identityConflict(`${token(next)} already belongs to Patient/${other.id}: that is a merge (A40), not an identifier change`);
    const identifier = (patient.identifier ?? []).map((i) => (i.system === previous.system && i.value === previous.value ? { ...i, value: next.value, system: next.system } : i));
    const updated: Patient = fed ? mergeTraits({ ...patient, identifier }, fed) : { ...patient, identifier };
    return (await t.update(ctx, updated)).resource;
  });
}

/** The Patient references that stand for one person: the survivor and every Patient it replaces (transitively). */
export async function samePerson(t: ResourceService, ctx: AuditContext, patient: Patient): Promise<string[]> {
  const refs = [`Patient/${patient.id}`];
  const queue = [patient];
  while (queue.length && refs.length < 20) {
    const p = queue.shift() as Patient;
    for (const l of p.link ?? []) {
      const ref = l.other.reference;
      if (l.type !== 'replaces' || !ref?.startsWith('Patient/') || refs.includes(ref)) continue;
      refs.push(ref);
      queue.push(await t.read<Patient>(ctx, 'Patient', ref.slice('Patient/'.length)));
    }
  }
  return refs;
}
