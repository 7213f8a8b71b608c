// HL7 v2.5.1 §2.9 message processing: which handler applies which inbound message, declared as data.
import type { Hl7Message } from '@medplum/core';
import type { AuditContext } from '../workflow/audit.js';
import type { ResourceService } from '../workflow/resource-service.js';
import type { Hl7Partner } from './hl7-partner.js';

/** What a handler gets: the parsed message and a service whose writes commit with the message's "applied" mark. */
export interface InboundContext {
  /** Inside the transaction that also records the message as applied: every write here is atomic with it. */
  readonly svc: ResourceService;
  /** The partner acting (principal sub `hl7:<partner>`, scopes system/*.*, via 'hl7v2'). */
  readonly ctx: AuditContext;
  readonly message: Hl7Message;
  readonly partner: Hl7Partner;
  readonly receivedAt: Date;
  /** Our FHIR base URL (for fullUrls and ImagingStudy endpoints). */
  readonly baseUrl: string;
}

/** What applying a message did: the resources written (`Type/id`), shown in the message log. */
export interface InboundResult {
  readonly written: readonly string[];
  /** A short human summary ("Task/123 created in teleradiologie, state demandee"). */
  readonly note?: string;
}

/**
 * A route: a message type (MSH-9.1^MSH-9.2, e.g. `ORM^O01`, `ADT^A08`) and, when the type alone does not decide,
 * the ORC-1 order control codes it takes (`NW`, `CA`, `SR`). A handler translates the message into ONE workflow
 * call and throws OperationOutcomeError (src/hl7v2/hl7-field-errors.ts) naming the HL7 location of what is wrong.
 */
export interface Hl7Route {
  readonly messageType: string;
  readonly orderControl?: readonly string[];
  /** Human description, listed in the HL7 integration statement. */
  readonly description: string;
  handle(input: InboundContext): Promise<InboundResult>;
}
