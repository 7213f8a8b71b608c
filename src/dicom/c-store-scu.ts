// PS3.4 Annex B.2 Storage Service Class as SCU (PS3.7 §9.1.1 C-STORE, PS3.8 association, PS3.15 B.1 TLS): stored
// instances sent over one association (a whole study), one C-STORE-RQ at a time, each in its stored transfer syntax.
//
// dcmjs-dimse sends a data set from one Buffer (Dataset.getDenaturalizedDataset), written to the socket in PDUs at
// once: sending is per instance in memory, not streamed (one instance at a time per association). The stored bytes
// are sent as they are (no parse, no re-encoding) whenever the peer accepts the stored transfer syntax; otherwise
// implicit ⇄ explicit VR little endian is re-encoded with dcmjs, and anything else (compressed) fails that instance.
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import dimse from 'dcmjs-dimse';
import type { BlobStore } from '../store/blob-store.js';
import { DestinationUnavailable, type StudySender } from '../workflow/imaging/study-forwarding.js';
import type { KnownAe } from './association-policy.js';

const { Dataset } = dimse;
const { CStoreRequest } = dimse.requests;
const { PresentationContextResult, Status } = dimse.constants;

type Association = InstanceType<typeof dimse.association.Association>;
type DatasetT = InstanceType<typeof Dataset>;
type CStoreRequestT = InstanceType<typeof CStoreRequest>;
/** The DICOM upper layer endpoint of dcmjs-dimse (the base class of its Scp and of its Client's connection). */
export type DimseNetwork = Pick<InstanceType<typeof dimse.Scp>, 'sendRequests' | 'sendAssociationRequest' | 'sendAssociationReleaseRequest' | 'sendAbort' | 'on' | 'once' | 'off'>;
type NetworkCtor = new (socket: Socket, opts?: Record<string, unknown>) => DimseNetwork;
/** dcmjs-dimse exports its Scp and Client but not their common base (the association state machine): reached here. */
const Network = Object.getPrototypeOf(dimse.Scp) as NetworkCtor;

export const IMPLICIT_LE = '1.2.840.10008.1.2';
export const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const RE_ENCODABLE = new Set([IMPLICIT_LE, EXPLICIT_LE]);

/** What the index knows of a stored instance: enough to propose its presentation context and to read its file. */
export interface StoredInstanceRef {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
}

/** PS3.4 Table B.2-1 outcome of one C-STORE sub-operation. */
export interface StoreResult {
  readonly sopInstanceUid: string;
  readonly kind: 'success' | 'warning' | 'failure';
  /** The C-STORE-RSP status, absent when no response came (nothing sent, or the association was lost). */
  readonly status?: number;
  readonly detail?: string;
}

/** A remote Storage SCP. */
export interface StoreScuTarget {
  readonly host: string;
  readonly port: number;
  readonly callingAe: string;
  readonly calledAe: string;
  /** DICOM TLS (PS3.15 B.1): Node TLS client options (ca, cert, key, servername…); absent = plain TCP. */
  readonly tls?: ConnectionOptions;
  /** Connection and idle timeout; default 10 s. */
  readonly timeoutMs?: number;
}

/** The association could not be opened, or was lost: nothing more can be sent on it (a caller may retry later). */
export class StoreAssociationError extends Error {}

export interface StoreAssociation {
  /** Sends one instance (its Part 10 file). Resolves with its outcome; rejects with StoreAssociationError when the association is lost. */
  store(instance: StoredInstanceRef, part10: Buffer, moveOriginator?: { aeTitle: string; messageId: number }): Promise<StoreResult>;
  release(): Promise<void>;
  abort(): void;
}

/** Reads a stored Part 10 file whole (the SCU sends per instance from memory; see the header). */
export async function readPart10(blobs: BlobStore, blobKey: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of await blobs.get(blobKey)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

const LONG_LENGTH_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/** The data set of a Part 10 file (PS3.10 §7.1): what follows the preamble, `DICM` and the File Meta Information. */
export function datasetOf(part10: Buffer): Buffer {
  if (part10.length < 132 || part10.toString('latin1', 128, 132) !== 'DICM') throw new Error('not a DICOM Part 10 file');
  let at = 132;
  while (at + 8 <= part10.length && part10.readUInt16LE(at) === 0x0002) {
    const vr = part10.toString('latin1', at + 4, at + 6);
    at += LONG_LENGTH_VRS.has(vr) ? 12 + part10.readUInt32LE(at + 8) : 8 + part10.readUInt16LE(at + 6);
  }
  return part10.subarray(at);
}

/** A data set sent as the given bytes: dcmjs-dimse writes what getDenaturalizedDataset returns, once. */
class EncodedDataset extends Dataset {
  private bytes: Buffer | undefined;

  constructor(bytes: Buffer, transferSyntaxUid: string, instance: StoredInstanceRef) {
    super({ SOPClassUID: instance.sopClassUid, SOPInstanceUID: instance.sopInstanceUid }, transferSyntaxUid);
    this.bytes = bytes;
  }

  override getDenaturalizedDataset(): Buffer {
    const bytes = this.bytes ?? Buffer.alloc(0);
    this.bytes = undefined; // dcmjs-dimse keeps every request it sent: do not keep the pixels with it
    return bytes;
  }
}

/** The transfer syntax an accepted presentation context gives this SOP class: the stored one when accepted, else another. */
export function acceptedTransferSyntax(association: Association, sopClassUid: string, stored: string, requireProviderRole = false): string | undefined {
  let other: string | undefined;
  for (const { id } of association.getPresentationContexts()) {
    const pc = association.getPresentationContext(id);
    if (pc.getAbstractSyntaxUid() !== sopClassUid || pc.getResult() !== PresentationContextResult.Accept) continue;
    if (requireProviderRole && !pc.getProviderRole()) continue;
    const ts = pc.getAcceptedTransferSyntaxUid();
    if (ts === stored) return ts;
    other ??= ts;
  }
  return other;
}

/** The data set to send for `accepted`, or why the instance cannot be sent in it. */
export function encodeFor(instance: StoredInstanceRef, part10: Buffer, accepted: string): DatasetT | { error: string } {
  const bytes = datasetOf(part10);
  if (accepted === instance.transferSyntaxUid) return new EncodedDataset(bytes, accepted, instance);
  if (!RE_ENCODABLE.has(accepted) || !RE_ENCODABLE.has(instance.transferSyntaxUid)) {
    return { error: `stored in transfer syntax ${instance.transferSyntaxUid}, the peer accepted only ${accepted}: not transcoded` };
  }
  const parsed = new Dataset(bytes, instance.transferSyntaxUid);
  return new EncodedDataset(new Dataset(parsed.getElements(), accepted).getDenaturalizedDataset(), accepted, instance);
}

const kindOf = (status: number): StoreResult['kind'] =>
  status === Status.Success ? 'success' : (status & 0xf000) === 0xb000 ? 'warning' : 'failure';

/**
 * One C-STORE-RQ on an open association (ours as SCU, or the C-GET requester's), answered by its C-STORE-RSP.
 * Rejects with StoreAssociationError if the association closes first.
 */
export function sendCStore(network: DimseNetwork, association: Association, instance: StoredInstanceRef, part10: Buffer,
  options: { moveOriginator?: { aeTitle: string; messageId: number }; requireProviderRole?: boolean } = {}): Promise<StoreResult> {
  const failure = (detail: string): StoreResult => ({ sopInstanceUid: instance.sopInstanceUid, kind: 'failure', detail });
  const accepted = acceptedTransferSyntax(association, instance.sopClassUid, instance.transferSyntaxUid, options.requireProviderRole);
  if (!accepted) return Promise.resolve(failure(`no presentation context accepted for SOP class ${instance.sopClassUid}`));
  let dataset: DatasetT | { error: string };
  try {
    dataset = encodeFor(instance, part10, accepted);
  } catch (e) {
    return Promise.resolve(failure(`unreadable stored file: ${(e as Error).message}`));
  }
  if ('error' in dataset) return Promise.resolve(failure(dataset.error));
  const request: CStoreRequestT = new CStoreRequest(dataset);
  if (options.moveOriginator) {
    request.getCommandDataset().setElement('MoveOriginatorApplicationEntityTitle', options.moveOriginator.aeTitle);
    request.getCommandDataset().setElement('MoveOriginatorMessageID', options.moveOriginator.messageId as unknown as string); // US: a number (typed string upstream)
  }
  return new Promise<StoreResult>((resolve, reject) => {
    let status: number | undefined;
    let comment: string | undefined;
    const lost = (): void => {
      network.off('close', lost);
      reject(new StoreAssociationError(`association closed before the C-STORE response for ${instance.sopInstanceUid}`));
    };
    network.once('close', lost);
    request.on('response', (response: InstanceType<typeof dimse.responses.CStoreResponse>) => {
      status = response.getStatus();
      comment = response.getErrorComment() || undefined;
    });
    request.on('done', () => {
      network.off('close', lost);
      if (status === undefined) resolve(failure('not sent (see the log)'));
      else resolve({ sopInstanceUid: instance.sopInstanceUid, kind: kindOf(status), status, ...(comment ? { detail: comment } : {}) });
    });
    network.sendRequests(request);
  });
}

/** Presentation contexts for a batch: each (SOP class, stored transfer syntax) alone, then both little endians as fallback. */
function proposeContexts(association: Association, instances: readonly StoredInstanceRef[]): void {
  const exact = new Map<string, StoredInstanceRef>();
  for (const i of instances) exact.set(`${i.sopClassUid} ${i.transferSyntaxUid}`, i);
  const fallback = new Set([...exact.values()].filter((i) => RE_ENCODABLE.has(i.transferSyntaxUid)).map((i) => i.sopClassUid));
  const contexts: [string, string[]][] = [
    ...[...exact.values()].map((i): [string, string[]] => [i.sopClassUid, [i.transferSyntaxUid]]),
    ...[...fallback].map((sopClass): [string, string[]] => [sopClass, [EXPLICIT_LE, IMPLICIT_LE]]),
  ];
  // PS3.8 §9.3.2.2: at most 128 presentation contexts (odd IDs 1–255); the instances of others fail with a clear detail.
  for (const [sopClass, syntaxes] of contexts.slice(0, 128)) {
    const id = association.addPresentationContext(sopClass);
    for (const ts of syntaxes) association.addTransferSyntaxToPresentationContext(id, ts);
  }
}

const REJECT_REASONS: Record<number, string> = { 1: 'no reason given', 2: 'application context / local limit', 3: 'calling AE title not recognized', 7: 'called AE title not recognized' };

/** Opens an association proposing the contexts `instances` need. Rejects with StoreAssociationError. */
export function openStoreAssociation(target: StoreScuTarget, instances: readonly StoredInstanceRef[]): Promise<StoreAssociation> {
  dimse.log.setLevel('silent');
  const timeout = target.timeoutMs ?? 10_000;
  const where = `${target.calledAe}@${target.host}:${target.port}`;
  const association = new dimse.association.Association(target.callingAe, target.calledAe);
  proposeContexts(association, instances);
  const socket = target.tls ? tlsConnect({ host: target.host, port: target.port, ...target.tls }) : tcpConnect({ host: target.host, port: target.port });
  const network = new Network(socket, { connectTimeout: timeout, associationTimeout: timeout, pduTimeout: 10 * timeout });
  let closed = false;
  let opening: ((why: string) => void) | undefined;
  network.on('close', () => {
    closed = true;
    opening?.('connection closed');
  });
  network.on('networkError', (e: Error) => {
    opening?.(e.message);
    socket.destroy();
  });
  return new Promise<StoreAssociation>((resolve, reject) => {
    opening = (why: string): void => {
      opening = undefined;
      socket.destroy();
      reject(new StoreAssociationError(`association with ${where} failed: ${why}`));
    };
    network.once('connect', () => network.sendAssociationRequest(association));
    network.once('associationRejected', (r: { reason: number }) => opening?.(`rejected (${REJECT_REASONS[r.reason] ?? `reason ${r.reason}`})`));
    network.once('associationAccepted', () => {
      opening = undefined;
      let queue: Promise<unknown> = Promise.resolve();
      resolve({
        store(instance, part10, moveOriginator) {
          const run = async (): Promise<StoreResult> => {
            if (closed) throw new StoreAssociationError(`association with ${where} is closed`);
            return sendCStore(network, association, instance, part10, { moveOriginator });
          };
          const result = queue.then(run, run);
          queue = result.catch(() => undefined);
          return result;
        },
        async release() {
          await queue;
          if (closed) return;
          await new Promise<void>((done) => {
            const timer = setTimeout(() => { socket.destroy(); done(); }, timeout);
            network.once('associationReleaseResponse', () => { clearTimeout(timer); socket.end(); done(); });
            network.once('close', () => { clearTimeout(timer); done(); });
            network.sendAssociationReleaseRequest();
          });
        },
        abort() {
          if (!closed) network.sendAbort();
          socket.destroy();
        },
      });
    });
  });
}

/** A configured AE we may send to (C-MOVE destination, forwarding): one we know the address of (host and port). */
export function moveDestination(knownAes: readonly KnownAe[], aeTitle: string): (KnownAe & { host: string; port: number }) | undefined {
  const title = aeTitle.trim();
  return knownAes.find((ae): ae is KnownAe & { host: string; port: number } => ae.aeTitle.trim() === title && !!ae.host && ae.port !== undefined);
}

/**
 * The forwarding's outbound port over C-STORE: destinations are the configured AEs with a host and a port; a lost or
 * refused association is DestinationUnavailable (the forwarding job retries it with backoff).
 */
export function createDimseStudySender(o: { aeTitle: string; knownAes: readonly KnownAe[]; tls?: ConnectionOptions; timeoutMs?: number }): StudySender {
  const find = (title: string) => moveDestination(o.knownAes, title);
  return {
    knows: (destination) => find(destination) !== undefined,
    async open(destination, instances) {
      const ae = find(destination);
      if (!ae) throw new DestinationUnavailable(`${destination} is not a configured DICOM AE with a host and a port`);
      const unavailable = (e: unknown): never => {
        throw e instanceof StoreAssociationError ? new DestinationUnavailable(e.message) : e;
      };
      const association = await openStoreAssociation({ host: ae.host, port: ae.port, callingAe: o.aeTitle, calledAe: ae.aeTitle, tls: o.tls, timeoutMs: o.timeoutMs }, instances)
        .catch(unavailable);
      return {
        send: (instance, part10) => association.store(instance, part10).then((r) => ({ kind: r.kind, detail: r.detail ?? (r.status !== undefined ? `status 0x${r.status.toString(16)}` : undefined) }), unavailable),
        close: () => association.release().catch(() => association.abort()),
      };
    },
  };
}
