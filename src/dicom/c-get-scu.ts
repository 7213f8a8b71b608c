// PS3.4 C.4.3 C-GET SCU, Study Root Query/Retrieve Information Model - GET (C.6.2.3) at STUDY level: the PACS sends
// the study's instances as C-STORE sub-operations on the same association (we propose the Storage SOP classes with the
// SCP role, PS3.7 D.3.3.4), each streamed to the store service like a C-STORE received by our gateway.
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import dimse from 'dcmjs-dimse';
import type { InstanceStore, StoreOutcome } from '../workflow/imaging/instance-store.js';
import type { RetrieveProgress } from '../workflow/imaging/pacs-port.js';
import { cStoreFailureOf, cStoreStatusOf, DatasetSink, type CStoreStatus } from './c-store.js';
import { finalProgress, progressOf } from './c-move-scu.js';
import { runAssociation, statusClass, type DimseClient, type DimsePeer, type ScuOptions } from './dimse-scu.js';

const { CGetRequest } = dimse.requests;
const { CStoreResponse } = dimse.responses;
const { Dataset } = dimse;

type PresentationContext = InstanceType<typeof dimse.association.PresentationContext>;
type CStoreRequest = InstanceType<typeof dimse.requests.CStoreRequest>;
type DatasetT = InstanceType<typeof Dataset>;

/** The client's network (created by Client.send): its hooks for incoming C-STORE data sets, and its socket. */
interface StoreHooks {
  socket: Socket;
  createStoreWritableStream(context: PresentationContext, request: CStoreRequest): Writable;
  createDatasetFromStoreWritableStream(writable: Writable, context: PresentationContext, callback: (dataset: DatasetT) => void): void;
}

export interface CGetOptions extends ScuOptions {
  /** The store service every received instance goes to. */
  readonly store: InstanceStore;
  /** Bytes of a data set buffered before the socket is paused; default 1 MiB. */
  readonly highWaterMark?: number;
}

/**
 * Retrieves every instance of the study from `peer` on one association and stores each as it arrives. Resolves with
 * the final counts once every received instance is stored (or refused); see `finalProgress` for failures.
 */
export async function getStudy(peer: DimsePeer, options: CGetOptions, studyInstanceUid: string,
  onProgress: (p: RetrieveProgress) => void = () => undefined): Promise<RetrieveProgress> {
  const request = CGetRequest.createStudyGetRequest(studyInstanceUid);
  let last: RetrieveProgress = { completed: 0, failed: 0, warning: 0 };
  request.on('response', (response: InstanceType<typeof dimse.responses.CGetResponse>) => {
    if (statusClass(response.getStatus()) !== 'pending') return;
    last = progressOf(response);
    onProgress(last);
  });
  const bySink = new WeakMap<Writable, Promise<StoreOutcome>>();
  const byPlaceholder = new WeakMap<DatasetT, Promise<StoreOutcome>>();
  const inFlight = new Set<Promise<StoreOutcome>>();

  const answer = (req: CStoreRequest, callback: (r: InstanceType<typeof CStoreResponse>) => void) => (s: CStoreStatus) => {
    const response = CStoreResponse.fromRequest(req);
    response.setStatus(s.status);
    if (s.comment) response.setErrorComment(s.comment);
    callback(response);
  };

  const hooks = {
    before(client: DimseClient) {
      client.on('cStoreRequest', (req: CStoreRequest, callback: (r: InstanceType<typeof CStoreResponse>) => void) => {
        const dataset = req.getDataset();
        const outcome = dataset && byPlaceholder.get(dataset);
        const reply = answer(req, callback);
        if (!outcome) return reply(cStoreFailureOf(new Error('no data set')));
        outcome.then(cStoreStatusOf, cStoreFailureOf).then(reply, () => undefined);
      });
    },
    sent(client: DimseClient) {
      const network = (client as unknown as { network: StoreHooks }).network;
      const socket = network.socket;
      let current: DatasetSink | undefined;
      socket.once('close', () => current?.destroy(new Error('association closed before the data set was complete')));
      network.createStoreWritableStream = (context, req) => {
        const sink = new DatasetSink({ pause: () => socket.pause(), resume: () => socket.resume() }, options.highWaterMark);
        const outcome = options.store.store({
          sopClassUid: req.getAffectedSopClassUid(), sopInstanceUid: req.getAffectedSopInstanceUid(),
          transferSyntaxUid: context.getAcceptedTransferSyntaxUid() ?? '', dataset: sink.source,
          source: { callingAe: peer.aeTitle, calledAe: options.callingAe, remoteAddress: socket.remoteAddress },
        });
        outcome.catch(() => undefined); // answered in cStoreRequest, or abandoned with the association
        inFlight.add(outcome);
        void outcome.finally(() => inFlight.delete(outcome)).catch(() => undefined);
        bySink.set(sink, outcome);
        current = sink;
        return sink;
      };
      network.createDatasetFromStoreWritableStream = (writable, context, callback) => {
        const placeholder = new Dataset({}, context.getAcceptedTransferSyntaxUid());
        const outcome = bySink.get(writable);
        if (outcome) byPlaceholder.set(placeholder, outcome);
        if (current === writable) current = undefined;
        callback(placeholder);
      };
    },
  };

  try {
    const [final] = await runAssociation<InstanceType<typeof dimse.responses.CGetResponse>>(peer, options, [request], hooks);
    return finalProgress(peer, 'C-GET', final, last);
  } finally {
    await Promise.allSettled([...inFlight]);
  }
}
