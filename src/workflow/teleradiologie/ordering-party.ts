// FR Core Practitioner (RPPS/IDNPS, urn:oid:1.2.250.1.71.4.2.1) and Organization (FINESS, urn:oid:1.2.250.1.71.4.2.2)
// of an order's ordering provider and facility, matched by identifier or created (FHIR R4 conditional create).
import type { CodeableConcept, HumanName, Identifier, Organization, Practitioner, PractitionerRole, Task } from '@medplum/fhirtypes';
import { errors } from '../../kernel/errors.js';
import type { Principal } from '../../kernel/principal.js';
import type { AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';

export interface OrderingParty {
  /** The ordering provider: national identifier (system + value) and name. */
  practitioner: { identifier: Identifier; name?: HumanName };
  /** The ordering facility (ORC-21) and its kind (ORC-17, TLR_TYPE_ORGANISATION). */
  organization?: { identifier: Identifier; name?: string; type?: CodeableConcept };
}

export interface ResolvedParty {
  practitioner: string;
  organization?: string;
  /** The requester of the dossier: the PractitionerRole practitioner × organization, else the Practitioner. */
  requester: string;
  /** The references of those just created (the others existed). */
  created: string[];
}

const token = (id: Identifier) => `${id.system}|${id.value}`;

function checkIdentifier(param: string, id: Identifier): void {
  if (!id.system || !id.value) throw errors.badRequest(`Parameter '${param}': an identifier needs its assigning authority (system) and value`, param);
}

/** The Practitioner holding `identifier`, or undefined (as the platform: the directory is read to resolve parties). */
export async function findPractitioner(t: ResourceService, ctx: AuditContext, identifier: Identifier): Promise<string | undefined> {
  if (!identifier.system || !identifier.value) return undefined;
  const found = (await t.search(ctx, 'Practitioner', { identifier: [token(identifier)], _count: ['2'] })).resources;
  return found.length === 1 ? `Practitioner/${found[0].id}` : undefined;
}

/**
 * Matches or creates the Practitioner, the Organization and the PractitionerRole linking them, in the caller's
 * transaction; a resource that exists is not modified (the directory stays the reference).
 */
export async function resolveOrderingParty(t: ResourceService, ctx: AuditContext, party: OrderingParty): Promise<ResolvedParty> {
  checkIdentifier('orderingProvider', party.practitioner.identifier);
  const practitioner: Practitioner = {
    resourceType: 'Practitioner', identifier: [party.practitioner.identifier],
    ...(party.practitioner.name ? { name: [party.practitioner.name] } : {}),
  };
  const created: string[] = [];
  const p = await t.create(ctx, practitioner, { ifNoneExist: { identifier: [token(party.practitioner.identifier)] } });
  const practitionerRef = `Practitioner/${p.resource.id}`;
  if (p.created) created.push(practitionerRef);
  if (!party.organization) return { practitioner: practitionerRef, requester: practitionerRef, created };

  checkIdentifier('orderingFacility', party.organization.identifier);
  const organization: Organization = {
    resourceType: 'Organization', active: true, identifier: [party.organization.identifier],
    ...(party.organization.name ? { name: party.organization.name } : {}),
    ...(party.organization.type ? { type: [party.organization.type] } : {}),
  };
  const o = await t.create(ctx, organization, { ifNoneExist: { identifier: [token(party.organization.identifier)] } });
  const organizationRef = `Organization/${o.resource.id}`;
  if (o.created) created.push(organizationRef);
  const role: PractitionerRole = {
    resourceType: 'PractitionerRole', active: true,
    practitioner: { reference: practitionerRef }, organization: { reference: organizationRef },
  };
  const r = await t.create(ctx, role, { ifNoneExist: { practitioner: [practitionerRef], organization: [organizationRef] } });
  const requester = `PractitionerRole/${r.resource.id}`;
  if (r.created) created.push(requester);
  return { practitioner: practitionerRef, organization: organizationRef, requester, created };
}

/**
 * The context of an integration partner acting for a professional: same subject, scopes and channel (so the
 * AuditEvent still names the partner as altId), with fhirUser = that professional, so that the dossier roles
 * (dossier-roles.ts) are those of the professional. Only the HL7 adapter builds it, for orders the partner placed.
 */
export function actingFor(ctx: AuditContext, practitioner: string | undefined): AuditContext {
  const { role: _role, fhirUser: _user, ...rest } = ctx.principal;
  const principal: Principal = { ...rest, ...(practitioner ? { fhirUser: practitioner } : {}) };
  return { ...ctx, principal };
}

/**
 * Who the partner acts for on a dossier it placed: the ordering provider the message names (ORC-12), else the
 * practitioner of the dossier's requester (recorded from flux 1). An ORC-12 unknown to the directory acts for nobody
 * (the transition then refuses with 403: no dossier role).
 */
export async function orderActor(t: ResourceService, ctx: AuditContext, task: Task, orderingProvider?: Identifier): Promise<AuditContext> {
  if (orderingProvider) return actingFor(ctx, await findPractitioner(t, ctx, orderingProvider));
  const requester = task.requester?.reference ?? '';
  if (requester.startsWith('Practitioner/')) return actingFor(ctx, requester);
  if (!requester.startsWith('PractitionerRole/')) return actingFor(ctx, undefined);
  const role = await t.read<PractitionerRole>(ctx, 'PractitionerRole', requester.slice('PractitionerRole/'.length));
  return actingFor(ctx, role.practitioner?.reference);
}
