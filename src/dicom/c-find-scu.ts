// PS3.4 C.4.1 C-FIND SCU, Study Root Query/Retrieve Information Model - FIND (C.6.2.1) at STUDY level: the kit's
// criteria as matching keys, the study return keys as universal matching, one match per Pending response.
import dcmjs from 'dcmjs';
import dimse from 'dcmjs-dimse';
import type { DicomJson } from '../imaging/dicom-json.js';
import { STUDY_QUERY_TAGS, STUDY_RETURN_KEYS, type StudyQuery } from '../workflow/imaging/pacs-port.js';
import { identifierJson } from './c-find.js';
import { hex4, peerError, runAssociation, statusClass, type DimsePeer, type ScuOptions } from './dimse-scu.js';

const { CFindRequest } = dimse.requests;

const nonAscii = (s: string) => /[^\x20-\x7e]/.test(s);

/** The C-FIND identifier (naturalised, as dcmjs-dimse sends it) of a study-level query. */
export function studyFindIdentifier(query: StudyQuery): Record<string, unknown> {
  const json: DicomJson = {};
  for (const [tag, vr] of Object.entries(STUDY_RETURN_KEYS)) json[tag] = { vr };
  for (const [key, tag] of Object.entries(STUDY_QUERY_TAGS)) {
    const value = query[key as keyof typeof STUDY_QUERY_TAGS];
    if (value === undefined || value === '') continue;
    json[tag] = { vr: STUDY_RETURN_KEYS[tag], Value: [STUDY_RETURN_KEYS[tag] === 'PN' ? { Alphabetic: value } : value] };
  }
  const { _vrMap: _ignored, ...natural } = dcmjs.data.DicomMetaDictionary.naturalizeDataset(json) as Record<string, unknown>;
  // Universal matching (a zero-length value) for every return key without a value.
  for (const [k, v] of Object.entries(natural)) if (v === null || v === undefined) natural[k] = '';
  // dcmjs-dimse writes strings as UTF-8: say so when a value is not plain ASCII (PS3.3 C.12.1.1.2).
  if (Object.values(query).some((v) => typeof v === 'string' && nonAscii(v))) natural.SpecificCharacterSet = 'ISO_IR 192';
  return natural;
}

/**
 * The studies of `peer` matching `query` (Study Root, STUDY level), as DICOM JSON. Rejects with a 502
 * OperationOutcomeError when the peer cannot be reached, refuses, or ends the query with a failure status.
 */
export async function findStudies(peer: DimsePeer, options: ScuOptions, query: StudyQuery): Promise<DicomJson[]> {
  const request = CFindRequest.createStudyFindRequest(studyFindIdentifier(query));
  const matches: DicomJson[] = [];
  request.on('response', (response: InstanceType<typeof dimse.responses.CFindResponse>) => {
    const dataset = response.getDataset();
    if (statusClass(response.getStatus()) === 'pending' && dataset) matches.push(identifierJson(dataset.getElements()));
  });
  const [final] = await runAssociation<InstanceType<typeof dimse.responses.CFindResponse>>(peer, options, [request]);
  const status = final.getStatus();
  if (statusClass(status) === 'failure') {
    const comment = final.getErrorComment?.();
    throw peerError(peer, `C-FIND failed with status ${hex4(status)}${comment ? ` (${comment})` : ''}`, false);
  }
  return query.limit !== undefined ? matches.slice(0, query.limit) : matches;
}
