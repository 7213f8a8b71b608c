// The usage statistics as a FHIR R4 MeasureReport (measurereport.html: summary, one group per dimension, stratifiers).
import type { CodeableConcept, MeasureReport, MeasureReportGroup, MeasureReportGroupStratifier, MeasureReportGroupStratifierStratum, Quantity } from '@medplum/fhirtypes';
import { IMAGE_SOURCES } from './dossier-model.js';
import { FINESS_SYSTEM, INSEE_REGION_SYSTEM, type Region } from './french-regions.js';
import type { DossierFacts, Establishment } from './statistics.js';
import { WORKFLOW_SYSTEM, type WorkflowDefinition } from './workflow-definition.js';

/** Canonical of the measure the report answers (documented in ig/README.md, "Statistics"). */
export const STATS_MEASURE_URL = 'https://teleo.fr/fhir/Measure/teleexpertise-activity';
/** Codes of the groups, stratifiers and stratum values of the report. */
export const STATS_SYSTEM = 'https://teleo.fr/fhir/CodeSystem/teleo-stats';
const POPULATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/measure-population';

export interface ReportInput {
  facts: readonly DossierFacts[];
  /** The period as the caller gave it (MeasureReport.period). */
  period: { start: string; end: string };
  /** The workflows counted (each gets a stratum, even at zero). */
  workflows: readonly WorkflowDefinition[];
  /** IANA zone of the month and year strata (the platform's users' calendar). */
  timeZone: string;
  now: Date;
}

const cc = (system: string, code: string, display?: string): CodeableConcept => ({ coding: [{ system, code, ...(display ? { display } : {}) }], text: code });
const statsCode = (code: string) => cc(STATS_SYSTEM, code);
const population = (code: 'initial-population' | 'measure-population', count: number) => ({ code: cc(POPULATION_SYSTEM, code), count });
const minutes = (value: number): Quantity => ({ value: Math.round(value * 100) / 100, unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' });
const UNKNOWN = statsCode('unknown');

/** Median: the middle value, or the mean of the two middle values. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Percentile by the nearest-rank method: the smallest value with at least p % of the values at or below it. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
}

/** A stratum key and its value, grouped in insertion order. */
interface Bucket { value?: CodeableConcept; components?: { code: CodeableConcept; value: CodeableConcept }[]; facts: DossierFacts[] }

function stratify(facts: readonly DossierFacts[], keyOf: (f: DossierFacts) => { key: string; bucket: Omit<Bucket, 'facts'> }[],
  seed: { key: string; bucket: Omit<Bucket, 'facts'> }[] = []): Bucket[] {
  const buckets = new Map<string, Bucket>(seed.map((s) => [s.key, { ...s.bucket, facts: [] }]));
  for (const f of facts) {
    for (const { key, bucket } of keyOf(f)) {
      if (!buckets.has(key)) buckets.set(key, { ...bucket, facts: [] });
      buckets.get(key)?.facts.push(f);
    }
  }
  return [...buckets.values()];
}

function countStratifier(code: string, buckets: Bucket[]): MeasureReportGroupStratifier {
  return {
    code: [statsCode(code)],
    stratum: buckets.map((b): MeasureReportGroupStratifierStratum => ({
      ...(b.value ? { value: b.value } : {}), ...(b.components ? { component: b.components } : {}),
      population: [population('initial-population', b.facts.length)],
    })),
  };
}

export function buildMeasureReport(input: ReportInput): MeasureReport {
  const { facts, workflows, timeZone } = input;
  const monthFmt = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit' });
  const monthOf = (f: DossierFacts) => monthFmt.format(new Date(f.authoredOn)).slice(0, 7);
  const workflowValue = (code: string) => cc(WORKFLOW_SYSTEM, code, workflows.find((w) => w.code === code)?.display);
  const byWorkflow = (f: DossierFacts) => [{ key: f.workflow, bucket: { value: workflowValue(f.workflow) } }];
  const workflowSeed = workflows.map((w) => ({ key: w.code, bucket: { value: workflowValue(w.code) } }));
  const sorted = [...facts].sort((a, b) => a.authoredOn - b.authoredOn);
  const time = (unit: 'month' | 'year') => (f: DossierFacts) => {
    const m = monthOf(f);
    const v = unit === 'month' ? m : m.slice(0, 4);
    return { key: v, value: statsCode(v) };
  };
  const crossed = (unit: 'month' | 'year') => (f: DossierFacts) => {
    const t = time(unit)(f);
    return [{ key: `${f.workflow}|${t.key}`, bucket: { components: [
      { code: statsCode('workflow'), value: workflowValue(f.workflow) }, { code: statsCode(unit), value: t.value }] } }];
  };
  const single = (fn: (f: DossierFacts) => { key: string; value: CodeableConcept }) => (f: DossierFacts) => {
    const { key, value } = fn(f);
    return [{ key, bucket: { value } }];
  };

  const volume: MeasureReportGroup = {
    code: statsCode('volume'),
    population: [population('initial-population', facts.length)],
    stratifier: [
      countStratifier('workflow', stratify(facts, byWorkflow, workflowSeed)),
      countStratifier('month', stratify(sorted, single(time('month')))),
      countStratifier('year', stratify(sorted, single(time('year')))),
      countStratifier('workflow-month', stratify(sorted, crossed('month'))),
      countStratifier('workflow-year', stratify(sorted, crossed('year'))),
    ],
  };

  const establishment = (side: 'requester' | 'requis') => (f: DossierFacts) => {
    const e = f[side];
    return [{ key: e?.reference ?? 'unknown', bucket: { value: establishmentValue(e) } }];
  };
  const establishments: MeasureReportGroup = {
    code: statsCode('establishment'),
    population: [population('initial-population', facts.length)],
    stratifier: [
      countStratifier('requester-organization', stratify(facts, establishment('requester'))),
      countStratifier('requis-organization', stratify(facts, establishment('requis'))),
    ],
  };

  const sourceSeed = [...IMAGE_SOURCES, 'none'].map((s) => ({ key: s, bucket: { value: statsCode(s) } }));
  const imageSources: MeasureReportGroup = {
    code: statsCode('image-source'),
    population: [population('initial-population', facts.length)],
    stratifier: [
      countStratifier('image-source', stratify(facts, (f) => f.imageSources.map((s) => ({ key: s, bucket: { value: statsCode(s) } })), sourceSeed)),
      countStratifier('requester-organization-image-source', stratify(facts, (f) => f.imageSources.map((s) => ({
        key: `${f.requester?.reference ?? 'unknown'}|${s}`,
        bucket: { components: [{ code: statsCode('requester-organization'), value: establishmentValue(f.requester) }, { code: statsCode('image-source'), value: statsCode(s) }] },
      })))),
    ],
  };

  const flowOf = (f: DossierFacts) => {
    const a = f.requester?.region;
    const b = f.requis?.region;
    return !a || !b ? 'unknown' : a.code === b.code ? 'intra-regional' : 'inter-regional';
  };
  const interRegional: MeasureReportGroup = {
    code: statsCode('inter-regional'),
    population: [population('initial-population', facts.length)],
    stratifier: [
      countStratifier('flow', stratify(facts, (f) => [{ key: flowOf(f), bucket: { value: statsCode(flowOf(f)) } }],
        ['intra-regional', 'inter-regional'].map((k) => ({ key: k, bucket: { value: statsCode(k) } })))),
      countStratifier('region-flow', stratify(facts, (f) => [{
        key: `${f.requester?.region?.code ?? 'unknown'}|${f.requis?.region?.code ?? 'unknown'}`,
        bucket: { components: [{ code: statsCode('requester-region'), value: regionValue(f.requester?.region) },
          { code: statsCode('requis-region'), value: regionValue(f.requis?.region) }] },
      }])),
    ],
  };

  const delays = (code: string, at: (f: DossierFacts) => number | undefined, stat: (v: number[]) => number | undefined): MeasureReportGroup => {
    const measured = facts.filter((f) => at(f) !== undefined);
    const values = (fs: DossierFacts[]) => fs.map((f) => ((at(f) as number) - f.authoredOn) / 60_000);
    const score = (fs: DossierFacts[]) => {
      const v = stat(values(fs));
      return v === undefined ? {} : { measureScore: minutes(v) };
    };
    return {
      code: statsCode(code),
      population: [population('initial-population', facts.length), population('measure-population', measured.length)],
      ...score(measured),
      stratifier: [{
        code: [statsCode('workflow')],
        stratum: stratify(facts, byWorkflow, workflowSeed).map((b) => {
          const m = b.facts.filter((f) => at(f) !== undefined);
          return { value: b.value, population: [population('initial-population', b.facts.length), population('measure-population', m.length)], ...score(m) };
        }),
      }],
    };
  };
  const p90 = (v: number[]) => percentile(v, 90);

  return {
    resourceType: 'MeasureReport',
    status: 'complete',
    type: 'summary',
    measure: STATS_MEASURE_URL,
    date: input.now.toISOString(),
    period: { start: input.period.start, end: input.period.end },
    group: [
      volume, establishments, imageSources, interRegional,
      delays('time-to-first-read', (f) => f.firstRead, median), delays('time-to-first-read-p90', (f) => f.firstRead, p90),
      delays('time-to-answer', (f) => f.answered, median), delays('time-to-answer-p90', (f) => f.answered, p90),
    ],
  };
}

function establishmentValue(e: Establishment | undefined): CodeableConcept {
  if (!e) return UNKNOWN;
  return { ...(e.finess ? { coding: [{ system: FINESS_SYSTEM, code: e.finess, ...(e.name ? { display: e.name } : {}) }] } : {}), text: e.reference };
}

function regionValue(r: Region | undefined): CodeableConcept {
  return r ? cc(INSEE_REGION_SYSTEM, r.code, r.name) : UNKNOWN;
}
