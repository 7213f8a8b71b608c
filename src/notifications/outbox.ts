// E-mail / SMS outbox: each outbound message is a durable job (status, attempts, last error visible in the queue),
// sent through a pluggable MessageTransport. Addresses come from FHIR R4 ContactPoint (datatypes.html#ContactPoint).
import type { ContactPoint } from '@medplum/fhirtypes';
import type { Logger } from '../kernel/logger.js';
import type { Job, JobQueue } from '../store/job-queue.js';

export const OUTBOX_JOB = 'outbox-send';

export type MessageChannel = 'email' | 'sms';

export interface OutboundMessage {
  channel: MessageChannel;
  /** An e-mail address or a phone number. */
  to: string;
  subject: string;
  text: string;
  /** The Communication this message carries (for the record). */
  communication?: string;
}

/** The port: one implementation per way out (log, SMTP…). Throws when the message could not be handed over. */
export interface MessageTransport {
  readonly name: string;
  send(message: OutboundMessage): Promise<void>;
  close?(): Promise<void>;
}

/** The default transport: writes each message to the log (development, or no mail server configured). */
export function createLogTransport(logger: Logger): MessageTransport {
  return {
    name: 'log',
    async send(m) {
      logger.info('outbound message (log transport)', { channel: m.channel, to: m.to, subject: m.subject, text: m.text, communication: m.communication });
    },
  };
}

export interface Recipient {
  /** e-mail addresses and SMS numbers of the recipient. */
  readonly email: readonly string[];
  readonly sms: readonly string[];
}

/** ContactPoints → addresses: system email; system sms, or phone with use mobile. Ended periods are skipped. */
export function addressesOf(telecom: readonly ContactPoint[] | undefined, now = new Date()): Recipient {
  const live = (telecom ?? []).filter((t) => t.value && (!t.period?.end || Date.parse(t.period.end) > now.getTime()));
  return {
    email: [...new Set(live.filter((t) => t.system === 'email').map((t) => (t.value as string).trim()))],
    sms: [...new Set(live.filter((t) => t.system === 'sms' || (t.system === 'phone' && t.use === 'mobile')).map((t) => (t.value as string).replace(/[\s.]/g, '')))],
  };
}

/** Enqueues one job per address (on `jobs`: inside a transaction, they commit with the Communication). */
export async function enqueueMessages(jobs: JobQueue, to: Recipient, message: Pick<OutboundMessage, 'subject' | 'text' | 'communication'>, key: string): Promise<number> {
  let n = 0;
  for (const [channel, list] of [['email', to.email], ['sms', to.sms]] as const) {
    for (const address of list) {
      const m: OutboundMessage = { ...message, channel, to: address };
      await jobs.enqueue(OUTBOX_JOB, { ...m }, { idempotencyKey: `outbox#${key}#${channel}:${address}` });
      n++;
    }
  }
  return n;
}

/** outbox-send: hands the message to the transport of its channel; a failure is retried with backoff by the runner. */
export function outboxHandler(transports: Readonly<Record<MessageChannel, MessageTransport>>): (job: Job) => Promise<void> {
  return async (job) => {
    const m = job.payload as unknown as OutboundMessage;
    const transport = transports[m.channel];
    if (!transport) throw new Error(`no transport for channel ${m.channel}`);
    await transport.send(m);
  };
}
