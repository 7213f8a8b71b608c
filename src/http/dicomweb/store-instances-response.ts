// DICOM PS3.18 §10.5.3 Store Instances Response: the Store Instances Response Module (Table 10.5.3-1) in DICOM JSON
// (Annex F.2) and the HTTP status (§10.5.3.1), built from what the store service made of each part; Failure and
// Warning Reason codes from PS3.4 Table B.2-1 (Storage) and PS3.7 Annex C.
import type { DicomJson } from '../../imaging/dicom-json.js';
import type { StoreOutcome } from '../../workflow/imaging/instance-store.js';

export const FAILURE_REASON = {
  /** PS3.7 Annex C.4 general status "Processing failure" (0110): an error of ours. */
  processingFailure: 0x0110,
  /** PS3.4 Table B.2-1 "Refused: Out of Resources" (A7xx). */
  outOfResources: 0xa700,
  /** PS3.4 Table B.2-1 "Error: Data Set does not match SOP Class" (A9xx): not the object announced, or not of the target study. */
  doesNotMatch: 0xa900,
  /** PS3.4 Table B.2-1 "Error: Cannot understand" (Cxxx): not a Part 10 file, malformed or truncated data set. */
  cannotUnderstand: 0xc000,
} as const;

/** PS3.4 Table B.2-1 "Coercion of Data Elements" (B000): the first object with this SOP Instance UID is kept. */
export const WARNING_KEPT_FIRST = 0xb000;

/** One part as the response reports it. */
export type PartResult =
  | { readonly kind: 'outcome'; readonly outcome: StoreOutcome; readonly sopClassUid: string; readonly sopInstanceUid: string }
  /** Failed for a known object (store error). */
  | { readonly kind: 'failed'; readonly sopClassUid: string; readonly sopInstanceUid: string; readonly reason: number; readonly comment: string }
  /** Failed before any SOP Instance could be named (not a Part 10 file, not application/dicom, broken body). */
  | { readonly kind: 'other'; readonly reason: number; readonly comment: string };

export interface StoreInstancesResponse {
  readonly status: 200 | 202 | 409;
  readonly body: DicomJson;
}

const ui = (v: string) => ({ vr: 'UI', Value: [v] });
const us = (v: number) => ({ vr: 'US', Value: [v] });
const ur = (v: string) => ({ vr: 'UR', Value: [v] });
/**
 * Error Comment (0000,0902, as in the DIMSE response) naming the problem. Its VR is LO (64 characters) but the whole
 * detail is kept: cut, "data set SOP Instance UID 1.9.999… differs from the announced 1.2.999…" no longer says what is
 * wrong. The quarantine keeps the same text.
 */
const comment = (text: string) => ({ vr: 'LO', Value: [text] });

export interface InstanceUrls {
  study(studyUid: string): string;
  instance(studyUid: string, seriesUid: string, sopUid: string): string;
}

/**
 * The response for the parts in request order. 200: every instance stored without warning; 202: some stored, with
 * warnings or failures; 409: none stored. The caller answers 400 for a request with no part at all.
 */
export function storeInstancesResponse(results: readonly PartResult[], urls: InstanceUrls, targetStudy?: string): StoreInstancesResponse {
  const referenced: DicomJson[] = [];
  const failed: DicomJson[] = [];
  const others: DicomJson[] = [];
  const studies = new Set<string>();
  let warnings = 0;
  for (const r of results) {
    if (r.kind === 'other') {
      others.push({ '00000902': comment(r.comment), '00081197': us(r.reason) });
      continue;
    }
    const ids = { '00081150': ui(r.sopClassUid), '00081155': ui(r.sopInstanceUid) };
    if (r.kind === 'failed') {
      failed.push({ ...ids, '00000902': comment(r.comment), '00081197': us(r.reason) });
      continue;
    }
    const o = r.outcome;
    if (o.kind === 'rejected') {
      failed.push({ ...ids, '00000902': comment(o.detail), '00081197': us(o.reason === 'mismatch' ? FAILURE_REASON.doesNotMatch : FAILURE_REASON.cannotUnderstand) });
      continue;
    }
    const held = o.kind === 'conflict' ? o.existing : o.instance;
    studies.add(held.studyInstanceUid);
    const item: DicomJson = { ...ids, '00081190': ur(urls.instance(held.studyInstanceUid, held.seriesInstanceUid, held.sopInstanceUid)) };
    if (o.kind === 'conflict') {
      warnings++;
      item['00000902'] = comment('SOP Instance UID held by other content; quarantined');
      item['00081196'] = us(WARNING_KEPT_FIRST);
    }
    referenced.push(item);
  }
  const body: DicomJson = {};
  const study = targetStudy ?? (studies.size === 1 ? [...studies][0] : undefined);
  if (study !== undefined && referenced.length > 0) body['00081190'] = ur(urls.study(study));
  if (failed.length > 0) body['00081198'] = { vr: 'SQ', Value: failed };
  if (referenced.length > 0) body['00081199'] = { vr: 'SQ', Value: referenced };
  if (others.length > 0) body['0008119A'] = { vr: 'SQ', Value: others };
  const status = referenced.length === 0 ? 409 : failed.length + others.length + warnings > 0 ? 202 : 200;
  return { status, body };
}
