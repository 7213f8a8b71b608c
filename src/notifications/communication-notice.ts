// A user notification about a télédossier: one FHIR R4 Communication per recipient (category notification,
// partOf the Task) and its e-mail/SMS messages in the outbox, committed together.
import type { CareTeam, Communication, ContactPoint, PractitionerRole, Resource, Task } from '@medplum/fhirtypes';
import { SYSTEM_PRINCIPAL } from '../kernel/principal.js';
import type { AuditContext } from '../workflow/audit.js';
import type { ResourceService } from '../workflow/resource-service.js';
import { serviceLookup, type DirectoryLookup } from '../workflow/teleexpertise/dossier-roles.js';
import { addressesOf, enqueueMessages, type Recipient } from './outbox.js';

export const COMMUNICATION_CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/communication-category';
/** Communication.identifier system: one notification per (event, recipient), so a retried job creates nothing twice. */
export const NOTIFICATION_ID_SYSTEM = 'https://teleo.fr/fhir/NamingSystem/teleo-notification';
export const NOTIFICATIONS_VIA = 'notifications';
export const NOTIFICATIONS_CTX: AuditContext = { principal: SYSTEM_PRINCIPAL, via: NOTIFICATIONS_VIA };

export interface Notice {
  task: Task;
  /** References of the recipients (PractitionerRole, Practitioner, CareTeam, Organization). */
  recipients: readonly string[];
  subject: string;
  /** French text: the Communication payload and the message body. No patient identity (mail is not a safe channel). */
  text: string;
  /** Identifies the event (e.g. `Task/1/_history/3#notify-requerant`). */
  key: string;
  urgent?: boolean;
}

const split = (ref: string): [string, string] | undefined => {
  const m = /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(ref);
  return m ? [m[1], m[2]] : undefined;
};

async function readRef(lookup: DirectoryLookup, ref: string | undefined): Promise<Resource | undefined> {
  const parts = ref ? split(ref) : undefined;
  return parts ? lookup.read(parts[0], parts[1]) : undefined;
}

const telecomOf = (r: Resource | undefined): ContactPoint[] | undefined => (r as { telecom?: ContactPoint[] } | undefined)?.telecom;

/**
 * Where to reach a recipient: its own telecom; a PractitionerRole without one falls back to its Practitioner;
 * a CareTeam without one reaches its members.
 */
export async function addressesFor(lookup: DirectoryLookup, ref: string, depth = 0): Promise<Recipient> {
  const r = await readRef(lookup, ref);
  let found = addressesOf(telecomOf(r));
  if (found.email.length + found.sms.length > 0 || !r || depth > 1) return found;
  const next: string[] = r.resourceType === 'PractitionerRole' ? [(r as PractitionerRole).practitioner?.reference ?? '']
    : r.resourceType === 'CareTeam' ? ((r as CareTeam).participant ?? []).map((p) => p.member?.reference ?? '') : [];
  for (const n of next.filter(Boolean)) {
    const more = await addressesFor(lookup, n, depth + 1);
    found = { email: [...new Set([...found.email, ...more.email])], sms: [...new Set([...found.sms, ...more.sms])] };
  }
  return found;
}

/** The members of a CareTeam (community), as references. */
export async function membersOf(lookup: DirectoryLookup, careTeamRef: string | undefined): Promise<string[]> {
  const team = await readRef(lookup, careTeamRef);
  if (team?.resourceType !== 'CareTeam') return [];
  return ((team as CareTeam).participant ?? []).map((p) => p.member?.reference).filter((r): r is string => !!r);
}

/** Creates the Communications and enqueues their messages in one transaction; returns the Communications. */
export async function sendNotice(svc: ResourceService, notice: Notice, now = new Date()): Promise<Communication[]> {
  const recipients = [...new Set(notice.recipients)].filter((r) => split(r));
  return svc.transaction(async (tx) => {
    const lookup = serviceLookup(tx, NOTIFICATIONS_CTX);
    const out: Communication[] = [];
    for (const recipient of recipients) {
      const value = `${notice.key}#${recipient}`;
      const communication: Communication = {
        resourceType: 'Communication',
        identifier: [{ system: NOTIFICATION_ID_SYSTEM, value }],
        status: 'completed',
        category: [{ coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: 'notification', display: 'Notification' }] }],
        priority: notice.urgent ? 'urgent' : 'routine',
        partOf: [{ reference: `Task/${notice.task.id}` }],
        ...(notice.task.for?.reference?.startsWith('Patient/') ? { subject: { reference: notice.task.for.reference } } : {}),
        sent: now.toISOString(),
        recipient: [{ reference: recipient }],
        sender: { display: 'Plateforme TéléO' },
        payload: [{ contentString: notice.text }],
      };
      const { resource, created } = await tx.create(NOTIFICATIONS_CTX, communication, { ifNoneExist: { identifier: [`${NOTIFICATION_ID_SYSTEM}|${value}`] } });
      out.push(resource);
      if (!created) continue;
      await enqueueMessages(tx.jobs, await addressesFor(lookup, recipient),
        { subject: notice.subject, text: notice.text, communication: `Communication/${resource.id}` }, `Communication/${resource.id}`);
    }
    return out;
  });
}
