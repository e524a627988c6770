-- Fixed-window counters for login and registration throttling, shared by every instance.
CREATE TABLE rate_limits (
    bucket VARCHAR(300) NOT NULL PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    KEY rate_limits_window (window_start)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
