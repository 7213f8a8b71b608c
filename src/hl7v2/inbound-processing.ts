// HL7 v2.5.1 §2.9 message processing rules: store raw, validate the MSH, route, apply once, acknowledge (original or enhanced mode).
import type { Hl7Message } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { errors, OperationOutcomeError, statusOf } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';
import type { Principal } from '../kernel/principal.js';
import type { LoggedMessage } from '../store/message-log.js';
import type { AuditContext } from '../workflow/audit.js';
import type { ResourceService } from '../workflow/resource-service.js';
import { buildAck, hl7CodeOf, isRejection, issuesOf, type AckCode } from './acknowledgment.js';
import { peekMsh } from './hl7-charset.js';
import { hl7Issue } from './hl7-field-errors.js';
import type { Hl7Identity, Hl7Partner } from './hl7-partner.js';
import type { Hl7Route, InboundResult } from './hl7-route.js';
import { comp1, lenientHeader, partnerOf, readMessage, type Parsed } from './message-header.js';

export const HL7_CHANNEL = 'hl7v2';
export const HL7_VIA = 'hl7v2';

export interface InboundDeps {
  svc: ResourceService;
  routes: readonly Hl7Route[];
  partners: readonly Hl7Partner[];
  identity: Hl7Identity;
  baseUrl: string;
  logger: Logger;
  /** Messages from senders (MSH-3/MSH-4) that are not configured partners: refused (AR) unless true. */
  acceptUnknownSenders: boolean;
  /** Structure checks run before a message is applied (message-structures.ts); their issues answer AE. */
  checks?: readonly ((message: Hl7Message) => OperationOutcomeIssue[])[];
  /** Sends an enhanced-mode application acknowledgment to the partner (a durable outbound job). */
  sendApplicationAck?: (partner: Hl7Partner, ack: string, controlId: string) => Promise<void>;
}

/** What the connection answers: bytes' text to frame and send, or nothing (an ACK is never acknowledged). */
export interface Reply { readonly text?: string; readonly charset: string }

export interface InboundProcessor {
  /** One MLLP frame's content; never throws. */
  receive(raw: Buffer, remoteAddress?: string): Promise<Reply>;
  /**
   * Frames that arrived together on one connection (a pipelining sender), answered in order: consecutive
   * enhanced-mode messages are stored in one statement (group commit) before their CAs; never throws.
   */
  receiveBatch(raws: readonly Buffer[], remoteAddress?: string): Promise<Reply[]>;
  /** Bytes that could not form a message (outside a frame, too large, truncated): logged as rejected. */
  refuse(raw: Buffer, reason: string, remoteAddress?: string): Promise<Reply>;
  /** Applies messages stored but not applied (after a crash); returns how many were settled. */
  resume(): Promise<number>;
  /** An operator's replay of a rejected message (after a fix); returns the message as settled. */
  replay(id: string): Promise<LoggedMessage>;
  /** Resolves once every message accepted so far is applied. */
  idle(): Promise<void>;
}

export function partnerPrincipal(partner: Hl7Partner): Principal {
  return { sub: `hl7:${partner.name}`, fhirUser: `Device/hl7v2-${partner.name.replace(/[^A-Za-z0-9\-.]/g, '-')}`, scopes: ['system/*.*'], iss: 'hl7v2' };
}

export function createInboundProcessor(deps: InboundDeps): InboundProcessor {
  const { svc, identity, logger } = deps;
  /** Per sender, the tail of its applications: messages of one sender are applied in arrival order. */
  const chains = new Map<string, Promise<unknown>>();
  /** Messages being applied (a duplicate arriving meanwhile waits for the original's ACK). */
  const inFlight = new Map<string, Promise<string>>();

  async function reject(raw: Buffer, issues: OperationOutcomeIssue[], partner: Hl7Partner | undefined, remote: string | undefined, enhanced: boolean): Promise<Reply> {
    const charset = partner?.charset ?? 'UNICODE UTF-8';
    const header = lenientHeader(raw, peekMsh(raw, 18) ? (peekMsh(raw, 18) as string).split('~')[0] : charset);
    const rejection = isRejection(issues);
    const code: AckCode = enhanced ? (rejection ? 'CR' : 'CE') : rejection ? 'AR' : 'AE';
    const ack = buildAck(code, header, identity, issues);
    await svc.messages.receive({
      channel: HL7_CHANNEL, partner: partner?.name, sender: `${comp1(header.sendingApplication)}^${comp1(header.sendingFacility)}`,
      controlId: header.controlId, messageType: (peekMsh(raw, 9) ?? '').split('^').slice(0, 2).join('^'), raw, receivedAt: new Date(),
      status: 'rejected', error: summary(issues), ack,
    });
    logger.warn('hl7 message rejected', { partner: partner?.name, controlId: header.controlId, remote, error: summary(issues) });
    return { text: ack, charset: header.charset };
  }

  /** Applies one stored message: its writes and its "applied" mark commit together; failures settle it rejected. */
  async function apply(stored: LoggedMessage, p: Parsed): Promise<string> {
    const ctx: AuditContext = { principal: partnerPrincipal(p.partner), via: HL7_VIA };
    const accepted = buildAck('AA', p.header, identity);
    try {
      const done = await svc.transaction(async (t) => {
        const result: InboundResult = p.route
          ? await p.route.handle({ svc: t, ctx, message: p.message, partner: p.partner, receivedAt: stored.receivedAt, baseUrl: deps.baseUrl })
          : { written: [], note: 'acknowledgment recorded' };
        if (!(await t.messages.settle(stored.id, { status: 'applied', ack: accepted, result: { ...result } }))) return false;
        return true;
      });
      if (!done) return (await svc.messages.get(stored.id))?.ack ?? accepted;
      return accepted;
    } catch (e) {
      const issues = issuesOf(e);
      if (issues.some((i) => hl7CodeOf(i) === 207 && i.code === 'exception')) logger.error('hl7 message application failed', { id: stored.id, error: e instanceof Error ? e.stack : String(e) });
      // AR for what is not the message's fault (our configuration, an internal error: §2.9.2.3), AE for its content.
      const ours = e instanceof OperationOutcomeError && statusOf(e.outcome) >= 500;
      const ack = buildAck(isRejection(issues) || ours ? 'AR' : 'AE', p.header, identity, issues);
      await svc.messages.settle(stored.id, { status: 'rejected', ack, error: summary(issues) });
      return ack;
    }
  }

  /** Queues the application behind the sender's earlier ones. */
  function applyInOrder(stored: LoggedMessage, p: Parsed): Promise<string> {
    const key = stored.sender;
    const run = (chains.get(key) ?? Promise.resolve()).then(() => apply(stored, p));
    const tail = run.catch(() => undefined);
    chains.set(key, tail);
    void tail.then(() => { if (chains.get(key) === tail) chains.delete(key); });
    inFlight.set(stored.id, run);
    void run.finally(() => inFlight.delete(stored.id)).catch(() => undefined);
    return run;
  }

  async function applicationAck(p: Parsed, ack: string): Promise<void> {
    const code = /\rMSA\|([A-Z]{2})/.exec(ack)?.[1];
    const wanted = p.appAck === 'AL' || (p.appAck === 'ER' && code !== 'AA') || (p.appAck === 'SU' && code === 'AA');
    if (!wanted || !deps.sendApplicationAck) return;
    await deps.sendApplicationAck(p.partner, ack, p.header.controlId);
  }

  async function receive(raw: Buffer, remoteAddress?: string): Promise<Reply> {
    const partnerHint = partnerOf(raw, deps.partners);
    let p: Parsed;
    try {
      p = readMessage(raw, partnerHint, deps);
    } catch (e) {
      const issues = Array.isArray(e) ? (e as OperationOutcomeIssue[]) : issuesOf(e);
      const enhanced = partnerHint?.ackMode === 'enhanced' || !!peekMsh(raw, 15) || !!peekMsh(raw, 16);
      return reject(raw, issues, partnerHint, remoteAddress, enhanced);
    }
    const structure = (deps.checks ?? []).flatMap((check) => check(p.message)).filter((i) => i.severity !== 'warning');
    const { message: stored, original } = await svc.messages.receive({
      channel: HL7_CHANNEL, partner: p.partner.name, sender: `${comp1(p.header.sendingApplication)}^${comp1(p.header.sendingFacility)}`,
      controlId: p.header.controlId, messageType: `${p.message.header.getField(9)?.getComponent(1)}^${p.message.header.getField(9)?.getComponent(2)}`,
      raw, receivedAt: new Date(),
      ...(structure.length ? { status: 'rejected' as const, error: summary(structure), ack: buildAck(p.enhanced ? 'CE' : 'AE', p.header, identity, structure) } : {}),
    });
    if (original) {
      logger.info('hl7 duplicate message', { partner: p.partner.name, controlId: p.header.controlId, original: original.id });
      if (p.enhanced) return { text: buildAck('CA', p.header, identity), charset: p.header.charset };
      const ack = original.ack ?? (await inFlight.get(original.id)) ?? (await svc.messages.get(original.id))?.ack;
      return { text: ack ?? buildAck('AA', p.header, identity), charset: p.header.charset };
    }
    if (stored.status === 'rejected') return { text: stored.ack, charset: p.header.charset };
    if (p.message.header.getField(9)?.getComponent(1) === 'ACK') {
      await svc.messages.settle(stored.id, { status: 'applied', ack: '', result: { written: [], note: `acknowledgment ${p.message.getSegment('MSA')?.getField(1)?.toString() ?? ''} of ${p.message.getSegment('MSA')?.getField(2)?.toString() ?? ''}` } });
      return { charset: p.header.charset };
    }
    if (!p.enhanced) return { text: await applyInOrder(stored, p), charset: p.header.charset };
    void applyInOrder(stored, p).then((ack) => applicationAck(p, ack)).catch((e: unknown) => logger.error('hl7 application ack failed', { error: String(e) }));
    return { text: buildAck('CA', p.header, identity), charset: p.header.charset };
  }

  /** Enhanced-mode messages that only need storing before their CA, stored together. */
  async function storeAccepted(run: readonly { raw: Buffer; p: Parsed }[]): Promise<Reply[]> {
    const stored = await svc.messages.receiveMany(run.map(({ raw, p }) => ({
      channel: HL7_CHANNEL, partner: p.partner.name, sender: `${comp1(p.header.sendingApplication)}^${comp1(p.header.sendingFacility)}`,
      controlId: p.header.controlId, messageType: `${p.message.header.getField(9)?.getComponent(1)}^${p.message.header.getField(9)?.getComponent(2)}`,
      raw, receivedAt: new Date(),
    })));
    return stored.map(({ message, original }, i) => {
      const p = run[i].p;
      if (original) logger.info('hl7 duplicate message', { partner: p.partner.name, controlId: p.header.controlId, original: original.id });
      else void applyInOrder(message, p).then((ack) => applicationAck(p, ack)).catch((e: unknown) => logger.error('hl7 application ack failed', { error: String(e) }));
      return { text: buildAck('CA', p.header, identity), charset: p.header.charset };
    });
  }

  async function receiveBatch(raws: readonly Buffer[], remoteAddress?: string): Promise<Reply[]> {
    const replies: Reply[] = [];
    let run: { raw: Buffer; p: Parsed }[] = [];
    const flush = async () => {
      if (run.length) replies.push(...await storeAccepted(run));
      run = [];
    };
    for (const raw of raws) {
      let p: Parsed | undefined;
      try {
        p = readMessage(raw, partnerOf(raw, deps.partners), deps);
      } catch {
        p = undefined;
      }
      const batchable = p && p.enhanced && p.route
        && (deps.checks ?? []).every((check) => check((p as Parsed).message).every((i) => i.severity === 'warning'));
      if (p && batchable) {
        run.push({ raw, p });
        continue;
      }
      await flush();
      replies.push(await receive(raw, remoteAddress));
    }
    await flush();
    return replies;
  }

  async function reapply(m: LoggedMessage): Promise<string | undefined> {
    const raw = await svc.messages.raw(m.id);
    if (!raw) return undefined;
    try {
      const p = readMessage(raw, partnerOf(raw, deps.partners), deps);
      const ack = await applyInOrder(m, p);
      if (p.enhanced) await applicationAck(p, ack);
      return ack;
    } catch (e) {
      const issues = Array.isArray(e) ? (e as OperationOutcomeIssue[]) : issuesOf(e);
      await svc.messages.settle(m.id, { status: 'rejected', ack: buildAck('AR', lenientHeader(raw, 'UNICODE UTF-8'), identity, issues), error: summary(issues) });
      return undefined;
    }
  }

  return {
    async receive(raw, remoteAddress) {
      try {
        return await receive(raw, remoteAddress);
      } catch (e) {
        // Storage down or a bug: answer AE/CE without claiming the message was kept, so the sender resends it.
        logger.error('hl7 message could not be stored', { error: e instanceof Error ? e.stack : String(e) });
        const header = lenientHeader(raw, 'UNICODE UTF-8');
        return { text: buildAck('AE', header, identity, [hl7Issue(207, undefined, 'The message could not be stored: send it again later')]), charset: header.charset };
      }
    },
    async receiveBatch(raws, remoteAddress) {
      if (raws.length === 1) return [await this.receive(raws[0], remoteAddress)];
      try {
        return await receiveBatch(raws, remoteAddress);
      } catch (e) {
        logger.error('hl7 messages could not be stored', { error: e instanceof Error ? e.stack : String(e) });
        return raws.map((raw) => {
          const header = lenientHeader(raw, 'UNICODE UTF-8');
          return { text: buildAck('CE', header, identity, [hl7Issue(207, undefined, 'The message could not be stored: send it again later')]), charset: header.charset };
        });
      }
    },
    async refuse(raw, reason, remoteAddress) {
      try {
        return await reject(raw, [hl7Issue(100, undefined, reason)], partnerOf(raw, deps.partners), remoteAddress, false);
      } catch (e) {
        logger.error('hl7 refused bytes could not be stored', { error: String(e) });
        return { charset: 'UNICODE UTF-8' };
      }
    },
    async resume() {
      let n = 0;
      for (;;) {
        const batch = await svc.messages.unsettled(HL7_CHANNEL, 500);
        if (batch.length === 0) return n;
        for (const m of batch) {
          await reapply(m);
          n += 1;
        }
      }
    },
    async replay(id) {
      if (!(await svc.messages.reopen(id))) {
        const m = await svc.messages.get(id);
        throw m ? errors.conflict(`Message ${id} is ${m.status}: only a rejected message can be replayed, and only while no later message with its control id went through`)
          : errors.notFound(`No HL7 message ${id}`);
      }
      const m = await svc.messages.get(id) as LoggedMessage;
      await reapply(m);
      return await svc.messages.get(id) as LoggedMessage;
    },
    async idle() {
      while (chains.size) await Promise.all([...chains.values()]);
    },
  };
}

function summary(issues: readonly OperationOutcomeIssue[]): string {
  return issues.map((i) => `${i.expression?.[0] ? `${i.expression[0]}: ` : ''}${i.details?.text ?? i.diagnostics ?? i.code}`).join('; ');
}
