// Migration 006 (dicom_study, dicom_series): the rows it builds from instances indexed before it are the rows the
// incremental insert keeps, and study-level queries walk the study table rather than grouping instances.
import { expect } from 'chai';
import type { DicomJson } from '../imaging/dicom-json.js';
import { filterOf } from '../imaging/dicom-matching.js';
import type { IndexedInstance } from '../store/instance-index.js';
import { listMigrations, migrate } from './migrations.js';
import { createPostgresInstanceIndex } from './postgres-instance-index.js';
import { createPgliteClient, type SqlClient } from './sql-client.js';
import { studyQuerySql } from './study-query-sql.js';

function instance(n: number, study: string, series: string, name: string, modality: string): IndexedInstance {
  const metadata: DicomJson = {
    '00080020': { vr: 'DA', Value: ['20250110'] }, '00080060': { vr: 'CS', Value: [modality] },
    '00081030': { vr: 'LO', Value: ['IRM  cérébrale '] }, '00100010': { vr: 'PN', Value: [{ Alphabetic: name }] },
    '00100030': { vr: 'DA', Value: ['19500101'] }, '00080090': { vr: 'PN', Value: [{ Alphabetic: 'Prescripteur^Évelyne' }] },
  };
  return {
    sopInstanceUid: `1.2.826.0.1.${n}`, sopClassUid: n % 2 ? '1.2.840.10008.5.1.4.1.1.4' : '1.2.840.10008.5.1.4.1.1.2',
    studyInstanceUid: study, seriesInstanceUid: series, transferSyntaxUid: '1.2.840.10008.1.2.1', blobKey: `sha256-${n}`,
    blobSize: 10, patientId: 'IPP-9', issuerOfPatientId: 'CHU', accessionNumber: `ACC-${study}`, metadata,
    callingAe: 'MODALITY', calledAe: 'TELEO', receivedAt: new Date('2025-01-10T10:00:00Z').toISOString(),
  };
}

const INSTANCES = [
  instance(1, '1.2.9.1', '1.2.9.1.1', 'LEFÈVRE^Hélène', 'MR'), instance(2, '1.2.9.1', '1.2.9.1.1', 'LEFÈVRE^Hélène', 'MR'),
  instance(3, '1.2.9.1', '1.2.9.1.2', 'LEFÈVRE^Hélène', 'CT'), instance(4, '1.2.9.2', '1.2.9.2.1', 'LEFÈVRE^Hélène', 'CT'),
  // Study 1.2.9.3 disagrees with itself on the patient's name.
  instance(6, '1.2.9.3', '1.2.9.3.1', 'MARTIN^Pierre', 'US'), instance(5, '1.2.9.3', '1.2.9.3.1', 'MARTIN^Paul', 'US'),
];

const dump = async (db: SqlClient): Promise<unknown[]> => [
  ...await db.query('SELECT * FROM dicom_study ORDER BY study_instance_uid'),
  ...await db.query('SELECT * FROM dicom_series ORDER BY study_instance_uid, series_instance_uid'),
];

describe('Study table (migration 006)', function () {
  this.timeout(120_000);

  it('builds from instances indexed before it the rows the incremental insert keeps', async () => {
    const incremental = await createPgliteClient();
    const migrated = await createPgliteClient();
    try {
      await migrate(incremental);
      const index = createPostgresInstanceIndex(incremental);
      for (const i of INSTANCES) await index.transaction((tx) => tx.insert(i));

      await migrate(migrated, listMigrations().filter((m) => m.version < 6));
      for (const i of INSTANCES) {
        await migrated.query(
          `INSERT INTO dicom_instance (sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid, transfer_syntax_uid,
             blob_key, blob_size, patient_id, issuer_of_patient_id, accession_number, metadata, calling_ae, called_ae, received_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14)`,
          [i.sopInstanceUid, i.sopClassUid, i.studyInstanceUid, i.seriesInstanceUid, i.transferSyntaxUid, i.blobKey, i.blobSize,
            i.patientId, i.issuerOfPatientId, i.accessionNumber, JSON.stringify(i.metadata), i.callingAe, i.calledAe, i.receivedAt]);
      }
      expect(await migrate(migrated, listMigrations().filter((m) => m.version <= 6))).to.deep.equal(['006_dicom_study.sql']);

      const rows = await dump(incremental);
      expect(rows).to.deep.equal(await dump(migrated));
      expect(rows[0]).to.deep.include({
        study_instance_uid: '1.2.9.1', first_instance: '1.2.826.0.1.1', num_series: 2, num_instances: 3, modalities: ['CT', 'MR'],
        patient_name: 'lefevre^helene', study_description: 'IRM  cérébrale', referring_physician: 'prescripteur^evelyne', inconsistent: false,
      });
      expect(rows[2]).to.deep.include({ study_instance_uid: '1.2.9.3', first_instance: '1.2.826.0.1.5', patient_name: 'martin^paul', inconsistent: true });
    } finally {
      await incremental.close();
      await migrated.close();
    }
  });

  it('answers study and patient queries on study attributes from the study table, others by grouping instances', () => {
    const name = filterOf('00100010', { vr: 'PN', Value: [{ Alphabetic: 'DUP*' }] });
    const modality = filterOf('00080060', { vr: 'CS', Value: ['CT'] });
    const sopClass = filterOf('00080016', { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.2'] });
    const seriesNumber = filterOf('00200011', { vr: 'IS', Value: ['3'] });
    const filters = (...fs: (typeof name)[]) => fs.filter((f) => f !== undefined);
    expect(studyQuerySql({ level: 'STUDY', filters: filters(name, modality), limit: 10 })?.sql).to.match(/FROM dicom_study s WHERE NOT s\.inconsistent/);
    expect(studyQuerySql({ level: 'PATIENT', filters: filters(name) })).to.not.equal(undefined);
    expect(studyQuerySql({ level: 'SERIES', filters: filters(name) })).to.equal(undefined);
    expect(studyQuerySql({ level: 'STUDY', filters: filters(seriesNumber) })).to.equal(undefined);
    expect(studyQuerySql({ level: 'STUDY', filters: filters(modality, sopClass) })).to.equal(undefined);
  });
});
