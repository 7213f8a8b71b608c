// IHE PAM-FR ITI-30 identity feed (adt-a28.ts, adt-a40.ts): create / update, INS only when qualified, identity
// conflicts, merge with Patient.link, identifier change.
import { expect } from 'chai';
import type { Encounter, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { createPlatform, dossier, SEED, type Platform } from '../workflow/teleexpertise/test-directory.js';
import { DOSSIER_STATUS_SYSTEM } from '../workflow/teleexpertise/workflow-definition.js';
import { AVIS_PROGRAMME } from '../workflow/teleexpertise/workflows/avis-programme.js';
import { addAdmissionsService, adt, all, deliverAdt, INS, INS_TEST_SYSTEM, IPP, IPP_SYSTEM, refusal } from './adt-test-messages.js';

const ipp = (value: string) => `${value}^^^CHU-X&000897406&N^PI`;
const byIpp = async (p: Platform, value: string) => all<Patient>(p, 'Patient', { identifier: [`${IPP_SYSTEM}|${value}`] });

describe('ADT identity feed (IHE PAM-FR ITI-30)', () => {
  let p: Platform;
  beforeEach(async () => { p = await createPlatform(); });

  it('creates the patient on A28 and updates the same one on A31', async () => {
    const created = await deliverAdt(p, adt('A28', { pv1: null, zbe: null }));
    const updated = await deliverAdt(p, adt('A31', { pv1: null, zbe: null, pid5: 'PAT-TROIS^DOMINIQUE^DOMINIQUE MARIE^^^^L' }));
    expect(updated.written).to.deep.equal(created.written);
    const [patient] = await byIpp(p, '000003');
    expect(patient.meta?.versionId).to.equal('2');
    expect(patient.name?.[0].given).to.deep.equal(['DOMINIQUE', 'MARIE']);
    expect(patient.meta?.source).to.equal('urn:teleo:hl7v2-partner:gam-chu');
  });

  it('creates an unknown patient on A31 (the identity source resends whole identities)', async () => {
    expect((await deliverAdt(p, adt('A31', { pv1: null, zbe: null }))).note).to.contain('created');
    expect(await byIpp(p, '000003')).to.have.length(1);
  });

  for (const [status, method] of [['PROV', 'INSI'], ['VALI', 'CV'], ['QUAL', 'INSI'], ['DOUTE', 'INSI']] as const) {
    const qualified = status === 'QUAL';
    it(`${qualified ? 'writes' : 'leaves out'} the INS for PID-32 ${status} obtained by ${method}`, async () => {
      const result = await deliverAdt(p, adt('A28', { pv1: null, zbe: null, pid32: status, zfd5: method }));
      const [patient] = await byIpp(p, '000003');
      expect(patient.identifier?.some((i) => i.system === INS_TEST_SYSTEM)).to.equal(qualified);
      if (!qualified) expect(result.note).to.contain('INS 279035121518989 not written: identity not qualified');
    });
  }

  it('keeps an INS written before when a later feed sends the identity unqualified', async () => {
    await deliverAdt(p, adt('A28', { pv1: null, zbe: null }));
    await deliverAdt(p, adt('A31', { pv1: null, zbe: null, pid32: 'PROV' }));
    const [patient] = await byIpp(p, '000003');
    expect(patient.identifier?.map((i) => i.system)).to.include(INS_TEST_SYSTEM);
  });

  it('refuses with 205 at PID-3 a message whose INS and IPP are two different patients', async () => {
    await deliverAdt(p, adt('A28', { pv1: null, zbe: null }));
    await deliverAdt(p, adt('A28', { pv1: null, zbe: null, pid3: ipp('000777') }));
    const err = await refusal(deliverAdt(p, adt('A31', { pv1: null, zbe: null, pid3: `${ipp('000777')}~${INS}` })));
    expect([err.code, err.location]).to.deep.equal(['205', 'PID-3']);
  });

  describe('A40 merge', () => {
    it('links the merged patient (inactive, replaced-by) and the survivor (replaces); later messages reach the survivor', async () => {
      await deliverAdt(p, adt('A28', { pv1: null, zbe: null, pid3: ipp('000003') }));
      await deliverAdt(p, adt('A28', { pv1: null, zbe: null, pid3: ipp('000099') }));
      const [survivor] = await byIpp(p, '000003');
      const [merged] = await byIpp(p, '000099');
      const result = await deliverAdt(p, adt('A40', { pv1: null, zbe: null, pid3: ipp('000003'), mrg: ipp('000099') }));
      expect(result.written).to.deep.equal([`Patient/${survivor.id}`, `Patient/${merged.id}`]);
      const gone = await p.svc.read<Patient>(SEED, 'Patient', merged.id as string);
      expect(gone.active).to.equal(false);
      expect(gone.link).to.deep.equal([{ other: { reference: `Patient/${survivor.id}` }, type: 'replaced-by' }]);
      expect((await p.svc.read<Patient>(SEED, 'Patient', survivor.id as string)).link).to.deep.equal([{ other: { reference: `Patient/${merged.id}` }, type: 'replaces' }]);
      const later = await deliverAdt(p, adt('A31', { pv1: null, zbe: null, pid3: ipp('000099') }));
      expect(later.written).to.deep.equal([`Patient/${survivor.id}`]);
    });

    it('completes the bureau-des-entrées step of a dossier opened for the merged patient when the survivor is admitted', async () => {
      await addAdmissionsService(p);
      await deliverAdt(p, adt('A28', { pv1: null, zbe: null, pid3: ipp('000099') }));
      const [merged] = await byIpp(p, '000099');
      await p.svc.update(SEED, { resourceType: 'ServiceRequest', id: 'sr-m', status: 'active', intent: 'order', subject: { reference: `Patient/${merged.id}` } } as ServiceRequest);
      const task = (await p.svc.create(SEED, { ...dossier(AVIS_PROGRAMME, 'repondue', { focus: 'ServiceRequest/sr-m' }), for: { reference: `Patient/${merged.id}` } })).resource;
      await deliverAdt(p, adt('A40', { pv1: null, zbe: null, pid3: ipp('000003'), mrg: ipp('000099') }));
      await deliverAdt(p, adt('A04', { pid3: ipp('000003') }));
      const after = await p.svc.read<Task>(SEED, 'Task', task.id as string);
      expect(after.businessStatus?.coding?.find((c) => c.system === DOSSIER_STATUS_SYSTEM)?.code).to.equal('venue-creee');
      expect(after.for).to.deep.equal({ reference: `Patient/${merged.id}` });
      const [visit] = await all<Encounter>(p, 'Encounter', { 'based-on': ['ServiceRequest/sr-m'] });
      expect(visit.subject?.reference).to.not.equal(`Patient/${merged.id}`);
    });

    it('refuses an A40 without MRG (101 at MRG) and updates only the survivor when MRG-1 is unknown', async () => {
      expect(await refusal(deliverAdt(p, adt('A40', { pv1: null, zbe: null })))).to.include({ code: '101', location: 'MRG' });
      const result = await deliverAdt(p, adt('A40', { pv1: null, zbe: null, mrg: ipp('424242') }));
      expect(result.note).to.contain('nothing merged');
    });
  });

  describe('A47 identifier change', () => {
    it('replaces the IPP of the patient named in MRG-1 by the one in PID-3', async () => {
      await deliverAdt(p, adt('A28', { pv1: null, zbe: null, pid3: `${IPP}~${INS}` }));
      const [patient] = await byIpp(p, '000003');
      const result = await deliverAdt(p, adt('A47', { pv1: null, zbe: null, pid3: ipp('000123'), mrg: IPP }));
      expect(result.written).to.deep.equal([`Patient/${patient.id}`]);
      expect(await byIpp(p, '000003')).to.have.length(0);
      const [renamed] = await byIpp(p, '000123');
      expect(renamed.id).to.equal(patient.id);
      expect(renamed.identifier?.map((i) => i.system)).to.include(INS_TEST_SYSTEM);
    });

    it('refuses an unknown MRG-1 (204 at MRG-1) and a new IPP held by another patient (205 at PID-3)', async () => {
      expect(await refusal(deliverAdt(p, adt('A47', { pv1: null, zbe: null, pid3: ipp('000123'), mrg: ipp('000555') })))).to.include({ code: '204', location: 'MRG-1' });
      await deliverAdt(p, adt('A28', { pv1: null, zbe: null, pid3: ipp('000003') }));
      await deliverAdt(p, adt('A28', { pv1: null, zbe: null, pid3: ipp('000123') }));
      expect(await refusal(deliverAdt(p, adt('A47', { pv1: null, zbe: null, pid3: ipp('000123'), mrg: ipp('000003') })))).to.include({ code: '205', location: 'PID-3' });
    });
  });
});
