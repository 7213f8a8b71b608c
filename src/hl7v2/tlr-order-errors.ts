// HL7 v2.5.1 Table 0357 codes for the refusals of the téléradiologie order workflow (src/workflow/teleradiologie):
// the workflow's OperationOutcomeError, located in the message that caused it. One mapping for flux 1, 2 and 4.
import { OperationOutcomeError, statusOf } from '../kernel/errors.js';
import { hl7Issue, type Hl7ErrorCode } from './hl7-field-errors.js';

const TABLE_0357 = 'http://terminology.hl7.org/CodeSystem/v2-0357';

/** Where each refusal points: by the workflow's parameter (issue expression) or by status (`404`, `409`, `403`…). */
export type Locations = Readonly<Record<string, string | undefined>>;

/** Request parameters that come from the partner's configuration, not from the message: our fault, 207. */
const CONFIGURATION = new Set(['owner', 'requester']);

/**
 * The error as an HL7-located one: 400 → 102 (101 when `required`), 404 → 204, 409 `duplicate` → 205, any other
 * refusal (403 dossier role, 409 workflow state, 412 identity conflict, 422) → 207 with the workflow's own text; the
 * status is kept (so the ACK is AE for a refusal, AR for 5xx). Errors that already carry a 0357 code pass unchanged.
 */
export function locatedError(e: unknown, where: Locations): unknown {
  if (!(e instanceof OperationOutcomeError)) return e;
  const issue = e.outcome.issue?.[0];
  if (!issue || issue.details?.coding?.some((c) => c.system === TABLE_0357)) return e;
  let status = statusOf(e.outcome);
  const param = issue.expression?.[0];
  const text = issue.details?.text ?? issue.diagnostics ?? 'Refused';
  let code: Hl7ErrorCode;
  if (param && CONFIGURATION.has(param)) { code = 207; status = 500; }
  else if (status === 400) code = issue.code === 'required' ? 101 : 102;
  else if (status === 404) code = 204;
  else if (status === 409 && issue.code === 'duplicate') code = 205;
  else code = 207;
  const location = (param ? where[param] : undefined) ?? where[String(status)];
  return new OperationOutcomeError({ resourceType: 'OperationOutcome', id: String(status), issue: [hl7Issue(code, location, text)] });
}
