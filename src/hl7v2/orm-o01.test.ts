import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Observation, Organization, Patient, PractitionerRole, ServiceRequest, Task } from '@medplum/fhirtypes';
import { expect } from 'chai';
import { OperationOutcomeError, statusOf } from '../kernel/errors.js';
import { SYSTEM_PRINCIPAL } from '../kernel/principal.js';
import { applyTransition } from '../workflow/teleexpertise/transition.js';
import { createPlatform, EXPERT, rejection, type Platform } from '../workflow/teleexpertise/test-directory.js';
import { LATERALITY_EXTENSION, NOTE_TYPE_EXTENSION } from './obx-observations.js';
import { deliver, FIXTURES, partnerCtx, RIS } from './tlr-test-delivery.js';

const ANS = join(process.cwd(), '..', 'shared', 'fixtures', 'ansforge-teleradiologie-hl7v2');
const FLUX1 = readFileSync(join(FIXTURES, 'ORM_O01', 'flux1-nw-ok.hl7'), 'utf8');
const FLUX2 = readFileSync(join(FIXTURES, 'ORM_O01', 'flux2-ca-ok.hl7'), 'utf8');
const ctx = partnerCtx(RIS);

async function refusal(p: Promise<unknown>): Promise<{ status: number; code?: string; location?: string; text: string }> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(OperationOutcomeError);
    const o = (e as OperationOutcomeError).outcome;
    const issue = o.issue?.[0];
    return { status: statusOf(o), code: issue?.details?.coding?.[0]?.code, location: issue?.expression?.[0], text: issue?.details?.text ?? '' };
  }
  throw new Error('expected a refusal');
}

async function dossier(p: Platform): Promise<{ task: Task; request: ServiceRequest }> {
  const { resources } = await p.svc.search(ctx, 'Task', { code: ['teleradiologie'] });
  expect(resources).to.have.length(1);
  const task = resources[0] as Task;
  return { task, request: await p.svc.read<ServiceRequest>(ctx, 'ServiceRequest', (task.focus?.reference ?? '').split('/')[1]) };
}

describe('ORM^O01 flux 1 (NW): a téléradiologie order becomes a télédossier', () => {
  it('writes the ServiceRequest with placer number, source, modality, region with laterality, justification and typed notes', async () => {
    const p = await createPlatform();
    await deliver(p, FLUX1);
    const { task, request } = await dossier(p);
    expect(task.owner?.reference).to.equal(EXPERT);
    expect(task.businessStatus?.coding?.[0].code).to.equal('demandee');
    expect(request.meta?.source).to.equal('urn:teleo:hl7v2-partner:ris-test');
    expect(request.identifier).to.deep.include({
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC', display: 'Placer Identifier' }] },
      system: 'urn:oid:1.2.250.1.748.12345678.12', value: 'OPN101',
    });
    expect(request.authoredOn).to.equal('2026-01-06T13:44:18+01:00');
    expect(request.orderDetail?.[0].coding?.[0]).to.deep.include({ system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'MR' });
    expect(request.bodySite?.[0].coding?.[0]).to.deep.include({ system: 'http://snomed.info/sct', code: '774007' });
    expect(request.bodySite?.[0].extension?.[0]).to.deep.include({ url: LATERALITY_EXTENSION });
    expect(request.bodySite?.[0].extension?.[0].valueCodeableConcept?.coding?.[0].code).to.equal('24028007');
    expect(request.reasonCode).to.deep.equal([{ text: 'JustificationDemande' }]);
    expect(request.note?.map((n) => [n.text, n.extension?.find((x) => x.url === NOTE_TYPE_EXTENSION)?.valueCoding?.code])).to.deep.equal([
      ['Commentaire sur la finalité de l\'examen', 'FINALITE_EXAMEN'], ['Commentaire sur la modalité', 'MODALITE_IMAGERIE'],
    ]);
  });

  it('creates history, height, weight and pregnancy as Observations based on the request, searchable and in supportingInfo', async () => {
    const p = await createPlatform();
    await deliver(p, FLUX1);
    const { request } = await dossier(p);
    const found = (await p.svc.search(ctx, 'Observation', { 'based-on': [`ServiceRequest/${request.id}`] })).resources as Observation[];
    const byCode = new Map(found.map((o) => [o.code.coding?.[0].code, o]));
    expect([...byCode.keys()].sort()).to.deep.equal(['11322-5', '29463-7', '82810-3', '8302-2']);
    expect(byCode.get('8302-2')?.valueQuantity).to.deep.equal({ value: 170, unit: 'cm', system: 'http://unitsofmeasure.org', code: 'cm' });
    expect(byCode.get('11322-5')?.valueString).to.equal('Antécédents majeur du patient');
    expect(byCode.get('11322-5')?.interpretation?.[0].text).to.equal('MAJEUR');
    expect(byCode.get('82810-3')?.valueCodeableConcept?.coding?.[0]).to.deep.include({ system: 'http://terminology.hl7.org/CodeSystem/v2-0532', code: 'N' });
    expect(byCode.get('8302-2')?.subject?.reference).to.equal(request.subject?.reference);
    expect((request.supportingInfo ?? []).map((r) => r.reference).sort()).to.deep.equal(found.map((o) => `Observation/${o.id}`).sort());
  });

  it('matches or creates the patient by its test INS, and the ordering provider, facility and their role by identifier', async () => {
    const p = await createPlatform();
    await deliver(p, FLUX1);
    const { task } = await dossier(p);
    const patient = await p.svc.read<Patient>(ctx, 'Patient', (task.for?.reference ?? '').split('/')[1]);
    expect(patient.identifier?.[0]).to.deep.include({ system: 'urn:oid:1.2.250.1.213.1.4.10', value: '279035121518989' });
    const role = await p.svc.read<PractitionerRole>(ctx, 'PractitionerRole', (task.requester?.reference ?? '').split('/')[1]);
    const doctors = (await p.svc.search(ctx, 'Practitioner', { identifier: ['urn:oid:1.2.250.1.71.4.2.1|801234567897'] })).resources;
    expect(role.practitioner?.reference).to.equal(`Practitioner/${doctors[0].id}`);
    const org = await p.svc.read<Organization>(ctx, 'Organization', (role.organization?.reference ?? '').split('/')[1]);
    expect(org.identifier?.[0]).to.deep.include({ system: 'urn:oid:1.2.250.1.71.4.2.2', value: '300017985' });
    expect(org.type?.[0].coding?.[0].code).to.equal('STRUCTURE_IMAGERIE');
    // a second order (another number) from the same structure reuses them all
    await deliver(p, FLUX1.replaceAll('OPN101', 'OPN102').replace('TLR-F1-OK', 'TLR-F1-OK2'));
    expect((await p.svc.search(ctx, 'Practitioner', { identifier: ['urn:oid:1.2.250.1.71.4.2.1|801234567897'] })).resources).to.have.length(1);
    expect((await p.svc.search(ctx, 'PractitionerRole', { organization: [`Organization/${org.id}`] })).resources).to.have.length(1);
    expect((await p.svc.search(ctx, 'Patient', { identifier: ['urn:oid:1.2.250.1.213.1.4.10|279035121518989'] })).resources).to.have.length(1);
  });

  it('takes the same placer number from another partner as another order', async () => {
    const p = await createPlatform();
    await deliver(p, FLUX1);
    await deliver(p, FLUX1, { ...RIS, name: 'ris-other' });
    expect((await p.svc.search(ctx, 'Task', { code: ['teleradiologie'] })).resources).to.have.length(2);
  });

  (existsSync(ANS) ? it : it.skip)('accepts the ANS flux 1 example as published (namespace with a space)', async () => {
    const p = await createPlatform();
    const result = await deliver(p, readFileSync(join(ANS, 'flux1_ORM_O01_NW_transmission_demande.hl7'), 'utf8'));
    expect(result.written.filter((r) => r.startsWith('Task/'))).to.have.length(1);
  });
});

describe('ORM^O01 flux 2 (CA): cancellation', () => {
  it('cancels the dossier acting for the ordering provider, with ORC-16 as the reason', async () => {
    const p = await createPlatform();
    await deliver(p, FLUX1);
    await deliver(p, FLUX2);
    const { task } = await dossier(p);
    expect(task.status).to.equal('cancelled');
    expect(task.statusReason?.text).to.equal('Motif d\'annulation de la demande');
    const provenance = (await p.svc.search(ctx, 'Provenance', { target: [`Task/${task.id}/_history/${task.meta?.versionId}`] })).resources;
    expect(JSON.stringify(provenance)).to.match(/"code":"requerant"/);
  });

  it('refuses a cancellation of an unknown order with AE 204 at ORC-2, also when another partner placed it', async () => {
    const p = await createPlatform();
    await deliver(p, FLUX1);
    const r = await refusal(deliver(p, FLUX2, { ...RIS, name: 'ris-other' }));
    expect(r).to.deep.include({ status: 404, code: '204', location: 'ORC-2' });
    expect((await dossier(p)).task.status).to.equal('requested');
  });

  it('refuses a cancellation by another ordering provider (no dossier role) with 207 at ORC-12, status 403', async () => {
    const p = await createPlatform();
    await deliver(p, FLUX1);
    const r = await refusal(deliver(p, FLUX2.replace('|801234567897^Hoda^Adam', '|801234564895^Eric^Thomas')));
    expect(r).to.deep.include({ status: 403, code: '207', location: 'ORC-12' });
    expect(r.text).to.match(/dossier roles/);
  });

  it('refuses a cancellation after the exam with the workflow\'s 409 text, 207 at ORC-1', async () => {
    const p = await createPlatform();
    await deliver(p, FLUX1);
    const { task } = await dossier(p);
    await applyTransition({ svc: p.svc }, { principal: { sub: 'durand', iss: 'test', scopes: ['user/*.cruds'], fhirUser: 'Practitioner/durand', role: EXPERT } },
      task.id as string, 'refuser', { reason: 'Hors indication' });
    const r = await refusal(deliver(p, FLUX2));
    expect(r).to.deep.include({ status: 409, code: '207', location: 'ORC-1' });
    expect(r.text).to.match(/not allowed from state 'refusee'/);
  });

  it('leaves FHIR callers\' checks as they are: a system client acting for nobody may not cancel', async () => {
    const p = await createPlatform();
    await deliver(p, FLUX1);
    const { task } = await dossier(p);
    const r = await rejection(applyTransition({ svc: p.svc }, { principal: { ...SYSTEM_PRINCIPAL, fhirUser: undefined, sub: 'hl7:ris-test' } },
      task.id as string, 'annuler', { reason: 'x' }));
    expect(r.status).to.equal(403);
  });
});
