// One error type for the whole platform: Medplum's OperationOutcomeError (FHIR R4 §3.1.0.5 OperationOutcome),
// with factories for the outcomes that the core does not provide. Each protocol maps it once.
import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

export { OperationOutcomeError };

type IssueCode = OperationOutcomeIssue['code'];

/** Builds an OperationOutcome with one error issue; `id` carries the HTTP-ish status the adapters use. */
export function outcome(status: number, code: IssueCode, text: string, expression?: string): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    id: String(status),
    issue: [{ severity: 'error', code, details: { text }, ...(expression ? { expression: [expression] } : {}) }],
  };
}

function fail(status: number, code: IssueCode, text: string, expression?: string): OperationOutcomeError {
  return new OperationOutcomeError(outcome(status, code, text, expression));
}

export const errors = {
  badRequest: (text: string, expression?: string) => fail(400, 'invalid', text, expression),
  unauthorized: (text = 'Authentication required') => fail(401, 'login', text),
  forbidden: (text = 'Forbidden') => fail(403, 'forbidden', text),
  notFound: (text = 'Not found') => fail(404, 'not-found', text),
  methodNotAllowed: (text: string) => fail(405, 'not-supported', text),
  notAcceptable: (text: string) => fail(406, 'not-supported', text),
  conflict: (text: string) => fail(409, 'conflict', text),
  businessRule: (text: string) => fail(409, 'business-rule', text),
  gone: (text = 'Deleted') => fail(410, 'deleted', text),
  preconditionFailed: (text: string) => fail(412, 'conflict', text),
  payloadTooLarge: (text: string) => fail(413, 'too-costly', text),
  unsupportedMediaType: (text: string) => fail(415, 'not-supported', text),
  unprocessable: (text: string, expression?: string) => fail(422, 'processing', text, expression),
  invalid: (issues: OperationOutcomeIssue[]) =>
    new OperationOutcomeError({ resourceType: 'OperationOutcome', id: '422', issue: issues }),
  rangeNotSatisfiable: (text: string) => fail(416, 'invalid', text),
  tooCostly: (text: string) => fail(422, 'too-costly', text),
  internal: () => fail(500, 'exception', 'Internal server error'),
};

const CODE_STATUS: Record<string, number> = {
  invalid: 400, structure: 400, required: 400, value: 400, invariant: 400,
  login: 401, unknown: 401, expired: 401, forbidden: 403, suppressed: 403, security: 403,
  'not-found': 404, 'not-supported': 405, duplicate: 409, conflict: 409, 'business-rule': 409,
  deleted: 410, 'too-costly': 422, processing: 422, 'too-long': 413, exception: 500,
};

/** HTTP status of an outcome: the `id` our factories set, else the code of the first issue (Medplum's errors). */
export function statusOf(o: OperationOutcome): number {
  const fromId = Number(o.id);
  if (Number.isInteger(fromId) && fromId >= 200 && fromId < 600) return fromId;
  const code = o.issue?.[0]?.code;
  return (code && CODE_STATUS[code]) || 400;
}

/** Normalises anything thrown into an OperationOutcomeError; unknown errors become a detail-free 500. */
export function asOutcomeError(err: unknown): OperationOutcomeError {
  if (err instanceof OperationOutcomeError) return err;
  return errors.internal();
}
