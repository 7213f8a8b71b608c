// FHIR R4 §6.1.0 validation: base resource definitions plus declared (meta.profile) and required profiles.
import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { errors } from '../kernel/errors.js';
import { checkRequiredBindings, loadR4Expansions, type Expansions } from './required-bindings.js';

export interface Validator {
  /** Throws a 422 OperationOutcomeError listing every error (each with its FHIRPath location). Returns warnings. */
  validate(resource: Resource, extraProfiles?: readonly string[]): OperationOutcomeIssue[];
  /** Collects issues without throwing (for $validate). */
  check(resource: Resource, extraProfiles?: readonly string[]): OperationOutcomeIssue[];
  knownProfiles(): string[];
}

export function createValidator(
  profiles: ReadonlyMap<string, StructureDefinition>,
  requiredProfiles: Readonly<Record<string, readonly string[]>> = {},
  expansions: Expansions = loadR4Expansions(),
): Validator {
  function check(resource: Resource, extra: readonly string[] = []): OperationOutcomeIssue[] {
    const issues: OperationOutcomeIssue[] = [];
    const run = (profile?: StructureDefinition) => {
      try {
        issues.push(...validateResource(resource, profile ? { profile } : undefined));
      } catch (e) {
        if (e instanceof OperationOutcomeError) issues.push(...(e.outcome.issue ?? []));
        else issues.push({ severity: 'error', code: 'exception', details: { text: 'Validation failed' } });
      }
    };
    run();
    issues.push(...checkRequiredBindings(resource, expansions));
    const urls = new Set([...(resource.meta?.profile ?? []), ...(requiredProfiles[resource.resourceType] ?? []), ...extra]);
    for (const url of urls) {
      const sd = profiles.get(url.split('|')[0]);
      if (sd) {
        if (sd.type !== resource.resourceType) {
          issues.push({ severity: 'error', code: 'invalid', details: { text: `Profile ${url} is for ${sd.type}` }, expression: [`${resource.resourceType}.meta.profile`] });
        } else {
          run(sd);
        }
      } else if (!resource.meta?.profile?.includes(url)) {
        // A required profile that is not loaded is a configuration error, reported as such.
        issues.push({ severity: 'error', code: 'not-found', details: { text: `Required profile ${url} is not loaded` } });
      } else {
        issues.push({ severity: 'warning', code: 'not-supported', details: { text: `Profile ${url} is unknown to this server: not checked` }, expression: [`${resource.resourceType}.meta.profile`] });
      }
    }
    return dedupe(issues);
  }
  return {
    check,
    validate(resource, extra) {
      const issues = check(resource, extra);
      if (issues.some((i) => i.severity === 'error' || i.severity === 'fatal')) throw errors.invalid(issues);
      return issues;
    },
    knownProfiles: () => [...profiles.keys()],
  };
}

function dedupe(issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = JSON.stringify(i);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
