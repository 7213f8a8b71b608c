// The benchmark's resources: a valid R4 Task (requested order for a Patient, owned by a PractitionerRole).
import { randomUUID } from 'node:crypto';
import type { Task } from '@medplum/fhirtypes';

export const OWNERS = 1000;
export const STATUSES = ['requested', 'accepted', 'in-progress', 'completed', 'cancelled'] as const;

export function ownerId(k: number): string {
  return `role-${k % OWNERS}`;
}

/** The body a client POSTs to /fhir/Task (no id, no meta). */
export function taskBody(i: number, patients = 100_000): Task {
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    for: { reference: `Patient/bp${(i * 7919) % patients}` },
    owner: { reference: `PractitionerRole/${ownerId(i)}` },
    authoredOn: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString().replace('.000Z', 'Z'),
  };
}

/** The row content the server stores for such a POST (id + meta.versionId/lastUpdated added, as `withMeta` does). */
export function storedTask(i: number): { id: string; lastUpdated: string; json: string } {
  const id = randomUUID();
  const lastUpdated = new Date().toISOString();
  const json = JSON.stringify({ ...taskBody(i), id, meta: { versionId: '1', lastUpdated } });
  return { id, lastUpdated, json };
}
