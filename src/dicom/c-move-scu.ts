// PS3.4 C.4.2 C-MOVE SCU, Study Root Query/Retrieve Information Model - MOVE (C.6.2.2) at STUDY level: the PACS
// sends the study's instances by C-STORE sub-operations to a Move Destination (our own AE, whose C-STORE SCP stores
// them); Pending responses carry the sub-operation counts (C.4.2.1.6), the final one the outcome.
import dimse from 'dcmjs-dimse';
import type { RetrieveProgress } from '../workflow/imaging/pacs-port.js';
import { hex4, peerError, runAssociation, statusClass, type DimsePeer, type ScuOptions } from './dimse-scu.js';

const { CMoveRequest } = dimse.requests;
type RetrieveResponse = InstanceType<typeof dimse.responses.CMoveResponse> | InstanceType<typeof dimse.responses.CGetResponse>;

const count = (n: number | undefined): number => (typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : 0);

/** The counts a C-MOVE-RSP or C-GET-RSP carries (absent counts are 0; the total once Remaining is known). */
export function progressOf(response: RetrieveResponse): RetrieveProgress {
  const completed = count(response.getCompleted());
  const failed = count(response.getFailures());
  const warning = count(response.getWarnings());
  const remaining = response.getRemaining();
  const pending = statusClass(response.getStatus()) === 'pending';
  const total = pending && typeof remaining === 'number' && remaining >= 0 ? remaining + completed + failed + warning
    : !pending ? completed + failed + warning : undefined;
  return { ...(total !== undefined ? { total } : {}), completed, failed, warning };
}

/**
 * The final counts of a retrieve, or a 502 OperationOutcomeError when the peer refused it: a Failure status with no
 * sub-operation done (unknown destination A801, unable to process Cxxx…). A Warning (B000: some sub-operations failed)
 * or a Failure after some sub-operations is returned as counts: the caller decides what partial means.
 */
export function finalProgress(peer: DimsePeer, service: string, final: RetrieveResponse, last: RetrieveProgress): RetrieveProgress {
  const status = final.getStatus();
  const reported = progressOf(final);
  const progress = reported.completed + reported.failed + reported.warning > 0 ? reported : { ...last, total: last.total ?? last.completed + last.failed + last.warning };
  if (statusClass(status) === 'failure' && progress.completed + progress.warning === 0) {
    const comment = final.getErrorComment?.();
    throw peerError(peer, `${service} failed with status ${hex4(status)}${comment ? ` (${comment})` : ''}`, false);
  }
  if (statusClass(status) === 'cancel') throw peerError(peer, `${service} cancelled`);
  return progress;
}

/**
 * Asks `peer` to send every instance of the study to `destinationAe` (which must be known to the peer, and accept its
 * C-STOREs). Resolves with the final counts.
 */
export async function moveStudy(peer: DimsePeer, options: ScuOptions, destinationAe: string, studyInstanceUid: string,
  onProgress: (p: RetrieveProgress) => void = () => undefined): Promise<RetrieveProgress> {
  const request = CMoveRequest.createStudyMoveRequest(destinationAe, studyInstanceUid);
  let last: RetrieveProgress = { completed: 0, failed: 0, warning: 0 };
  request.on('response', (response: InstanceType<typeof dimse.responses.CMoveResponse>) => {
    if (statusClass(response.getStatus()) !== 'pending') return;
    last = progressOf(response);
    onProgress(last);
  });
  const [final] = await runAssociation<InstanceType<typeof dimse.responses.CMoveResponse>>(peer, options, [request]);
  return finalProgress(peer, 'C-MOVE', final, last);
}
