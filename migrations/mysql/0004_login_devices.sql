-- Browsers that logged in successfully before (OWASP "device cookies"): their login attempts
-- are counted on their own, so failures from elsewhere cannot lock the owner out.
CREATE TABLE login_devices (
    token_hash CHAR(64) NOT NULL PRIMARY KEY,
    user_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    KEY login_devices_user (user_id),
    KEY login_devices_expiry (expires_at),
    CONSTRAINT login_devices_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
