// Behavioural contract every Storage backend must pass (memory twin, PGlite, PostgreSQL): FHIR R4 §3.1.1 search by parameter type: string, token, reference, date, number, quantity, uri, _id, _lastUpdated, :missing.
// Same tests everywhere, so the twins agree.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { ChargeItem, DiagnosticReport, Encounter, Observation, Patient, Subscription, Task } from '@medplum/fhirtypes';
import type { StorageContext } from './test-storages.js';
import { Fixture, SYS, pause, sorted } from './storage-contract-fixture.js';

export function searchParamsContract(_name: string, ctx: StorageContext): void {
  let fx: Fixture;
  const store = () => ctx.storage().resources;
  beforeEach(() => {
    fx = new Fixture(ctx.storage());
  });

  describe('search: string', () => {
    let dupont: Patient;
    let martin: Patient;
    beforeEach(async () => {
      dupont = await fx.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Dùpont', given: ['Élodie'] }] });
      martin = await fx.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Martin', given: ['Paul'] }] });
    });

    it('matches by case- and accent-insensitive prefix by default', async () => {
      expect(await fx.ids('Patient', 'family=dupont')).to.deep.equal([dupont.id]);
      expect(await fx.ids('Patient', 'family=DUP')).to.deep.equal([dupont.id]);
      expect(await fx.ids('Patient', 'given=elo')).to.deep.equal([dupont.id]);
      expect(await fx.ids('Patient', 'name=mar')).to.deep.equal([martin.id]);
      expect(await fx.ids('Patient', 'family=pont')).to.deep.equal([]);
      expect(await fx.ids('Patient', 'family=dupontx')).to.deep.equal([]);
    });

    it('matches :exact on the exact stored value only', async () => {
      expect(await fx.ids('Patient', 'family:exact=Dùpont')).to.deep.equal([dupont.id]);
      expect(await fx.ids('Patient', 'family:exact=dupont')).to.deep.equal([]);
      expect(await fx.ids('Patient', 'family:exact=Dùp')).to.deep.equal([]);
    });

    it('matches :contains anywhere in the value', async () => {
      expect(await fx.ids('Patient', 'family:contains=PONT')).to.deep.equal([dupont.id]);
      expect(await fx.ids('Patient', 'family:contains=rti')).to.deep.equal([martin.id]);
      expect(await fx.ids('Patient', 'family:contains=xyz')).to.deep.equal([]);
    });

    it('treats LIKE wildcards in the value literally', async () => {
      expect(await fx.ids('Patient', 'family=%25')).to.deep.equal([]);
      expect(await fx.ids('Patient', 'family:contains=_')).to.deep.equal([]);
    });

    it('ORs comma-separated values', async () => {
      expect(await fx.ids('Patient', 'family=dup,mart')).to.deep.equal(sorted(dupont.id, martin.id));
      expect(await fx.ids('Patient', 'family=xx,yy')).to.deep.equal([]);
    });

    it('ANDs repeated parameters', async () => {
      expect(await fx.ids('Patient', 'family=dup&given=elo')).to.deep.equal([dupont.id]);
      expect(await fx.ids('Patient', 'family=dup&given=paul')).to.deep.equal([]);
    });
  });

  describe('search: token', () => {
    const LOINC = 'http://loinc.org';
    let withSystem: Observation;
    let noSystem: Observation;
    let textOnly: Observation;
    beforeEach(async () => {
      withSystem = await fx.create<Observation>({
        resourceType: 'Observation', status: 'final',
        code: { coding: [{ system: LOINC, code: '15074-8', display: 'Glucose' }], text: 'Glycémie à jeun' },
      });
      noSystem = await fx.create<Observation>({
        resourceType: 'Observation', status: 'preliminary', code: { coding: [{ code: '15074-8' }] },
      });
      textOnly = await fx.create<Observation>({
        resourceType: 'Observation', status: 'final', code: { text: 'Tension artérielle' },
      });
    });

    it('matches a code in any system', async () => {
      expect(await fx.ids('Observation', 'code=15074-8')).to.deep.equal(sorted(withSystem.id, noSystem.id));
      expect(await fx.ids('Observation', 'code=99999-9')).to.deep.equal([]);
      expect(await fx.ids('Observation', 'status=final')).to.deep.equal(sorted(withSystem.id, textOnly.id));
    });

    it('matches system|code', async () => {
      expect(await fx.ids('Observation', `code=${LOINC}|15074-8`)).to.deep.equal([withSystem.id]);
      expect(await fx.ids('Observation', 'code=http://snomed.info/sct|15074-8')).to.deep.equal([]);
    });

    it('matches |code only when the coding has no system', async () => {
      expect(await fx.ids('Observation', 'code=|15074-8')).to.deep.equal([noSystem.id]);
      expect(await fx.ids('Observation', 'code=|99999-9')).to.deep.equal([]);
    });

    it('matches system| with any code of that system', async () => {
      expect(await fx.ids('Observation', `code=${LOINC}|`)).to.deep.equal([withSystem.id]);
      expect(await fx.ids('Observation', 'code=http://snomed.info/sct|')).to.deep.equal([]);
    });

    it('matches :not on resources without the code, including those without any value', async () => {
      const unknown = await fx.create<Patient>({ resourceType: 'Patient' });
      const male = await fx.create<Patient>({ resourceType: 'Patient', gender: 'male' });
      const female = await fx.create<Patient>({ resourceType: 'Patient', gender: 'female' });
      expect(await fx.ids('Patient', 'gender:not=male')).to.deep.equal(sorted(unknown.id, female.id));
      expect(await fx.ids('Patient', 'gender:not=male,female')).to.deep.equal([unknown.id]);
      expect(await fx.ids('Patient', 'gender=male')).to.deep.equal([male.id]);
      expect(await fx.ids('Observation', 'code:not=15074-8')).to.deep.equal([textOnly.id]);
    });

    it('matches :text on Coding.display and CodeableConcept.text', async () => {
      expect(await fx.ids('Observation', 'code:text=gluc')).to.deep.equal([withSystem.id]);
      expect(await fx.ids('Observation', 'code:text=tension arterielle')).to.deep.equal([textOnly.id]);
      expect(await fx.ids('Observation', 'code:text=glycemie')).to.deep.equal([withSystem.id]);
      expect(await fx.ids('Observation', 'code:text=cholesterol')).to.deep.equal([]);
    });

    it('matches identifiers by system|value and :of-type', async () => {
      const v2 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
      const ins = await fx.create<Patient>({
        resourceType: 'Patient',
        identifier: [{ type: { coding: [{ system: v2, code: 'MR' }] }, system: SYS, value: fx.uid }],
      });
      expect(await fx.ids('Patient', `identifier=${SYS}|${fx.uid}`)).to.deep.equal([ins.id]);
      expect(await fx.ids('Patient', `identifier=${fx.uid}`)).to.deep.equal([ins.id]);
      expect(await fx.ids('Patient', `identifier=urn:other|${fx.uid}`)).to.deep.equal([]);
      expect(await fx.ids('Patient', `identifier:of-type=${v2}|MR|${fx.uid}`)).to.deep.equal([ins.id]);
      expect(await fx.ids('Patient', `identifier:of-type=${v2}|SS|${fx.uid}`)).to.deep.equal([]);
      expect(await fx.ids('Patient', `identifier:of-type=${v2}|MR|other`)).to.deep.equal([]);
    });

    it('matches boolean tokens', async () => {
      const active = await fx.create<Patient>({ resourceType: 'Patient', active: true });
      const inactive = await fx.create<Patient>({ resourceType: 'Patient', active: false });
      expect(await fx.ids('Patient', 'active=true')).to.deep.equal([active.id]);
      expect(await fx.ids('Patient', 'active=false')).to.deep.equal([inactive.id]);
    });
  });

  describe('search: reference', () => {
    let patient: Patient;
    let other: Patient;
    let task: Task;
    let unowned: Task;
    beforeEach(async () => {
      patient = await fx.create<Patient>({ resourceType: 'Patient' });
      other = await fx.create<Patient>({ resourceType: 'Patient' });
      task = await fx.create<Task>({
        resourceType: 'Task', status: 'requested', intent: 'order',
        for: { reference: `Patient/${patient.id}` },
        owner: { identifier: { system: SYS, value: `owner-${fx.uid}` }, display: 'Dr Who' },
      });
      unowned = await fx.create<Task>({
        resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${other.id}` },
      });
    });

    it('matches a bare id and Type/id', async () => {
      expect(await fx.ids('Task', `subject=${patient.id}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `subject=Patient/${patient.id}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `patient=${other.id}`)).to.deep.equal([unowned.id]);
      expect(await fx.ids('Task', `subject=Patient/${randomUUID()}`)).to.deep.equal([]);
      expect(await fx.ids('Task', `subject=Device/${patient.id}`)).to.deep.equal([]);
    });

    it('matches with a :Type modifier', async () => {
      expect(await fx.ids('Task', `subject:Patient=${patient.id}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `subject:Device=${patient.id}`)).to.deep.equal([]);
    });

    it('matches an absolute URL reference value', async () => {
      expect(await fx.ids('Task', `subject=https://fhir.example.org/fhir/Patient/${patient.id}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `subject=https://fhir.example.org/fhir/Patient/${randomUUID()}`)).to.deep.equal([]);
    });

    it('matches a stored absolute reference by its URL', async () => {
      const url = `https://elsewhere.example.org/fhir/Patient/${fx.uid}`;
      const ext = await fx.create<Task>({ resourceType: 'Task', status: 'draft', intent: 'order', for: { reference: url } });
      expect(await fx.ids('Task', `subject=${url}`)).to.deep.equal([ext.id]);
    });

    it('matches :identifier on Reference.identifier', async () => {
      expect(await fx.ids('Task', `owner:identifier=${SYS}|owner-${fx.uid}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `owner:identifier=owner-${fx.uid}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `owner:identifier=${SYS}|someone-else`)).to.deep.equal([]);
      expect(await fx.ids('Task', `owner:identifier=urn:other|owner-${fx.uid}`)).to.deep.equal([]);
    });

    it('matches :missing on references', async () => {
      const orphan = await fx.create<Task>({ resourceType: 'Task', status: 'draft', intent: 'order' });
      expect(await fx.ids('Task', 'subject:missing=true')).to.deep.equal([orphan.id]);
      expect(await fx.ids('Task', 'subject:missing=false')).to.deep.equal(sorted(task.id, unowned.id));
    });
    it('pages the referring resources by _lastUpdated, each once, with the other predicates applied', async () => {
      const owner = `PractitionerRole/${fx.uid}`;
      const made: Task[] = [];
      for (let i = 0; i < 7; i++) {
        made.push(await fx.create<Task>({
          resourceType: 'Task', status: i % 2 === 0 ? 'requested' : 'accepted', intent: 'order', owner: { reference: owner },
          ...(i === 4 ? { owner: { reference: `https://fhir.example.org/fhir/${owner}` } } : {}),
        }));
        await pause(3);
      }
      // a relative and an absolute reference to the same target: two index rows, one match
      const twice = await fx.create<DiagnosticReport>({
        resourceType: 'DiagnosticReport', status: 'final', code: { text: 'x' },
        result: [{ reference: `Observation/${fx.uid}` }, { reference: `https://fhir.example.org/fhir/Observation/${fx.uid}` }],
      });
      const newest = made.map((t) => t.id as string).reverse();
      const requested = made.filter((t) => t.status === 'requested').map((t) => t.id as string).reverse();
      expect(await fx.ordered('Task', `owner=${owner}`)).to.deep.equal(newest);
      expect(await fx.ordered('Task', `owner=${owner}&_sort=-_lastUpdated`)).to.deep.equal(newest);
      expect(await fx.ordered('Task', `owner=${owner}&_sort=_lastUpdated`)).to.deep.equal([...newest].reverse());
      expect(await fx.ordered('Task', `owner=${owner}&status=requested`)).to.deep.equal(requested);
      expect(await fx.ordered('Task', `owner=${owner}&status=requested&_count=2&_offset=1`)).to.deep.equal(requested.slice(1, 3));
      const page = await fx.search('Task', `owner=${owner}&_count=3&_offset=3&_total=accurate`);
      expect(page.resources.map((r) => r.id)).to.deep.equal(newest.slice(3, 6));
      expect(page.total).to.equal(7);
      expect(page.hasMore).to.equal(true);
      expect(await fx.ordered('DiagnosticReport', `result=Observation/${fx.uid}`)).to.deep.equal([twice.id]);
      expect(await fx.ordered('DiagnosticReport', `result=${fx.uid}`)).to.deep.equal([twice.id]);
      // after an update the resource moves to the front, after a delete it is gone
      await store().update({ ...made[0], status: 'requested' });
      await store().delete('Task', made[6].id as string);
      expect((await fx.ordered('Task', `owner=${owner}`)).slice(0, 2)).to.deep.equal([made[0].id, made[5].id]);
      expect(await fx.ordered('Task', `owner=${owner}`)).to.not.include(made[6].id);
    });

    it('pages the resources referring to any of several targets by _lastUpdated, each once', async () => {
      const [a, b] = [`PractitionerRole/a-${fx.uid}`, `CareTeam/b-${fx.uid}`];
      const made: Task[] = [];
      for (let i = 0; i < 6; i++) {
        made.push(await fx.create<Task>({
          resourceType: 'Task', status: i % 3 === 0 ? 'accepted' : 'requested', intent: 'order', owner: { reference: i % 2 === 0 ? a : b },
        }));
        await pause(3);
      }
      const both = await fx.create<DiagnosticReport>({
        resourceType: 'DiagnosticReport', status: 'final', code: { text: 'x' },
        result: [{ reference: `Observation/x-${fx.uid}` }, { reference: `Observation/y-${fx.uid}` }],
      });
      const newest = made.map((t) => t.id as string).reverse();
      const requested = made.filter((t) => t.status === 'requested').map((t) => t.id as string).reverse();
      expect(await fx.ordered('Task', `owner=${a},${b}`)).to.deep.equal(newest);
      expect(await fx.ordered('Task', `owner=${a},${b}&_sort=_lastUpdated`)).to.deep.equal([...newest].reverse());
      expect(await fx.ordered('Task', `owner=${a},${b},PractitionerRole/none-${fx.uid}&status=requested`)).to.deep.equal(requested);
      expect(await fx.ordered('Task', `owner=${b},${a}&_count=2&_offset=1`)).to.deep.equal(newest.slice(1, 3));
      expect(await fx.ordered('DiagnosticReport', `result=Observation/x-${fx.uid},Observation/y-${fx.uid}`)).to.deep.equal([both.id]);
    });
  });

  describe('search: date', () => {
    let p1980: Patient;
    let p1990: Patient;
    let noDate: Patient;
    beforeEach(async () => {
      p1980 = await fx.create<Patient>({ resourceType: 'Patient', birthDate: '1980-05-17' });
      p1990 = await fx.create<Patient>({ resourceType: 'Patient', birthDate: '1990-01-01' });
      noDate = await fx.create<Patient>({ resourceType: 'Patient' });
    });

    it('matches eq at year, month and day precision', async () => {
      expect(await fx.ids('Patient', 'birthdate=1980')).to.deep.equal([p1980.id]);
      expect(await fx.ids('Patient', 'birthdate=1980-05')).to.deep.equal([p1980.id]);
      expect(await fx.ids('Patient', 'birthdate=1980-05-17')).to.deep.equal([p1980.id]);
      expect(await fx.ids('Patient', 'birthdate=eq1990-01-01')).to.deep.equal([p1990.id]);
      expect(await fx.ids('Patient', 'birthdate=1981')).to.deep.equal([]);
      expect(await fx.ids('Patient', 'birthdate=1980-06')).to.deep.equal([]);
      expect(await fx.ids('Patient', 'birthdate=1980-05-18')).to.deep.equal([]);
      // a day is wider than an instant within it: eq does not match
      expect(await fx.ids('Patient', 'birthdate=1980-05-17T10:00:00Z')).to.deep.equal([]);
    });

    it('applies gt, lt, ge and le to the value range', async () => {
      expect(await fx.ids('Patient', 'birthdate=gt1980-05-16')).to.deep.equal(sorted(p1980.id, p1990.id));
      expect(await fx.ids('Patient', 'birthdate=gt1980-05-17')).to.deep.equal([p1990.id]);
      expect(await fx.ids('Patient', 'birthdate=lt1980-05-18')).to.deep.equal([p1980.id]);
      expect(await fx.ids('Patient', 'birthdate=lt1980-05-17')).to.deep.equal([]);
      expect(await fx.ids('Patient', 'birthdate=ge1980-05-17')).to.deep.equal(sorted(p1980.id, p1990.id));
      expect(await fx.ids('Patient', 'birthdate=ge1980-05-18')).to.deep.equal([p1990.id]);
      expect(await fx.ids('Patient', 'birthdate=le1980-05-17')).to.deep.equal([p1980.id]);
      expect(await fx.ids('Patient', 'birthdate=le1980-05-16')).to.deep.equal([]);
    });

    it('applies sa, eb and ne', async () => {
      expect(await fx.ids('Patient', 'birthdate=sa1980-05-16')).to.deep.equal(sorted(p1980.id, p1990.id));
      expect(await fx.ids('Patient', 'birthdate=sa1980-05-17')).to.deep.equal([p1990.id]);
      expect(await fx.ids('Patient', 'birthdate=eb1980-05-18')).to.deep.equal([p1980.id]);
      expect(await fx.ids('Patient', 'birthdate=eb1980-05-17')).to.deep.equal([]);
      expect(await fx.ids('Patient', 'birthdate=ne1980-05-17')).to.deep.equal([p1990.id]);
      expect(await fx.ids('Patient', 'birthdate=ne1980')).to.deep.equal([p1990.id]);
    });

    it('ORs comma-separated values with mixed prefixes', async () => {
      expect(await fx.ids('Patient', 'birthdate=lt1970,1980-05-17')).to.deep.equal([p1980.id]);
      expect(await fx.ids('Patient', 'birthdate=1980,ge1990')).to.deep.equal(sorted(p1980.id, p1990.id));
      expect(await fx.ids('Patient', 'birthdate=lt1970,gt1995')).to.deep.equal([]);
    });

    it('ANDs two date parameters into a range', async () => {
      expect(await fx.ids('Patient', 'birthdate=ge1980&birthdate=lt1985')).to.deep.equal([p1980.id]);
    });

    it('matches :missing on dates', async () => {
      expect(await fx.ids('Patient', 'birthdate:missing=true')).to.deep.equal([noDate.id]);
      expect(await fx.ids('Patient', 'birthdate:missing=false')).to.deep.equal(sorted(p1980.id, p1990.id));
    });

    it('compares Period values by their start and end', async () => {
      const march = await fx.create<Encounter>({
        resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' },
        period: { start: '2024-03-01T08:00:00Z', end: '2024-03-10T18:00:00Z' },
      });
      const open = await fx.create<Encounter>({
        resourceType: 'Encounter', status: 'in-progress', class: { code: 'IMP' }, period: { start: '2024-06-01' },
      });
      expect(await fx.ids('Encounter', 'date=2024-03')).to.deep.equal([march.id]);
      expect(await fx.ids('Encounter', 'date=2024-03-05')).to.deep.equal([]);
      expect(await fx.ids('Encounter', 'date=ge2024-03-05')).to.deep.equal(sorted(march.id, open.id));
      expect(await fx.ids('Encounter', 'date=le2024-03-05')).to.deep.equal([march.id]);
      expect(await fx.ids('Encounter', 'date=gt2024-03-10T18:00:00Z')).to.deep.equal([open.id]);
      expect(await fx.ids('Encounter', 'date=lt2024-03-01')).to.deep.equal([]);
      expect(await fx.ids('Encounter', 'date=sa2024-02-28')).to.deep.equal(sorted(march.id, open.id));
      expect(await fx.ids('Encounter', 'date=eb2024-03-11')).to.deep.equal([march.id]);
      expect(await fx.ids('Encounter', 'date=eb2024-03-10')).to.deep.equal([]);
      expect(await fx.ids('Encounter', 'date=ge2030-01-01')).to.deep.equal([open.id]);
    });

    it('honours time zones of dateTime values', async () => {
      const enc = await fx.create<Encounter>({
        resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' },
        period: { start: '2024-03-01T23:30:00+02:00', end: '2024-03-01T23:45:00+02:00' },
      });
      expect(await fx.ids('Encounter', 'date=2024-03-01')).to.deep.equal([enc.id]);
      expect(await fx.ids('Encounter', `date=${encodeURIComponent('2024-03-01T22:00:00+01:00')}`)).to.deep.equal([]);
      expect(await fx.ids('Encounter', 'date=gt2024-03-01T21:00:00Z')).to.deep.equal([enc.id]);
    });
  });

  describe('search: number, quantity and uri', () => {
    it('matches numbers with implicit precision and prefixes', async () => {
      const ci = await fx.create<ChargeItem>({
        resourceType: 'ChargeItem', status: 'billable', code: { text: 'acte' }, subject: { reference: 'Patient/x' },
        factorOverride: 0.8,
      });
      const big = await fx.create<ChargeItem>({
        resourceType: 'ChargeItem', status: 'billable', code: { text: 'acte' }, subject: { reference: 'Patient/x' },
        factorOverride: 12,
      });
      expect(await fx.ids('ChargeItem', 'factor-override=0.8')).to.deep.equal([ci.id]);
      expect(await fx.ids('ChargeItem', 'factor-override=0.80')).to.deep.equal([ci.id]);
      expect(await fx.ids('ChargeItem', 'factor-override=0.9')).to.deep.equal([]);
      expect(await fx.ids('ChargeItem', 'factor-override=12')).to.deep.equal([big.id]);
      expect(await fx.ids('ChargeItem', 'factor-override=gt1')).to.deep.equal([big.id]);
      expect(await fx.ids('ChargeItem', 'factor-override=lt1')).to.deep.equal([ci.id]);
      expect(await fx.ids('ChargeItem', 'factor-override=ge0.8')).to.deep.equal(sorted(ci.id, big.id));
      expect(await fx.ids('ChargeItem', 'factor-override=le0.5')).to.deep.equal([]);
      expect(await fx.ids('ChargeItem', 'factor-override=ne12')).to.deep.equal([ci.id]);
    });

    it('matches quantities by value, system and unit', async () => {
      const UCUM = 'http://unitsofmeasure.org';
      const mmol = await fx.create<Observation>({
        resourceType: 'Observation', status: 'final', code: { text: 'glucose' },
        valueQuantity: { value: 5.4, unit: 'mmol/L', system: UCUM, code: 'mmol/L' },
      });
      const mg = await fx.create<Observation>({
        resourceType: 'Observation', status: 'final', code: { text: 'glucose' },
        valueQuantity: { value: 98, unit: 'mg/dL', system: UCUM, code: 'mg/dL' },
      });
      expect(await fx.ids('Observation', 'value-quantity=5.4')).to.deep.equal([mmol.id]);
      expect(await fx.ids('Observation', `value-quantity=5.4|${UCUM}|mmol/L`)).to.deep.equal([mmol.id]);
      expect(await fx.ids('Observation', 'value-quantity=5.4||mmol/L')).to.deep.equal([mmol.id]);
      expect(await fx.ids('Observation', `value-quantity=5.4|${UCUM}|mg/dL`)).to.deep.equal([]);
      expect(await fx.ids('Observation', 'value-quantity=5.4|urn:other|mmol/L')).to.deep.equal([]);
      expect(await fx.ids('Observation', 'value-quantity=gt5')).to.deep.equal(sorted(mmol.id, mg.id));
      expect(await fx.ids('Observation', `value-quantity=gt5|${UCUM}|mmol/L`)).to.deep.equal([mmol.id]);
      expect(await fx.ids('Observation', 'value-quantity=lt5')).to.deep.equal([]);
      expect(await fx.ids('Observation', 'value-quantity=6')).to.deep.equal([]);
    });

    it('matches uris exactly, :below and :above', async () => {
      const base = `https://hooks.example.org/${fx.uid}`;
      const sub = await fx.create<Subscription>({
        resourceType: 'Subscription', status: 'active', reason: 'test', criteria: 'Task?status=requested',
        channel: { type: 'rest-hook', endpoint: `${base}/notify` },
      });
      expect(await fx.ids('Subscription', `url=${base}/notify`)).to.deep.equal([sub.id]);
      expect(await fx.ids('Subscription', `url=${base}`)).to.deep.equal([]);
      expect(await fx.ids('Subscription', `url:below=${base}/`)).to.deep.equal([sub.id]);
      expect(await fx.ids('Subscription', 'url:below=https://other.example.org/')).to.deep.equal([]);
      expect(await fx.ids('Subscription', `url:above=${base}/notify/deeper/path`)).to.deep.equal([sub.id]);
      expect(await fx.ids('Subscription', `url:above=${base}/other`)).to.deep.equal([]);
    });

    it('matches _profile on meta.profile', async () => {
      const profile = `https://teleo.example.org/StructureDefinition/${fx.uid}`;
      const p = await fx.create<Patient>({ resourceType: 'Patient', meta: { profile: [profile] } });
      await fx.create<Patient>({ resourceType: 'Patient' });
      expect(await fx.ids('Patient', `_profile=${profile}`)).to.deep.equal([p.id]);
      expect(await fx.ids('Patient', `_profile=${profile}-v2`)).to.deep.equal([]);
    });
  });

  describe('search: _id, _lastUpdated and :missing', () => {
    it('matches _id with one or several ids', async () => {
      const a = await fx.create<Patient>({ resourceType: 'Patient' });
      const b = await fx.create<Patient>({ resourceType: 'Patient' });
      await fx.create<Patient>({ resourceType: 'Patient' });
      expect(await fx.ids('Patient', `_id=${a.id}`)).to.deep.equal([a.id]);
      expect(await fx.ids('Patient', `_id=${a.id},${b.id}`)).to.deep.equal(sorted(a.id, b.id));
      expect(await fx.ids('Patient', `_id=${randomUUID()}`)).to.deep.equal([]);
    });

    it('matches _lastUpdated with gt, lt and a day', async () => {
      const a = await fx.create<Patient>({ resourceType: 'Patient' });
      await pause();
      const b = await fx.create<Patient>({ resourceType: 'Patient' });
      const ta = a.meta?.lastUpdated as string;
      const tb = b.meta?.lastUpdated as string;
      expect(await fx.ids('Patient', `_lastUpdated=gt${ta}`)).to.deep.equal([b.id]);
      expect(await fx.ids('Patient', `_lastUpdated=lt${tb}`)).to.deep.equal([a.id]);
      expect(await fx.ids('Patient', `_lastUpdated=ge${ta}`)).to.deep.equal(sorted(a.id, b.id));
      expect(await fx.ids('Patient', `_lastUpdated=${ta}`)).to.deep.equal([a.id]);
      expect(await fx.ids('Patient', `_lastUpdated=gt${tb}`)).to.deep.equal([]);
      expect(await fx.ids('Patient', `_lastUpdated=${ta.slice(0, 10)}`)).to.include(a.id);
      expect(await fx.ids('Patient', '_lastUpdated=lt2000-01-01')).to.deep.equal([]);
    });

    it('matches :missing on strings and tokens', async () => {
      const named = await fx.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Durand' }], gender: 'male' });
      const anon = await fx.create<Patient>({ resourceType: 'Patient' });
      expect(await fx.ids('Patient', 'family:missing=true')).to.deep.equal([anon.id]);
      expect(await fx.ids('Patient', 'family:missing=false')).to.deep.equal([named.id]);
      expect(await fx.ids('Patient', 'gender:missing=true')).to.deep.equal([anon.id]);
      expect(await fx.ids('Patient', 'gender:missing=false')).to.deep.equal([named.id]);
    });
  });

}
