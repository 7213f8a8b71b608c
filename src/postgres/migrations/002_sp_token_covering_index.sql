-- 002: token predicates are checked per candidate resource (EXISTS … resource_id = r.id AND code = … AND value = …).
-- Covering value and system lets PostgreSQL answer that probe from the index (index-only scan) instead of one heap
-- fetch per candidate; it replaces sp_token_res_idx (same key columns). Measured in bench/RESULTS.md (hot Task search).
CREATE INDEX sp_token_res_value_idx ON sp_token (resource_type, resource_id, code) INCLUDE (value, system);
DROP INDEX sp_token_res_idx;
