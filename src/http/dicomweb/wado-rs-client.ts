// PS3.18 §10.4 WADO-RS Retrieve Transaction (Study Instances, §10.4.1.1.1), user agent side: the study's instances as
// multipart/related; type="application/dicom" (§8.7.3.5), read part by part and handed on as Part 10 streams, in their
// stored transfer syntax (transfer-syntax=*, §8.7.3.5.2), never the whole study in memory.
import { Part10FormatError, readPart10Stream, type Part10Stream } from '../../imaging/part10-stream.js';
import { readMultipart } from './multipart-related.js';
import { fetchOrigin, originError, type DicomwebOrigin } from './qido-rs-client.js';

const AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*';
const ANY_SYNTAX = 'multipart/related; type="application/dicom"';

/**
 * Retrieves every instance of the study and calls `onInstance` for each, one at a time (the next part is read once it
 * resolves, so the response is back-pressured). Resolves with the number of instances. A part that is not a Part 10
 * file rejects with a 502 (the origin sent something else than asked).
 */
export async function retrieveStudy(origin: DicomwebOrigin, studyInstanceUid: string,
  onInstance: (instance: Part10Stream) => Promise<void>): Promise<number> {
  const path = `/studies/${encodeURIComponent(studyInstanceUid)}`;
  let res: Response;
  try {
    res = await fetchOrigin(origin, path, AS_STORED);
  } catch (e) {
    // An origin that cannot send as stored answers 406 (§8.7.3.5.2): take what it can send.
    if (!/HTTP 406/.test(String((e as Error).message))) throw e;
    res = await fetchOrigin(origin, path, ANY_SYNTAX);
  }
  const contentType = res.headers.get('content-type') ?? '';
  if (!/^multipart\/related/i.test(contentType)) throw originError(origin, `WADO-RS answered ${contentType || 'no Content-Type'}, not multipart/related`, false);
  if (!res.body) return 0;
  let count = 0;
  try {
    for await (const part of readMultipart(res.body as AsyncIterable<Uint8Array>, contentType)) {
      if (part.mediaType && part.mediaType !== 'application/dicom') throw originError(origin, `part ${part.index} is ${part.mediaType}, not application/dicom`, false);
      let instance: Part10Stream;
      try {
        instance = await readPart10Stream(part.body);
      } catch (e) {
        if (e instanceof Part10FormatError) throw originError(origin, `part ${part.index}: ${e.message}`, false);
        throw e;
      }
      await onInstance(instance);
      count++;
    }
  } catch (e) {
    if (e instanceof Error && e.name !== 'OperationOutcomeError' && !('outcome' in e)) throw originError(origin, `WADO-RS response cut short: ${e.message}`);
    throw e;
  }
  return count;
}
