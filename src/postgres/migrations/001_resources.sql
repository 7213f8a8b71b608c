-- 001: versioned FHIR resources, their history, search index tables and the durable job queue.
CREATE TABLE resource (
  resource_type text NOT NULL,
  id text NOT NULL,
  version_id integer NOT NULL,
  last_updated timestamptz NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  content jsonb,
  PRIMARY KEY (resource_type, id)
);
CREATE INDEX resource_updated_idx ON resource (resource_type, last_updated DESC) WHERE NOT deleted;

CREATE TABLE resource_history (
  resource_type text NOT NULL,
  id text NOT NULL,
  version_id integer NOT NULL,
  last_updated timestamptz NOT NULL,
  method text NOT NULL,
  content jsonb,
  PRIMARY KEY (resource_type, id, version_id)
);
CREATE INDEX resource_history_type_updated_idx ON resource_history (resource_type, last_updated);
CREATE INDEX resource_history_updated_idx ON resource_history (last_updated);

CREATE TABLE sp_token (
  resource_type text NOT NULL, resource_id text NOT NULL, code text NOT NULL,
  system text, value text, text text
);
CREATE INDEX sp_token_value_idx ON sp_token (resource_type, code, value, system, resource_id);
CREATE INDEX sp_token_text_idx ON sp_token (resource_type, code, text text_pattern_ops);
CREATE INDEX sp_token_res_idx ON sp_token (resource_type, resource_id, code);

CREATE TABLE sp_string (
  resource_type text NOT NULL, resource_id text NOT NULL, code text NOT NULL,
  value text NOT NULL, norm text NOT NULL
);
CREATE INDEX sp_string_norm_idx ON sp_string (resource_type, code, norm text_pattern_ops);
CREATE INDEX sp_string_res_idx ON sp_string (resource_type, resource_id, code);

CREATE TABLE sp_reference (
  resource_type text NOT NULL, resource_id text NOT NULL, code text NOT NULL,
  target_type text, target_id text, ref text NOT NULL
);
CREATE INDEX sp_reference_target_idx ON sp_reference (resource_type, code, target_id, target_type, resource_id);
CREATE INDEX sp_reference_res_idx ON sp_reference (resource_type, resource_id, code);
CREATE INDEX sp_reference_ref_idx ON sp_reference (resource_type, code, ref);

CREATE TABLE sp_date (
  resource_type text NOT NULL, resource_id text NOT NULL, code text NOT NULL,
  low double precision NOT NULL, high double precision NOT NULL
);
CREATE INDEX sp_date_idx ON sp_date (resource_type, code, low, high);
CREATE INDEX sp_date_res_idx ON sp_date (resource_type, resource_id, code);

CREATE TABLE sp_number (
  resource_type text NOT NULL, resource_id text NOT NULL, code text NOT NULL, value double precision NOT NULL
);
CREATE INDEX sp_number_idx ON sp_number (resource_type, code, value);
CREATE INDEX sp_number_res_idx ON sp_number (resource_type, resource_id, code);

CREATE TABLE sp_quantity (
  resource_type text NOT NULL, resource_id text NOT NULL, code text NOT NULL,
  value double precision NOT NULL, system text, unit text
);
CREATE INDEX sp_quantity_idx ON sp_quantity (resource_type, code, value);
CREATE INDEX sp_quantity_res_idx ON sp_quantity (resource_type, resource_id, code);

CREATE TABLE sp_uri (
  resource_type text NOT NULL, resource_id text NOT NULL, code text NOT NULL, value text NOT NULL
);
CREATE INDEX sp_uri_idx ON sp_uri (resource_type, code, value text_pattern_ops);
CREATE INDEX sp_uri_res_idx ON sp_uri (resource_type, resource_id, code);

CREATE TABLE job (
  seq bigserial PRIMARY KEY,
  id text NOT NULL UNIQUE,
  type text NOT NULL,
  payload jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending',
  attempts integer NOT NULL DEFAULT 0,
  run_at timestamptz NOT NULL,
  last_error text,
  ordering_key text,
  idempotency_key text UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_due_idx ON job (type, run_at) WHERE status = 'pending';
CREATE INDEX job_ordering_idx ON job (ordering_key, seq) WHERE status IN ('pending', 'running');
