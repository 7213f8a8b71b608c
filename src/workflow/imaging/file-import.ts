// DICOM PS3.10 file import (media such as a CD-ROM file set, §8; a folder or a zip of Part 10 files): each file goes
// through the store service as it is read, and the import keeps a summary of what became of every file.
import { Part10FormatError, readPart10Stream } from '../../imaging/part10-stream.js';
import type { InstanceSource } from '../../store/instance-index.js';
import type { AuditContext } from '../audit.js';
import type { InstanceStore, StoreOutcome } from './instance-store.js';

/** The calling AE title recorded as the source of imported instances (InstanceSource.callingAe). */
export const IMPORT_CALLING_AE = 'IMPORT';
/** PS3.4 Annex F.2 Media Storage Directory Storage: a DICOMDIR, a directory of the file set, not an instance. */
export const MEDIA_STORAGE_DIRECTORY_SOP_CLASS = '1.2.840.10008.1.3.10';
/** Each list of problems in a summary keeps at most this many files (the counters stay exact). */
export const SUMMARY_LIST_LIMIT = 1000;

export interface FileProblem {
  readonly file: string;
  readonly reason: string;
  readonly sopInstanceUid?: string;
}

export interface ImportSummary {
  /** Files (zip entries) examined; folders are not counted. */
  files: number;
  instances: { stored: number; alreadyPresent: number; conflicts: number; failed: number };
  /** `nonDicom`: not a DICOM Part 10 file; `other`: a DICOMDIR, a nested archive, an entry with an unsafe name… */
  skipped: { nonDicom: number; other: number };
  /** Studies of the instances stored or already present, with how many of this import's instances each holds. */
  studies: { studyInstanceUid: string; instances: number }[];
  /** SOP Instance UID already held by other content: the first is kept, the newcomer is quarantined. */
  conflicts: FileProblem[];
  failures: FileProblem[];
  skippedFiles: FileProblem[];
  /** Set when a list above was cut at SUMMARY_LIST_LIMIT. */
  truncated?: boolean;
}

export function emptySummary(): ImportSummary {
  return {
    files: 0, instances: { stored: 0, alreadyPresent: 0, conflicts: 0, failed: 0 }, skipped: { nonDicom: 0, other: 0 },
    studies: [], conflicts: [], failures: [], skippedFiles: [],
  };
}

function push(s: ImportSummary, list: FileProblem[], problem: FileProblem): void {
  if (list.length < SUMMARY_LIST_LIMIT) list.push(problem);
  else s.truncated = true;
}

function countStudy(s: ImportSummary, studyInstanceUid: string, n = 1): void {
  const found = s.studies.find((x) => x.studyInstanceUid === studyInstanceUid);
  if (found) found.instances += n;
  else s.studies.push({ studyInstanceUid, instances: n });
}

/** Adds `b` into `a` (the CLI adds up the summaries of the files it sends one by one). */
export function mergeSummary(a: ImportSummary, b: ImportSummary): ImportSummary {
  a.files += b.files;
  for (const k of ['stored', 'alreadyPresent', 'conflicts', 'failed'] as const) a.instances[k] += b.instances[k];
  a.skipped.nonDicom += b.skipped.nonDicom;
  a.skipped.other += b.skipped.other;
  for (const st of b.studies) countStudy(a, st.studyInstanceUid, st.instances);
  for (const p of b.conflicts) push(a, a.conflicts, p);
  for (const p of b.failures) push(a, a.failures, p);
  for (const p of b.skippedFiles) push(a, a.skippedFiles, p);
  if (b.truncated) a.truncated = true;
  return a;
}

/** Records the outcome of one file; the summary is the import's only state. */
export class ImportRecorder {
  readonly summary = emptySummary();

  skip(file: string, reason: string, nonDicom: boolean): void {
    this.summary.files++;
    if (nonDicom) this.summary.skipped.nonDicom++;
    else this.summary.skipped.other++;
    push(this.summary, this.summary.skippedFiles, { file, reason });
  }

  fail(file: string, reason: string, sopInstanceUid?: string): void {
    this.summary.files++;
    this.summary.instances.failed++;
    push(this.summary, this.summary.failures, { file, reason, ...(sopInstanceUid ? { sopInstanceUid } : {}) });
  }

  stored(file: string, outcome: StoreOutcome): void {
    const s = this.summary;
    s.files++;
    switch (outcome.kind) {
      case 'stored':
        s.instances.stored++;
        countStudy(s, outcome.instance.studyInstanceUid);
        return;
      case 'identical':
        s.instances.alreadyPresent++;
        countStudy(s, outcome.instance.studyInstanceUid);
        return;
      case 'conflict':
        s.instances.conflicts++;
        push(s, s.conflicts, {
          file, sopInstanceUid: outcome.existing.sopInstanceUid,
          reason: 'SOP Instance UID already stored with other content: the first is kept, this file is quarantined',
        });
        return;
      case 'rejected':
        s.instances.failed++;
        push(s, s.failures, {
          file, reason: `${outcome.reason === 'unparseable' ? 'unreadable DICOM' : 'inconsistent UIDs'}: ${outcome.detail} (quarantined)`,
          ...(outcome.quarantined.sopInstanceUid ? { sopInstanceUid: outcome.quarantined.sopInstanceUid } : {}),
        });
    }
  }
}

/** The chunks of `source`, keeping a copy of those read until `stop()` (the few kilobytes of a meta group). */
function recording(source: AsyncIterable<Uint8Array>) {
  const it = source[Symbol.asyncIterator]();
  let kept: Buffer[] | undefined = [];
  async function* rest(): AsyncGenerator<Uint8Array> {
    for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
  }
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (let next = await it.next(); !next.done; next = await it.next()) {
      kept?.push(Buffer.from(next.value)); // a copy: sources may reuse their buffers
      yield next.value;
    }
  }
  return {
    chunks: chunks(),
    stop: () => { kept = undefined; },
    /** Every byte as received: those read so far, then the rest of the source. */
    async *whole(): AsyncGenerator<Uint8Array> {
      yield* kept ?? [];
      yield* rest();
    },
  };
}

/**
 * Imports one file: reads its File Meta Information, skips what is not a Part 10 instance (non-DICOM, a DICOMDIR),
 * streams the data set to the store service and records the outcome; resolves to whether the file was consumed. A
 * Part 10 file whose meta group is unusable goes to the quarantine as received. A skipped file is left partly read:
 * the caller discards the rest of its stream. `actor` is audited as the sender (the authenticated user). Errors of the
 * store itself (disk full…) are thrown: they are not a property of the file.
 */
export async function importFile(store: InstanceStore, rec: ImportRecorder, file: string, bytes: AsyncIterable<Uint8Array>, source: InstanceSource, actor?: AuditContext): Promise<boolean> {
  const input = recording(bytes);
  let part10;
  try {
    part10 = await readPart10Stream(input.chunks);
    input.stop();
  } catch (e) {
    if (!(e instanceof Part10FormatError)) throw e;
    if (e.kind === 'not-part10') {
      rec.skip(file, e.message, true);
      return false;
    }
    const rejected = await store.quarantine({ content: input.whole(), detail: e.message, source, ...(actor ? { actor } : {}) });
    rec.fail(file, `${rejected.detail} (quarantined)`);
    return true;
  }
  const { meta } = part10;
  if (meta.sopClassUid === MEDIA_STORAGE_DIRECTORY_SOP_CLASS) {
    rec.skip(file, 'DICOMDIR: a directory of the file set, not an instance', false);
    return false;
  }
  const outcome = await store.store({
    sopClassUid: meta.sopClassUid, sopInstanceUid: meta.sopInstanceUid, transferSyntaxUid: meta.transferSyntaxUid,
    dataset: part10.dataset, source, ...(actor ? { actor } : {}),
  });
  rec.stored(file, outcome);
  return true;
}
