-- News ingestion state shared by every instance: the scheduler lease, per-source fetch state
-- (HTTP validators and back-off) and the mediastack request budget. Times are Unix seconds (UTC).
-- VARCHAR, not TEXT, so that every column maps to a string through sqlx's Any driver.

-- One row per job. Whoever holds an unexpired lease is the only instance that runs the job;
-- last_run_at makes "one run per interval" hold even across a change of holder.
CREATE TABLE ingest_leases (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    holder VARCHAR(128) NOT NULL,
    expires_at BIGINT NOT NULL,
    last_run_at BIGINT NOT NULL,
    version BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per source; source_key is the SHA-256 (hex) of the source's id, so long feed URLs
-- fit a primary key on every engine.
CREATE TABLE ingest_sources (
    source_key CHAR(64) NOT NULL PRIMARY KEY,
    source VARCHAR(2048) NOT NULL,
    etag VARCHAR(512) NULL,
    last_modified VARCHAR(64) NULL,
    blocked_until BIGINT NOT NULL,
    blocked_reason VARCHAR(300) NULL,
    updated_at BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Requests spent per source and calendar month (UTC), period = year * 100 + month.
CREATE TABLE ingest_usage (
    source VARCHAR(64) NOT NULL,
    period BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (source, period)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
