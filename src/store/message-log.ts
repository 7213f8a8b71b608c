// Message log port: every inbound interface message (HL7 v2 §2.9) kept raw before it is acknowledged, its outcome, duplicates, dead letters.

/**
 * received: stored, not yet applied (applied at once, or after a restart); applied: its effects committed with this
 * mark; rejected: refused (parse error, validation, application error) — the dead-letter list, replayable;
 * duplicate: same sender and control id as an earlier message (never applied twice).
 */
export type MessageStatus = 'received' | 'applied' | 'rejected' | 'duplicate';

export interface NewMessage {
  /** Protocol channel, e.g. `hl7v2`. */
  readonly channel: string;
  /** Configured partner name, when the sender is known. */
  readonly partner?: string;
  /** Who sent it, e.g. MSH-3^MSH-4; '' when the header is unreadable. */
  readonly sender: string;
  /** The sender's message control id (MSH-10); '' when unreadable: such messages are never deduplicated. */
  readonly controlId: string;
  /** e.g. `ORM^O01`; '' when unreadable. */
  readonly messageType: string;
  /** The bytes exactly as received (MLLP frame content). */
  readonly raw: Buffer;
  readonly receivedAt: Date;
  /** From the start: 'rejected' for a message refused before it could be applied (with `error` and `ack`). */
  readonly status?: 'received' | 'rejected';
  readonly error?: string;
  readonly ack?: string;
  /** The message this one corrects (an operator's replay with a fixed text). */
  readonly replayOf?: string;
}

export interface LoggedMessage {
  readonly id: string;
  readonly channel: string;
  readonly partner?: string;
  readonly sender: string;
  readonly controlId: string;
  readonly messageType: string;
  readonly receivedAt: Date;
  readonly status: MessageStatus;
  /** Why it was rejected (the ERR text), or the last application error. */
  readonly error?: string;
  /** The acknowledgement we answered (or would answer a duplicate with). */
  readonly ack?: string;
  /** What applying it did (resources written, note). */
  readonly result?: Record<string, unknown>;
  readonly settledAt?: Date;
  /** How many times it was applied or replayed. */
  readonly attempts: number;
  readonly duplicateOf?: string;
  readonly replayOf?: string;
  readonly size: number;
}

export interface Settlement {
  readonly status: 'applied' | 'rejected';
  readonly ack: string;
  readonly error?: string;
  readonly result?: Record<string, unknown>;
}

export interface MessageFilter {
  readonly channel?: string;
  readonly status?: MessageStatus;
  readonly partner?: string;
  /** Messages with an id below this (paging newest first). */
  readonly before?: string;
  readonly limit?: number;
}

export interface MessageLog {
  /**
   * Records a message. When (channel, sender, controlId) is already recorded (controlId not '') and not rejected, this
   * one is recorded as a `duplicate` of the earlier one, which is returned as `original`. A message with the id of a
   * rejected one is a new attempt, recorded as such.
   */
  receive(message: NewMessage): Promise<{ message: LoggedMessage; original?: LoggedMessage }>;
  /** Several `receive` in one statement where the backend can (group commit of pipelined messages), in order. */
  receiveMany(messages: readonly NewMessage[]): Promise<{ message: LoggedMessage; original?: LoggedMessage }[]>;
  get(id: string): Promise<LoggedMessage | undefined>;
  raw(id: string): Promise<Buffer | undefined>;
  /**
   * Settles a `received` message (or a `rejected` one being replayed) as applied or rejected; returns false, changing
   * nothing, when it is already applied (a concurrent or repeated application). Inside a transaction, the mark
   * commits with the application's writes.
   */
  settle(id: string, settlement: Settlement): Promise<boolean>;
  /** Newest first. */
  list(filter?: MessageFilter): Promise<LoggedMessage[]>;
  /** Messages still `received` (applied after a restart), oldest first. */
  unsettled(channel: string, limit: number): Promise<LoggedMessage[]>;
  /** A rejected message, back to `received` for replay; false unless it was rejected and no later message with its control id went through. */
  reopen(id: string): Promise<boolean>;
}
