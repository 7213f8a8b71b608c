// PS3.4 C.4.3 C-GET SCP of the Patient Root and Study Root Query/Retrieve Information Models (C.6.1, C.6.2): the
// matching instances sent back by C-STORE sub-operations on the requester's own association (C.4.3.3.1), over the
// storage presentation contexts it proposed with the SCP role (PS3.7 D.3.3.4); Pending responses, then the final one.
import type { IndexedInstance } from '../store/instance-index.js';
import type { StoreResult } from './c-store-scu.js';
import { instancesToRetrieve, runSubOperations, type RetrieveDeps, type RetrieveRequest } from './qr-retrieve.js';

/**
 * Answers one C-GET-RQ through `req.respond`; `store` sends one C-STORE-RQ on the requester's association (an
 * instance whose SOP class the requester did not accept with the SCP role fails, as C.4.3.3.1 says).
 */
export async function serveCGet(deps: RetrieveDeps, req: RetrieveRequest,
  store: (instance: IndexedInstance, part10: Buffer) => Promise<StoreResult>): Promise<void> {
  const instances = await instancesToRetrieve(deps, req);
  if (!instances) return;
  await runSubOperations(deps, req, instances, req.source.callingAe, store);
}
