// DICOM PS3.10 §7.1 (DICOM File Meta Information) and §7.5: a received data set stored as a Part 10 file, as received.
import dcmjs, { type DcmjsDict } from 'dcmjs';

/** Our Implementation Class UID (PS3.7 D.3.3.2), a UUID-derived UID (PS3.5 B.2). */
export const IMPLEMENTATION_CLASS_UID = '2.25.164682415063285268864594735751861468155';
/**
 * Implementation Version Name (0002,0013). It is part of every stored file's bytes and so of its content address:
 * keep it constant (not the package version), or identical re-sends after an upgrade would look like new objects.
 */
export const IMPLEMENTATION_VERSION_NAME = 'TELEO_1';

/** Bytes before the data set in a Part 10 file: 128-byte preamble, `DICM`, File Meta Information (group 0002). */
export interface Part10Header {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
}

/**
 * Encodes the preamble and the File Meta Information for a data set encoded in `transferSyntaxUid`. The header is a
 * function of its three UIDs only (no AE title, no time), so two identical data sets make byte-identical files.
 */
export function part10Header(h: Part10Header): Buffer {
  const meta: DcmjsDict = {
    '00020001': { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] },
    '00020002': { vr: 'UI', Value: [h.sopClassUid] },
    '00020003': { vr: 'UI', Value: [h.sopInstanceUid] },
    '00020010': { vr: 'UI', Value: [h.transferSyntaxUid] },
    '00020012': { vr: 'UI', Value: [IMPLEMENTATION_CLASS_UID] },
    '00020013': { vr: 'SH', Value: [IMPLEMENTATION_VERSION_NAME] },
  };
  const file = new dcmjs.data.DicomDict(meta);
  file.dict = {}; // no data set: the received bytes follow, untouched
  return Buffer.from(file.write());
}

/** Yields the Part 10 header, then the data set bytes as received. */
export async function* part10File(h: Part10Header, dataset: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield part10Header(h);
  yield* dataset;
}
