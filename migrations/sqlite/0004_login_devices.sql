-- Browsers that logged in successfully before (OWASP "device cookies"): their login attempts
-- are counted on their own, so failures from elsewhere cannot lock the owner out.
CREATE TABLE login_devices (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX login_devices_user ON login_devices (user_id);
CREATE INDEX login_devices_expiry ON login_devices (expires_at);
