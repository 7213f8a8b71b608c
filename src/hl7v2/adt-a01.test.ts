// IHE PAM-FR ITI-31 movements (adt-a01.ts): the ANS examples apply, visits become Encounters, a new visit completes the
// bureau-des-entrées step of the dossier waiting for it, and bad messages are refused with a located ERR.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { DiagnosticReport, Encounter, Patient, Provenance, ServiceRequest, Task } from '@medplum/fhirtypes';
import { createLogger } from '../kernel/logger.js';
import { reportSenderHandlers } from './report-trigger.js';
import { applyTransition } from '../workflow/teleexpertise/transition.js';
import { createPlatform, dossier, rejection, SEED, type Platform } from '../workflow/teleexpertise/test-directory.js';
import { DOSSIER_STATUS_SYSTEM } from '../workflow/teleexpertise/workflow-definition.js';
import { AVIS_PROGRAMME } from '../workflow/teleexpertise/workflows/avis-programme.js';
import { IDENTITY_RELIABILITY_URL } from './adt-patient.js';
import {
  addAdmissionsService, adt, all, BE_SERVICE, deliverAdt, GAM, GAM_CTX, INS_TEST_SYSTEM, IPP_SYSTEM, refusal,
} from './adt-test-messages.js';

const ANS = join(process.cwd(), '..', 'shared', 'fixtures', 'ansforge-hl7v2-exemples');
/** The visits of the default visit number (the directory holds another Encounter). */
const visits = (p: Platform) => all<Encounter>(p, 'Encounter', { identifier: [`${IPP_SYSTEM}|000897406`] });
const stateOf = (t: Task) => t.businessStatus?.coding?.find((c) => c.system === DOSSIER_STATUS_SYSTEM)?.code;

/** A patient known by the CHU's IPP, with an avis-programme dossier at the CHU in `state` (its ServiceRequest `sr`). */
async function seedWaiting(p: Platform, sr: string, state = 'repondue', options: { identifier?: { system: string; value: string }[]; owner?: string } = {}): Promise<Task> {
  await p.svc.update(SEED, { resourceType: 'Patient', id: 'p-adt', identifier: [{ system: IPP_SYSTEM, value: '000003' }], name: [{ family: 'PAT-TROIS' }] } as Patient);
  await p.svc.update(SEED, {
    resourceType: 'ServiceRequest', id: sr, status: 'active', intent: 'order', subject: { reference: 'Patient/p-adt' },
    ...(options.identifier ? { identifier: options.identifier } : {}),
  } as ServiceRequest);
  const task = dossier(AVIS_PROGRAMME, state, { focus: `ServiceRequest/${sr}`, ...(options.owner ? { owner: options.owner } : {}) });
  return (await p.svc.create(SEED, { ...task, for: { reference: 'Patient/p-adt' } })).resource;
}

describe('ADT movements (IHE PAM-FR ITI-31)', () => {
  let p: Platform;
  beforeEach(async () => { p = await createPlatform(); });

  describe('ANS examples (golden)', () => {
    const dmp = join(ANS, 'pam-fr-consentement-dmp');
    const files = existsSync(dmp) ? readdirSync(dmp).filter((f) => f.endsWith('.er7')).sort() : [];
    it('finds the ANS PAM-FR examples in ../shared/fixtures', function () {
      if (files.length === 0) this.skip();
      expect(files).to.have.length(5);
    });
    for (const file of files) {
      it(`applies pam-fr-consentement-dmp/${file}: Patient with qualified test INS, in-progress inpatient Encounter`, async () => {
        const result = await deliverAdt(p, readFileSync(join(dmp, file), 'utf8'));
        expect(result.written.map((r) => r.split('/')[0])).to.deep.equal(['Patient', 'Encounter']);
        const [patient] = await all<Patient>(p, 'Patient', { identifier: [`${INS_TEST_SYSTEM}|279035121518989`] });
        expect(patient.identifier?.map((i) => `${i.system}|${i.value}`)).to.deep.equal([`${INS_TEST_SYSTEM}|279035121518989`, `${IPP_SYSTEM}|000003`]);
        expect(patient.identifier?.[0].type?.coding?.[0].code).to.equal('INS-NIR-TEST');
        expect(patient.name?.[0]).to.include({ use: 'official', family: 'PAT-TROIS' });
        expect(patient).to.include({ birthDate: '1979-03-28', gender: 'female', deceasedBoolean: false });
        const reliability = patient.extension?.find((e) => e.url === IDENTITY_RELIABILITY_URL)?.extension;
        expect(reliability?.map((e) => [e.url, e.valueCoding?.code ?? e.valueDate])).to.deep.equal([
          ['identityStatus', 'VALI'], ['methodCollection', 'INSI'], ['dateCollection', '2021-12-01']]);
        const birth = patient.extension?.find((e) => e.url.endsWith('patient-birthPlace'))?.valueAddress;
        expect(birth?.extension?.[0].valueCoding?.code).to.equal('63220');
        const [visit] = await all<Encounter>(p, 'Encounter', { subject: [`Patient/${patient.id}`] });
        expect(visit).to.deep.include({ status: 'in-progress', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP', display: 'inpatient encounter' } });
        expect(visit.identifier?.[0]).to.include({ system: IPP_SYSTEM });
        expect(visit.identifier?.[1]).to.include({ system: 'urn:teleo:hd:CHU-X', value: '312' });
        expect(visit.period?.start).to.match(/^2024-03-\d\dT11:00:00\+01:00$/);
        expect(visit.participant?.[0].individual?.identifier).to.deep.equal({ system: 'urn:oid:1.2.250.1.71.4.2.1', value: '801234567897' });
      });
    }

    it('applies sgl/ADT_A01_admission.er7 then sgl/ADT_A03_sortie.er7: the visit is finished (ZBE-4 empty in the A03: read as INSERT, said)', async function () {
      if (!existsSync(join(ANS, 'sgl'))) this.skip();
      await deliverAdt(p, readFileSync(join(ANS, 'sgl', 'ADT_A01_admission.er7'), 'utf8'));
      const result = await deliverAdt(p, readFileSync(join(ANS, 'sgl', 'ADT_A03_sortie.er7'), 'utf8'));
      expect(result.note).to.contain('ZBE-4 (action) empty: read as INSERT');
      const [visit] = await visits(p);
      expect(visit.status).to.equal('finished');
      expect(visit.period).to.deep.equal({ start: '2024-03-06T11:00:00+01:00', end: '2024-03-06T11:00:00+01:00' });
      expect(visit.identifier?.map((i) => i.value)).to.deep.equal(['000897406', '001', '002']);
    });
  });

  describe('visits', () => {
    it('records a pre-admission as planned, the admission of the same visit number as in-progress, one Encounter', async () => {
      await deliverAdt(p, adt('A05', { pv1: { cls: 'I', admit: '20240307080000' } }));
      expect((await visits(p))[0]).to.deep.include({ status: 'planned', period: { start: '2024-03-07T08:00:00+01:00' } });
      await deliverAdt(p, adt('A01', { pv1: { cls: 'I' }, zbe: '313^CHU-X^000897406|20240307081500||INSERT|N' }));
      const found = await visits(p);
      expect(found).to.have.length(1);
      expect(found[0].status).to.equal('in-progress');
    });

    it('cancels a planned visit (cancelled) and an admission (entered-in-error) on A11', async () => {
      await deliverAdt(p, adt('A05'));
      await deliverAdt(p, adt('A11', { zbe: '312^CHU-X^000897406|20240306110000||CANCEL|N|A05' }));
      expect((await visits(p))[0].status).to.equal('cancelled');
      await deliverAdt(p, adt('A01', { pv1: { visit: '42^^^CHU-X&000897406&M^VN' } }));
      await deliverAdt(p, adt('A11', { pv1: { visit: '42^^^CHU-X&000897406&M^VN' }, zbe: '312^CHU-X^000897406|20240306110000||CANCEL|N|A01' }));
      expect((await all<Encounter>(p, 'Encounter', { identifier: [`${IPP_SYSTEM}|42`] }))[0].status).to.equal('entered-in-error');
    });

    it('updates the patient on an A08 of an unknown visit and records no visit', async () => {
      const result = await deliverAdt(p, adt('A08', { pid5: 'PAT-TROIS^DOMINIQUE^^^^^L~MARTIN^DOMINIQUE^^^^^D', zbe: null }));
      expect(result.written.map((r) => r.split('/')[0])).to.deep.equal(['Patient']);
      expect(result.note).to.contain('visit 000897406 unknown');
      const [patient] = await all<Patient>(p, 'Patient');
      expect(patient.name?.map((n) => [n.use, n.family])).to.deep.equal([['official', 'PAT-TROIS'], ['usual', 'MARTIN']]);
    });
  });

  describe('bureau-des-entrées step', () => {
    beforeEach(() => addAdmissionsService(p));

    it('completes the waiting dossier: Encounter basedOn its ServiceRequest, Task venue-creee, send-report-dpi queued, acting as the CHU\'s admissions', async () => {
      const task = await seedWaiting(p, 'sr-adt');
      const result = await deliverAdt(p, adt('A04'));
      expect(result.written).to.include(`Task/${task.id}`);
      const [visit] = await visits(p);
      expect(visit.basedOn).to.deep.equal([{ reference: 'ServiceRequest/sr-adt' }]);
      expect(visit.subject).to.deep.equal({ reference: 'Patient/p-adt' });
      const after = await p.svc.read<Task>(SEED, 'Task', task.id as string);
      expect(stateOf(after)).to.equal('venue-creee');
      expect(after.encounter).to.deep.equal({ reference: `Encounter/${visit.id}` });
      const jobs = (await p.storage.jobs.list()).filter((j) => j.payload.task === `Task/${task.id}`);
      expect(jobs.map((j) => j.type)).to.deep.equal(['send-report-dpi']);
      const prov = (await all<Provenance>(p, 'Provenance')).find((r) => r.target[0].reference?.startsWith(`Task/${task.id}/`));
      expect(prov?.agent[0].who).to.deep.equal({ reference: BE_SERVICE });
      expect(prov?.activity?.coding?.[0].code).to.equal('creer-venue');
    });

    it('then files the CR in the DPI of the requis\' hospital: the queued send-report-dpi sends MDM^T02 to the partner serving it', async () => {
      const task = await seedWaiting(p, 'sr-cr');
      await p.svc.create(SEED, { resourceType: 'DiagnosticReport', status: 'final', basedOn: [{ reference: 'ServiceRequest/sr-cr' }],
        subject: { reference: 'Patient/p-adt' }, code: { text: 'Avis' }, conclusion: 'Avis rendu.' } as DiagnosticReport);
      await deliverAdt(p, adt('A04'));
      const [job] = (await p.storage.jobs.list({ type: 'send-report-dpi' })).filter((j) => j.payload.task === `Task/${task.id}`);
      const dpi = { ...GAM, host: '127.0.0.1', port: 2575 };
      await reportSenderHandlers({ svc: p.svc, partners: [dpi], identity: { application: 'TELEO', facility: 'TELEO' }, logger: createLogger('silent') })['send-report-dpi'](job);
      const [sent] = await p.storage.jobs.list({ type: 'hl7v2-send' });
      expect(sent.payload.partner).to.equal('gam-chu');
      const message = String(sent.payload.message).split('\r');
      expect(message[0].split('|')[8]).to.equal('MDM^T02^MDM_T02');
      expect(message.find((x) => x.startsWith('PV1|'))).to.contain('000897406');
      const cda = Buffer.from(message.find((x) => x.startsWith('OBX|1|ED|'))?.split('|')[5].split('^')[4] ?? '', 'base64').toString();
      expect(cda).to.contain('mediaType="text/plain"').and.contain(Buffer.from('Avis rendu.').toString('base64'));
    });

    it('gives the partner\'s principal no dossier role of its own: a transition it asks directly is refused (403)', async () => {
      const task = await seedWaiting(p, 'sr-adt');
      await p.svc.create(SEED, { resourceType: 'Encounter', status: 'in-progress', class: { code: 'AMB' }, basedOn: [{ reference: 'ServiceRequest/sr-adt' }] } as Encounter);
      expect((await rejection(applyTransition({ svc: p.svc }, GAM_CTX, task.id as string, 'creer-venue'))).status).to.equal(403);
    });

    it('links the visit but leaves the step when the organisation has no admissions service role', async () => {
      await p.svc.delete(SEED, 'PractitionerRole', 'be-service-chu');
      const task = await seedWaiting(p, 'sr-adt');
      const result = await deliverAdt(p, adt('A04'));
      expect(result.note).to.contain('no bureau-des-entrées service PractitionerRole');
      expect(stateOf(await p.svc.read<Task>(SEED, 'Task', task.id as string))).to.equal('repondue');
      expect((await visits(p))[0].basedOn).to.deep.equal([{ reference: 'ServiceRequest/sr-adt' }]);
    });

    it('picks the dossier whose ServiceRequest announced the visit number among several waiting, and none without it', async () => {
      const other = await seedWaiting(p, 'sr-other');
      const announced = await seedWaiting(p, 'sr-announced', 'repondue', { identifier: [{ system: IPP_SYSTEM, value: '000897406' }] });
      await deliverAdt(p, adt('A04'));
      expect(stateOf(await p.svc.read<Task>(SEED, 'Task', announced.id as string))).to.equal('venue-creee');
      expect(stateOf(await p.svc.read<Task>(SEED, 'Task', other.id as string))).to.equal('repondue');
      await seedWaiting(p, 'sr-third');
      const result = await deliverAdt(p, adt('A04', { pv1: { visit: '77^^^CHU-X&000897406&M^VN' } }));
      expect(result.note).to.match(/2 dossiers wait for a visit .* none linked/);
    });

    it('does not touch a dossier of another organisation, nor one not yet answered', async () => {
      const elsewhere = await seedWaiting(p, 'sr-ext', 'repondue', { owner: 'PractitionerRole/bernard-ext' });
      const early = await seedWaiting(p, 'sr-early', 'attribuee');
      await deliverAdt(p, adt('A01'));
      expect(stateOf(await p.svc.read<Task>(SEED, 'Task', elsewhere.id as string))).to.equal('repondue');
      expect(stateOf(await p.svc.read<Task>(SEED, 'Task', early.id as string))).to.equal('attribuee');
      expect((await visits(p))[0].basedOn).to.equal(undefined);
    });

    it('says that an A11 does not undo a completed step', async () => {
      await seedWaiting(p, 'sr-adt');
      await deliverAdt(p, adt('A01'));
      const result = await deliverAdt(p, adt('A11', { zbe: '312^CHU-X^000897406|20240306110000||CANCEL|N|A01' }));
      expect(result.note).to.contain('are not undone');
    });

    it('looks for dossiers of the partner\'s organisations only', async () => {
      const task = await seedWaiting(p, 'sr-adt');
      const result = await deliverAdt(p, adt('A04'), { ...GAM, organizations: [] });
      expect(result.note).to.contain('names no organisation');
      expect(stateOf(await p.svc.read<Task>(SEED, 'Task', task.id as string))).to.equal('repondue');
    });
  });

  describe('refusals', () => {
    const cases: [string, string, string, string][] = [
      ['PID-3 empty', adt('A01', { pid3: '' }), '101', 'PID-3'],
      ['PID-7 not a date', adt('A01', { pid7: '19791328' }), '102', 'PID-7'],
      ['PV1 missing', adt('A01', { pv1: null }), '100', 'PV1'],
      ['PV1-19 empty', adt('A04', { pv1: { visit: '' } }), '101', 'PV1-19'],
      ['PV1-19 without authority', adt('A04', { pv1: { visit: '123' } }), '101', 'PV1-19.4'],
      ['PV1-2 unknown class', adt('A01', { pv1: { cls: 'Z' } }), '103', 'PV1-2'],
      ['ZBE-4 CANCEL in an A01', adt('A01', { zbe: '312^CHU-X^000897406|20240306110000||CANCEL|N' }), '103', 'ZBE-4'],
      ['ZBE-1 empty', adt('A01', { zbe: '|20240306110000||INSERT|N' }), '101', 'ZBE-1'],
      ['A11 of an unknown visit', adt('A11', { zbe: '312^CHU-X^000897406|20240306110000||CANCEL|N|A01' }), '204', 'PV1-19'],
      ['A03 of an unknown visit', adt('A03'), '204', 'PV1-19'],
    ];
    for (const [what, text, code, location] of cases) {
      it(`refuses ${what}: ${code} at ${location}, nothing written`, async () => {
        const err = await refusal(deliverAdt(p, text));
        expect([err.code, err.location], err.text).to.deep.equal([code, location]);
        expect(await all<Patient>(p, 'Patient', { identifier: [`${IPP_SYSTEM}|000003`] })).to.have.length(0);
      });
    }
  });
});
