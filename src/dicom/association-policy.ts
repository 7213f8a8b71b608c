// PS3.8 §7.1 / §9.3.3–9.3.4 association acceptance: known AEs, allowed operations, association limit, and the
// presentation contexts (PS3.4 Annex A Verification, Annex B Storage, Annex C.4.1 Query/Retrieve FIND, C.4.2 MOVE, C.4.3 GET
// with the storage SCP role of its requester, PS3.7 D.3.3.4) and transfer syntaxes (PS3.5 §10) we accept.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export type DimseOperation = 'echo' | 'store' | 'find' | 'move' | 'get';
export const DIMSE_OPERATIONS: readonly DimseOperation[] = ['echo', 'store', 'find', 'move', 'get'];
/** What a caller not in `knownAes` may do when `acceptUnknownAes` is set: never query patient data. */
export const UNKNOWN_AE_OPERATIONS: readonly DimseOperation[] = ['echo', 'store'];

/** A remote application entity allowed to open associations with us. */
export interface KnownAe {
  readonly aeTitle: string;
  /** IP address or host name the AE connects from; absent = any host. */
  readonly host?: string;
  /** Its own DIMSE port (for C-MOVE destinations and forwarding; unused by the SCP). */
  readonly port?: number;
  readonly operations: readonly DimseOperation[];
}

export interface AssociationPolicy {
  /** Our AE title: associations calling another title (nor one of `otherAeTitles`) are refused. */
  readonly aeTitle: string;
  /** Other titles we answer to, e.g. dedicated to a workflow (ae-title-routing.ts): same rules, data routed by title. */
  readonly otherAeTitles?: readonly string[];
  readonly knownAes: readonly KnownAe[];
  /** Accept callers not in `knownAes` (with `UNKNOWN_AE_OPERATIONS`: echo and store). Default false: refused. */
  readonly acceptUnknownAes: boolean;
  readonly maxAssociations: number;
}

export interface AssociationRequest {
  readonly callingAe: string;
  readonly calledAe: string;
  readonly remoteAddress: string;
  /** Associations currently open (this one not included). */
  readonly active: number;
}

/** A-ASSOCIATE-RJ parameters (PS3.8 Table 9-21). */
export type Rejection =
  | { readonly result: 'permanent'; readonly source: 'service-user'; readonly reason: 'calling-ae-not-recognized' | 'called-ae-not-recognized' }
  | { readonly result: 'transient'; readonly source: 'service-provider-presentation'; readonly reason: 'local-limit-exceeded' };

export type AssociationDecision =
  | { readonly accept: true; readonly operations: ReadonlySet<DimseOperation> }
  | { readonly accept: false; readonly rejection: Rejection };

export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';

/** Storage SOP classes (PS3.4 Table B.5-1): the 1.2.840.10008.5.1.4.1.1 arc, plus those registered outside it. */
const STORAGE_ARC = '1.2.840.10008.5.1.4.1.1.';
const STORAGE_OUTSIDE_ARC = new Set([
  '1.2.840.10008.5.1.4.34.7', '1.2.840.10008.5.1.4.34.10', // RT Beams Delivery Instruction, RT Patient Position Acquisition Instruction
  '1.2.840.10008.5.1.4.38.1', '1.2.840.10008.5.1.4.39.1', // Hanging Protocol, Color Palette
  '1.2.840.10008.5.1.4.43.1', '1.2.840.10008.5.1.4.44.1', '1.2.840.10008.5.1.4.45.1', // Implant templates
]);

export function isStorageSopClass(uid: string): boolean {
  return uid.startsWith(STORAGE_ARC) || STORAGE_OUTSIDE_ARC.has(uid);
}

/** Transfer syntaxes accepted for storage (stored as received, never transcoded), PS3.5 §10 and Annex A. */
export const STORAGE_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  '1.2.840.10008.1.2', // Implicit VR Little Endian
  '1.2.840.10008.1.2.1', // Explicit VR Little Endian
  '1.2.840.10008.1.2.1.99', // Deflated Explicit VR Little Endian
  '1.2.840.10008.1.2.2', // Explicit VR Big Endian (retired, still sent by old modalities)
  '1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.4.51', // JPEG Baseline, Extended
  '1.2.840.10008.1.2.4.57', '1.2.840.10008.1.2.4.70', // JPEG Lossless, Lossless SV1
  '1.2.840.10008.1.2.4.80', '1.2.840.10008.1.2.4.81', // JPEG-LS Lossless, Near-Lossless
  '1.2.840.10008.1.2.4.90', '1.2.840.10008.1.2.4.91', // JPEG 2000 Lossless, JPEG 2000
  '1.2.840.10008.1.2.4.201', '1.2.840.10008.1.2.4.202', '1.2.840.10008.1.2.4.203', // HTJ2K
  '1.2.840.10008.1.2.5', // RLE Lossless
  '1.2.840.10008.1.2.4.100', '1.2.840.10008.1.2.4.101', '1.2.840.10008.1.2.4.102', '1.2.840.10008.1.2.4.103', // MPEG-2, MPEG-4
  '1.2.840.10008.1.2.4.104', '1.2.840.10008.1.2.4.105', '1.2.840.10008.1.2.4.106', // MPEG-4 stereo/2D/3D
  '1.2.840.10008.1.2.4.107', '1.2.840.10008.1.2.4.108', // HEVC
]);

const UNCOMPRESSED_VERIFICATION = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1']);

/** PS3.4 Table C.4-1 (Annex C.6.1, C.6.2): Patient Root and Study Root Query/Retrieve Information Model - FIND. */
export const PATIENT_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.1.1';
export const STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1';
const FIND_SOP_CLASSES = new Set([PATIENT_ROOT_FIND, STUDY_ROOT_FIND]);
/** PS3.4 Table C.4-2 / C.4-3 (Annex C.6.1, C.6.2): Patient Root and Study Root Query/Retrieve Information Model - MOVE, GET. */
export const PATIENT_ROOT_MOVE = '1.2.840.10008.5.1.4.1.2.1.2';
export const STUDY_ROOT_MOVE = '1.2.840.10008.5.1.4.1.2.2.2';
export const PATIENT_ROOT_GET = '1.2.840.10008.5.1.4.1.2.1.3';
export const STUDY_ROOT_GET = '1.2.840.10008.5.1.4.1.2.2.3';
const MOVE_SOP_CLASSES = new Set([PATIENT_ROOT_MOVE, STUDY_ROOT_MOVE]);
const GET_SOP_CLASSES = new Set([PATIENT_ROOT_GET, STUDY_ROOT_GET]);

const trimAe = (ae: string): string => ae.trim(); // PS3.5 Table 6.2-1 AE: leading/trailing spaces are not significant

function normaliseAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}

async function hostMatches(host: string, remoteAddress: string): Promise<boolean> {
  const remote = normaliseAddress(remoteAddress);
  if (isIP(host)) return normaliseAddress(host) === remote;
  try {
    return (await lookup(host, { all: true })).some((a) => normaliseAddress(a.address) === remote);
  } catch {
    return false;
  }
}

export async function decideAssociation(policy: AssociationPolicy, req: AssociationRequest): Promise<AssociationDecision> {
  if (![policy.aeTitle, ...(policy.otherAeTitles ?? [])].some((title) => trimAe(title) === trimAe(req.calledAe))) {
    return { accept: false, rejection: { result: 'permanent', source: 'service-user', reason: 'called-ae-not-recognized' } };
  }
  const calling = trimAe(req.callingAe);
  const candidates = policy.knownAes.filter((ae) => trimAe(ae.aeTitle) === calling);
  let operations: ReadonlySet<DimseOperation> | undefined;
  for (const ae of candidates) {
    if (!ae.host || await hostMatches(ae.host, req.remoteAddress)) {
      operations = new Set(ae.operations);
      break;
    }
  }
  if (!operations && candidates.length === 0 && policy.acceptUnknownAes) operations = new Set(UNKNOWN_AE_OPERATIONS);
  if (!operations) {
    return { accept: false, rejection: { result: 'permanent', source: 'service-user', reason: 'calling-ae-not-recognized' } };
  }
  if (req.active >= policy.maxAssociations) {
    return { accept: false, rejection: { result: 'transient', source: 'service-provider-presentation', reason: 'local-limit-exceeded' } };
  }
  return { accept: true, operations };
}

/** PS3.8 §9.3.3.2 presentation context result for one proposed context. */
export type ContextResult =
  | { readonly accept: string }
  | { readonly reject: 'user-rejection' | 'abstract-syntax-not-supported' | 'transfer-syntaxes-not-supported' };

/**
 * SCP/SCU Role Selection (PS3.7 D.3.3.4) proposed for a context: `scp` true when the requester offers to act as the
 * Storage SCP (a C-GET requester receiving its sub-operations).
 */
export interface ProposedRoles {
  readonly scu?: boolean;
  readonly scp?: boolean;
}

/**
 * Accepts the first proposed transfer syntax we support (the sender lists its preferred, usually its file's, first).
 * A storage context proposed with the SCP role is accepted for a caller that may `get` (the C-GET sub-operations
 * come back on it), and for its SCU role only if it may `store`.
 */
export function decideContext(abstractSyntax: string, proposed: readonly string[], operations: ReadonlySet<DimseOperation>, roles: ProposedRoles = {}): ContextResult {
  let operation: DimseOperation;
  let supported: ReadonlySet<string>;
  if (abstractSyntax === VERIFICATION_SOP_CLASS) [operation, supported] = ['echo', UNCOMPRESSED_VERIFICATION];
  else if (isStorageSopClass(abstractSyntax)) {
    supported = STORAGE_TRANSFER_SYNTAXES;
    operation = roles.scp && operations.has('get') && !operations.has('store') ? 'get' : 'store';
  } else if (FIND_SOP_CLASSES.has(abstractSyntax)) [operation, supported] = ['find', UNCOMPRESSED_VERIFICATION];
  else if (MOVE_SOP_CLASSES.has(abstractSyntax)) [operation, supported] = ['move', UNCOMPRESSED_VERIFICATION];
  else if (GET_SOP_CLASSES.has(abstractSyntax)) [operation, supported] = ['get', UNCOMPRESSED_VERIFICATION];
  else return { reject: 'abstract-syntax-not-supported' };
  if (!operations.has(operation)) return { reject: 'user-rejection' };
  const chosen = proposed.find((ts) => supported.has(ts));
  return chosen ? { accept: chosen } : { reject: 'transfer-syntaxes-not-supported' };
}
