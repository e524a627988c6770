-- News ingestion state shared by every instance: the scheduler lease, per-source fetch state
-- (HTTP validators and back-off) and the mediastack request budget. Times are Unix seconds (UTC).

-- One row per job. Whoever holds an unexpired lease is the only instance that runs the job;
-- last_run_at makes "one run per interval" hold even across a change of holder.
CREATE TABLE ingest_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_run_at BIGINT NOT NULL,
    version BIGINT NOT NULL
);

-- One row per source; source_key is the SHA-256 (hex) of the source's id, so long feed URLs
-- fit a primary key on every engine.
CREATE TABLE ingest_sources (
    source_key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    blocked_until BIGINT NOT NULL,
    blocked_reason TEXT,
    updated_at BIGINT NOT NULL
);

-- Requests spent per source and calendar month (UTC), period = year * 100 + month.
CREATE TABLE ingest_usage (
    source TEXT NOT NULL,
    period BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (source, period)
);
