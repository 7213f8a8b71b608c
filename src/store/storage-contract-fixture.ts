// Test fixture of the storage contracts: per-test tagged data, and helpers shared by the contract files.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Coding, Resource } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../kernel/errors.js';
import type { SearchResult, Storage } from './resource-store.js';
import { searchOf } from './test-storages.js';

export const TAG_SYSTEM = 'urn:teleo:test-run';
export const SYS = 'urn:teleo:test-ids';

/** The `outcome.id` (HTTP status) of the OperationOutcomeError the promise rejects with. */
export async function rejection(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(OperationOutcomeError);
    return (e as OperationOutcomeError).outcome.id;
  }
  throw new Error('expected the promise to reject');
}

export const pause = (ms = 5) => new Promise<void>((resolve) => setTimeout(resolve, ms));
export const key = (r: Resource) => `${r.resourceType}/${r.id}`;

/** Per-test data: resources tagged with a fresh code, and searches restricted to that tag. */
export class Fixture {
  readonly uid = randomUUID();
  readonly tag: Coding = { system: TAG_SYSTEM, code: this.uid };
  constructor(readonly storage: Storage) {}

  create<T extends Resource>(resource: T): Promise<T> {
    return this.storage.resources.create({ ...resource, meta: { ...resource.meta, tag: [...(resource.meta?.tag ?? []), this.tag] } });
  }

  /** Searches `qs` among this test's resources. */
  search(resourceType: string, qs: string): Promise<SearchResult> {
    const sep = qs ? '&' : '';
    return this.storage.resources.search(searchOf(resourceType, `${qs}${sep}_tag=${TAG_SYSTEM}|${this.uid}`));
  }

  /** Ids of the matches, sorted (for set comparisons). */
  async ids(resourceType: string, qs: string): Promise<string[]> {
    return (await this.search(resourceType, qs)).resources.map((r) => r.id as string).sort();
  }

  /** Ids of the matches in the order returned. */
  async ordered(resourceType: string, qs: string): Promise<string[]> {
    return (await this.search(resourceType, qs)).resources.map((r) => r.id as string);
  }
}

export const sorted = (...ids: (string | undefined)[]) => (ids as string[]).slice().sort();
