// HL7 v2.5.1 §2.9 outbound messages as durable jobs: one MLLP connection per partner (kept open), ACK matched by MSH-10.
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { Hl7Message } from '@medplum/core';
import { Hl7Connection } from '@medplum/hl7';
import type { Logger } from '../kernel/logger.js';
import type { JobQueue } from '../store/job-queue.js';
import { PermanentJobError, type JobHandler } from '../jobs/job-runner.js';
import type { Hl7Partner } from './hl7-partner.js';

export const HL7_SEND_JOB = 'hl7v2-send';

export interface Hl7SendPayload extends Record<string, unknown> {
  partner: string;
  controlId: string;
  message: string;
  /** What the message is, for the operator (e.g. `MDM^T02 for DiagnosticReport/12`). */
  summary?: string;
}

/** Enqueues a message for `partner`: ordered per partner, idempotent per (partner, control id). */
export async function enqueueHl7(jobs: JobQueue, payload: Hl7SendPayload): Promise<void> {
  await jobs.enqueue(HL7_SEND_JOB, payload, { orderingKey: `hl7v2:${payload.partner}`, idempotencyKey: `hl7v2:${payload.partner}:${payload.controlId}` });
}

/** iconv-lite names of the MSH-18 character sets. */
const ICONV: Record<string, string> = { 'UNICODE UTF-8': 'utf-8', '8859/15': 'iso-8859-15', '8859/1': 'latin1', ASCII: 'ascii' };

export interface SenderOptions {
  partners: readonly Hl7Partner[];
  logger: Logger;
  /** How long to wait for the partner's ACK. */
  ackTimeoutMs: number;
  /** TLS options for partners with `tls: true` (CA, client certificate). */
  tls?: ConnectionOptions;
}

export interface Hl7Sender {
  readonly handler: JobHandler;
  close(): Promise<void>;
}

/**
 * The job handler: AA/CA → done; AE/AR/CE/CR → failed without retry (the partner refused the content; the job stays
 * visible with the ERR text, and can be re-queued by an operator); no connection or no ACK in time → retried with
 * backoff. Messages to one partner go one at a time in creation order (the job ordering key).
 */
export function createHl7Sender(o: SenderOptions): Hl7Sender {
  const connections = new Map<string, Hl7Connection>();

  async function connectionFor(p: Hl7Partner): Promise<Hl7Connection> {
    const open = connections.get(p.name);
    if (open && !open.isClosed()) return open;
    if (!p.host || !p.port) throw new PermanentJobError(`HL7 partner ${p.name} has no host/port configured`);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s: Socket = p.tls ? tlsConnect({ host: p.host, port: p.port, ...(isIP(p.host as string) ? {} : { servername: p.host }), ...o.tls }) : netConnect({ host: p.host as string, port: p.port as number });
      const ready = p.tls ? 'secureConnect' : 'connect';
      s.setTimeout(10_000, () => s.destroy(new Error(`connection to ${p.host}:${p.port} timed out`)));
      s.once(ready, () => { s.setTimeout(0); s.setNoDelay(true); resolve(s); });
      s.once('error', reject);
    });
    const conn = new Hl7Connection(socket, ICONV[p.charset] ?? 'utf-8');
    conn.addEventListener('error', (ev) => o.logger.warn('hl7 outbound connection error', { partner: p.name, error: String(ev.error) }));
    conn.addEventListener('close', () => { if (connections.get(p.name) === conn) connections.delete(p.name); });
    connections.set(p.name, conn);
    return conn;
  }

  const handler: JobHandler = async (job) => {
    const payload = job.payload as Hl7SendPayload;
    const partner = o.partners.find((p) => p.name === payload.partner);
    if (!partner) throw new PermanentJobError(`HL7 partner ${payload.partner} is not configured`);
    const conn = await connectionFor(partner);
    let ack: Hl7Message;
    try {
      ack = await conn.sendAndWait(Hl7Message.parse(payload.message), { timeoutMs: o.ackTimeoutMs });
    } catch (e) {
      await conn.close().catch(() => undefined);
      throw new Error(`no ACK from ${partner.name} for ${payload.controlId}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const code = ack.getSegment('MSA')?.getField(1)?.toString() ?? '';
    if (code === 'AA' || code === 'CA') return;
    const errs = ack.getAllSegments('ERR').map((e) => `${e.getField(2)?.toString() ?? ''} ${e.getField(3)?.toString() ?? ''} ${e.getField(8)?.toString() ?? ''}`.trim());
    const text = `${partner.name} answered ${code || 'no MSA'} to ${payload.controlId}${errs.length ? `: ${errs.join('; ')}` : ''}`;
    throw new PermanentJobError(text);
  };

  return {
    handler,
    async close() {
      await Promise.all([...connections.values()].map((c) => c.close().catch(() => undefined)));
      connections.clear();
    },
  };
}
