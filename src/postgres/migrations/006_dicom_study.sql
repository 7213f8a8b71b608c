-- 006: study and series entities of the instance index (PS3.4 C.6.2.1 Study Root levels), kept in step with
-- dicom_instance in the same statement as each insert, so that study-level C-FIND / QIDO-RS walk one row per study
-- (100,000 studies) instead of grouping every instance (1,000,000). A study row carries the study- and patient-level
-- attributes of its first instance (SOP Instance UID order, as the query answers), the counts and the modalities and
-- SOP classes of all its instances. `inconsistent` marks a study whose instances disagree on one of those attributes:
-- queries then match it instance by instance, so the answer is the same as grouping dicom_instance.
-- Columns keep the database's collation (as dicom_instance's, so that joins compare like with like); the indexes
-- the queries walk in order are in "C" (UIDs, dates), and LIKE prefixes on names use text_pattern_ops.
CREATE TABLE dicom_series (
  study_instance_uid  text NOT NULL,
  series_instance_uid text NOT NULL,
  num_instances       integer NOT NULL,
  PRIMARY KEY (study_instance_uid, series_instance_uid)
);

CREATE TABLE dicom_study (
  study_instance_uid   text PRIMARY KEY,
  first_instance       text NOT NULL,
  num_series           integer NOT NULL,
  num_instances        integer NOT NULL,
  modalities           text[] NOT NULL,
  sop_classes          text[] NOT NULL,
  inconsistent         boolean NOT NULL DEFAULT false,
  patient_id           text,
  issuer_of_patient_id text,
  patient_name         text,
  patient_birth_date   text,
  patient_sex          text,
  study_date           text,
  study_time           text,
  accession_number     text,
  study_id             text,
  study_description    text,
  referring_physician  text
);
CREATE UNIQUE INDEX dicom_study_uid_c_idx ON dicom_study (study_instance_uid COLLATE "C");
CREATE INDEX dicom_study_patient_idx ON dicom_study (patient_id, issuer_of_patient_id);
CREATE INDEX dicom_study_name_idx ON dicom_study (patient_name text_pattern_ops);
CREATE INDEX dicom_study_date_idx ON dicom_study (study_date COLLATE "C");
CREATE INDEX dicom_study_accession_idx ON dicom_study (accession_number) WHERE accession_number IS NOT NULL;
CREATE INDEX dicom_study_inconsistent_idx ON dicom_study (study_instance_uid COLLATE "C") WHERE inconsistent;

-- Instances indexed before this migration.
INSERT INTO dicom_series (study_instance_uid, series_instance_uid, num_instances)
SELECT study_instance_uid, series_instance_uid, count(*) FROM dicom_instance GROUP BY study_instance_uid, series_instance_uid;

-- (The translate() arguments are foldPersonName's table, src/imaging/dicom-matching.ts, as instance-query-sql.ts builds them.)
WITH attrs AS (
  SELECT study_instance_uid, sop_instance_uid COLLATE "C" AS sop_instance_uid, sop_class_uid,
    NULLIF(btrim(metadata->'00080060'->'Value'->>0), '') AS modality,
    patient_id, issuer_of_patient_id,
    translate(NULLIF(btrim(metadata->'00100010'->'Value'->0->>'Alphabetic'), ''), 'ÀÁÂÃÄÅàáâãäåÇçÈÉÊËèéêëÌÍÎÏìíîïÑñÒÓÔÕÖØòóôõöøÙÚÛÜùúûüÝýÿŸŒœÆæABCDEFGHIJKLMNOPQRSTUVWXYZ', 'aaaaaaaaaaaacceeeeeeeeiiiiiiiinnoooooooooooouuuuuuuuyyyyooaaabcdefghijklmnopqrstuvwxyz') AS patient_name,
    NULLIF(btrim(metadata->'00100030'->'Value'->>0), '') AS patient_birth_date,
    NULLIF(btrim(metadata->'00100040'->'Value'->>0), '') AS patient_sex,
    NULLIF(btrim(metadata->'00080020'->'Value'->>0), '') AS study_date,
    NULLIF(btrim(metadata->'00080030'->'Value'->>0), '') AS study_time,
    accession_number,
    NULLIF(btrim(metadata->'00200010'->'Value'->>0), '') AS study_id,
    NULLIF(btrim(metadata->'00081030'->'Value'->>0), '') AS study_description,
    translate(NULLIF(btrim(metadata->'00080090'->'Value'->0->>'Alphabetic'), ''), 'ÀÁÂÃÄÅàáâãäåÇçÈÉÊËèéêëÌÍÎÏìíîïÑñÒÓÔÕÖØòóôõöøÙÚÛÜùúûüÝýÿŸŒœÆæABCDEFGHIJKLMNOPQRSTUVWXYZ', 'aaaaaaaaaaaacceeeeeeeeiiiiiiiinnoooooooooooouuuuuuuuyyyyooaaabcdefghijklmnopqrstuvwxyz') AS referring_physician
  FROM dicom_instance
), firsts AS (
  SELECT DISTINCT ON (study_instance_uid) * FROM attrs ORDER BY study_instance_uid, sop_instance_uid
), agg AS (
  SELECT study_instance_uid, count(*) AS n,
    count(DISTINCT ROW(patient_id, issuer_of_patient_id, patient_name, patient_birth_date, patient_sex, study_date, study_time,
      accession_number, study_id, study_description, referring_physician)) AS variants,
    coalesce(array_agg(DISTINCT modality ORDER BY modality) FILTER (WHERE modality IS NOT NULL), '{}') AS modalities,
    array_agg(DISTINCT sop_class_uid ORDER BY sop_class_uid) AS sop_classes
  FROM attrs GROUP BY study_instance_uid
)
INSERT INTO dicom_study (study_instance_uid, first_instance, num_series, num_instances, modalities, sop_classes, inconsistent,
  patient_id, issuer_of_patient_id, patient_name, patient_birth_date, patient_sex, study_date, study_time, accession_number,
  study_id, study_description, referring_physician)
SELECT f.study_instance_uid, f.sop_instance_uid,
  (SELECT count(*) FROM dicom_series s WHERE s.study_instance_uid = f.study_instance_uid), a.n, a.modalities, a.sop_classes,
  a.variants > 1, f.patient_id, f.issuer_of_patient_id, f.patient_name, f.patient_birth_date, f.patient_sex, f.study_date,
  f.study_time, f.accession_number, f.study_id, f.study_description, f.referring_physician
FROM firsts f JOIN agg a USING (study_instance_uid);
