// Usage statistics of the téléexpertise platform (CCTP annex 3: dossiers per workflow, site, image source, region,
// delays), gathered through the resource service as the caller with paged FHIR R4 searches (§3.1.1.5.4 _include).
import type { CareTeam, ImagingStudy, Organization, PractitionerRole, Provenance, Reference, Resource, Task } from '@medplum/fhirtypes';
import type { AuditContext } from '../audit.js';
import type { Query, ResourceService } from '../resource-service.js';
import { DOSSIER_CONTENT_SYSTEM, IMAGE_SOURCE_URL, READ_RECEIPT_URL } from './dossier-model.js';
import { FINESS_SYSTEM, regionOfOrganization, type Region } from './french-regions.js';
import { WORKFLOWS, workflowCodeOf } from './index.js';
import { TRANSITION_SYSTEM, WORKFLOW_SYSTEM, type DossierRole, type WorkflowDefinition } from './workflow-definition.js';

/** Whose read counts as "read by the requis side": the expert, the owning community, the site's secretariat. */
export const REQUIS_SIDE_ROLES: readonly DossierRole[] = ['requis', 'membre-communaute', 'secretariat-requis'];

/**
 * The transitions that answer a dossier, read from its definition: those made by the expert side
 * (requis / community member) that bring the dossier from a state that is not `completed` into a
 * `completed` one (the avis with its CR, the RCP's avis, the validated téléradiologie CR, the
 * acknowledgement that closes an image transfer). Later completions (closure by the requérant, visit,
 * billing) and refusals are not answers.
 */
export function answerTransitions(def: WorkflowDefinition): string[] {
  const expert = new Set<DossierRole>(['requis', 'membre-communaute']);
  return def.transitions.filter((t) => def.states[t.to].status === 'completed'
    && t.from.some((f) => def.states[f].status !== 'completed')
    && t.roles.some((r) => expert.has(r))).map((t) => t.code);
}

export interface StatisticsQuery {
  /** Epoch ms, inclusive: dossiers authored at or after. */
  start: number;
  /** Epoch ms, exclusive: dossiers authored before. */
  end: number;
  /** Workflow codes to count (all known workflows when empty). */
  workflows?: readonly string[];
  /** `Organization/id` references: only dossiers whose requester's or requis' establishment is one of them. */
  organizations?: readonly string[];
}

export interface StatisticsOptions {
  /** Tasks per search page (the service clamps it to its maximum). */
  pageSize?: number;
  workflows?: readonly WorkflowDefinition[];
}

/** An establishment as statistics see it; undefined when not resolvable by the caller. */
export interface Establishment { reference: string; name?: string; finess?: string; region?: Region }

/** What one dossier contributes to the statistics. */
export interface DossierFacts {
  id: string;
  workflow: string;
  authoredOn: number;
  requester?: Establishment;
  requis?: Establishment;
  /** Distinct sources of its exams: IMAGE_SOURCES codes, 'unknown' (no extension or exam not visible), or 'none' (no exam). */
  imageSources: string[];
  /** Epoch ms of the first read by the requis side, if any. */
  firstRead?: number;
  /** Epoch ms of the first answering transition, if any. */
  answered?: number;
}

const key = (r: Resource) => `${r.resourceType}/${r.id}`;
const timeOf = (s: string | undefined) => (s ? Date.parse(s) : NaN);
const ORG_BATCH = 100;

/** The dossiers authored in [start, end) that the caller may see, with the facts the report needs. */
export async function gatherDossierFacts(svc: ResourceService, ctx: AuditContext, q: StatisticsQuery,
  options: StatisticsOptions = {}): Promise<DossierFacts[]> {
  const defs = options.workflows ?? WORKFLOWS;
  const wanted = q.workflows?.length ? q.workflows : defs.map((d) => d.code);
  const answers = new Map(defs.map((d) => [d.code, new Set(answerTransitions(d))]));
  const pageSize = options.pageSize ?? 1000;
  const query: Query = {
    code: [wanted.map((w) => `${WORKFLOW_SYSTEM}|${w}`).join(',')],
    'part-of:missing': ['true'],
    'authored-on': [`ge${new Date(q.start).toISOString()}`, `lt${new Date(q.end).toISOString()}`],
    _sort: ['_id'], _total: ['none'], _count: [String(pageSize)],
    _include: ['Task:owner', 'Task:requester', 'Task:dossier-content:ImagingStudy'],
    _revinclude: ['Provenance:target'],
  };
  const orgs = new Map<string, Organization | null>();
  const facts = new Map<string, DossierFacts>();
  for (let offset = 0; ; ) {
    const page = await svc.search(ctx, 'Task', { ...query, _offset: [String(offset)] });
    const included = new Map(page.included.map((r) => [key(r), r]));
    const provenances = provenancesByTask(page.included);
    const tasks = (page.resources as Task[]).filter((t) => !t.partOf?.length && workflowCodeOf(t) !== undefined);
    const orgOf = new Map<string, string | undefined>();
    for (const t of tasks) {
      for (const ref of [t.requester?.reference, t.owner?.reference]) if (ref) orgOf.set(ref, organizationRefOf(ref, included));
    }
    await resolveOrganizations(svc, ctx, [...orgOf.values()].filter((r): r is string => !!r), orgs, included);
    for (const t of tasks) {
      const authoredOn = timeOf(t.authoredOn);
      if (!(authoredOn >= q.start && authoredOn < q.end) || facts.has(t.id as string)) continue;
      const workflow = workflowCodeOf(t) as string;
      const establishment = (ref: Reference | undefined) => (ref?.reference ? establishmentOf(orgOf.get(ref.reference), orgs) : undefined);
      facts.set(t.id as string, {
        id: t.id as string, workflow, authoredOn,
        requester: establishment(t.requester), requis: establishment(t.owner),
        imageSources: imageSourcesOf(t, included),
        firstRead: earliest(firstReads(t), authoredOn),
        answered: earliest((provenances.get(t.id as string) ?? [])
          .filter((p) => p.activity?.coding?.some((c) => c.system === TRANSITION_SYSTEM && answers.get(workflow)?.has(c.code as string)))
          .map((p) => timeOf(p.recorded)), authoredOn),
      });
    }
    if (!page.hasMore || page.parsed.count === 0) break;
    offset += page.parsed.count;
  }
  const selected = new Set(q.organizations ?? []);
  const all = [...facts.values()];
  return selected.size === 0 ? all
    : all.filter((f) => (f.requester && selected.has(f.requester.reference)) || (f.requis && selected.has(f.requis.reference)));
}

/** The earliest of the instants at or after the dossier's creation (earlier ones are clock errors). */
function earliest(times: number[], notBefore: number): number | undefined {
  const ok = times.filter((t) => Number.isFinite(t) && t >= notBefore);
  return ok.length ? Math.min(...ok) : undefined;
}

/** Provenance targets are versioned (`Task/id/_history/n`): group them by the Task id. */
function provenancesByTask(included: Resource[]): Map<string, Provenance[]> {
  const out = new Map<string, Provenance[]>();
  for (const r of included) {
    if (r.resourceType !== 'Provenance') continue;
    for (const target of r.target ?? []) {
      const m = /^Task\/([^/]+)/.exec(target.reference ?? '');
      if (m) out.set(m[1], [...(out.get(m[1]) ?? []), r]);
    }
  }
  return out;
}

/** The Organization a requester/owner belongs to: itself, a PractitionerRole's organization, a CareTeam's managing one. */
function organizationRefOf(ref: string, included: Map<string, Resource>): string | undefined {
  if (ref.startsWith('Organization/')) return ref;
  const r = included.get(ref);
  if (r?.resourceType === 'PractitionerRole') return (r as PractitionerRole).organization?.reference;
  if (r?.resourceType === 'CareTeam') return (r as CareTeam).managingOrganization?.[0]?.reference;
  return undefined;
}

/** Reads the Organizations not yet known, in batched `_id=a,b,c` searches, as the caller (hidden ones stay null). */
async function resolveOrganizations(svc: ResourceService, ctx: AuditContext, refs: string[], cache: Map<string, Organization | null>,
  included: Map<string, Resource>): Promise<void> {
  const missing = new Set<string>();
  for (const ref of refs) {
    if (cache.has(ref)) continue;
    const already = included.get(ref);
    if (already) cache.set(ref, already as Organization);
    else if (/^Organization\/[A-Za-z0-9\-.]{1,64}$/.test(ref)) missing.add(ref.slice('Organization/'.length));
    else cache.set(ref, null);
  }
  const ids = [...missing];
  for (let i = 0; i < ids.length; i += ORG_BATCH) {
    const batch = ids.slice(i, i + ORG_BATCH);
    for (const id of batch) cache.set(`Organization/${id}`, null);
    for (let offset = 0; ;) {
      const found = await svc.search(ctx, 'Organization', {
        _id: [batch.join(',')], _sort: ['_id'], _count: [String(batch.length)], _offset: [String(offset)], _total: ['none'],
      });
      for (const o of found.resources) cache.set(key(o), o as Organization);
      if (!found.hasMore || found.parsed.count === 0) break;
      offset += found.parsed.count;
    }
  }
}

function establishmentOf(ref: string | undefined, orgs: Map<string, Organization | null>): Establishment | undefined {
  const org = ref ? orgs.get(ref) : undefined;
  if (!ref || !org) return undefined;
  return {
    reference: ref, name: org.name,
    finess: org.identifier?.find((i) => i.system === FINESS_SYSTEM)?.value,
    region: regionOfOrganization(org),
  };
}

function imageSourcesOf(task: Task, included: Map<string, Resource>): string[] {
  const exams = (task.input ?? []).map((i) => i.valueReference?.reference)
    .filter((ref, n): ref is string => !!ref && (ref.startsWith('ImagingStudy/')
      || !!task.input?.[n].type.coding?.some((c) => c.system === DOSSIER_CONTENT_SYSTEM && c.code === 'exam')));
  if (exams.length === 0) return ['none'];
  const sources = exams.map((ref) => {
    const study = included.get(ref) as ImagingStudy | undefined;
    return study?.extension?.find((e) => e.url === IMAGE_SOURCE_URL)?.valueCode ?? 'unknown';
  });
  return [...new Set(sources)];
}

/** Times of the requis side's first reads (Task extension dossier-read: reader, role, time). */
function firstReads(task: Task): number[] {
  const roles = new Set<string>(REQUIS_SIDE_ROLES);
  return (task.extension ?? []).filter((e) => e.url === READ_RECEIPT_URL).flatMap((e) => {
    const part = (url: string) => e.extension?.find((x) => x.url === url);
    const role = part('role')?.valueCode;
    return role && roles.has(role) ? [timeOf(part('time')?.valueDateTime)] : [];
  });
}
