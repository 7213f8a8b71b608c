// PS3.4 C.4.2 C-MOVE SCP of the Patient Root and Study Root Query/Retrieve Information Models (C.6.1, C.6.2): the
// matching instances sent by C-STORE sub-operations over a new association to the Move Destination (C.4.2.3.1), which
// must be a configured AE with a host and a port; Pending responses with the sub-operation counts, then the final one.
import type { ConnectionOptions } from 'node:tls';
import type { KnownAe } from './association-policy.js';
import { moveDestination, openStoreAssociation, StoreAssociationError, type StoreAssociation } from './c-store-scu.js';
import { instancesToRetrieve, lo, RETRIEVE_STATUS, runSubOperations, type RetrieveDeps, type RetrieveRequest } from './qr-retrieve.js';

export interface CMoveDeps extends RetrieveDeps {
  /** Our AE title: the Calling AE Title of the sub-associations. */
  readonly aeTitle: string;
  readonly knownAes: readonly KnownAe[];
  /** DICOM TLS toward the destinations (PS3.15 B.1), when configured. */
  readonly tls?: ConnectionOptions;
}

/** Answers one C-MOVE-RQ through `req.respond`. Never rejects. */
export async function serveCMove(deps: CMoveDeps, req: RetrieveRequest & { readonly destination: string }): Promise<void> {
  const destination = moveDestination(deps.knownAes, req.destination);
  if (!destination) {
    deps.logger.warn('C-MOVE to an unknown destination refused', { callingAe: req.source.callingAe, destination: req.destination });
    req.respond({ status: RETRIEVE_STATUS.moveDestinationUnknown, comment: lo(`Move Destination unknown: ${req.destination.trim()}`) });
    return;
  }
  const instances = await instancesToRetrieve(deps, req);
  if (!instances) return;
  let association: StoreAssociation | undefined;
  let openError: string | undefined;
  try {
    association = await openStoreAssociation({
      host: destination.host, port: destination.port, callingAe: deps.aeTitle, calledAe: destination.aeTitle, tls: deps.tls,
    }, instances);
  } catch (e) {
    if (!(e instanceof StoreAssociationError)) throw e;
    openError = e.message;
    deps.logger.warn('C-MOVE: no association with the destination', { destination: destination.aeTitle, error: e.message });
  }
  const moveOriginator = { aeTitle: req.source.callingAe, messageId: req.messageId };
  await runSubOperations(deps, req, instances, destination.aeTitle, async (instance, part10) => {
    if (!association) throw new StoreAssociationError(openError ?? 'no association');
    return association.store(instance, part10, moveOriginator);
  });
  await association?.release().catch(() => association?.abort());
}
