-- Which releases may run on this schema (expand/contract). From this migration on, every
-- migration adds one row: `oldest_release` is the newest migration version known to the
-- oldest release that still works on the schema once this migration is applied. An expand
-- migration (adds a table, a nullable column, an index) breaks no release and writes the
-- version before it; a contract migration (drops or renames what an older release still
-- uses) writes the version of the first release that no longer uses it. A release that
-- knows migrations up to K runs on a newer schema only if every row says K or less, so
-- release N-1 keeps serving on a database release N migrated, and a rollback is possible.
CREATE TABLE schema_releases (
    version BIGINT NOT NULL PRIMARY KEY,
    oldest_release BIGINT NOT NULL
);
INSERT INTO schema_releases (version, oldest_release) VALUES (7, 6);
