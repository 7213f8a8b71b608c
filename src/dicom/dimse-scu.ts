// PS3.7 §9.1 DIMSE service user and PS3.8 §7.1 association requestor over dcmjs-dimse's Client: one association to a
// remote AE, its requests sent, settled when every request has had its final response and the association is closed.
import dimse from 'dcmjs-dimse';
import { OperationOutcomeError, outcome } from '../kernel/errors.js';

const { Client } = dimse;
const { Status, PresentationContextResult } = dimse.constants;
type Association = InstanceType<typeof dimse.association.Association>;

export type DimseClient = InstanceType<typeof Client>;
type Request = InstanceType<typeof dimse.requests.CFindRequest> | InstanceType<typeof dimse.requests.CMoveRequest> | InstanceType<typeof dimse.requests.CGetRequest>;
type Response = InstanceType<typeof dimse.responses.CFindResponse> | InstanceType<typeof dimse.responses.CMoveResponse> | InstanceType<typeof dimse.responses.CGetResponse>;

/** A remote application entity we call: a hospital PACS. */
export interface DimsePeer {
  readonly aeTitle: string;
  readonly host: string;
  readonly port: number;
}

export interface ScuOptions {
  /** Our AE title (the Calling AE Title of the association). */
  readonly callingAe: string;
  readonly connectTimeoutMs?: number;
  /** How long the peer may take to accept the association. */
  readonly associationTimeoutMs?: number;
  /** How long the association may stay silent (a C-MOVE's sub-operations can take a while between responses). */
  readonly pduTimeoutMs?: number;
}

/** Why a DIMSE exchange with a peer did not succeed: an OperationOutcomeError (502 transient / processing). */
export function peerError(peer: DimsePeer, what: string, transient = true): OperationOutcomeError {
  return new OperationOutcomeError(outcome(502, transient ? 'transient' : 'processing', `${peer.aeTitle}@${peer.host}:${peer.port}: ${what}`));
}

/** PS3.7 C.1 status classes of a final response. */
export function statusClass(status: number): 'success' | 'pending' | 'cancel' | 'warning' | 'failure' {
  if (status === Status.Success) return 'success';
  if (status === 0xff00 || status === 0xff01) return 'pending';
  if (status === 0xfe00) return 'cancel';
  if (status === 0x0001 || (status & 0xf000) === 0xb000 || status === 0x0107 || status === 0x0116) return 'warning';
  return 'failure';
}

export const hex4 = (n: number): string => n.toString(16).padStart(4, '0').toUpperCase();

/** PS3.8 Table 9-21 A-ASSOCIATE-RJ reasons, as words. */
function rejectionText(reject: { result?: number; source?: number; reason?: number } | undefined): string {
  if (!reject) return 'association rejected';
  const reasons: Record<string, string> = {
    '1:1': 'no reason given', '1:2': 'application context name not supported', '1:3': 'calling AE title not recognized',
    '1:7': 'called AE title not recognized', '2:1': 'no reason given', '2:2': 'protocol version not supported',
    '3:1': 'temporary congestion', '3:2': 'local limit exceeded',
  };
  return `association rejected (${reject.result === 2 ? 'transient' : 'permanent'}: ${reasons[`${reject.source}:${reject.reason}`] ?? `source ${reject.source}, reason ${reject.reason}`})`;
}

/**
 * Opens one association, sends `requests`, and resolves with each request's final response (in order) once the
 * association is released. `setup` may register handlers on the client (C-GET's incoming C-STOREs) and reach its
 * network once `send` has created it. Rejects with a 502 OperationOutcomeError when the peer is unreachable, refuses the
 * association or the presentation context, or the association ends before a final response.
 */
export function runAssociation<T extends Response>(peer: DimsePeer, options: ScuOptions, requests: readonly Request[],
  setup?: { before?: (client: DimseClient) => void; sent?: (client: DimseClient) => void }): Promise<T[]> {
  // dcmjs-dimse logs through a loglevel logger of its own; outcomes reach the caller as results or errors.
  dimse.log.setLevel('silent');
  return new Promise<T[]>((resolve, reject) => {
    const client = new Client();
    const finals = new Map<Request, Response>();
    let failure: OperationOutcomeError | undefined;
    const fail = (what: string) => { failure ??= peerError(peer, what); };
    for (const request of requests) {
      request.on('response', (response: Response) => {
        if (statusClass(response.getStatus()) !== 'pending') finals.set(request, response);
      });
      client.addRequest(request);
    }
    client.on('associationRejected', (rejection: { result?: number; source?: number; reason?: number }) => {
      // Settled at once: some peers leave the connection half-open after an A-ASSOCIATE-RJ until their timeout.
      fail(rejectionText(rejection));
      reject(failure);
      (client as unknown as { network?: { socket?: { destroy(): void } } }).network?.socket?.destroy();
    });
    client.on('networkError', (e: Error) => fail(e.message || String(e)));
    client.on('associationAccepted', (association: Association) => {
      // A request whose SOP class the peer did not accept is never sent: say so now instead of waiting for a timeout.
      const accepted = new Set(association.getPresentationContexts().map(({ context }) => context)
        .filter((c) => c.getResult() === PresentationContextResult.Accept).map((c) => c.getAbstractSyntaxUid()));
      const refused = requests.find((r) => !accepted.has(r.getAffectedSopClassUid()));
      if (!refused) return;
      fail(`presentation context refused for SOP class ${refused.getAffectedSopClassUid()} (not allowed for ${options.callingAe}?)`);
      reject(failure);
      client.abort();
    });
    client.on('closed', () => {
      if (failure) return reject(failure);
      const missing = requests.filter((r) => !finals.has(r));
      if (missing.length > 0) return reject(peerError(peer, 'association closed before the final response (presentation context refused or association aborted)'));
      resolve(requests.map((r) => finals.get(r) as T));
    });
    setup?.before?.(client);
    try {
      client.send(peer.host, peer.port, options.callingAe, peer.aeTitle, {
        connectTimeout: options.connectTimeoutMs ?? 10_000,
        associationTimeout: options.associationTimeoutMs ?? 30_000,
        pduTimeout: options.pduTimeoutMs ?? 120_000,
      });
    } catch (e) {
      reject(peerError(peer, (e as Error).message));
      return;
    }
    // An A-ABORT from the peer (e.g. a request it refuses to serve) ends the exchange at once.
    const network = (client as unknown as { network?: { on(event: 'abort', fn: (a: { source?: number; reason?: number }) => void): void; socket?: { destroy(): void } } }).network;
    network?.on('abort', (a) => {
      fail(`association aborted by the peer (A-ABORT source ${a?.source ?? '?'}, reason ${a?.reason ?? '?'})`);
      reject(failure);
      network.socket?.destroy();
    });
    setup?.sent?.(client);
  });
}
