-- 005: DICOM instances received (PS3.4 Annex B storage), indexed with their precomputed DICOM JSON metadata
-- (PS3.18 F.2, no bulk data) so that QIDO-RS / WADO-RS metadata never re-read files; and the quarantine of the
-- objects not indexed (conflicting duplicates, unparseable or mismatching data sets), kept with their raw bytes.
-- (Numbered 005, not 004: 004 is left to the foundation work in progress; versions need not be contiguous.)
CREATE TABLE dicom_instance (
  sop_instance_uid     text PRIMARY KEY,
  sop_class_uid        text NOT NULL,
  study_instance_uid   text NOT NULL,
  series_instance_uid  text NOT NULL,
  transfer_syntax_uid  text NOT NULL,
  blob_key             text NOT NULL,
  blob_size            bigint NOT NULL,
  patient_id           text,
  issuer_of_patient_id text,
  accession_number     text,
  metadata             jsonb NOT NULL,
  calling_ae           text NOT NULL,
  called_ae            text NOT NULL,
  remote_address       text,
  received_at          timestamptz NOT NULL
);
CREATE INDEX dicom_instance_study_idx ON dicom_instance (study_instance_uid, series_instance_uid, sop_instance_uid COLLATE "C");
CREATE INDEX dicom_instance_patient_idx ON dicom_instance (patient_id, issuer_of_patient_id);
CREATE INDEX dicom_instance_accession_idx ON dicom_instance (accession_number) WHERE accession_number IS NOT NULL;

CREATE TABLE dicom_quarantine (
  id                  text PRIMARY KEY,
  reason              text NOT NULL CHECK (reason IN ('conflict', 'unparseable', 'mismatch')),
  detail              text NOT NULL,
  sop_instance_uid    text,
  sop_class_uid       text,
  transfer_syntax_uid text,
  blob_key            text NOT NULL,
  blob_size           bigint NOT NULL,
  calling_ae          text NOT NULL,
  called_ae           text NOT NULL,
  remote_address      text,
  received_at         timestamptz NOT NULL,
  UNIQUE (blob_key, reason)
);
CREATE INDEX dicom_quarantine_received_idx ON dicom_quarantine (received_at DESC);
