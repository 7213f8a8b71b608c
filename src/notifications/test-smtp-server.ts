// Test fixture (not shipped): a real SMTP server (smtp-server) on port 0 that keeps the messages it receives.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { until } from './test-receiver.js';

export interface ReceivedMail { from: string; to: string[]; raw: string }

export interface TestSmtpServer {
  readonly url: string;
  readonly mails: ReceivedMail[];
  /** The first mail to `address` whose raw text contains `text` (waits for it). */
  mailTo(address: string, text?: string, timeoutMs?: number): Promise<ReceivedMail>;
  close(): Promise<void>;
}

export async function startSmtpServer(): Promise<TestSmtpServer> {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    mailTo: (address, text, timeoutMs = 10_000) => until(async () => mails.find((m) => m.to.includes(address) && (!text || m.raw.includes(text))), timeoutMs, `a mail to ${address}`),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
