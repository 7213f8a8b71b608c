-- 003: searches by reference sorted by _lastUpdated (the default sort: worklists such as
-- Task?owner=…&status=…&_sort=-_lastUpdated) read the referring resources newest first straight from the index and
-- stop after one page, instead of visiting every resource that refers to the target and sorting them all.
-- Each reference row carries its resource's last_updated (rewritten with the index rows on every write); the new
-- index replaces sp_reference_target_idx (same leading key columns, so reverse lookups and _has still use it).
ALTER TABLE sp_reference ADD COLUMN last_updated timestamptz;
UPDATE sp_reference x SET last_updated = r.last_updated
  FROM resource r WHERE r.resource_type = x.resource_type AND r.id = x.resource_id;
DELETE FROM sp_reference WHERE last_updated IS NULL; -- rows of no resource (none expected)
ALTER TABLE sp_reference ALTER COLUMN last_updated SET NOT NULL;
CREATE INDEX sp_reference_target_updated_idx
  ON sp_reference (resource_type, code, target_id, last_updated DESC, resource_id COLLATE "C") INCLUDE (target_type);
DROP INDEX sp_reference_target_idx;
