// HL7 v2.5.1 §2.9.2–2.9.3 acknowledgments (ACK: MSH, MSA, ERR §2.15.5 with Table 0357 codes and ERL locations).
import { randomBytes } from 'node:crypto';
import type { Hl7Message } from '@medplum/core';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../kernel/errors.js';
import { escapeHl7 } from './hl7-datatypes.js';
import { HL7_ERROR_CODES, hl7Issue, type Hl7ErrorCode } from './hl7-field-errors.js';
import type { Hl7Identity } from './hl7-partner.js';

/** MSA-1 (Table 0008): original mode AA/AE/AR; enhanced mode accept acknowledgments CA/CE/CR. */
export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

/** The fields of the acknowledged message's MSH an ACK needs (read leniently: the MSH may be what is wrong). */
export interface AckedHeader {
  readonly sendingApplication: string;
  readonly sendingFacility: string;
  readonly receivingApplication: string;
  readonly receivingFacility: string;
  readonly controlId: string;
  readonly trigger: string;
  readonly processingId: string;
  readonly version: string;
  readonly charset: string;
}

const FROM_FHIR: Partial<Record<OperationOutcomeIssue['code'], Hl7ErrorCode>> = {
  structure: 100, required: 101, value: 102, invalid: 102, 'code-invalid': 103, 'not-supported': 200,
  'not-found': 204, duplicate: 205, 'lock-error': 206, conflict: 207, 'business-rule': 207, processing: 207,
  forbidden: 207, exception: 207, 'too-long': 102,
};

/** The Table 0357 code of an issue: the one it carries, else mapped from its FHIR code. */
export function hl7CodeOf(issue: OperationOutcomeIssue): Hl7ErrorCode {
  const carried = Number(issue.details?.coding?.find((c) => c.system === 'http://terminology.hl7.org/CodeSystem/v2-0357')?.code);
  if (carried in HL7_ERROR_CODES) return carried as Hl7ErrorCode;
  return FROM_FHIR[issue.code] ?? 207;
}

/** Issues of anything thrown: an OperationOutcomeError's errors, else one detail-free 207. */
export function issuesOf(err: unknown): OperationOutcomeIssue[] {
  if (err instanceof OperationOutcomeError) {
    const issues = (err.outcome as OperationOutcome).issue.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    if (issues.length) return issues;
  }
  return [hl7Issue(207, undefined, 'Application internal error')];
}

/** Rejections of the message as such (type, event, processing id, version, sender): AR / CR rather than AE / CE. */
export function isRejection(issues: readonly OperationOutcomeIssue[]): boolean {
  return issues.some((i) => {
    const code = hl7CodeOf(i);
    return (code >= 200 && code <= 203) || (code === 204 && i.expression?.[0]?.startsWith('MSH')) || (code === 100 && i.expression?.[0]?.startsWith('MSH-1'));
  });
}

/**
 * `PID-3` → `PID^1^3`, `OBX[3]-5` → `OBX^3^5`, `ORC-12.1` → `ORC^1^12^1^1`, `MSH` → `MSH^1` (ERR-2, ERL: segment
 * id, sequence, field position, field repetition, component).
 */
export function erl(location: string): string {
  const m = /^([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?(?:-(\d+)(?:\.(\d+))?)?$/.exec(location);
  if (!m) return '';
  const [, seg, seq = '1', field, comp] = m;
  return [seg, seq, ...(field ? [field] : []), ...(comp ? ['1', comp] : [])].join('^');
}

/** A fresh MSH-10 (≤ 20 characters, unique across processes and restarts: time in ms base 36 + 24 random bits). */
export function newControlId(): string {
  return `${Date.now().toString(36).toUpperCase()}${randomBytes(3).toString('hex').toUpperCase()}`;
}

/** HL7 TS of `date` in UTC with offset (YYYYMMDDHHMMSS+0000). */
export function hl7Timestamp(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}+0000`;
}

/** The MSH fields of a parsed message, for its ACK. */
export function headerOf(message: Hl7Message, charset: string): AckedHeader {
  const msh = message.header;
  const f = (n: number) => msh.getField(n)?.toString() ?? '';
  return {
    sendingApplication: f(3), sendingFacility: f(4), receivingApplication: f(5), receivingFacility: f(6),
    controlId: f(10), trigger: msh.getField(9)?.getComponent(2) ?? '', processingId: f(11) || 'P', version: f(12) || '2.5.1', charset,
  };
}

/**
 * The ACK text (segments separated by CR). We answer as the application the message was sent to (MSH-5/6), or
 * our identity when absent; ERR repeats once per issue with the location, the 0357 code and the human text.
 */
export function buildAck(code: AckCode, acked: AckedHeader, identity: Hl7Identity, issues: readonly OperationOutcomeIssue[] = [], now = new Date()): string {
  const sep = { fieldSeparator: '|', componentSeparator: '^', repetitionSeparator: '~', escapeCharacter: '\\', subcomponentSeparator: '&', segmentSeparator: '\r' };
  const esc = (t: string) => escapeHl7(t, sep as Parameters<typeof escapeHl7>[1]);
  const msh = ['MSH', '^~\\&', acked.receivingApplication || identity.application, acked.receivingFacility || identity.facility,
    acked.sendingApplication, acked.sendingFacility, hl7Timestamp(now), '', `ACK^${acked.trigger}^ACK`, newControlId(),
    acked.processingId, acked.version, '', '', '', '', '', acked.charset].join('|').replace(/\|+$/, '');
  const firstText = issues[0]?.details?.text;
  const msa = ['MSA', code, acked.controlId, ...(firstText && code !== 'AA' && code !== 'CA' ? [esc(firstText).slice(0, 80)] : [])].join('|');
  const errs = issues.map((i) => {
    const c = hl7CodeOf(i);
    return ['ERR', '', erl(i.expression?.[0] ?? ''), `${c}^${HL7_ERROR_CODES[c].text}^HL70357`, i.severity === 'warning' ? 'W' : 'E',
      '', '', '', esc(i.details?.text ?? i.diagnostics ?? HL7_ERROR_CODES[c].text)].join('|');
  });
  return [msh, msa, ...errs].join('\r');
}
