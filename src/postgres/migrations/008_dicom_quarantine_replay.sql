-- 008: the operator's replay of a quarantined DICOM object through the store service (when, and what came of it),
-- and the quarantine listed by reason, newest first.
ALTER TABLE dicom_quarantine ADD COLUMN replayed_at timestamptz;
ALTER TABLE dicom_quarantine ADD COLUMN replay_outcome text;
CREATE INDEX dicom_quarantine_reason_received_idx ON dicom_quarantine (reason, received_at DESC);
