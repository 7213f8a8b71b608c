// Who a principal is for one télédossier (FHIR R4 Task requester/owner, PractitionerRole, CareTeam participants).
import type { CareTeam, PractitionerRole, Reference, Resource, Task } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../../kernel/errors.js';
import { SYSTEM_PRINCIPAL, type Principal } from '../../kernel/principal.js';
import type { AuditContext } from '../audit.js';
import type { Query, ResourceService } from '../resource-service.js';
import type { DossierRole } from './workflow-definition.js';

/** Task extension (valueReference): the author who wrote the dossier on behalf of Task.requester. */
export const DOSSIER_AUTHOR_URL = 'https://teleo.fr/fhir/StructureDefinition/dossier-author';
/** PractitionerRole.code system for the administrative functions of a site. */
export const TELEO_ROLE_SYSTEM = 'https://teleo.fr/fhir/CodeSystem/teleo-role';

/** The directory reads the role rules need (a port: tests may use a Map, the platform uses the service). */
export interface DirectoryLookup {
  /** The current version, or undefined when absent or deleted. */
  read(type: string, id: string): Promise<Resource | undefined>;
  search(type: string, query: Query): Promise<Resource[]>;
}

/**
 * Adapter over a ResourceService (pass the transaction's service so reads see the transaction). Reads run as
 * the platform (system principal): the directory must resolve whatever the caller may see; the reads are
 * audited like any other.
 */
export function serviceLookup(svc: ResourceService, ctx: AuditContext = { principal: SYSTEM_PRINCIPAL, via: 'workflow' }): DirectoryLookup {
  return {
    async read(type, id) {
      try {
        return await svc.read(ctx, type, id);
      } catch (e) {
        if (e instanceof OperationOutcomeError && ['404', '410'].includes(String(e.outcome.id))) return undefined;
        throw e;
      }
    },
    async search(type, query) {
      return (await svc.search(ctx, type, query)).resources;
    },
  };
}

const ADMIN_ROLES: ReadonlyMap<string, DossierRole> = new Map<string, DossierRole>([
  ['secretariat', 'secretariat-requis'], ['bureau-entrees', 'bureau-entrees'], ['facturation', 'facturation'],
]);

function split(ref: string | undefined): [string, string] | undefined {
  const m = ref ? /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(ref) : null;
  return m ? [m[1], m[2]] : undefined;
}

async function readRef<T extends Resource>(lookup: DirectoryLookup, ref: string | undefined, type: T['resourceType']): Promise<T | undefined> {
  const parts = split(ref);
  if (!parts || parts[0] !== type) return undefined;
  return (await lookup.read(parts[0], parts[1])) as T | undefined;
}

/**
 * The dossier roles of `principal` on `task`. Rules:
 * - a "party" reference (requester, author, owner, CareTeam member) designates the principal when it equals
 *   principal.fhirUser or principal.role, or when it is a PractitionerRole whose `practitioner` is one of them
 *   (the same physician acting in another role is still the same party);
 * - requerant: Task.requester is the principal; auteur: the dossier-author extension is the principal;
 * - requis: Task.owner is the principal; membre-communaute: Task.owner is a CareTeam with the principal
 *   among `participant.member`;
 * - secretariat-requis / bureau-entrees / facturation: the principal's active PractitionerRole (principal.role)
 *   has that code in teleo-role AND its organization is the owner's organization (owner PractitionerRole
 *   .organization, owner CareTeam .managingOrganization, or the owner Organization itself);
 * - tiers: the principal owns a child Task (`partOf` this Task). The tiers answers on the child Task, where
 *   they are the requis; on the parent the role only grants what a definition gives it (none yet).
 */
export async function rolesOf(principal: Principal, task: Task, lookup: DirectoryLookup): Promise<Set<DossierRole>> {
  const own = new Set([principal.fhirUser, principal.role].filter((r): r is string => !!r));
  const roles = new Set<DossierRole>();
  if (own.size === 0) return roles;

  const isParty = async (ref: Reference | undefined): Promise<boolean> => {
    if (!ref?.reference) return false;
    if (own.has(ref.reference)) return true;
    const pr = await readRef<PractitionerRole>(lookup, ref.reference, 'PractitionerRole');
    return !!pr?.practitioner?.reference && own.has(pr.practitioner.reference);
  };

  if (await isParty(task.requester)) roles.add('requerant');
  const author = task.extension?.find((e) => e.url === DOSSIER_AUTHOR_URL)?.valueReference;
  if (await isParty(author)) roles.add('auteur');

  const ownerRef = task.owner?.reference;
  const [ownerType] = split(ownerRef) ?? [];
  if (await isParty(task.owner)) roles.add('requis');
  let ownerOrgs: string[] = [];
  if (ownerType === 'CareTeam') {
    const team = await readRef<CareTeam>(lookup, ownerRef, 'CareTeam');
    for (const p of team?.participant ?? []) {
      if (await isParty(p.member)) { roles.add('membre-communaute'); break; }
    }
    ownerOrgs = (team?.managingOrganization ?? []).map((o) => o.reference).filter((r): r is string => !!r);
  } else if (ownerType === 'PractitionerRole') {
    const pr = await readRef<PractitionerRole>(lookup, ownerRef, 'PractitionerRole');
    ownerOrgs = pr?.organization?.reference ? [pr.organization.reference] : [];
  } else if (ownerType === 'Organization' && ownerRef) {
    ownerOrgs = [ownerRef];
  }

  const myRole = await readRef<PractitionerRole>(lookup, principal.role, 'PractitionerRole');
  if (myRole && myRole.active !== false && myRole.organization?.reference && ownerOrgs.includes(myRole.organization.reference)) {
    for (const coding of (myRole.code ?? []).flatMap((c) => c.coding ?? [])) {
      const role = coding.system === TELEO_ROLE_SYSTEM && coding.code ? ADMIN_ROLES.get(coding.code) : undefined;
      if (role) roles.add(role);
    }
  }

  if (task.id) {
    for (const child of await lookup.search('Task', { 'part-of': [`Task/${task.id}`] })) {
      if (await isParty((child as Task).owner)) { roles.add('tiers'); break; }
    }
  }
  return roles;
}
