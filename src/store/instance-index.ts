// Instance index port: the DICOM instances held (PS3.4 Annex B storage), their precomputed PS3.18 F.2 metadata, and
// the quarantine of objects not indexed (conflicting duplicates, unparseable data). Written in one unit of work with jobs.
import type { DicomJson, InstanceAttributes } from '../imaging/dicom-json.js';
import type { AttributeFilter } from '../imaging/dicom-matching.js';
import type { JobQueue } from './job-queue.js';

/** Who sent an object, as the protocol adapter saw it. */
export interface InstanceSource {
  /** Calling AE title (DIMSE) or another channel name (e.g. `STOW-RS`). */
  readonly callingAe: string;
  readonly calledAe: string;
  readonly remoteAddress?: string;
}

export interface IndexedInstance extends InstanceAttributes, InstanceSource {
  readonly transferSyntaxUid: string;
  /** Content address of the Part 10 file in the blob store. */
  readonly blobKey: string;
  readonly blobSize: number;
  /** DICOM JSON without bulk data (PS3.18 F.2), computed once at ingest. */
  readonly metadata: DicomJson;
  /** ISO 8601 instant. */
  readonly receivedAt: string;
}

export type QuarantineReason =
  /** Same SOP Instance UID as an indexed instance, different bytes: the first one is kept. */
  | 'conflict'
  /** The data set could not be parsed, or lacks a UID it must have. */
  | 'unparseable'
  /** The data set's SOP Class / Instance UID differs from the one the command announced. */
  | 'mismatch';

export interface QuarantinedObject extends InstanceSource {
  readonly id: string;
  readonly reason: QuarantineReason;
  readonly detail: string;
  /** As announced by the sender (the data set may not say). */
  readonly sopInstanceUid?: string;
  readonly sopClassUid?: string;
  readonly transferSyntaxUid?: string;
  /** The raw bytes as received, as a Part 10 file. */
  readonly blobKey: string;
  readonly blobSize: number;
  readonly receivedAt: string;
  /** Set once an operator replayed the entry through the store service: when, and what came of it. */
  readonly replayedAt?: string;
  readonly replayOutcome?: string;
}

export type NewQuarantinedObject = Omit<QuarantinedObject, 'id' | 'replayedAt' | 'replayOutcome'>;

/** A page of the quarantine, newest first (then by id). */
export interface QuarantineListOptions {
  /** Default 100. */
  readonly limit?: number;
  readonly offset?: number;
  readonly reason?: QuarantineReason;
}

/** The result of offering an instance to the index. */
export type InsertResult =
  | { readonly kind: 'inserted'; readonly instance: IndexedInstance }
  /** The SOP Instance UID was already indexed (the caller compares the bytes). */
  | { readonly kind: 'exists'; readonly existing: IndexedInstance };

/** What a transaction of the index can do: index, quarantine, and enqueue jobs (audit) that commit with them. */
export interface InstanceIndexTx {
  /** Indexes the instance unless its SOP Instance UID is already indexed (then returns the one indexed). */
  insert(instance: IndexedInstance): Promise<InsertResult>;
  /** Records a quarantined object; the same bytes quarantined twice for the same reason give the first record. */
  quarantine(entry: NewQuarantinedObject): Promise<QuarantinedObject>;
  /** Records that an entry was replayed (the last replay wins); undefined when there is no such entry. */
  markReplayed(id: string, replay: { readonly at: string; readonly outcome: string }): Promise<QuarantinedObject | undefined>;
  readonly jobs: JobQueue;
}

/** PS3.4 C.6 query levels: the entities instances are grouped into. */
export type QueryLevel = 'PATIENT' | 'STUDY' | 'SERIES' | 'IMAGE';

/**
 * A search of the index (C-FIND, QIDO-RS): the entities at `level` having at least one instance that passes every
 * filter. Filters apply to the instances' metadata (the entity's own attributes are those of each of its instances);
 * a filter on Modality (0008,0060) at STUDY or PATIENT level thus finds the studies with a series of that modality.
 */
export interface IndexQuery {
  readonly level: QueryLevel;
  readonly filters: readonly AttributeFilter[];
  readonly limit?: number;
  readonly offset?: number;
}

/** One entity found, with what is computed over all its instances (PS3.4 C.3 "Number of … Related …" keys). */
export interface IndexQueryMatch {
  /** The metadata of the entity's first instance (in SOP Instance UID order): its attributes at this level and above. */
  readonly metadata: DicomJson;
  readonly studies: number;
  readonly series: number;
  readonly instances: number;
  /** Distinct Modality values of its instances, sorted. */
  readonly modalities: readonly string[];
  /** Distinct SOP Class UIDs of its instances, sorted. */
  readonly sopClasses: readonly string[];
}

export interface InstanceIndex {
  /** Runs `fn` atomically: its index rows, quarantine records and jobs are committed together or not at all. */
  transaction<T>(fn: (tx: InstanceIndexTx) => Promise<T>): Promise<T>;
  get(sopInstanceUid: string): Promise<IndexedInstance | undefined>;
  /** Instances of a study, in SOP Instance UID order. */
  listStudy(studyInstanceUid: string): Promise<IndexedInstance[]>;
  /**
   * The precomputed metadata of a study's instances (of one series when given), each as its DICOM JSON text, in SOP
   * Instance UID order: WADO-RS joins them into its response without parsing and re-serialising each instance.
   */
  studyMetadata(studyInstanceUid: string, seriesInstanceUid?: string): Promise<string[]>;
  /** Entities matching a query, in the order of their unique key (PatientID, or the UID of the level). */
  query(query: IndexQuery): Promise<IndexQueryMatch[]>;
  /** Quarantined objects, newest first. */
  listQuarantine(options?: QuarantineListOptions): Promise<QuarantinedObject[]>;
  getQuarantined(id: string): Promise<QuarantinedObject | undefined>;
}
