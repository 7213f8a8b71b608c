// PS3.4 Annex B.2.3 C-STORE SCP: the data set streamed from P-DATA fragments to the store service, and the status
// answered for each store outcome (PS3.4 Table B.2-1, PS3.7 Annex C general statuses).
import { PassThrough, Writable, type Readable } from 'node:stream';
import type { StoreOutcome } from '../workflow/imaging/instance-store.js';

/** Flow control of the association's socket: paused while the store lags behind the network. */
export interface FlowControl {
  pause(): void;
  resume(): void;
}

/**
 * The Writable dcmjs-dimse fills with the data set's P-DATA fragments, read by the store service as a stream. When
 * `highWaterMark` bytes wait unread, the socket is paused (TCP pushes back on the sender) until they are consumed:
 * memory per association stays near 2 × highWaterMark plus one PDU, whatever the object's size.
 */
export class DatasetSink extends Writable {
  private readonly out: PassThrough;

  constructor(private readonly flow: FlowControl, highWaterMark = 1024 * 1024) {
    // Our own buffer is larger than one PDU, so dcmjs-dimse's write() never reports back-pressure (it cannot wait for
    // it in order): the pause happens here, on the socket.
    super({ highWaterMark: 4 * highWaterMark });
    this.out = new PassThrough({ highWaterMark });
  }

  /** The data set bytes, in order, ending when the last fragment has been received. */
  get source(): Readable {
    return this.out;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.out.write(chunk)) {
      callback();
      return;
    }
    this.flow.pause();
    this.out.once('drain', () => {
      this.flow.resume();
      callback();
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.out.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // After 'finish' a Writable destroys itself (autoDestroy): the bytes still unread must stay readable then.
    if (error) this.out.destroy(error);
    this.flow.resume();
    callback(error);
  }
}

/** C-STORE-RSP Status (0000,0900) and Error Comment (0000,0902, LO: at most 64 characters). */
export interface CStoreStatus {
  readonly status: number;
  readonly comment?: string;
}

export const C_STORE_STATUS = {
  /** PS3.4 Table B.2-1 Success. */
  success: 0x0000,
  /**
   * PS3.4 Table B.2-1 Warning "Coercion of Data Elements" (B000): what is now held under the sent SOP Instance UID
   * differs from what was sent (the first object with that UID is kept, the newcomer is quarantined), which is what
   * this warning tells a sender. The Error Comment says why.
   */
  conflictKeptFirst: 0xb000,
  /** PS3.4 Table B.2-1 Failure "Error: Cannot understand" (Cxxx): unparseable, or not what the command announced. */
  cannotUnderstand: 0xc000,
  /** PS3.4 Table B.2-1 Failure "Refused: Out of Resources" (A7xx): the disk is full. */
  outOfResources: 0xa700,
  /** PS3.7 Annex C.4 general status "Processing failure" (0110): any other failure of ours. */
  processingFailure: 0x0110,
} as const;

const lo = (text: string): string => (text.length <= 64 ? text : `${text.slice(0, 63)}…`);

export function cStoreStatusOf(outcome: StoreOutcome): CStoreStatus {
  switch (outcome.kind) {
    case 'stored':
    case 'identical':
      return { status: C_STORE_STATUS.success };
    case 'conflict':
      return { status: C_STORE_STATUS.conflictKeptFirst, comment: 'SOP Instance UID held by other content; quarantined' };
    case 'rejected':
      return { status: C_STORE_STATUS.cannotUnderstand, comment: lo(outcome.detail) };
  }
}

export function cStoreFailureOf(error: unknown): CStoreStatus {
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  return code === 'ENOSPC' || code === 'EDQUOT'
    ? { status: C_STORE_STATUS.outOfResources, comment: 'Out of storage space' }
    : { status: C_STORE_STATUS.processingFailure, comment: 'Processing failure' };
}
