// Instance index on PostgreSQL/PGlite (tables of migrations 005 and 006): index rows, quarantine and jobs in one transaction.
import { randomUUID } from 'node:crypto';
import type { DicomJson } from '../imaging/dicom-json.js';
import type { IndexedInstance, InstanceIndex, InstanceIndexTx, QuarantinedObject, QuarantineReason } from '../store/instance-index.js';
import { instanceQuerySql, type QueryMatchRow, toQueryMatch } from './instance-query-sql.js';
import { createPostgresJobQueue } from './postgres-job-queue.js';
import { insertInstanceSql, studyQuerySql } from './study-query-sql.js';
import type { SqlClient } from './sql-client.js';

interface InstanceRow {
  sop_instance_uid: string; sop_class_uid: string; study_instance_uid: string; series_instance_uid: string;
  transfer_syntax_uid: string; blob_key: string; blob_size: number; patient_id: string | null;
  issuer_of_patient_id: string | null; accession_number: string | null; metadata: DicomJson | string;
  calling_ae: string; called_ae: string; remote_address: string | null; received_at: Date | string;
}

interface QuarantineRow {
  id: string; reason: QuarantineReason; detail: string; sop_instance_uid: string | null; sop_class_uid: string | null;
  transfer_syntax_uid: string | null; blob_key: string; blob_size: number; calling_ae: string; called_ae: string;
  remote_address: string | null; received_at: Date | string; replayed_at: Date | string | null; replay_outcome: string | null;
}

const iso = (v: Date | string): string => new Date(v).toISOString();
const opt = (v: string | null): string | undefined => v ?? undefined;

function toInstance(r: InstanceRow): IndexedInstance {
  return {
    sopInstanceUid: r.sop_instance_uid, sopClassUid: r.sop_class_uid, studyInstanceUid: r.study_instance_uid,
    seriesInstanceUid: r.series_instance_uid, transferSyntaxUid: r.transfer_syntax_uid, blobKey: r.blob_key,
    blobSize: Number(r.blob_size), patientId: opt(r.patient_id), issuerOfPatientId: opt(r.issuer_of_patient_id),
    accessionNumber: opt(r.accession_number), metadata: typeof r.metadata === 'string' ? JSON.parse(r.metadata) as DicomJson : r.metadata,
    callingAe: r.calling_ae, calledAe: r.called_ae, remoteAddress: opt(r.remote_address), receivedAt: iso(r.received_at),
  };
}

function toQuarantined(r: QuarantineRow): QuarantinedObject {
  return {
    id: r.id, reason: r.reason, detail: r.detail, sopInstanceUid: opt(r.sop_instance_uid), sopClassUid: opt(r.sop_class_uid),
    transferSyntaxUid: opt(r.transfer_syntax_uid), blobKey: r.blob_key, blobSize: Number(r.blob_size),
    callingAe: r.calling_ae, calledAe: r.called_ae, remoteAddress: opt(r.remote_address), receivedAt: iso(r.received_at),
    ...(r.replayed_at !== null ? { replayedAt: iso(r.replayed_at), replayOutcome: r.replay_outcome ?? '' } : {}),
  };
}

const INSTANCE_COLUMNS = `sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid, transfer_syntax_uid,
  blob_key, blob_size, patient_id, issuer_of_patient_id, accession_number, metadata, calling_ae, called_ae,
  remote_address, received_at`;

/** The instance insert that also counts the instance into its series and study (built once). */
const INSERT = insertInstanceSql(INSTANCE_COLUMNS);

function txOn(db: SqlClient): InstanceIndexTx {
  return {
    jobs: createPostgresJobQueue(db),
    async insert(i) {
      // ON CONFLICT waits for a concurrent inserter of the same UID to commit, then reads its row (READ COMMITTED).
      const inserted = await db.query(INSERT.sql,
        [i.sopInstanceUid, i.sopClassUid, i.studyInstanceUid, i.seriesInstanceUid, i.transferSyntaxUid, i.blobKey,
          i.blobSize, i.patientId ?? null, i.issuerOfPatientId ?? null, i.accessionNumber ?? null,
          JSON.stringify(i.metadata), i.callingAe, i.calledAe, i.remoteAddress ?? null, i.receivedAt, ...INSERT.params]);
      if (inserted.length > 0) return { kind: 'inserted', instance: i };
      const [row] = await db.query<InstanceRow>(`SELECT ${INSTANCE_COLUMNS} FROM dicom_instance WHERE sop_instance_uid = $1`, [i.sopInstanceUid]);
      return { kind: 'exists', existing: toInstance(row) };
    },
    async quarantine(q) {
      const rows = await db.query<QuarantineRow>(
        `INSERT INTO dicom_quarantine (id, reason, detail, sop_instance_uid, sop_class_uid, transfer_syntax_uid, blob_key,
           blob_size, calling_ae, called_ae, remote_address, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (blob_key, reason) DO NOTHING RETURNING *`,
        [randomUUID(), q.reason, q.detail, q.sopInstanceUid ?? null, q.sopClassUid ?? null, q.transferSyntaxUid ?? null,
          q.blobKey, q.blobSize, q.callingAe, q.calledAe, q.remoteAddress ?? null, q.receivedAt]);
      if (rows.length > 0) return toQuarantined(rows[0]);
      const [same] = await db.query<QuarantineRow>('SELECT * FROM dicom_quarantine WHERE blob_key = $1 AND reason = $2', [q.blobKey, q.reason]);
      return toQuarantined(same);
    },
    async markReplayed(id, replay) {
      const rows = await db.query<QuarantineRow>(
        'UPDATE dicom_quarantine SET replayed_at = $2, replay_outcome = $3 WHERE id = $1 RETURNING *', [id, replay.at, replay.outcome]);
      return rows.length > 0 ? toQuarantined(rows[0]) : undefined;
    },
  };
}

/** The index over `db` (migrations applied). Its transactions also carry the job queue of the same database. */
export function createPostgresInstanceIndex(db: SqlClient): InstanceIndex {
  return {
    transaction: (fn) => db.transaction((tx) => fn(txOn(tx))),
    async get(uid) {
      const [row] = await db.query<InstanceRow>(`SELECT ${INSTANCE_COLUMNS} FROM dicom_instance WHERE sop_instance_uid = $1`, [uid]);
      return row ? toInstance(row) : undefined;
    },
    async listStudy(studyUid) {
      const rows = await db.query<InstanceRow>(
        `SELECT ${INSTANCE_COLUMNS} FROM dicom_instance WHERE study_instance_uid = $1 ORDER BY sop_instance_uid COLLATE "C"`, [studyUid]);
      return rows.map(toInstance);
    },
    async studyMetadata(studyUid, seriesUid) {
      const rows = await db.query<{ metadata: string }>(
        `SELECT metadata::text AS metadata FROM dicom_instance WHERE study_instance_uid = $1${seriesUid === undefined ? '' : ' AND series_instance_uid = $2'}
         ORDER BY sop_instance_uid COLLATE "C"`, seriesUid === undefined ? [studyUid] : [studyUid, seriesUid]);
      return rows.map((r) => r.metadata);
    },
    async query(q) {
      const { sql, params } = studyQuerySql(q) ?? instanceQuerySql(q);
      const rows = await db.query<QueryMatchRow>(sql, params);
      return rows.map(toQueryMatch);
    },
    async listQuarantine(options) {
      const rows = await db.query<QuarantineRow>(
        `SELECT * FROM dicom_quarantine WHERE ($3::text IS NULL OR reason = $3)
         ORDER BY received_at DESC, id COLLATE "C" LIMIT $1 OFFSET $2`,
        [options?.limit ?? 100, options?.offset ?? 0, options?.reason ?? null]);
      return rows.map(toQuarantined);
    },
    async getQuarantined(id) {
      const [row] = await db.query<QuarantineRow>('SELECT * FROM dicom_quarantine WHERE id = $1', [id]);
      return row ? toQuarantined(row) : undefined;
    },
  };
}
