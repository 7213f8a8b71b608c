-- 009: the inbound message log (HL7 v2 and later channels): raw bytes kept before acknowledgement, outcome,
-- duplicates by (channel, sender, control id), dead letters (status 'rejected') listed newest first.
CREATE TABLE message_log (
  id bigserial PRIMARY KEY,
  channel text NOT NULL,
  partner text,
  sender text NOT NULL,
  control_id text NOT NULL,
  message_type text NOT NULL,
  received_at timestamptz NOT NULL,
  raw bytea NOT NULL,
  size integer NOT NULL,
  status text NOT NULL CHECK (status IN ('received', 'applied', 'rejected', 'duplicate')),
  error text,
  ack text,
  result jsonb,
  settled_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  duplicate_of bigint REFERENCES message_log (id),
  replay_of bigint REFERENCES message_log (id)
);
-- One live original per (channel, sender, control id): duplicates, rejected messages (a resend after a rejection is
-- a new attempt) and unreadable headers ('' control id) are not unique.
CREATE UNIQUE INDEX message_log_original_idx ON message_log (channel, sender, control_id)
  WHERE duplicate_of IS NULL AND control_id <> '' AND status <> 'rejected';
CREATE INDEX message_log_status_idx ON message_log (channel, status, id);
