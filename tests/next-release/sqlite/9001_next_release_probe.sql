-- Built only with the test feature `next-release`: the expand-only migration of a newer
-- release, so tests/rollback.rs has two builds of newsread and can run the older one on a
-- database the newer one migrated.
CREATE TABLE next_release_probe (
    id BIGINT NOT NULL PRIMARY KEY
);
INSERT INTO schema_releases (version, oldest_release) VALUES (9001, 7);
