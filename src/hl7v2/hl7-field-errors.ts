// HL7 v2.5.1 Table 0357 (message error condition codes) as OperationOutcome issues: the one error type, located in HL7.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../kernel/errors.js';

/**
 * Table 0357 codes the platform answers with (ERR-3), and the FHIR issue code each travels as:
 * 100 segment sequence error, 101 required field missing, 102 data type error, 103 table value not found,
 * 200 unsupported message type, 201 unsupported event code, 202 unsupported processing id, 203 unsupported
 * version id, 204 unknown key identifier, 205 duplicate key identifier, 206 application record locked,
 * 207 application internal error.
 */
export const HL7_ERROR_CODES = {
  100: { issue: 'structure', text: 'Segment sequence error' },
  101: { issue: 'required', text: 'Required field missing' },
  102: { issue: 'value', text: 'Data type error' },
  103: { issue: 'code-invalid', text: 'Table value not found' },
  200: { issue: 'not-supported', text: 'Unsupported message type' },
  201: { issue: 'not-supported', text: 'Unsupported event code' },
  202: { issue: 'not-supported', text: 'Unsupported processing id' },
  203: { issue: 'not-supported', text: 'Unsupported version id' },
  204: { issue: 'not-found', text: 'Unknown key identifier' },
  205: { issue: 'duplicate', text: 'Duplicate key identifier' },
  206: { issue: 'lock-error', text: 'Application record locked' },
  207: { issue: 'exception', text: 'Application internal error' },
} as const satisfies Record<number, { issue: OperationOutcomeIssue['code']; text: string }>;

export type Hl7ErrorCode = keyof typeof HL7_ERROR_CODES;

/**
 * One issue located in the message: `location` is `SEG-field[.component]` with an optional 1-based segment
 * repetition, e.g. `PID-3`, `ORC-12.1`, `OBX[3]-5` (the 3rd OBX) → ERR-2 `OBX^3^5^1`.
 */
export function hl7Issue(code: Hl7ErrorCode, location: string | undefined, text: string): OperationOutcomeIssue {
  return {
    severity: 'error',
    code: HL7_ERROR_CODES[code].issue,
    details: { text, coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0357', code: String(code), display: HL7_ERROR_CODES[code].text }] },
    ...(location ? { expression: [location] } : {}),
  };
}

/** Throwable error with one or more located issues; status 400 for content errors, 422 for application refusals. */
export function hl7Error(code: Hl7ErrorCode, location: string | undefined, text: string): OperationOutcomeError {
  const status = code === 207 ? 500 : code >= 204 ? 422 : 400;
  return new OperationOutcomeError({ resourceType: 'OperationOutcome', id: String(status), issue: [hl7Issue(code, location, text)] });
}

export function hl7Errors(issues: OperationOutcomeIssue[]): OperationOutcomeError {
  return new OperationOutcomeError({ resourceType: 'OperationOutcome', id: '400', issue: issues });
}
