// Issue 4 deliverable 5, third way: a study sent to a called AE title dedicated to a workflow (and optionally to the
// establishment a dossier is addressed to) attaches to the open télédossier of that workflow whose patient is the
// study's (matched by INS, else IPP + issuer: dicom-patient-identity.ts). Hospitals configure one AE title per
// workflow on their modalities ("send to TELEO_AVC") when their RIS cannot carry an accession number to the platform.
import type { Reference, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';
import { WORKFLOW_SYSTEM } from '../teleexpertise/workflow-definition.js';
import { openDossierIn } from './study-attachment.js';

/** A called AE title of ours dedicated to a workflow (PS3.8 §9.3.2 Called-AE-title). */
export interface AeRoute {
  readonly aeTitle: string;
  /** The workflow code (WORKFLOW_SYSTEM) of the dossiers it feeds. */
  readonly workflow: string;
  /** Only dossiers addressed to this establishment (Organization/<id>: the task-requis-organization parameter). */
  readonly requisOrganization?: string;
}

const trimAe = (ae: string): string => ae.trim();

/** The route of a called AE title, if it has one. */
export function routeOf(routes: readonly AeRoute[], calledAe: string): AeRoute | undefined {
  return routes.find((r) => trimAe(r.aeTitle) === trimAe(calledAe));
}

/**
 * The request of the open dossier the route feeds for this patient (the most recently authored when several), or
 * undefined. Only an identified patient is routed: a study whose patient is not already known to the platform cannot
 * belong to one of its dossiers.
 */
export async function routedRequest(t: ResourceService, ctx: AuditContext, route: AeRoute, patient: Reference | undefined): Promise<Reference<ServiceRequest> | undefined> {
  if (!patient?.reference) return undefined;
  const query = {
    code: [`${WORKFLOW_SYSTEM}|${route.workflow}`], patient: [patient.reference], _sort: ['-authored-on'], _count: ['20'],
    ...(route.requisOrganization ? { 'requis-organization': [route.requisOrganization] } : {}),
  };
  const { resources } = await t.search(ctx, 'Task', query);
  const dossier: Task | undefined = openDossierIn(resources as Task[]);
  const focus = dossier?.focus?.reference;
  return focus?.startsWith('ServiceRequest/') ? { reference: focus } : undefined;
}
