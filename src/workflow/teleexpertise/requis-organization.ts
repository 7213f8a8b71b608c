// The establishment a télédossier is addressed to, recorded on the FHIR R4 Task when it is written (the kit's
// correspondent picker starts with the establishment): one indexed reference for the secretariat's worklist and the
// administrative roles' visibility, instead of resolving every Task's owner.
import type { CareTeam, PractitionerRole, Resource, Task } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../../kernel/errors.js';
import type { Storage } from '../../store/resource-store.js';
import type { PrepareWrite } from '../resource-service.js';
import { REQUIS_ORGANIZATION_URL } from './dossier-model.js';
import { workflowCodeOf } from './index.js';

async function current<T extends Resource>(storage: Storage, type: string, id: string): Promise<T | undefined> {
  try {
    return await storage.resources.read<T>(type, id);
  } catch (e) {
    if (e instanceof OperationOutcomeError && ['404', '410'].includes(String(e.outcome.id))) return undefined;
    throw e;
  }
}

/** Organization/x itself, a PractitionerRole's organization, or a CareTeam's (first) managing organization. */
export async function organizationOfOwner(storage: Storage, owner: string | undefined): Promise<string | undefined> {
  const m = owner ? /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(owner) : null;
  if (!m) return undefined;
  if (m[1] === 'Organization') return owner;
  if (m[1] === 'PractitionerRole') return (await current<PractitionerRole>(storage, m[1], m[2]))?.organization?.reference;
  if (m[1] === 'CareTeam') return (await current<CareTeam>(storage, m[1], m[2]))?.managingOrganization?.[0]?.reference;
  return undefined;
}

/** Server-owned: whatever a client sends in this extension is replaced by what the owner says. */
export function recordRequisOrganization(): PrepareWrite {
  return async (_ctx, previous, next, storage) => {
    if (next.resourceType !== 'Task' || workflowCodeOf(next as Task) === undefined) return next;
    const task = next as Task;
    // Same owner as the stored version (a read receipt, a transition without routing): keep what was recorded.
    const before = previous?.resourceType === 'Task' && (previous as Task).owner?.reference === task.owner?.reference
      ? (previous as Task).extension?.find((e) => e.url === REQUIS_ORGANIZATION_URL)?.valueReference?.reference : undefined;
    const org = before ?? await organizationOfOwner(storage, task.owner?.reference);
    const others = (task.extension ?? []).filter((e) => e.url !== REQUIS_ORGANIZATION_URL);
    const extension = org ? [...others, { url: REQUIS_ORGANIZATION_URL, valueReference: { reference: org } }] : others;
    const { extension: _old, ...rest } = task;
    return extension.length > 0 ? { ...rest, extension } : rest;
  };
}
