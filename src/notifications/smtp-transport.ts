// MessageTransport over SMTP (RFC 5321) to a configured relay, with nodemailer; SMS through an e-mail-to-SMS gateway.
import nodemailer from 'nodemailer';
import type { MessageTransport, OutboundMessage } from './outbox.js';

export interface SmtpTransportOptions {
  /** `smtp://user:pass@host:587` (STARTTLS when offered) or `smtps://…:465`; credentials belong in configuration. */
  url: string;
  /** The From header, e.g. `TéléO <no-reply@teleo.example>`. */
  from: string;
  /**
   * For SMS: the domain of an e-mail-to-SMS gateway; a message to +33612345678 is mailed to
   * `+33612345678@<domain>`. Without it, this transport refuses SMS.
   */
  smsGatewayDomain?: string;
  /** Connection / greeting / socket timeouts (default 10 s). */
  timeoutMs?: number;
}

export function createSmtpTransport(opts: SmtpTransportOptions): MessageTransport {
  const timeout = opts.timeoutMs ?? 10_000;
  const transporter = nodemailer.createTransport({ url: opts.url, connectionTimeout: timeout, greetingTimeout: timeout, socketTimeout: timeout });
  const recipient = (m: OutboundMessage): string => {
    if (m.channel === 'email') return m.to;
    if (!opts.smsGatewayDomain) throw new Error('SMS over SMTP needs an e-mail-to-SMS gateway domain (SMS_EMAIL_GATEWAY)');
    return `${m.to}@${opts.smsGatewayDomain}`;
  };
  return {
    name: 'smtp',
    async send(m) {
      const info = await transporter.sendMail({ from: opts.from, to: recipient(m), subject: m.subject, text: m.text });
      const rejected = (info.rejected ?? []) as unknown[];
      if (rejected.length > 0) throw new Error(`SMTP server rejected ${rejected.map(String).join(', ')}`);
    },
    async close() {
      transporter.close();
    },
  };
}
