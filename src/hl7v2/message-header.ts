// HL7 v2.5.1 §2.14.9 MSH: a received message decoded (MSH-18), parsed and checked (MSH-1/2 delimiters, MSH-3/4 sender,
// MSH-9 type and event, MSH-10, MSH-11, MSH-12, MSH-15/16 acknowledgment mode) and routed (ORC-1), before any application.
import { Hl7Message } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { headerOf, type AckedHeader } from './acknowledgment.js';
import { decodeMessage, peekMsh } from './hl7-charset.js';
import { hl7Issue } from './hl7-field-errors.js';
import type { Hl7Partner } from './hl7-partner.js';
import type { Hl7Route } from './hl7-route.js';

const VERSIONS = new Set(['2.5', '2.5.1', '2.6']);
const PROCESSING_IDS = new Set(['P', 'T', 'D']);

export interface Parsed { message: Hl7Message; header: AckedHeader; partner: Hl7Partner; route: Hl7Route; enhanced: boolean; appAck: string }

export interface HeaderDeps {
  readonly routes: readonly Hl7Route[];
  readonly partners: readonly Hl7Partner[];
  readonly acceptUnknownSenders: boolean;
}

export const comp1 = (v: string | undefined) => (v ?? '').split('^')[0];

/** The configured partner a message comes from, by MSH-3 / MSH-4 (first components). */
export function partnerOf(raw: Buffer, partners: readonly Hl7Partner[]): Hl7Partner | undefined {
const app = comp1(peekMsh(raw, 3));
const fac = comp1(peekMsh(raw, 4));
return partners.find((p) => p.application === app && p.facility === fac);
}
const unknownPartner = (sender: string): Hl7Partner => ({
  name: `unknown:${sender}`, application: '', facility: '', charset: 'UNICODE UTF-8', ackMode: 'original', reportMessage: 'MDM', organizations: [],
});

/**
 * Decodes, parses and checks the MSH and the route; throws the issues (an array) that make the message rejected
 * before any application.
 */
export function readMessage(raw: Buffer, partnerHint: Hl7Partner | undefined, deps: HeaderDeps): Parsed {
  if (peekMsh(raw, 1) === undefined) throw [hl7Issue(100, 'MSH', 'The message does not start with an MSH segment')];
  const enc = peekMsh(raw, 2) ?? '';
  const sep = peekMsh(raw, 1) ?? '';
  if (enc.length < 4 || new Set([sep, ...enc.slice(0, 4)]).size !== 5 || /[A-Za-z0-9\s]/.test(sep + enc.slice(0, 4))) {
    throw [hl7Issue(102, 'MSH-2', `MSH-1/MSH-2 must give five distinct delimiters (usually |^~\\&), got '${sep}${enc}'`)];
  }
  const sender = `${comp1(peekMsh(raw, 3))}^${comp1(peekMsh(raw, 4))}`;
  const partner = partnerHint ?? (deps.acceptUnknownSenders ? unknownPartner(sender) : undefined);
  const { text, charset } = decodeMessage(raw, partner?.charset ?? 'UNICODE UTF-8');
  const message = Hl7Message.parse(text.replace(/\r\n|\n/g, '\r'));
  const header = headerOf(message, charset);
  const issues: OperationOutcomeIssue[] = [];
  if (!partner) issues.push(hl7Issue(204, 'MSH-3', `Unknown sender ${sender.replace('^', ' / ')} (MSH-3 / MSH-4): not a configured HL7 partner`));
  if (!header.controlId) issues.push(hl7Issue(101, 'MSH-10', 'MSH-10 (message control id) is required'));
  if (!PROCESSING_IDS.has(comp1(header.processingId))) issues.push(hl7Issue(202, 'MSH-11', `MSH-11 processing id '${header.processingId}' is not P, T or D`));
  const version = comp1(message.header.getField(12)?.toString());
  if (!VERSIONS.has(version)) issues.push(hl7Issue(203, 'MSH-12', `MSH-12 version '${version}' is not supported (2.5.1; 2.5 for PAM-FR; 2.6 for the CDA in HL7 v2 volet)`));
  const type = message.header.getField(9);
  const code = type?.getComponent(1) ?? '';
  const event = type?.getComponent(2) ?? '';
  let route: Hl7Route | undefined;
  if (!code) issues.push(hl7Issue(101, 'MSH-9', 'MSH-9 (message type) is required'));
  else if (code !== 'ACK') {
    const ofType = deps.routes.filter((r) => r.messageType === `${code}^${event}`);
    if (ofType.length === 0) {
      const known = [...new Set(deps.routes.map((r) => r.messageType))].join(', ');
      issues.push(deps.routes.some((r) => r.messageType.startsWith(`${code}^`))
        ? hl7Issue(201, 'MSH-9.2', `Event ${event || '(none)'} of ${code} is not supported (supported: ${known})`)
        : hl7Issue(200, 'MSH-9.1', `Message type ${code} is not supported (supported: ${known})`));
    } else {
      const orc1 = message.getSegment('ORC')?.getField(1)?.toString() ?? '';
      route = ofType.find((r) => !r.orderControl || r.orderControl.includes(orc1));
      if (!route) {
        const accepted = ofType.flatMap((r) => r.orderControl ?? []).join(', ');
        issues.push(hl7Issue(103, 'ORC-1', `Order control '${orc1}' is not supported in ${code}^${event} (supported: ${accepted})`));
      }
    }
  }
  if (issues.length) throw issues;
  const p = partner as Hl7Partner;
  const acceptAck = message.header.getField(15)?.toString() ?? '';
  const appAck = message.header.getField(16)?.toString() ?? '';
  const enhanced = p.ackMode === 'enhanced' || acceptAck !== '' || appAck !== '';
  return { message, header, partner: p, route: route as Hl7Route, enhanced, appAck: appAck || (enhanced ? 'AL' : '') };
}

/** The lenient header of a message that could not be parsed, so that the ACK still reaches the right sender. */
export function lenientHeader(raw: Buffer, charset: string): AckedHeader {
  const f = (n: number) => peekMsh(raw, n) ?? '';
  return {
    sendingApplication: f(3), sendingFacility: f(4), receivingApplication: f(5), receivingFacility: f(6), controlId: f(10),
    trigger: comp1(f(9).split('^')[1]), processingId: f(11) || 'P', version: comp1(f(12)) || '2.5.1', charset,
  };
}
