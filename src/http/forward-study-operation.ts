// ImagingStudy/[id]/$forward (FHIR R4 operations, operations.html): sends a study to a configured PACS as a durable
// job; answers 202 with the forwarding Task (code forward-study), whose status and output follow the transfer.
import type { Parameters } from '@medplum/fhirtypes';
import { errors } from '../kernel/errors.js';
import type { StudyForwarding } from '../workflow/imaging/study-forwarding.js';
import type { FhirOperation } from './fhir-rest.js';
import { auditContext, sendJson } from './fhir-http.js';

export const FORWARD_OPERATION_URL = 'https://teleo.fr/fhir/OperationDefinition/ImagingStudy-forward';

export function forwardStudyOperation(forwarding: StudyForwarding, baseUrl: string): FhirOperation {
  return {
    name: 'forward',
    definition: FORWARD_OPERATION_URL,
    affectsState: true,
    level: ['instance'],
    types: ['ImagingStudy'],
    handler: async (req, res) => {
      const body = req.body as Parameters | undefined;
      if (body?.resourceType !== 'Parameters') throw errors.badRequest('$forward takes a Parameters resource');
      let destination: string | undefined;
      let useDossierIdentity = false;
      for (const p of body.parameter ?? []) {
        if (p.name === 'destination') destination = p.valueString ?? p.valueCode;
        else if (p.name === 'useDossierIdentity') {
          if (typeof p.valueBoolean !== 'boolean') throw errors.badRequest('$forward parameter useDossierIdentity is a valueBoolean');
          useDossierIdentity = p.valueBoolean;
        } else throw errors.badRequest(`Unknown $forward parameter: ${p.name}`);
      }
      if (!destination?.trim()) throw errors.badRequest('$forward needs a "destination" parameter (the AE title of a configured PACS)');
      const task = await forwarding.request(auditContext(res), { study: req.params.id, destination: destination.trim(), useDossierIdentity });
      res.setHeader('Content-Location', `${baseUrl}/Task/${task.id}`);
      sendJson(res, 202, task);
    },
  };
}
