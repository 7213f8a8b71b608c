// DIMSE gateway (PS3.7 §9.1, PS3.8 upper layer, PS3.15 B.1 TLS) over dcmjs-dimse: C-ECHO, C-STORE, C-FIND, C-MOVE and
// C-GET SCP. Translates only: the association policy decides who may do what, the store service decides what a received
// object becomes, c-move.ts / c-get.ts what a retrieve sends.
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { Writable } from 'node:stream';
import dimse from 'dcmjs-dimse';
import type { Logger } from '../kernel/logger.js';
import type { BlobStore } from '../store/blob-store.js';
import type { InstanceIndex } from '../store/instance-index.js';
import type { InstanceStore, StoreOutcome } from '../workflow/imaging/instance-store.js';
import { decideAssociation, decideContext, type AssociationPolicy, type DimseOperation, type Rejection } from './association-policy.js';
import { serveCFind, type CFindAnswer } from './c-find.js';
import { cStoreFailureOf, cStoreStatusOf, DatasetSink, type CStoreStatus } from './c-store.js';
import { serveCGet } from './c-get.js';
import { serveCMove } from './c-move.js';
import { sendCStore } from './c-store-scu.js';
import { RETRIEVE_STATUS, type RetrieveAnswer, type RetrieveRequest } from './qr-retrieve.js';

const { Scp, Server, Dataset } = dimse;
const { CEchoResponse, CStoreResponse, CFindResponse, CMoveResponse, CGetResponse } = dimse.responses;
const { Status, PresentationContextResult, RejectResult, RejectSource, RejectReason } = dimse.constants;

type Association = InstanceType<typeof dimse.association.Association>;
type PresentationContext = InstanceType<typeof dimse.association.PresentationContext>;
type CEchoRequest = InstanceType<typeof dimse.requests.CEchoRequest>;
type CStoreRequest = InstanceType<typeof dimse.requests.CStoreRequest>;
type CFindRequest = InstanceType<typeof dimse.requests.CFindRequest>;
type CCancelRequest = InstanceType<typeof dimse.requests.CCancelRequest>;
type CMoveRequest = InstanceType<typeof dimse.requests.CMoveRequest>;
type CGetRequest = InstanceType<typeof dimse.requests.CGetRequest>;
type RetrieveResponseT = InstanceType<typeof CMoveResponse> | InstanceType<typeof CGetResponse>;
type CFindResponseT = InstanceType<typeof CFindResponse>;
type CEchoResponseT = InstanceType<typeof CEchoResponse>;
type CStoreResponseT = InstanceType<typeof CStoreResponse>;
type DatasetT = InstanceType<typeof Dataset>;

export interface DimseGatewayOptions extends AssociationPolicy {
  /** TCP port; 0 picks a free one (tests). */
  readonly port: number;
  readonly store: InstanceStore;
  /** Searched by C-FIND. */
  readonly index: InstanceIndex;
  readonly logger: Logger;
  /** Maximum PDU length we receive (PS3.8 D.1); default 1 MiB. */
  readonly maxPduLength?: number;
  /** Where C-MOVE and C-GET read the stored files; without it they answer "Unable to process". */
  readonly blobs?: BlobStore;
  /** DICOM TLS (PS3.15 B.1) on the listener: key and certificate (PEM), and `ca` + `requestCert` to ask for client certificates. */
  readonly tls?: DicomTlsOptions;
}

export interface DicomTlsOptions {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  readonly ca?: string | Buffer;
  readonly requestCert?: boolean;
  readonly rejectUnauthorized?: boolean;
  /** Default TLSv1.2 (PS3.15 B.9 / BCP 195 profiles). */
  readonly minVersion?: string;
}

export interface DimseGateway {
  readonly port: number;
  /**
   * Stops listening, closes open associations, and waits for the stores they started: a data set still arriving is
   * abandoned (nothing indexed, its temporary file removed); one complete is indexed or not, never half.
   */
  close(): Promise<void>;
}

function rejectionParams(r: Rejection): [number, number, number] {
  const reason = r.reason === 'calling-ae-not-recognized' ? RejectReason.CallingAeNotRecognized
    : r.reason === 'called-ae-not-recognized' ? RejectReason.CalledAeNotRecognized : RejectReason.LocalLimitExceeded;
  return [
    r.result === 'permanent' ? RejectResult.Permanent : RejectResult.Transient,
    r.source === 'service-user' ? RejectSource.ServiceUser : RejectSource.ServiceProviderPresentation,
    reason,
  ];
}

const CONTEXT_RESULT = {
  'user-rejection': PresentationContextResult.RejectUser,
  'abstract-syntax-not-supported': PresentationContextResult.RejectAbstractSyntaxNotSupported,
  'transfer-syntaxes-not-supported': PresentationContextResult.RejectTransferSyntaxesNotSupported,
} as const;

/** A C-MOVE-RSP / C-GET-RSP from an answer of c-move.ts / c-get.ts. */
function retrieveResponse(response: RetrieveResponseT, a: RetrieveAnswer, transferSyntaxUid?: string): RetrieveResponseT {
  response.setStatus(a.status);
  if (a.comment) response.setErrorComment(a.comment);
  if (a.remaining !== undefined) response.setRemaining(a.remaining);
  if (a.completed !== undefined) response.setCompleted(a.completed);
  if (a.failed !== undefined) response.setFailures(a.failed);
  if (a.warning !== undefined) response.setWarnings(a.warning);
  if (a.failedUids?.length) response.setDataset(new Dataset({ FailedSOPInstanceUIDList: [...a.failedUids] }, transferSyntaxUid));
  return response;
}

/** The socket dcmjs-dimse keeps on each connection (untyped upstream). */
const socketOf = (scp: object): Socket => (scp as { socket: Socket }).socket;

export async function startDimseGateway(options: DimseGatewayOptions): Promise<DimseGateway> {
  const { store, logger } = options;
  const maxPduLength = options.maxPduLength ?? 1024 * 1024;
  let active = 0;
  // dcmjs-dimse logs through a loglevel logger of its own; failures reach us as events and are logged here.
  dimse.log.setLevel('silent');

  class GatewayScp extends Scp {
    private operations: ReadonlySet<DimseOperation> = new Set();
    private counted = false;
    private callingAe = '';
    private calledAe = '';
    private sink?: DatasetSink;
    /** The store started for each C-STORE data set, found again from the placeholder data set of its request. */
    private readonly storing = new WeakMap<DatasetT, Promise<StoreOutcome>>();
    /** Message IDs of the C-FIND requests being answered, and whether a C-CANCEL-RQ arrived for them. */
    private readonly finds = new Map<number, { cancelled: boolean }>();
    /** The same for the C-MOVE and C-GET requests being served (a closed association cancels them). */
    private readonly retrievals = new Map<number, { cancelled: boolean }>();
    private accepted?: Association;
    private ended = false;

    constructor(socket: Socket, opts?: ConstructorParameters<typeof Scp>[1]) {
      super(socket, opts);
      // Each response is one small PDU the peer waits for: with Nagle on, it would wait for the peer's delayed ACK
      // (~40 ms per C-STORE). DCMTK and Orthanc's DCMTK-based SCP disable it too (TCP_NODELAY).
      socket.setNoDelay(true);
      this.on('close', () => {
        this.ended = true;
        for (const state of this.retrievals.values()) state.cancelled = true;
        if (this.counted) active--;
        this.counted = false;
        this.sink?.destroy(new Error('association closed before the data set was complete'));
      });
    }

    override associationRequested(association: Association): void {
      this.callingAe = association.getCallingAeTitle().trim();
      this.calledAe = association.getCalledAeTitle().trim();
      const remoteAddress = socketOf(this).remoteAddress ?? '';
      void decideAssociation(options, { callingAe: this.callingAe, calledAe: this.calledAe, remoteAddress, active }).then((decision) => {
        if (!decision.accept) {
          logger.warn('DICOM association refused', { callingAe: this.callingAe, calledAe: this.calledAe, remoteAddress, ...decision.rejection });
          this.sendAssociationReject(...rejectionParams(decision.rejection));
          return;
        }
        this.operations = decision.operations;
        active++;
        this.counted = true;
        association.setMaxPduLength(maxPduLength);
        this.accepted = association;
        for (const { id } of association.getPresentationContexts()) {
          const context = association.getPresentationContext(id);
          // SCP/SCU Role Selection (PS3.7 D.3.3.4), when proposed: answered with the roles this caller may take.
          const proposed = context.getUserRole() === undefined && context.getProviderRole() === undefined ? undefined
            : { scu: context.getUserRole() === true, scp: context.getProviderRole() === true };
          const result = decideContext(context.getAbstractSyntaxUid(), context.getTransferSyntaxUids(), this.operations, proposed);
          if ('accept' in result) context.setResult(PresentationContextResult.Accept, result.accept);
          else context.setResult(CONTEXT_RESULT[result.reject]);
          if (proposed) {
            context.setUserRole(proposed.scu && this.operations.has('store'));
            context.setProviderRole(proposed.scp && this.operations.has('get'));
          }
        }
        this.sendAssociationAccept();
      });
    }

    override associationReleaseRequested(): void {
      this.sendAssociationReleaseResponse();
    }

    override cEchoRequest(request: CEchoRequest, callback: (response: CEchoResponseT) => void): void {
      const response = CEchoResponse.fromRequest(request);
      response.setStatus(Status.Success);
      callback(response);
    }

    /** Called on the data set's first fragment: the store starts now and reads the fragments as they arrive. */
    override createStoreWritableStream(context: PresentationContext, request: CStoreRequest): DatasetSink {
      const socket = socketOf(this);
      const sink = new DatasetSink({ pause: () => socket.pause(), resume: () => socket.resume() }, maxPduLength);
      this.sink = sink;
      const outcome = store.store({
        sopClassUid: request.getAffectedSopClassUid(), sopInstanceUid: request.getAffectedSopInstanceUid(),
        transferSyntaxUid: context.getAcceptedTransferSyntaxUid() ?? '',
        dataset: sink.source, source: { callingAe: this.callingAe, calledAe: this.calledAe, remoteAddress: socket.remoteAddress },
      });
      outcome.catch(() => undefined); // observed when the request completes, or abandoned with the association
      inFlight.add(outcome);
      void outcome.finally(() => inFlight.delete(outcome)).catch(() => undefined);
      sinkOutcomes.set(sink, outcome);
      return sink;
    }

    /** Called after the last fragment: no data set is built in memory, the request carries a placeholder. */
    override createDatasetFromStoreWritableStream(writable: Writable, context: PresentationContext, callback: (dataset: DatasetT) => void): void {
      const placeholder = new Dataset({}, context.getAcceptedTransferSyntaxUid());
      const outcome = sinkOutcomes.get(writable);
      if (outcome) this.storing.set(placeholder, outcome);
      if (this.sink === writable) this.sink = undefined;
      callback(placeholder);
    }

    override cStoreRequest(request: CStoreRequest, callback: (response: CStoreResponseT) => void): void {
      const dataset = request.getDataset();
      const outcome = dataset && this.storing.get(dataset);
      const answer = (s: CStoreStatus): void => {
        const response = CStoreResponse.fromRequest(request);
        response.setStatus(s.status);
        if (s.comment) response.setErrorComment(s.comment);
        callback(response);
      };
      if (!outcome) return answer(cStoreFailureOf(new Error('no data set')));
      outcome.then(cStoreStatusOf, (e: unknown) => {
        logger.error('C-STORE failed', { callingAe: this.callingAe, sopInstanceUid: request.getAffectedSopInstanceUid(), error: String(e) });
        return cStoreFailureOf(e);
      }).then(answer, () => undefined);
    }

    override cFindRequest(request: CFindRequest, callback: (responses: CFindResponseT[]) => void): void {
      const messageId = request.getMessageId();
      const state = { cancelled: false };
      this.finds.set(messageId, state);
      const dataset = request.getDataset();
      const response = (answer: CFindAnswer): CFindResponseT => {
        const r = CFindResponse.fromRequest(request);
        r.setStatus(answer.status);
        if (answer.comment) r.setErrorComment(answer.comment);
        if (answer.identifier) r.setDataset(new Dataset(answer.identifier, dataset?.getTransferSyntaxUid()));
        return r;
      };
      // dcmjs-dimse takes the responses of a request in one call of `callback`, and sends them in order.
      void serveCFind(options.index, {
        sopClassUid: request.getAffectedSopClassUid(), identifier: dataset?.getElements(), cancelled: () => state.cancelled,
        source: { callingAe: this.callingAe, calledAe: this.calledAe, remoteAddress: socketOf(this).remoteAddress },
      }).then((answers) => callback(answers.map(response)))
        .catch((e: unknown) => logger.error('C-FIND failed', { callingAe: this.callingAe, error: String(e) }))
        .finally(() => this.finds.delete(messageId));
    }

    override cMoveRequest(request: CMoveRequest, callback: (responses: InstanceType<typeof CMoveResponse>[]) => void): void {
      const destination = String(request.getCommandDataset().getElement('MoveDestination') ?? '');
      this.serveRetrieve(request, () => callback([]), (a, ts) => retrieveResponse(CMoveResponse.fromRequest(request), a, ts),
        (req) => serveCMove({ index: options.index, blobs: options.blobs as BlobStore, logger, aeTitle: options.aeTitle, knownAes: options.knownAes }, { ...req, destination }));
    }

    override cGetRequest(request: CGetRequest, callback: (responses: InstanceType<typeof CGetResponse>[]) => void): void {
      this.serveRetrieve(request, () => callback([]), (a, ts) => retrieveResponse(CGetResponse.fromRequest(request), a, ts),
        (req) => serveCGet({ index: options.index, blobs: options.blobs as BlobStore, logger }, req, (instance, part10) => {
          if (!this.accepted || this.ended) throw new Error('association closed');
          return sendCStore(this, this.accepted, instance, part10, { requireProviderRole: true });
        }));
    }

    /**
     * Runs a C-MOVE or C-GET: its responses go out as they come, through sendResponse (dcmjs-dimse's `callback` takes
     * one call only; it is called, empty, once the final response is sent).
     */
    private serveRetrieve(request: CMoveRequest | CGetRequest, done: () => void, build: (a: RetrieveAnswer, ts?: string) => RetrieveResponseT,
      serve: (req: RetrieveRequest) => Promise<void>): void {
      const messageId = request.getMessageId();
      const state = { cancelled: false };
      this.retrievals.set(messageId, state);
      const ts = request.getDataset()?.getTransferSyntaxUid();
      const respond = (a: RetrieveAnswer): void => {
        if (!this.ended) this.sendResponse(request, build(a, ts));
      };
      const req: RetrieveRequest = {
        sopClassUid: request.getAffectedSopClassUid(), messageId, identifier: request.getDataset()?.getElements(), cancelled: () => state.cancelled,
        source: { callingAe: this.callingAe, calledAe: this.calledAe, remoteAddress: socketOf(this).remoteAddress }, respond,
      };
      const served = options.blobs ? serve(req) : Promise.resolve(respond({ status: RETRIEVE_STATUS.unableToProcess, comment: 'Retrieve is not configured' }));
      void served.catch((e: unknown) => {
        logger.error('C-MOVE/C-GET failed', { callingAe: this.callingAe, error: String(e) });
        respond({ status: RETRIEVE_STATUS.unableToProcess, comment: 'Unable to process' });
      }).finally(() => {
        this.retrievals.delete(messageId);
        done();
      });
    }

    override cCancelRequest(request: CCancelRequest): void {
      const id = request.getMessageIdBeingRespondedTo();
      const state = this.finds.get(id) ?? this.retrievals.get(id);
      if (state) state.cancelled = true;
    }

    override abort(): void {
      this.sink?.destroy(new Error('association aborted'));
    }
  }

  const sinkOutcomes = new WeakMap<Writable, Promise<StoreOutcome>>();
  const inFlight = new Set<Promise<StoreOutcome>>();
  const server = new Server(GatewayScp as unknown as typeof Scp);
  server.on('networkError', (e: Error) => logger.warn('DICOM network error', { error: e.message }));
  const net = (): NetServer => (server as unknown as { server: NetServer }).server;
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.listen(options.port, options.tls ? { securityOptions: { minVersion: 'TLSv1.2', ...options.tls } } : undefined);
    net().once('error', reject);
  });
  const port = (net().address() as AddressInfo).port;
  logger.info('DICOM listening', { port, aeTitle: options.aeTitle, tls: !!options.tls });
  return {
    port,
    async close() {
      const listening = net().listening;
      const closed = new Promise<void>((resolve) => (listening ? net().once('close', () => resolve()) : resolve()));
      server.close();
      await closed;
      await Promise.allSettled([...inFlight]);
    },
  };
}
