// Task/[id]/$transition: the HTTP face of the télédossier state machines (FHIR R4 operations, §operations.html).
// Adapters translate, the workflow decides: Parameters in, one applyTransition call, the new Task version out.
import type { Parameters } from '@medplum/fhirtypes';
import { errors } from '../kernel/errors.js';
import type { ResourceService } from '../workflow/resource-service.js';
import { applyTransition, type TransitionInput } from '../workflow/teleexpertise/transition.js';
import type { FhirOperation } from './fhir-rest.js';
import { auditContext, sendWritten } from './fhir-http.js';

export const TRANSITION_OPERATION_URL = 'https://teleo.fr/fhir/OperationDefinition/Task-transition';

const STRING_PARAMS = ['transition', 'reason', 'protocol', 'owner'] as const;

export function taskTransitionOperation(svc: ResourceService, baseUrl: string): FhirOperation {
  return {
    name: 'transition',
    definition: TRANSITION_OPERATION_URL,
    affectsState: true,
    level: ['instance'],
    types: ['Task'],
    handler: async (req, res) => {
      const body = req.body as Parameters | undefined;
      if (body?.resourceType !== 'Parameters') throw errors.badRequest('$transition takes a Parameters resource');
      const values: Partial<Record<(typeof STRING_PARAMS)[number], string>> = {};
      for (const p of body.parameter ?? []) {
        if (!(STRING_PARAMS as readonly string[]).includes(p.name as string)) throw errors.badRequest(`Unknown $transition parameter: ${p.name}`);
        const v = p.valueCode ?? p.valueString ?? p.valueReference?.reference;
        if (typeof v !== 'string' || v === '') throw errors.badRequest(`$transition parameter ${p.name} needs a value`);
        values[p.name as (typeof STRING_PARAMS)[number]] = v;
      }
      if (!values.transition) throw errors.badRequest('$transition needs a "transition" parameter (the transition code)');
      const input: TransitionInput = { reason: values.reason, protocol: values.protocol, owner: values.owner, ifMatch: req.headers['if-match'] };
      const task = await applyTransition({ svc }, auditContext(res), req.params.id, values.transition, input);
      sendWritten(req, res, baseUrl, task, 200);
    },
  };
}
