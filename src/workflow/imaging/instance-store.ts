// The store service (PS3.4 Annex B Storage Service Class, SCP side), protocol-independent: C-STORE and STOW-RS call it.
// Bytes → durable Part 10 blob (streamed, fsync'd) → metadata parsed → index row + AuditEvent in one transaction.
import type { Principal } from '../../kernel/principal.js';
import { checkDataSetStructure, type DataSetStructureCheck } from '../../imaging/data-set-structure.js';
import { DicomParseError, expectedNativePixelBytes, parsePart10Metadata, type ParsedInstance } from '../../imaging/dicom-json.js';

/** Deflated Explicit VR Little Endian (PS3.5 A.5): the structure check does not read inside it. */
const DEFLATED = new Set(['1.2.840.10008.1.2.1.99']);
import { part10File } from '../../imaging/part10-file.js';
import type { BlobInfo, BlobStore } from '../../store/blob-store.js';
import type {
  IndexedInstance, InstanceIndex, InstanceIndexTx, InstanceSource, QuarantinedObject, QuarantineReason,
} from '../../store/instance-index.js';
import { queueAudit, type AuditContext, type AuditRecord } from '../audit.js';

/** One object as a protocol adapter received it. */
export interface ReceivedObject {
  /** As announced by the sender (C-STORE Affected SOP Class / Instance UID). */
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  /** The transfer syntax the data set bytes are encoded in (the accepted presentation context's). */
  readonly transferSyntaxUid: string;
  /** The data set bytes exactly as received (no File Meta Information), consumed once. */
  readonly dataset: AsyncIterable<Uint8Array>;
  readonly source: InstanceSource;
  /** When the request targets a study (STOW-RS `/studies/{study}`): an instance of another study is a mismatch. */
  readonly expectedStudyInstanceUid?: string;
  /** Who is audited as the sender when the channel authenticates a user (STOW-RS); by default the calling AE. */
  readonly actor?: AuditContext;
}

/** Bytes that are not an object the store can take (e.g. a STOW-RS part that is no Part 10 file), kept as received. */
export interface UnreadableObject {
  readonly content: AsyncIterable<Uint8Array>;
  /** What is wrong with it, in words an operator can act on. */
  readonly detail: string;
  readonly source: InstanceSource;
  readonly actor?: AuditContext;
}

export type StoreOutcome =
  | { readonly kind: 'stored'; readonly instance: IndexedInstance }
  /** The same bytes were already stored under this SOP Instance UID: nothing changed. */
  | { readonly kind: 'identical'; readonly instance: IndexedInstance }
  /** Another object holds this SOP Instance UID: it is kept; the newcomer went to quarantine. */
  | { readonly kind: 'conflict'; readonly existing: IndexedInstance; readonly quarantined: QuarantinedObject }
  /** The object cannot be indexed (unparseable, or not what was announced): kept in quarantine. */
  | { readonly kind: 'rejected'; readonly reason: Exclude<QuarantineReason, 'conflict'>; readonly detail: string; readonly quarantined: QuarantinedObject };

export type Rejected = Extract<StoreOutcome, { kind: 'rejected' }>;

export interface InstanceStore {
  store(received: ReceivedObject): Promise<StoreOutcome>;
  /** Keeps unreadable bytes in quarantine (reason `unparseable`), audited like a rejected object. */
  quarantine(unreadable: UnreadableObject): Promise<Rejected>;
}

export interface InstanceStoreOptions {
  readonly blobs: BlobStore;
  readonly index: InstanceIndex;
  /**
   * Bytes of each object kept in memory for parsing its metadata (everything before Pixel Data). An object larger
   * than this whose metadata does not fit in it (no Pixel Data, or a header that long) is re-read whole from the blob
   * store to be parsed. Default 4 MiB.
   */
  readonly headerBytes?: number;
  readonly now?: () => Date;
  /** Runs in the index transaction of each newly stored instance (e.g. enqueues its study's ImagingStudy sync job). */
  readonly onStored?: (tx: InstanceIndexTx, instance: IndexedInstance) => Promise<void>;
  /** Called once that transaction has committed (e.g. wakes the job runner). */
  readonly onCommitted?: (instance: IndexedInstance) => void;
}

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
/** DICOM audit event ID "DICOM Instances Transferred" (PS3.15 A.5.3.10, DCM 110104). */
const INSTANCES_TRANSFERRED = { system: DCM, code: '110104', display: 'DICOM Instances Transferred' };

function principalOf(source: InstanceSource): Principal {
  return { sub: `dicom:${source.callingAe}`, scopes: [], iss: `dicom:${source.calledAe}` };
}

/** Passes the chunks through while keeping a copy of the first `limit` bytes. */
function keepingHead(source: AsyncIterable<Uint8Array>, limit: number): { chunks: AsyncGenerator<Uint8Array>; head(): Buffer } {
  const kept: Buffer[] = [];
  let size = 0;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      if (size < limit) {
        const part = Buffer.from(chunk.subarray(0, limit - size)); // a copy: the source may reuse its buffer
        kept.push(part);
        size += part.byteLength;
      }
      yield chunk;
    }
  }
  return { chunks: chunks(), head: () => Buffer.concat(kept, size) };
}

/** Passes the chunks through the structure check. */
async function* checkingStructure(source: AsyncIterable<Uint8Array>, check: { write(chunk: Uint8Array): void }): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    check.write(chunk);
    yield chunk;
  }
}

async function readWhole(blobs: BlobStore, key: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of await blobs.get(key)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

export function createInstanceStore(options: InstanceStoreOptions): InstanceStore {
  const { blobs, index } = options;
  const headerBytes = options.headerBytes ?? 4 * 1024 * 1024;
  const now = options.now ?? (() => new Date());

  /**
   * Metadata of the stored file, parsed from its kept head up to Pixel Data; parsed whole (from the head when it
   * holds the whole object, else from the blob store) when the head does not reach Pixel Data or is deflated.
   */
  async function parse(head: Buffer, blob: BlobInfo, structure: DataSetStructureCheck): Promise<ParsedInstance> {
    // The structure check has already seen every element whole: parsing stops at Pixel Data (the bulk of an image,
    // which the metadata leaves out) rather than decoding megabytes of pixels to throw them away; native pixel data is
    // checked against the image's size from its declared length. (Deflated data sets, not structure-checked, are
    // parsed whole.)
    let partial: ParsedInstance | undefined;
    try {
      partial = parsePart10Metadata(head, { whole: false });
    } catch (e) {
      if (!(e instanceof DicomParseError)) throw e;
    }
    if (partial?.reachedPixelData && !DEFLATED.has(partial.transferSyntaxUid)) {
      const declared = structure.nativePixelDataLength();
      const expected = expectedNativePixelBytes(partial.metadata);
      if (declared !== undefined && declared < expected) throw new DicomParseError(`Pixel Data truncated: ${declared} of ${expected} bytes`);
      return partial;
    }
    if (blob.size <= head.byteLength) return parsePart10Metadata(head, { whole: true });
    return parsePart10Metadata(await readWhole(blobs, blob.key), { whole: true });
  }

  async function audit(tx: InstanceIndexTx, from: { source: InstanceSource; actor?: AuditContext }, entities: string[], outcome: Pick<AuditRecord, 'outcome' | 'outcomeDesc'>): Promise<void> {
    const ctx = from.actor ?? { principal: principalOf(from.source), remoteAddress: from.source.remoteAddress };
    await queueAudit(tx.jobs, ctx, {
      interaction: 'create', action: 'C', entities, subtype: INSTANCES_TRANSFERRED, ...outcome,
    });
  }

  async function reject(received: Partial<ReceivedObject> & Pick<ReceivedObject, 'source'>, blob: BlobInfo, reason: 'unparseable' | 'mismatch', detail: string, receivedAt: string): Promise<Rejected> {
    const { source } = received;
    return index.transaction(async (tx) => {
      const quarantined = await tx.quarantine({
        reason, detail, sopInstanceUid: received.sopInstanceUid || undefined, sopClassUid: received.sopClassUid || undefined,
        transferSyntaxUid: received.transferSyntaxUid || undefined, blobKey: blob.key, blobSize: blob.size, ...source, receivedAt,
      });
      await audit(tx, received, received.sopInstanceUid ? [`urn:oid:${received.sopInstanceUid}`] : [], { outcome: '4', outcomeDesc: `quarantined (${reason}): ${detail}` });
      return { kind: 'rejected', reason, detail, quarantined };
    });
  }

  /** Why the parsed data set is not the object announced (SOP Class / Instance UID, or the study the request targets). */
  function mismatchOf(received: ReceivedObject, a: ParsedInstance['attributes']): string | undefined {
    if (a.sopInstanceUid !== received.sopInstanceUid) return `data set SOP Instance UID ${a.sopInstanceUid} differs from the announced ${received.sopInstanceUid}`;
    if (a.sopClassUid !== received.sopClassUid) return `data set SOP Class UID ${a.sopClassUid} differs from the announced ${received.sopClassUid}`;
    if (received.expectedStudyInstanceUid !== undefined && a.studyInstanceUid !== received.expectedStudyInstanceUid) {
      return `not of the target study ${received.expectedStudyInstanceUid}: Study Instance UID ${a.studyInstanceUid}`;
    }
    return undefined;
  }

  return {
    async store(received) {
      const receivedAt = now().toISOString();
      // Every element whole (PS3.5 §7.1), checked as the bytes pass: a truncated value is found whatever the size.
      const structure = checkDataSetStructure(received.transferSyntaxUid);
      const tee = keepingHead(part10File(received, checkingStructure(received.dataset, structure)), headerBytes);
      // Durable (fsync'd and renamed) before anything refers to it; an orphan blob after a crash is only garbage.
      const blob = await blobs.put(tee.chunks);
      const malformed = structure.end();
      if (malformed !== undefined) return reject(received, blob, 'unparseable', malformed, receivedAt);

      let parsed: ParsedInstance;
      try {
        parsed = await parse(tee.head(), blob, structure);
      } catch (e) {
        if (!(e instanceof DicomParseError)) throw e;
        return reject(received, blob, 'unparseable', e.message, receivedAt);
      }
      const a = parsed.attributes;
      const mismatch = mismatchOf(received, a);
      if (mismatch !== undefined) return reject(received, blob, 'mismatch', mismatch, receivedAt);

      const instance: IndexedInstance = {
        ...a, transferSyntaxUid: received.transferSyntaxUid, blobKey: blob.key, blobSize: blob.size,
        metadata: parsed.metadata, ...received.source, receivedAt,
      };
      const entities = [`urn:oid:${a.studyInstanceUid}`, `urn:oid:${a.sopInstanceUid}`];
      const outcome = await index.transaction(async (tx): Promise<StoreOutcome> => {
        const res = await tx.insert(instance);
        if (res.kind === 'inserted') {
          await audit(tx, received, entities, { outcome: '0' });
          await options.onStored?.(tx, instance);
          return { kind: 'stored', instance };
        }
        if (res.existing.blobKey === blob.key) {
          await audit(tx, received, entities, { outcome: '0', outcomeDesc: 'identical instance already stored' });
          return { kind: 'identical', instance: res.existing };
        }
        const detail = `SOP Instance UID already stored with other content (${res.existing.blobKey}); first kept`;
        const quarantined = await tx.quarantine({
          reason: 'conflict', detail, sopInstanceUid: a.sopInstanceUid, sopClassUid: a.sopClassUid,
          transferSyntaxUid: received.transferSyntaxUid, blobKey: blob.key, blobSize: blob.size, ...received.source, receivedAt,
        });
        await audit(tx, received, entities, { outcome: '4', outcomeDesc: `quarantined (conflict): ${detail}` });
        return { kind: 'conflict', existing: res.existing, quarantined };
      });
      if (outcome.kind === 'stored') options.onCommitted?.(outcome.instance);
      return outcome;
    },

    async quarantine(unreadable) {
      const receivedAt = now().toISOString();
      const blob = await blobs.put(unreadable.content);
      return reject({ source: unreadable.source, actor: unreadable.actor }, blob, 'unparseable', unreadable.detail, receivedAt);
    },
  };
}
