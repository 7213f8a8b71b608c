// Task/[id]/$pacs-query and Task/[id]/$pacs-retrieve (FHIR R4 operations, operations.html): the kit's "Ajouter un
// examen — À partir du PACS" for a télédossier. Adapters translate: Parameters (or query string) in, one workflow call,
// a searchset Bundle of ImagingStudy-shaped matches / the retrieve Tasks out.
import type { Request } from 'express';
import type { Bundle, BundleEntry, OperationOutcome, Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { errors } from '../kernel/errors.js';
import type { PacsFilters } from '../workflow/imaging/pacs-filters.js';
import { imagingStudyOfMatch } from '../workflow/imaging/pacs-filters.js';
import type { PacsQueryRetrieve } from '../workflow/imaging/pacs-query-retrieve.js';
import type { FhirOperation } from './fhir-rest.js';
import { auditContext, queryOf, sendJson } from './fhir-http.js';

export const PACS_QUERY_OPERATION_URL = 'https://teleo.fr/fhir/OperationDefinition/Task-pacs-query';
export const PACS_RETRIEVE_OPERATION_URL = 'https://teleo.fr/fhir/OperationDefinition/Task-pacs-retrieve';

/** Parameter name → PacsFilters key ("N° de RDV" = accession number: `appointment-number` is its alias). */
const FILTERS: Record<string, keyof PacsFilters> = {
  'patient-name': 'patientName', 'birth-date': 'birthDate', identifier: 'identifier', 'exam-date': 'examDate',
  'exam-date-from': 'examDateFrom', 'exam-date-to': 'examDateTo', modality: 'modality', accession: 'accessionNumber',
  'appointment-number': 'accessionNumber',
};
const MAX_MATCHES = 500;

/** name → values, from a Parameters body (POST) or the query string (GET). */
function valuesOf(req: Request, allowed: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (name: string, value: unknown) => {
    if (!allowed.includes(name)) throw errors.badRequest(`Unknown parameter "${name}"; expected ${allowed.join(', ')}`, name);
    if (typeof value !== 'string' || value.trim() === '') throw errors.badRequest(`Parameter "${name}" needs a value`, name);
    out.set(name, [...(out.get(name) ?? []), value.trim()]);
  };
  if (req.method === 'POST') {
    const body = req.body as Parameters | undefined;
    if (body?.resourceType !== 'Parameters') throw errors.badRequest('This operation takes a Parameters resource');
    for (const p of body.parameter ?? []) add(p.name as string, valueOf(p));
  } else {
    for (const [k, vs] of Object.entries(queryOf(req))) for (const v of vs) add(k, v);
  }
  return out;
}

function valueOf(p: ParametersParameter): unknown {
  const v = p.valueString ?? p.valueCode ?? p.valueDate ?? p.valueOid ?? p.valueUri ?? p.valueId ?? p.valueIdentifier?.value
    ?? (p.valueInteger !== undefined ? String(p.valueInteger) : p.valuePositiveInt !== undefined ? String(p.valuePositiveInt) : undefined);
  return v;
}

const single = (values: Map<string, string[]>, name: string): string | undefined => {
  const v = values.get(name);
  if (v && v.length > 1) throw errors.badRequest(`Parameter "${name}" is given more than once`, name);
  return v?.[0];
};

export function pacsQueryOperation(qr: PacsQueryRetrieve): FhirOperation {
  return {
    name: 'pacs-query',
    definition: PACS_QUERY_OPERATION_URL,
    level: ['instance'],
    types: ['Task'],
    handler: async (req, res) => {
      const values = valuesOf(req, ['pacs', '_count', ...Object.keys(FILTERS)]);
      const filters: Record<string, string | number> = {};
      for (const [name, key] of Object.entries(FILTERS)) {
        const v = single(values, name);
        if (v !== undefined) filters[key] = v;
      }
      const count = single(values, '_count');
      if (count !== undefined) {
        const n = Number(count);
        if (!Number.isInteger(n) || n < 1 || n > MAX_MATCHES) throw errors.badRequest(`_count must be an integer between 1 and ${MAX_MATCHES}`, '_count');
        filters.limit = n;
      } else {
        filters.limit = MAX_MATCHES;
      }
      const result = await qr.query(auditContext(res), req.params.id, single(values, 'pacs'), filters as PacsFilters);
      const criteria = Object.entries(result.query).filter(([k]) => k !== 'limit').map(([k, v]) => `${k}=${v}`).join(', ');
      const info: OperationOutcome = {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'information', code: 'informational', details: { text: `PACS ${result.pacs} : ${result.matches.length} examen(s) ; critères ${criteria}` } }],
      };
      const entry: BundleEntry[] = [
        ...result.matches.map((m): BundleEntry => ({ resource: imagingStudyOfMatch(m.json, result.pacs), search: { mode: 'match' } })),
        { resource: info, search: { mode: 'outcome' } },
      ];
      const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total: result.matches.length, entry };
      sendJson(res, 200, bundle);
    },
  };
}

export function pacsRetrieveOperation(qr: PacsQueryRetrieve): FhirOperation {
  return {
    name: 'pacs-retrieve',
    definition: PACS_RETRIEVE_OPERATION_URL,
    affectsState: true,
    level: ['instance'],
    types: ['Task'],
    handler: async (req, res) => {
      const values = valuesOf(req, ['pacs', 'study']);
      const studies = (values.get('study') ?? []).map((s) => s.replace(/^urn:oid:/, ''));
      const tasks = await qr.retrieve(auditContext(res), req.params.id, single(values, 'pacs'), studies);
      const out: Parameters = { resourceType: 'Parameters', parameter: tasks.map((task) => ({ name: 'task', resource: task })) };
      sendJson(res, 202, out);
    },
  };
}
