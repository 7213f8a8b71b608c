// Once sent, a télédossier keeps what it holds (CCTP "les examens et documents ne sont jamais supprimés"): FHIR R4
// Task.input / focus / output references stay, held resources are not deleted, a held DocumentReference's content
// only changes by entered-in-error (R4 documentreference.html#status); corrections are new DocumentReferences
// (relatesTo replaces) appended to Task.input. Refusals are 409 business-rule OperationOutcomes.
import { isDeepStrictEqual } from 'node:util';
import type { DocumentReference, Reference, Resource, Task } from '@medplum/fhirtypes';
import { errors } from '../../kernel/errors.js';
import type { SearchRegistry } from '../../fhir/search-registry.js';
import { parseSearch } from '../../fhir/search-request.js';
import type { Storage } from '../../store/resource-store.js';
import type { AfterWrite, WriteGuard } from '../resource-service.js';
import { workflowCodeOf } from './index.js';

/** The resource types a dossier holds (Task?dossier-content) whose removal the rules forbid. */
export const HELD_TYPES: ReadonlySet<string> = new Set(['DocumentReference', 'ImagingStudy', 'DiagnosticReport', 'ServiceRequest']);

/** A télédossier is sent once it follows a workflow and is no longer a draft (workflows start in 'requested'). */
export function isSentDossier(task: Task): boolean {
  return workflowCodeOf(task) !== undefined && task.status !== 'draft';
}

const CORRECTION_HINT = 'corrections are a new DocumentReference (relatesTo replaces) added to Task.input, '
  + 'or the wrong one marked entered-in-error';

/** References (with their element path) that `task` holds in `field`. */
function held(task: Task, field: 'input' | 'output'): { path: string; ref: string }[] {
  return (task[field] ?? []).flatMap((p, i) => {
    const ref = (p as { valueReference?: Reference }).valueReference?.reference;
    return ref ? [{ path: `Task.${field}[${i}]`, ref }] : [];
  });
}

/**
 * Write guard: an update of a sent télédossier may add inputs and outputs, never drop or change one, and may not
 * change its focus (the ServiceRequest).
 */
export function createDossierContentGuard(): WriteGuard {
  return (_ctx, previous, next) => {
    if (next.resourceType !== 'Task' || previous?.resourceType !== 'Task' || !isSentDossier(previous as Task)) return;
    const before = previous as Task;
    const after = next as Task;
    const where = `Task/${before.id}`;
    const focus = before.focus?.reference;
    if (focus && after.focus?.reference !== focus) {
      throw errors.businessRule(`${where}: the request (Task.focus ${focus}) of a sent télédossier cannot be removed or changed`);
    }
    for (const field of ['input', 'output'] as const) {
      const remaining = held(after, field).map((h) => h.ref);
      for (const { path, ref } of held(before, field)) {
        const at = remaining.indexOf(ref);
        if (at < 0) {
          throw errors.businessRule(`${where}: ${path} (${ref}) cannot be removed from or changed in a sent télédossier; ${CORRECTION_HINT}`);
        }
        remaining.splice(at, 1);
      }
    }
  };
}

/** The sent télédossiers holding `ref` (Task?dossier-content), read in the write's transaction. */
async function sentDossiersHolding(tx: Storage, registry: SearchRegistry, ref: string): Promise<Task[]> {
  const search = parseSearch(registry, 'Task', { 'dossier-content': [ref] }, { defaultCount: 50, maxCount: 50 });
  search.total = 'none';
  return ((await tx.resources.search(search)).resources as Task[]).filter(isSentDossier);
}

const contentChanged = (before: DocumentReference, after: DocumentReference) => !isDeepStrictEqual(before.content ?? [], after.content ?? []);

/**
 * afterWrite hook (runs in the write's transaction; throwing rolls the write back): a resource held by a sent
 * télédossier is not deleted, and a held DocumentReference's content changes only when it is marked entered-in-error.
 */
export function dossierImmutabilityHook(registry: SearchRegistry): AfterWrite {
  return async (tx, _ctx, event) => {
    const r: Resource = event.resource;
    if (!HELD_TYPES.has(r.resourceType)) return;
    const ref = `${r.resourceType}/${r.id}`;
    if (event.interaction === 'delete') {
      const [dossier] = await sentDossiersHolding(tx, registry, ref);
      if (dossier) {
        throw errors.businessRule(`${ref} belongs to the sent télédossier Task/${dossier.id} and cannot be deleted; `
          + (r.resourceType === 'DocumentReference' ? 'mark it entered-in-error instead' : 'it stays with the dossier'));
      }
      return;
    }
    if (event.interaction !== 'update' || r.resourceType !== 'DocumentReference' || event.previous?.resourceType !== 'DocumentReference') return;
    const after = r as DocumentReference;
    if (after.status === 'entered-in-error' || !contentChanged(event.previous as DocumentReference, after)) return;
    const [dossier] = await sentDossiersHolding(tx, registry, ref);
    if (dossier) {
      throw errors.businessRule(`${ref} belongs to the sent télédossier Task/${dossier.id}: its content cannot change; ${CORRECTION_HINT}`);
    }
  };
}
