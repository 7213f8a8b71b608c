// [base]/$stats over HTTP: a seeded year of télédossiers, counted and timed as a FHIR R4 MeasureReport.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Bundle, CapabilityStatement, MeasureReport, MeasureReportGroup, OperationOutcome, Provenance, Task } from '@medplum/fhirtypes';
import { loadDefinitions, PLATFORM_RESOURCE_TYPES } from '../fhir/definitions.js';
import { createSearchRegistry } from '../fhir/search-registry.js';
import { createValidator } from '../fhir/validation.js';
import { createLogger } from '../kernel/logger.js';
import { createMemoryBlobStore } from '../store/memory-blob-store.js';
import { createMemoryStorage } from '../store/memory-storage.js';
import { createScopeAccessPolicy } from '../workflow/access-policy.js';
import { createResourceService } from '../workflow/resource-service.js';
import { createTaskStatusGuard } from '../workflow/teleexpertise/task-status-guard.js';
import { READ_RECEIPT_URL } from '../workflow/teleexpertise/dossier-model.js';
import { DOSSIER_STATUS_SYSTEM, WORKFLOW_SYSTEM } from '../workflow/teleexpertise/workflow-definition.js';
import { createApp } from './app.js';
import { createJwtAuthenticator } from './auth/jwt-authenticator.js';
import { signDevToken } from './auth/dev-keys.js';
import { statsOperation } from './stats-operation.js';
import type { Storage } from '../store/resource-store.js';
import { datasetBundle, dossierSpecs, expectedFacts, readReceipts, regionOf, taskFullUrl, WORKFLOW_CODES, type Expected } from './stats-test-dataset.js';
import { httpBackends, startTestServer } from './test-server.js';

interface Harness {
  /** The harness's storage, for what only the platform writes (read receipts). */
  storage: Storage;
  fhir(path: string, init?: RequestInit & { token?: string }): Promise<Response>;
  token(opts: { fhirUser: string; role?: string; scope: string }): Promise<string>;
  /** The whole platform (participant visibility, read receipts, $transition), not only the REST app. */
  platform: boolean;
  close(): Promise<void>;
}

const PAGE = 7; // search pages much smaller than the data set: the gathering must page

/** The platform (PGlite or PostgreSQL) on port 0, with search pages of PAGE Tasks. */
async function platformHarness(backend: 'pglite' | 'postgres'): Promise<Harness> {
  const server = await startTestServer(backend, { searchDefaultCount: PAGE, searchMaxCount: PAGE });
  return {
    storage: server.platform.storage,
    fhir: (path, init) => server.fhir(path, init),
    token: (opts) => server.token(opts),
    platform: true,
    close: () => server.close(),
  };
}

/** The same HTTP app over the in-memory storage (the platform itself always runs on PostgreSQL or PGlite). */
async function memoryHarness(): Promise<Harness> {
  const defs = loadDefinitions(join(process.cwd(), 'profiles'));
  const registry = createSearchRegistry(PLATFORM_RESOURCE_TYPES);
  const logger = createLogger('silent');
  const searchDefaults = { defaultCount: PAGE, maxCount: PAGE };
  const storage = createMemoryStorage(registry);
  const svc = createResourceService({
    storage, registry, validator: createValidator(defs.profiles), access: createScopeAccessPolicy(),
    logger, searchDefaults, writeGuards: [createTaskStatusGuard()],
  });
  const issuer = 'urn:test:stats';
  const secret = randomBytes(32).toString('hex');
  const { app } = createApp({
    svc, blobs: createMemoryBlobStore(), authenticator: await createJwtAuthenticator([{ issuer, secret }]), logger,
    baseUrl: 'http://localhost/fhir', maxJsonBytes: 16 * 1024 * 1024, maxBinaryBytes: 1024 * 1024, searchDefaults, profiles: {},
    version: 'test', operations: [statsOperation(svc)], health: async () => undefined,
  });
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
  const token = (opts: { fhirUser: string; role?: string; scope: string }) => signDevToken({ secret, issuer, sub: 'tester', ...opts });
  return {
    storage,
    async fhir(path, init = {}) {
      const headers = new Headers(init.headers);
      headers.set('Authorization', `Bearer ${init.token ?? await token({ fhirUser: 'Device/stats-test', scope: 'system/*.cruds' })}`);
      if (typeof init.body === 'string') headers.set('Content-Type', 'application/fhir+json');
      return fetch(`${base}${path}`, { ...init, headers });
    },
    token,
    platform: false,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// -- reading the report ------------------------------------------------------------------------------------------

type Stratum = { count: number; measured?: number; minutes?: number };
const pop = (populations: { code?: { coding?: { code?: string }[] }; count?: number }[] | undefined, code: string) =>
  populations?.find((p) => p.code?.coding?.[0]?.code === code)?.count;

function group(report: MeasureReport, code: string): MeasureReportGroup {
  const g = report.group?.find((x) => x.code?.coding?.[0]?.code === code);
  expect(g, `group ${code}`).to.not.equal(undefined);
  return g as MeasureReportGroup;
}

/** The strata of one stratifier, keyed by value text, or by component value texts joined with '|'. */
function strata(report: MeasureReport, groupCode: string, stratifier: string): Map<string, Stratum> {
  const s = group(report, groupCode).stratifier?.find((x) => x.code?.[0]?.coding?.[0]?.code === stratifier);
  expect(s, `stratifier ${groupCode}/${stratifier}`).to.not.equal(undefined);
  return new Map((s?.stratum ?? []).map((st) => [
    st.value?.text ?? (st.component ?? []).map((c) => c.value.text).join('|'),
    { count: pop(st.population, 'initial-population') as number, measured: pop(st.population, 'measure-population'), minutes: st.measureScore?.value },
  ]));
}

const counts = (m: Map<string, Stratum>) => new Map([...m].map(([k, v]) => [k, v.count]));

// -- the expected figures, computed from the generator's choices -------------------------------------------------

function countBy(facts: Expected[], keys: (e: Expected) => string[], zeros: string[] = []): Map<string, number> {
  const out = new Map<string, number>(zeros.map((z) => [z, 0]));
  for (const f of facts) for (const k of keys(f)) out.set(k, (out.get(k) ?? 0) + 1);
  return out;
}
const orgKey = (org: string) => (org === 'unknown' ? 'unknown' : `Organization/${org}`);
function medianOf(xs: number[]): number | undefined {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
function p90Of(xs: number[]): number | undefined {
  const s = [...xs].sort((a, b) => a - b);
  for (let i = 0; i < s.length; i++) if ((i + 1) / s.length >= 0.9) return s[i];
  return undefined;
}

const PERIOD = '?period-start=2024-01-01&period-end=2024-12-31';
const IMAGE_STRATA = ['c-store', 'pacs-query', 'file-import', 'stow-rs', 'none'];

const harnesses: [string, () => Promise<Harness>][] = [
  ['memory', memoryHarness],
  ...httpBackends().map((b): [string, () => Promise<Harness>] => [b, () => platformHarness(b)]),
];

for (const [name, start] of harnesses) {
  describe(`$stats over HTTP (${name})`, () => {
    let h: Harness;
    const specs = dossierSpecs();
    const expected = expectedFacts(specs);
    let report: MeasureReport;

    before(async () => {
      h = await start();
      const bundle = datasetBundle(specs);
      const res = await h.fhir('/', { method: 'POST', body: JSON.stringify(bundle) });
      expect(res.status).to.equal(200);
      const response = (await res.json()) as Bundle;
      const locations = new Map((bundle.entry ?? []).map((e, n) => [e.fullUrl, response.entry?.[n].response?.location]));
      for (const [n, spec] of specs.entries()) {
        if (spec.reads.length === 0) continue;
        const id = String(locations.get(taskFullUrl(n))).split('/')[1];
        const task = await h.storage.resources.read<Task>('Task', id);
        await h.storage.resources.update({ ...task, extension: [...task.extension ?? [], ...readReceipts(spec)] });
      }
      const got = await h.fhir(`/$stats${PERIOD}`);
      expect(got.status, await got.clone().text()).to.equal(200);
      report = (await got.json()) as MeasureReport;
    });
    after(() => h.close());

    it('answers a complete summary MeasureReport for the requested period', () => {
      expect(report.resourceType).to.equal('MeasureReport');
      expect(report.status).to.equal('complete');
      expect(report.type).to.equal('summary');
      expect(report.period).to.deep.equal({ start: '2024-01-01', end: '2024-12-31' });
    });

    it('counts dossiers per workflow, Paris month and year, leaving out steps, plain Tasks and other periods', () => {
      expect(pop(group(report, 'volume').population, 'initial-population')).to.equal(expected.length);
      expect(counts(strata(report, 'volume', 'workflow'))).to.deep.equal(countBy(expected, (e) => [e.spec.workflow], WORKFLOW_CODES));
      const months = strata(report, 'volume', 'month');
      expect(counts(months)).to.deep.equal(countBy(expected, (e) => [e.month]));
      expect([...months.keys()]).to.deep.equal([...months.keys()].sort()); // in calendar order
      expect(counts(strata(report, 'volume', 'year'))).to.deep.equal(new Map([['2024', expected.length]]));
      expect(counts(strata(report, 'volume', 'workflow-month'))).to.deep.equal(countBy(expected, (e) => [`${e.spec.workflow}|${e.month}`]));
      expect(counts(strata(report, 'volume', 'workflow-year'))).to.deep.equal(countBy(expected, (e) => [`${e.spec.workflow}|2024`]));
    });

    it('counts dossiers per requesting and requested establishment (role, community and organization owners)', () => {
      expect(counts(strata(report, 'establishment', 'requester-organization'))).to.deep.equal(countBy(expected, (e) => [orgKey(e.requesterOrg)]));
      expect(counts(strata(report, 'establishment', 'requis-organization'))).to.deep.equal(countBy(expected, (e) => [orgKey(e.requisOrg)]));
    });

    it('counts dossiers by how their images came in, "none" without an exam', () => {
      expect(counts(strata(report, 'image-source', 'image-source'))).to.deep.equal(countBy(expected, (e) => e.sources, IMAGE_STRATA));
      expect(counts(strata(report, 'image-source', 'requester-organization-image-source')))
        .to.deep.equal(countBy(expected, (e) => e.sources.map((s) => `${orgKey(e.requesterOrg)}|${s}`)));
    });

    it('counts flows between regions found from address.state, postal code or FINESS number', () => {
      const flow = (e: Expected) => {
        const [a, b] = [regionOf(e.requesterOrg), regionOf(e.requisOrg)];
        return a === 'unknown' || b === 'unknown' ? 'unknown' : a === b ? 'intra-regional' : 'inter-regional';
      };
      expect(counts(strata(report, 'inter-regional', 'flow'))).to.deep.equal(countBy(expected, (e) => [flow(e)], ['intra-regional', 'inter-regional']));
      expect(counts(strata(report, 'inter-regional', 'region-flow')))
        .to.deep.equal(countBy(expected, (e) => [`${regionOf(e.requesterOrg)}|${regionOf(e.requisOrg)}`]));
    });

    for (const [code, at, stat] of [
      ['time-to-first-read', (e: Expected) => e.firstReadMin, medianOf], ['time-to-first-read-p90', (e: Expected) => e.firstReadMin, p90Of],
      ['time-to-answer', (e: Expected) => e.answerMin, medianOf], ['time-to-answer-p90', (e: Expected) => e.answerMin, p90Of],
    ] as const) {
      it(`gives ${code} in minutes, overall and per workflow (first requis-side read / first answering transition)`, () => {
        const values = (es: Expected[]) => es.map(at).filter((v): v is number => v !== undefined);
        const g = group(report, code);
        expect(pop(g.population, 'measure-population')).to.equal(values(expected).length);
        expect(g.measureScore?.value).to.equal(stat(values(expected)));
        expect(g.measureScore?.code).to.equal('min');
        const got = strata(report, code, 'workflow');
        for (const w of WORKFLOW_CODES) {
          const mine = values(expected.filter((e) => e.spec.workflow === w));
          expect(got.get(w), w).to.deep.equal({ count: expected.filter((e) => e.spec.workflow === w).length, measured: mine.length, minutes: stat(mine) });
        }
      });
    }

    it('filters by workflow and by establishment (requesting or requested)', async () => {
      const byWorkflow = (await (await h.fhir(`/$stats${PERIOD}&workflow=avis-avc,transfert-imagerie`)).json()) as MeasureReport;
      const wanted = expected.filter((e) => ['avis-avc', 'transfert-imagerie'].includes(e.spec.workflow));
      expect(counts(strata(byWorkflow, 'volume', 'workflow'))).to.deep.equal(countBy(wanted, (e) => [e.spec.workflow], ['avis-avc', 'transfert-imagerie']));
      const byOrg = (await (await h.fhir(`/$stats${PERIOD}&organization=Organization/aphp`)).json()) as MeasureReport;
      expect(pop(group(byOrg, 'volume').population, 'initial-population'))
        .to.equal(expected.filter((e) => e.requesterOrg === 'aphp' || e.requisOrg === 'aphp').length);
    });

    it('gives the same report to a POST with a Parameters body', async () => {
      const res = await h.fhir('/$stats', { method: 'POST', body: JSON.stringify({ resourceType: 'Parameters', parameter: [
        { name: 'period-start', valueDate: '2024-01-01' }, { name: 'period-end', valueDate: '2024-12-31' }] }) });
      expect(res.status).to.equal(200);
      const posted = (await res.json()) as MeasureReport;
      expect({ ...posted, date: undefined }).to.deep.equal({ ...report, date: undefined });
    });

    it('refuses a missing or invalid period, an unknown workflow or parameter with 400', async () => {
      for (const q of ['?period-end=2024-12-31', '?period-start=2024-01-01', '?period-start=2024-13-01&period-end=2024-12-31',
        '?period-start=2024-06-01&period-end=2024-01-31', '?period-start=2024-01-01T10:00&period-end=2024-12-31',
        `${PERIOD}&workflow=tele-astrologie`, `${PERIOD}&colour=blue`, `${PERIOD}&organization=Patient/x`]) {
        const res = await h.fhir(`/$stats${q}`);
        expect(res.status, q).to.equal(400);
        expect(((await res.json()) as OperationOutcome).resourceType).to.equal('OperationOutcome');
      }
    });

    it('needs the scopes to search what it counts (403 otherwise)', async () => {
      const token = await h.token({ fhirUser: 'Practitioner/p-dr-albi', scope: 'user/Task.rs user/Organization.rs' });
      expect((await h.fhir(`/$stats${PERIOD}`, { token })).status).to.equal(403);
    });

    it('counts for a professional only the dossiers they take part in', async function () {
      if (!h.platform) this.skip();
      const token = await h.token({ fhirUser: 'Practitioner/p-dr-albi', role: 'PractitionerRole/dr-albi', scope: 'user/*.cruds' });
      const mine = (await (await h.fhir(`/$stats${PERIOD}`, { token })).json()) as MeasureReport;
      const theirs = expected.filter((e) => e.spec.requester === 'PractitionerRole/dr-albi');
      expect(pop(group(mine, 'volume').population, 'initial-population')).to.equal(theirs.length);
      expect(counts(strata(mine, 'establishment', 'requester-organization'))).to.deep.equal(new Map([['Organization/ch-albi', theirs.length]]));
    });

    it('times the receipt recorded when the requis opens a dossier and the answer given through $transition', async function () {
      if (!h.platform) this.skip();
      const authoredOn = new Date(Date.now() - 90 * 60_000).toISOString();
      const created = (await (await h.fhir('/', { method: 'POST', body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [
        { fullUrl: 'urn:uuid:5a000000-0000-4000-8000-000000000001', request: { method: 'POST', url: 'ServiceRequest' },
          resource: { resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: 'Patient/stats-patient' } } },
        { request: { method: 'POST', url: 'DiagnosticReport' }, resource: { resourceType: 'DiagnosticReport', status: 'final', code: { text: 'CR' },
          basedOn: [{ reference: 'urn:uuid:5a000000-0000-4000-8000-000000000001' }] } },
        { request: { method: 'POST', url: 'Task' }, resource: { resourceType: 'Task', status: 'requested', intent: 'order', authoredOn,
          code: { coding: [{ system: WORKFLOW_SYSTEM, code: 'avis-urgences' }] }, businessStatus: { coding: [{ system: DOSSIER_STATUS_SYSTEM, code: 'demandee' }] },
          for: { reference: 'Patient/stats-patient' }, requester: { reference: 'PractitionerRole/dr-bdx' }, owner: { reference: 'PractitionerRole/dr-tlse' },
          focus: { reference: 'urn:uuid:5a000000-0000-4000-8000-000000000001' } } },
      ] }) })).json()) as Bundle;
      const taskId = String(created.entry?.[2].response?.location).split('/')[1];
      const expert = await h.token({ fhirUser: 'Practitioner/p-dr-tlse', role: 'PractitionerRole/dr-tlse', scope: 'user/*.cruds' });
      expect((await h.fhir(`/Task/${taskId}`, { token: expert })).status).to.equal(200);
      const answer = await h.fhir(`/Task/${taskId}/$transition`, { method: 'POST', token: expert,
        body: JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'transition', valueCode: 'repondre' }] }) });
      expect(answer.status).to.equal(200);

      const task = (await (await h.fhir(`/Task/${taskId}`)).json()) as Task;
      const readAt = task.extension?.find((e) => e.url === READ_RECEIPT_URL)?.extension?.find((e) => e.url === 'time')?.valueDateTime;
      const provenance = (await (await h.fhir(`/Provenance?target=Task/${taskId}`)).json()) as Bundle<Provenance>;
      const answeredAt = provenance.entry?.[0].resource?.recorded;
      const minutes = (iso: string | undefined) => (Date.parse(String(iso)) - Date.parse(authoredOn)) / 60_000;
      const stats = (await (await h.fhir(`/$stats?period-start=${encodeURIComponent(authoredOn)}&period-end=${encodeURIComponent(new Date().toISOString())}`)).json()) as MeasureReport;
      expect(pop(group(stats, 'volume').population, 'initial-population')).to.equal(1);
      expect(group(stats, 'time-to-first-read').measureScore?.value).to.be.closeTo(minutes(readAt), 0.01);
      expect(group(stats, 'time-to-answer').measureScore?.value).to.be.closeTo(minutes(answeredAt), 0.01);
    });

    it('is listed as a system-level operation in the CapabilityStatement', async () => {
      const cs = (await (await h.fhir('/metadata')).json()) as CapabilityStatement;
      expect(cs.rest?.[0].operation?.map((o) => o.name)).to.include('stats');
      expect(cs.rest?.[0].resource?.find((r) => r.type === 'Task')?.operation?.map((o) => o.name)).to.not.include('stats');
      const bundle = (await (await h.fhir('/Task?_summary=count')).json()) as Bundle;
      expect(bundle.total).to.be.greaterThan(expected.length); // decoys and out-of-period dossiers exist
    });
  });
}
