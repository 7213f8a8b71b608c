// The one place access decisions are made (SMART App Launch v2 scopes §scopes-and-launch-context, v1 read/write too).
// Every adapter (FHIR REST, DICOMweb, HL7v2, XDS) goes through the services, which call this policy.
import type { Resource } from '@medplum/fhirtypes';
import { errors } from '../kernel/errors.js';
import type { Principal } from '../kernel/principal.js';

export type Interaction = 'create' | 'read' | 'update' | 'delete' | 'search';

const LETTER: Record<Interaction, string> = { create: 'c', read: 'r', update: 'u', delete: 'd', search: 's' };

export interface AccessPolicy {
  /** Throws 403 unless the principal may perform `interaction` on `resourceType` (and on `resource` when given). */
  check(principal: Principal, interaction: Interaction, resourceType: string, resource?: Resource): void;
  /** Whether the principal may see this resource (used to filter search results, includes and history). */
  canSee(principal: Principal, resource: Resource): boolean;
}

/** Grants of one scope string, or undefined when it is not a resource scope. */
export function parseScope(scope: string): { context: string; type: string; letters: Set<string> } | undefined {
  const m = /^(user|system|patient)\/([A-Za-z]+|\*)\.(\*|read|write|[cruds]+)(\?.*)?$/.exec(scope);
  if (!m) return undefined;
  const [, context, type, perm] = m;
  const letters = perm === '*' ? 'cruds' : perm === 'read' ? 'rs' : perm === 'write' ? 'cud' : perm;
  return { context, type, letters: new Set(letters) };
}

/**
 * Scope-based policy. `patient/` scopes grant nothing yet: patient-facing access is not offered by the platform.
 * Workflow participation rules (who sees which télédossier) plug in through `rules`.
 */
export function createScopeAccessPolicy(rules: readonly AccessRule[] = []): AccessPolicy {
  const granted = (p: Principal, interaction: Interaction, type: string) => p.scopes.some((s) => {
    const g = parseScope(s);
    return !!g && g.context !== 'patient' && (g.type === '*' || g.type === type) && g.letters.has(LETTER[interaction]);
  });
  return {
    check(principal, interaction, resourceType, resource) {
      if (!granted(principal, interaction, resourceType)) {
        throw errors.forbidden(`Scope does not allow ${interaction} on ${resourceType}`);
      }
      if (resource) {
        for (const rule of rules) {
          const denial = rule(principal, interaction, resource);
          if (denial) throw errors.forbidden(denial);
        }
      }
    },
    canSee(principal, resource) {
      if (!granted(principal, 'read', resource.resourceType) && !granted(principal, 'search', resource.resourceType)) return false;
      return rules.every((rule) => !rule(principal, 'read', resource));
    },
  };
}

/** A resource-level rule: returns a denial reason, or undefined to allow. */
export type AccessRule = (principal: Principal, interaction: Interaction, resource: Resource) => string | undefined;
