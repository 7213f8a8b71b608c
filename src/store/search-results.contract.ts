// Behavioural contract every Storage backend must pass (memory twin, PGlite, PostgreSQL): FHIR R4 §3.1.1 search results: sorting, paging, totals, _include/_revinclude, chains and _has.
// Same tests everywhere, so the twins agree.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { DiagnosticReport, Observation, Patient, Practitioner, Provenance, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { SearchResult } from './resource-store.js';
import { searchOf, type StorageContext } from './test-storages.js';
import { Fixture, SYS, key, pause, sorted } from './storage-contract-fixture.js';

export function searchResultsContract(_name: string, ctx: StorageContext): void {
  let fx: Fixture;
  const store = () => ctx.storage().resources;
  beforeEach(() => {
    fx = new Fixture(ctx.storage());
  });

  describe('search: sorting, paging and totals', () => {
    let pats: Patient[];
    beforeEach(async () => {
      pats = [];
      const rows: [string | undefined, string | undefined][] = [
        ['Bernard', '1975-02-01'], ['alain', '1990-07-14'], ['Émile', '1960-12-31'], ['Dubois', undefined], [undefined, '1985-01-01'],
      ];
      for (const [family, birthDate] of rows) {
        pats.push(await fx.create<Patient>({ resourceType: 'Patient', ...(family ? { name: [{ family }] } : {}), ...(birthDate ? { birthDate } : {}) }));
        await pause(3);
      }
    });
    const id = (i: number) => pats[i].id as string;

    it('sorts by a string ascending and descending, missing values last', async () => {
      expect(await fx.ordered('Patient', '_sort=family')).to.deep.equal([id(1), id(0), id(3), id(2), id(4)]);
      expect(await fx.ordered('Patient', '_sort=-family')).to.deep.equal([id(2), id(3), id(0), id(1), id(4)]);
    });

    it('sorts by a date ascending and descending, missing values last', async () => {
      expect(await fx.ordered('Patient', '_sort=birthdate')).to.deep.equal([id(2), id(0), id(4), id(1), id(3)]);
      expect(await fx.ordered('Patient', '_sort=-birthdate')).to.deep.equal([id(1), id(4), id(0), id(2), id(3)]);
    });

    it('sorts by _lastUpdated and newest first by default', async () => {
      const oldestFirst = pats.map((p) => p.id as string);
      expect(await fx.ordered('Patient', '_sort=_lastUpdated')).to.deep.equal(oldestFirst);
      expect(await fx.ordered('Patient', '_sort=-_lastUpdated')).to.deep.equal([...oldestFirst].reverse());
      expect(await fx.ordered('Patient', '')).to.deep.equal([...oldestFirst].reverse());
    });

    it('sorts by several keys', async () => {
      const twin = await fx.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Bernard' }], birthDate: '1999-01-01' });
      const order = await fx.ordered('Patient', '_sort=family,-birthdate');
      expect(order.slice(0, 3)).to.deep.equal([id(1), twin.id, id(0)]);
    });

    it('pages with _count and _offset and reports whether more exist', async () => {
      const all = await fx.ordered('Patient', '_sort=_lastUpdated');
      const p1 = await fx.search('Patient', '_sort=_lastUpdated&_count=2&_total=accurate');
      expect(p1.resources.map((r) => r.id)).to.deep.equal(all.slice(0, 2));
      expect(p1.hasMore).to.equal(true);
      expect(p1.total).to.equal(5);
      const p2 = await fx.search('Patient', '_sort=_lastUpdated&_count=2&_offset=2&_total=accurate');
      expect(p2.resources.map((r) => r.id)).to.deep.equal(all.slice(2, 4));
      expect(p2.hasMore).to.equal(true);
      expect(p2.total).to.equal(5);
      const p3 = await fx.search('Patient', '_sort=_lastUpdated&_count=2&_offset=4&_total=accurate');
      expect(p3.resources.map((r) => r.id)).to.deep.equal(all.slice(4));
      expect(p3.hasMore).to.equal(false);
      expect(p3.total).to.equal(5);
      const exact = await fx.search('Patient', '_count=5');
      expect(exact.resources).to.have.length(5);
      expect(exact.hasMore).to.equal(false);
      const beyond = await fx.search('Patient', '_count=2&_offset=10&_total=accurate');
      expect(beyond.resources).to.deep.equal([]);
      expect(beyond.hasMore).to.equal(false);
      expect(beyond.total).to.equal(5);
    });

    it('returns only the total with _count=0', async () => {
      const r = await fx.search('Patient', '_count=0');
      expect(r.resources).to.deep.equal([]);
      expect(r.total).to.equal(5);
      expect(r.hasMore).to.equal(false);
      expect((await fx.search('Patient', '_count=0&_total=none')).total).to.equal(undefined);
    });

    it('by default gives the total only when the last page tells it, without counting', async () => {
      expect((await fx.search('Patient', '_count=2')).total).to.equal(undefined); // a full page: more may follow
      expect((await fx.search('Patient', '_count=2&_offset=2')).total).to.equal(undefined);
      expect((await fx.search('Patient', '_count=2&_offset=4')).total).to.equal(5); // the last page: 4 + 1
      expect((await fx.search('Patient', '_count=10')).total).to.equal(5);
      expect((await fx.search('Patient', 'family=b&_count=1')).total).to.equal(1);
      expect((await fx.search('Patient', '_count=2&_offset=10')).total).to.equal(undefined); // past the end
      expect((await fx.search('Patient', '_count=5')).total).to.equal(5); // full, but the store looked one row ahead
    });

    it('counts with _total=accurate or estimate, and gives none with _total=none', async () => {
      expect((await fx.search('Patient', '_total=accurate&_count=1')).total).to.equal(5);
      expect((await fx.search('Patient', '_total=estimate&_count=1')).total).to.equal(5);
      const none = await fx.search('Patient', '_total=none&_count=1');
      expect(none.total).to.equal(undefined);
      expect(none.resources).to.have.length(1);
      expect(none.hasMore).to.equal(true);
      expect((await fx.search('Patient', '_total=none&_count=10')).total).to.equal(undefined);
    });
  });

  describe('search: _include and _revinclude', () => {
    let patient: Patient;
    let gp: Practitioner;
    let request: ServiceRequest;
    let task: Task;
    let prov: Provenance;
    beforeEach(async () => {
      gp = await store().create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: `Gp${fx.uid}` }] });
      patient = await store().create<Patient>({ resourceType: 'Patient', generalPractitioner: [{ reference: `Practitioner/${gp.id}` }] });
      request = await fx.create<ServiceRequest>({
        resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: `Patient/${patient.id}` },
      });
      task = await fx.create<Task>({
        resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${patient.id}` },
        basedOn: [{ reference: `ServiceRequest/${request.id}` }], owner: { reference: `Practitioner/${gp.id}` },
      });
      prov = await fx.create<Provenance>({
        resourceType: 'Provenance', recorded: '2024-05-01T10:00:00Z', target: [{ reference: `Task/${task.id}` }],
        agent: [{ who: { reference: `Practitioner/${gp.id}` } }],
      });
    });
    const keys = (r: SearchResult) => r.included.map(key).sort();

    it('includes referenced resources', async () => {
      const r = await fx.search('Task', `_id=${task.id}&_include=Task:patient&_include=Task:owner`);
      expect(r.resources.map(key)).to.deep.equal([`Task/${task.id}`]);
      expect(keys(r)).to.deep.equal([`Patient/${patient.id}`, `Practitioner/${gp.id}`].sort());
    });

    it('includes only the target type named by the include', async () => {
      const r = await fx.search('Task', `_id=${task.id}&_include=Task:owner:Organization`);
      expect(r.included).to.deep.equal([]);
      const r2 = await fx.search('Task', `_id=${task.id}&_include=Task:owner:Practitioner`);
      expect(keys(r2)).to.deep.equal([`Practitioner/${gp.id}`]);
    });

    it('includes referencing resources with _revinclude', async () => {
      const r = await fx.search('Task', `_id=${task.id}&_revinclude=Provenance:target`);
      expect(keys(r)).to.deep.equal([`Provenance/${prov.id}`]);
      const none = await fx.search('ServiceRequest', `_id=${request.id}&_revinclude=Provenance:target`);
      expect(none.included).to.deep.equal([]);
    });

    it('follows _include:iterate from included resources', async () => {
      const flat = await fx.search('Provenance', `_id=${prov.id}&_include=Provenance:target&_include=Task:patient`);
      expect(keys(flat)).to.deep.equal([`Task/${task.id}`]);
      const deep = await fx.search('Provenance', `_id=${prov.id}&_include=Provenance:target&_include:iterate=Task:patient`);
      expect(keys(deep)).to.deep.equal([`Patient/${patient.id}`, `Task/${task.id}`].sort());
      const chain = await fx.search('Task',
        `_id=${task.id}&_include=Task:based-on&_include:iterate=ServiceRequest:subject&_include:iterate=Patient:general-practitioner`);
      expect(keys(chain)).to.deep.equal([`Patient/${patient.id}`, `Practitioner/${gp.id}`, `ServiceRequest/${request.id}`].sort());
    });

    it('iterates _revinclude from included resources', async () => {
      const r = await fx.search('ServiceRequest',
        `_id=${request.id}&_revinclude=Task:based-on&_revinclude:iterate=Provenance:target`);
      expect(keys(r)).to.deep.equal([`Provenance/${prov.id}`, `Task/${task.id}`].sort());
    });

    it('does not include deleted resources', async () => {
      await store().delete('Practitioner', gp.id as string);
      const r = await fx.search('Task', `_id=${task.id}&_include=Task:owner`);
      expect(r.included).to.deep.equal([]);
    });

    it('includes nothing for an empty page', async () => {
      const r = await fx.search('Task', `_id=${randomUUID()}&_include=Task:patient`);
      expect(r.resources).to.deep.equal([]);
      expect(r.included).to.deep.equal([]);
    });
  });

  describe('search: chains and _has', () => {
    let gp: Practitioner;
    let patient: Patient;
    let other: Patient;
    let task: Task;
    let otherTask: Task;
    beforeEach(async () => {
      gp = await store().create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: `Médecin${fx.uid.slice(0, 8)}` }] });
      patient = await store().create<Patient>({
        resourceType: 'Patient', name: [{ family: `Lefèvre${fx.uid.slice(0, 8)}` }],
        identifier: [{ system: SYS, value: `pat-${fx.uid}` }], generalPractitioner: [{ reference: `Practitioner/${gp.id}` }],
      });
      other = await store().create<Patient>({ resourceType: 'Patient', name: [{ family: `Autre${fx.uid.slice(0, 8)}` }] });
      task = await fx.create<Task>({ resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${patient.id}` } });
      otherTask = await fx.create<Task>({ resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${other.id}` } });
    });

    it('matches a chained token parameter', async () => {
      expect(await fx.ids('Task', `patient.identifier=${SYS}|pat-${fx.uid}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `subject:Patient.identifier=pat-${fx.uid}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `patient.identifier=${SYS}|nobody`)).to.deep.equal([]);
    });

    it('matches a chained string parameter', async () => {
      expect(await fx.ids('Task', `patient.name=lefevre${fx.uid.slice(0, 8)}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', `patient.name=autre${fx.uid.slice(0, 8)}`)).to.deep.equal([otherTask.id]);
      expect(await fx.ids('Task', `patient.name=personne${fx.uid.slice(0, 8)}`)).to.deep.equal([]);
    });

    it('does not match through a deleted target', async () => {
      await store().delete('Patient', patient.id as string);
      expect(await fx.ids('Task', `patient.identifier=${SYS}|pat-${fx.uid}`)).to.deep.equal([]);
    });

    it('only matches through targets that exist', async () => {
      const ghost = randomUUID();
      const dangling = await fx.create<Task>({ resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${ghost}` } });
      expect(await fx.ids('Task', `patient=${ghost}`)).to.deep.equal([dangling.id]);
      expect(await fx.ids('Task', `patient._id=${ghost}`)).to.deep.equal([]);
      expect(await fx.ids('Task', `patient._id=${patient.id}`)).to.deep.equal([task.id]);
      expect(await fx.ids('Task', 'patient.birthdate:missing=true')).to.deep.equal(sorted(task.id, otherTask.id));
      expect(await fx.ids('Task', 'patient.gender:not=male')).to.deep.equal(sorted(task.id, otherTask.id));
      await store().delete('Patient', other.id as string);
      expect(await fx.ids('Task', `patient._id=${other.id}`)).to.deep.equal([]);
      expect(await fx.ids('Task', 'patient.birthdate:missing=true')).to.deep.equal([task.id]);
      expect(await fx.ids('Task', 'patient._lastUpdated=gt2000-01-01')).to.deep.equal([task.id]);
    });

    it('matches a two-level chain', async () => {
      const report = await fx.create<DiagnosticReport>({
        resourceType: 'DiagnosticReport', status: 'final', code: { text: 'IRM' }, subject: { reference: `Patient/${patient.id}` },
      });
      await fx.create<DiagnosticReport>({
        resourceType: 'DiagnosticReport', status: 'final', code: { text: 'IRM' }, subject: { reference: `Patient/${other.id}` },
      });
      const gpName = `medecin${fx.uid.slice(0, 8)}`;
      expect(await fx.ids('DiagnosticReport', `subject:Patient.general-practitioner.name=${gpName}`)).to.deep.equal([report.id]);
      expect(await fx.ids('DiagnosticReport', `subject:Patient.general-practitioner:Practitioner.name=${gpName}`)).to.deep.equal([report.id]);
      expect(await fx.ids('DiagnosticReport', 'subject:Patient.general-practitioner.name=nobody-at-all')).to.deep.equal([]);
    });

    it('matches _has on referencing resources', async () => {
      const code = `code-${fx.uid}`;
      await fx.create<Observation>({
        resourceType: 'Observation', status: 'final', code: { coding: [{ system: SYS, code }] }, subject: { reference: `Patient/${patient.id}` },
      });
      await fx.create<Observation>({
        resourceType: 'Observation', status: 'final', code: { coding: [{ system: SYS, code: 'other' }] }, subject: { reference: `Patient/${other.id}` },
      });
      const q = (s: string) => store().search(searchOf('Patient', `_id=${patient.id},${other.id}&${s}`)).then((r) => r.resources.map((x) => x.id).sort());
      expect(await q(`_has:Observation:patient:code=${code}`)).to.deep.equal([patient.id]);
      expect(await q(`_has:Observation:subject:code=${SYS}|other`)).to.deep.equal([other.id]);
      expect(await q('_has:Observation:patient:code=missing-code')).to.deep.equal([]);
      expect(await q(`_has:Task:patient:status=requested`)).to.deep.equal(sorted(patient.id, other.id));
    });

    it('matches nested _has', async () => {
      const obs = await fx.create<Observation>({
        resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${patient.id}` },
      });
      const obs2 = await fx.create<Observation>({
        resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${other.id}` },
      });
      await fx.create<DiagnosticReport>({
        resourceType: 'DiagnosticReport', status: 'final', code: { text: 'bilan' }, result: [{ reference: `Observation/${obs.id}` }],
      });
      await fx.create<DiagnosticReport>({
        resourceType: 'DiagnosticReport', status: 'preliminary', code: { text: 'bilan' }, result: [{ reference: `Observation/${obs2.id}` }],
      });
      const q = (s: string) => store().search(searchOf('Patient', `_id=${patient.id},${other.id}&${s}`)).then((r) => r.resources.map((x) => x.id).sort());
      expect(await q('_has:Observation:patient:_has:DiagnosticReport:result:status=final')).to.deep.equal([patient.id]);
      expect(await q('_has:Observation:patient:_has:DiagnosticReport:result:status=preliminary')).to.deep.equal([other.id]);
      expect(await q('_has:Observation:patient:_has:DiagnosticReport:result:status=cancelled')).to.deep.equal([]);
    });
  });

}
