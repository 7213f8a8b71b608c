// Read receipts ("lu par Dr Durand le 08/08/2024 à 05:34"): each participant's first read of a télédossier, recorded
// as an AuditEvent (IHE BALP read, subtype first-read) and as a Task extension the requérant sees on the dossier.
import type { Extension, Practitioner, PractitionerRole, Resource, Task } from '@medplum/fhirtypes';
import { errors, OperationOutcomeError } from '../../kernel/errors.js';
import type { Logger } from '../../kernel/logger.js';
import { SYSTEM_PRINCIPAL } from '../../kernel/principal.js';
import { queueAudit, type AuditContext } from '../audit.js';
import type { ResourceService, WriteGuard } from '../resource-service.js';
import { DOSSIER_AUTHOR_URL, rolesOf, serviceLookup } from './dossier-roles.js';
import { READ_RECEIPT_URL } from './dossier-model.js';
import { workflowCodeOf } from './index.js';
import type { DossierRole } from './workflow-definition.js';

/** AuditContext.via of receipt writes: the only writes that may touch READ_RECEIPT_URL extensions. */
export const READ_RECEIPT_VIA = 'read-receipt';
/** AuditEvent.subtype coding of a first read. */
export const FIRST_READ = { system: 'https://teleo.fr/fhir/CodeSystem/teleo-audit', code: 'first-read', display: 'Première lecture du télédossier' };

/** Roles whose first read is a receipt: everyone but the senders (the requérant and the author wrote it). */
const SENDERS = new Set<DossierRole>(['requerant', 'auteur']);

export interface ReadReceipt { reader: string; display?: string; role: string; time: string }

/** The receipts recorded on a Task, oldest first. */
export function receiptsOf(task: Task): ReadReceipt[] {
  return (task.extension ?? []).filter((e) => e.url === READ_RECEIPT_URL).map((e) => {
    const part = (url: string) => e.extension?.find((x) => x.url === url);
    return {
      reader: part('reader')?.valueReference?.reference ?? '',
      display: part('reader')?.valueReference?.display,
      role: part('role')?.valueCode ?? '',
      time: part('time')?.valueDateTime ?? '',
    };
  });
}

function receiptExtension(r: ReadReceipt): Extension {
  return {
    url: READ_RECEIPT_URL,
    extension: [
      { url: 'reader', valueReference: { reference: r.reader, ...(r.display ? { display: r.display } : {}) } },
      { url: 'role', valueCode: r.role },
      { url: 'time', valueDateTime: r.time },
    ],
  };
}

/** "Dr Durand" from the Practitioner behind the reader (HumanName prefix + family), when the directory has it. */
async function displayOf(svc: ResourceService, reader: string): Promise<string | undefined> {
  const read = async <T extends Resource>(ref: string | undefined): Promise<T | undefined> => {
    const m = ref ? /^([A-Za-z]+)\/(.+)$/.exec(ref) : null;
    if (!m) return undefined;
    try {
      return await svc.read<T>({ principal: SYSTEM_PRINCIPAL, via: READ_RECEIPT_VIA }, m[1], m[2]);
    } catch {
      return undefined;
    }
  };
  const practitioner = reader.startsWith('Practitioner/') ? await read<Practitioner>(reader)
    : await read<Practitioner>((await read<PractitionerRole>(reader))?.practitioner?.reference);
  const name = practitioner?.name?.[0];
  if (!name?.family) return name?.text;
  return [name.prefix?.[0] ?? 'Dr', name.family].join(' ');
}

/**
 * Called by the FHIR read adapter after a user opened a Task. Records the receipt when the reader takes part in the
 * dossier, is not one of its senders, and has not read it before. Never fails the read: problems are logged.
 */
export function createReadReceipts(svc: ResourceService, logger: Logger, now: () => Date = () => new Date()) {
  return async function afterRead(ctx: AuditContext, resource: Resource): Promise<void> {
    if (resource.resourceType !== 'Task' || !resource.id) return;
    const reader = ctx.principal.role ?? ctx.principal.fhirUser;
    if (!reader || !/^(Practitioner|PractitionerRole)\//.test(reader)) return;
    const own = new Set([ctx.principal.role, ctx.principal.fhirUser].filter(Boolean));
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const task = attempt === 0 ? resource as Task : await svc.read<Task>({ principal: SYSTEM_PRINCIPAL, via: READ_RECEIPT_VIA }, 'Task', resource.id);
        if (workflowCodeOf(task) === undefined) return;
        if (receiptsOf(task).some((r) => own.has(r.reader))) return;
        // The senders' own reads are no receipts: answered from the Task itself, without the directory lookups.
        const author = task.extension?.find((e) => e.url === DOSSIER_AUTHOR_URL)?.valueReference?.reference;
        if ([task.requester?.reference, author].some((r) => r && own.has(r))) return;
        const roles = [...await rolesOf(ctx.principal, task, serviceLookup(svc))];
        if (roles.length === 0 || roles.every((r) => SENDERS.has(r))) return;
        const receipt: ReadReceipt = {
          reader, display: await displayOf(svc, reader), role: roles.find((r) => !SENDERS.has(r)) as string, time: now().toISOString(),
        };
        try {
          await svc.transaction(async (t) => {
            await t.update({ principal: SYSTEM_PRINCIPAL, via: READ_RECEIPT_VIA, requestId: ctx.requestId },
              { ...task, extension: [...task.extension ?? [], receiptExtension(receipt)] }, { ifMatch: task.meta?.versionId });
            await queueAudit(t.jobs, ctx, {
              interaction: 'read', action: 'R', entities: [`Task/${task.id}`], subtype: FIRST_READ,
              outcomeDesc: `Première lecture par ${receipt.display ?? reader} (${receipt.role})`,
            });
          });
          return;
        } catch (e) {
          // Another write came in between: look again (someone else's receipt, or a transition).
          if (e instanceof OperationOutcomeError && String(e.outcome.id) === '412') continue;
          throw e;
        }
      }
    } catch (e) {
      logger.error('read receipt not recorded', { task: resource.id, reader, err: String(e) });
    }
  };
}

/** Receipts are written only by the receipt path: a plain update may neither forge nor remove one. */
export function createReadReceiptGuard(): WriteGuard {
  const key = (t: Resource | undefined) => JSON.stringify(t?.resourceType === 'Task' ? receiptsOf(t as Task) : []);
  return (ctx, previous, next) => {
    if (next.resourceType !== 'Task' || ctx.via === READ_RECEIPT_VIA) return;
    if (key(previous) !== key(next)) {
      throw errors.businessRule(`Task${next.id ? '/' + next.id : ''}: read receipts (${READ_RECEIPT_URL}) are recorded by the platform when a participant opens the dossier`);
    }
  };
}
