// Task/$worklist: the kit's lists of télédossiers (FHIR R4 operation returning a searchset Bundle, search.html).
// Adapters translate: the view and filters become Task search predicates, run through the resource service.
import type { Principal } from '../kernel/principal.js';
import { errors } from '../kernel/errors.js';
import type { ResourceService } from '../workflow/resource-service.js';
import type { Party } from '../workflow/teleexpertise/dossier-visibility.js';
import { parseWorklist, worklistPredicates } from '../workflow/teleexpertise/worklist.js';
import { searchBundle } from './fhir-bundles.js';
import type { FhirOperation } from './fhir-rest.js';
import { auditContext, queryOf, sendJson } from './fhir-http.js';

export const WORKLIST_OPERATION_URL = 'https://teleo.fr/fhir/OperationDefinition/Task-worklist';

/**
 * GET|POST [base]/Task/$worklist?view=requis|secretariat|sent|all&unread=true|false&workflow=<code>&<Task search parameters>
 * (status, business-status, patient, authored-on, priority, _sort, _count, _offset, _include…). Default view requis,
 * default sort -_lastUpdated. Paging links point back at the operation.
 */
export function worklistOperation(svc: ResourceService, baseUrl: string, partyOf: (principal: Principal) => Promise<Party>): FhirOperation {
  return {
    name: 'worklist',
    definition: WORKLIST_OPERATION_URL,
    level: ['type'],
    types: ['Task'],
    handler: async (req, res) => {
      const ctx = auditContext(res);
      const raw = queryOf(req);
      if (req.method === 'POST' && req.is('application/x-www-form-urlencoded')) {
        for (const [k, v] of Object.entries(req.body as Record<string, string | string[]>)) (raw[k] ??= []).push(...[v].flat());
      }
      const worklist = parseWorklist(raw);
      if (worklist.view !== 'all' && !/^(Practitioner|PractitionerRole)\//.test(ctx.principal.fhirUser ?? ctx.principal.role ?? '')) {
        throw errors.badRequest(`The ${worklist.view} worklist is a professional's: the token needs a Practitioner or PractitionerRole fhirUser`, 'view');
      }
      const where = worklist.view === 'all' && worklist.unread === undefined ? [] : worklistPredicates(worklist, await partyOf(ctx.principal));
      const result = await svc.search(ctx, 'Task', worklist.query, { where, lenient: req.headers.prefer?.includes('handling=lenient') });
      sendJson(res, 200, searchBundle(baseUrl, 'Task/$worklist', raw, result));
    },
  };
}
