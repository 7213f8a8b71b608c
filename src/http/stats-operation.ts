// [base]/$stats (GET or POST Parameters): the téléexpertise usage statistics as a FHIR R4 MeasureReport
// (operations.html, measurereport.html). Adapters translate: parameters in, one gather + report, MeasureReport out.
import type { Parameters } from '@medplum/fhirtypes';
import { errors } from '../kernel/errors.js';
import type { ResourceService } from '../workflow/resource-service.js';
import { WORKFLOWS } from '../workflow/teleexpertise/index.js';
import { reportingPeriod } from '../workflow/teleexpertise/statistics-period.js';
import { buildMeasureReport } from '../workflow/teleexpertise/statistics-report.js';
import { gatherDossierFacts } from '../workflow/teleexpertise/statistics.js';
import type { FhirOperation } from './fhir-rest.js';
import { auditContext, queryOf, sendJson } from './fhir-http.js';

export const STATS_OPERATION_URL = 'https://teleo.fr/fhir/OperationDefinition/stats';

const PARAMS = ['period-start', 'period-end', 'workflow', 'organization'] as const;
type ParamName = (typeof PARAMS)[number];

export interface StatsOperationOptions {
  /** IANA time zone of date-only periods and of the month/year strata (default Europe/Paris). */
  timeZone?: string;
  /** Tasks per search page while gathering (the service clamps it to its maximum). */
  pageSize?: number;
  now?: () => Date;
}

/** The operation's parameters from a GET query string or a POST Parameters body; repeated or comma-separated lists. */
function parametersOf(method: string, body: unknown, query: Record<string, string[]>): Record<ParamName, string[]> {
  const out: Record<ParamName, string[]> = { 'period-start': [], 'period-end': [], workflow: [], organization: [] };
  const add = (name: string, value: string | undefined) => {
    if (!(PARAMS as readonly string[]).includes(name)) throw errors.badRequest(`Unknown $stats parameter: ${name}`);
    if (!value) throw errors.badRequest(`$stats parameter ${name} needs a value`);
    out[name as ParamName].push(...(name.startsWith('period-') ? [value] : value.split(',').map((v) => v.trim()).filter(Boolean)));
  };
  for (const [name, values] of Object.entries(query)) if (!name.startsWith('_')) for (const v of values) add(name, v);
  if (method === 'POST' && body !== undefined && !(typeof body === 'object' && body && Object.keys(body).length === 0)) {
    const p = body as Parameters;
    if (p.resourceType !== 'Parameters') throw errors.badRequest('POST $stats takes a Parameters resource');
    for (const param of p.parameter ?? []) {
      add(param.name as string, param.valueDate ?? param.valueDateTime ?? param.valueCode ?? param.valueString ?? param.valueReference?.reference);
    }
  }
  return out;
}

export function statsOperation(svc: ResourceService, options: StatsOperationOptions = {}): FhirOperation {
  const timeZone = options.timeZone ?? 'Europe/Paris';
  return {
    name: 'stats',
    definition: STATS_OPERATION_URL,
    level: ['system'],
    handler: async (req, res) => {
      const ctx = auditContext(res);
      const p = parametersOf(req.method, req.body, queryOf(req));
      for (const name of ['period-start', 'period-end'] as const) {
        if (p[name].length > 1) throw errors.badRequest(`$stats takes one ${name}`, name);
      }
      const [start, end] = [p['period-start'][0], p['period-end'][0]];
      const period = reportingPeriod(start, end, timeZone);
      const unknown = p.workflow.filter((w) => !WORKFLOWS.some((d) => d.code === w));
      if (unknown.length) throw errors.badRequest(`Unknown workflow: ${unknown.join(', ')} (known: ${WORKFLOWS.map((d) => d.code).join(', ')})`, 'workflow');
      const organizations = p.organization.map((o) => (o.includes('/') ? o : `Organization/${o}`));
      const bad = organizations.find((o) => !/^Organization\/[A-Za-z0-9\-.]{1,64}$/.test(o));
      if (bad) throw errors.badRequest(`organization must be an Organization id or reference: ${bad}`, 'organization');

      const facts = await gatherDossierFacts(svc, ctx, { ...period, workflows: p.workflow, organizations }, { pageSize: options.pageSize });
      const workflows = p.workflow.length ? WORKFLOWS.filter((d) => p.workflow.includes(d.code)) : WORKFLOWS;
      sendJson(res, 200, buildMeasureReport({
        facts, workflows, timeZone, period: { start: start as string, end: end as string }, now: (options.now ?? (() => new Date()))(),
      }));
    },
  };
}
