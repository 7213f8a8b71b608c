// FHIR R4 CapabilityStatement (§capabilitystatement.html), generated from what is actually registered.
import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import type { SearchRegistry } from './search-registry.js';

export interface RegisteredInteractions {
  /** Type-level and instance-level interaction codes served for every type. */
  typeInteractions: string[];
  /** Whole-system interaction codes (transaction, batch, history-system). */
  systemInteractions: string[];
  /** `system`: invoked on the base only (listed in rest.operation, not on the resource types). */
  operations: { name: string; definition: string; types?: string[]; system?: boolean }[];
  conditionalCreate: boolean;
  conditionalUpdate: boolean;
}

const TYPE_CODES = new Set(['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type']);

export function buildCapabilityStatement(
  registry: SearchRegistry, reg: RegisteredInteractions, opts: { baseUrl: string; version: string; profiles: Record<string, string[]> },
): CapabilityStatement {
  // Several routes serve one interaction (GET [type] and POST [type]/_search are both search-type): list each once.
  const interactions = [...new Set(reg.typeInteractions.filter((c) => TYPE_CODES.has(c)))];
  const resource: CapabilityStatementRestResource[] = registry.resourceTypes.map((type) => {
    const params = registry.forType(type);
    const refs = params.filter((p) => p.kind === 'reference');
    const revIncludes = registry.resourceTypes.flatMap((src) => registry.forType(src)
      .filter((p) => p.kind === 'reference' && (p.targets.length === 0 || p.targets.includes(type)))
      .map((p) => `${src}:${p.code}`));
    return {
      type: type as CapabilityStatementRestResource['type'],
      ...(opts.profiles[type]?.length ? { supportedProfile: opts.profiles[type] } : {}),
      interaction: interactions.map((code) => ({ code: code as 'read' })),
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: reg.conditionalCreate,
      conditionalUpdate: reg.conditionalUpdate,
      conditionalDelete: 'not-supported',
      searchInclude: refs.map((p) => `${type}:${p.code}`),
      searchRevInclude: revIncludes,
      searchParam: params.map((p) => ({
        name: p.code,
        definition: p.definition.url,
        type: p.kind,
        ...(p.definition.description ? { documentation: p.definition.description.slice(0, 200) } : {}),
      })),
      operation: reg.operations.filter((o) => !o.system && (!o.types || o.types.includes(type))).map((o) => ({ name: o.name, definition: o.definition })),
    };
  });
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    publisher: 'TéléO platform',
    software: { name: 'teleo-platform', version: opts.version },
    implementation: { description: 'Regional téléexpertise and imaging transfer platform', url: opts.baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json'],
    rest: [{
      mode: 'server',
      security: {
        cors: false,
        service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
        description: 'Every request carries a bearer JWT from a configured issuer; scopes follow SMART App Launch v2.',
      },
      resource,
      interaction: [...new Set(reg.systemInteractions)].map((code) => ({ code: code as 'transaction' })),
      ...(reg.operations.some((o) => o.system) ? { operation: reg.operations.filter((o) => o.system).map((o) => ({ name: o.name, definition: o.definition })) } : {}),
      searchParam: [
        { name: '_count', type: 'number' }, { name: '_offset', type: 'number' }, { name: '_sort', type: 'string' },
        { name: '_total', type: 'token' }, { name: '_summary', type: 'token' }, { name: '_elements', type: 'string' },
      ],
    }],
  };
}
