// Subscription/[id]/$resend: re-sends failed notifications of a FHIR R4 Subscription (operations.html), or the one
// about a given resource. Adapters translate: Parameters in, one call to the notifications module, a count out.
import type { Parameters } from '@medplum/fhirtypes';
import { errors } from '../kernel/errors.js';
import type { AuditContext } from '../workflow/audit.js';
import type { FhirOperation } from './fhir-rest.js';
import { auditContext, sendJson } from './fhir-http.js';

export const RESEND_OPERATION_URL = 'https://teleo.fr/fhir/OperationDefinition/Subscription-resend';

export function subscriptionResendOperation(resend: (ctx: AuditContext, id: string, resource?: string) => Promise<number>): FhirOperation {
  return {
    name: 'resend',
    definition: RESEND_OPERATION_URL,
    affectsState: true,
    level: ['instance'],
    types: ['Subscription'],
    handler: async (req, res) => {
      const body = req.body as Parameters | undefined;
      if (body !== undefined && Object.keys(body).length > 0 && body.resourceType !== 'Parameters') throw errors.badRequest('$resend takes a Parameters resource (or no body)');
      let resource: string | undefined;
      for (const p of body?.parameter ?? []) {
        if (p.name !== 'resource') throw errors.badRequest(`Unknown $resend parameter: ${p.name}`);
        resource = p.valueReference?.reference ?? p.valueString;
        if (!resource) throw errors.badRequest('$resend parameter resource needs a valueReference or valueString');
      }
      const count = await resend(auditContext(res), req.params.id, resource);
      sendJson(res, 200, { resourceType: 'Parameters', parameter: [{ name: 'resent', valueInteger: count }] } satisfies Parameters);
    },
  };
}
