-- Times are Unix seconds (UTC) in BIGINT columns on every engine, so keyset paging and
-- expiry compare the same way everywhere. Text is VARCHAR (not TEXT) so that every column
-- maps to a string through sqlx's Any driver; the lengths are the caps the app enforces.
CREATE TABLE users (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username VARCHAR(20) NOT NULL,
    username_key VARCHAR(20) NOT NULL,
    email VARCHAR(254) NOT NULL,
    email_key VARCHAR(254) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE KEY users_username_key (username_key),
    UNIQUE KEY users_email_key (email_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE sessions (
    token_hash CHAR(64) NOT NULL PRIMARY KEY,
    user_id BIGINT NOT NULL,
    csrf_token VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    KEY sessions_user (user_id),
    KEY sessions_expiry (expires_at),
    CONSTRAINT sessions_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE user_preferences (
    user_id BIGINT NOT NULL PRIMARY KEY,
    countries VARCHAR(1024) NOT NULL,
    languages VARCHAR(256) NOT NULL,
    categories VARCHAR(256) NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT user_preferences_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE articles (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    url_hash CHAR(64) NOT NULL,
    url VARCHAR(2048) NOT NULL,
    title VARCHAR(500) NOT NULL,
    description VARCHAR(2000) NOT NULL,
    source VARCHAR(200) NOT NULL,
    author VARCHAR(200) NULL,
    image_url VARCHAR(2048) NULL,
    category VARCHAR(16) NOT NULL,
    country VARCHAR(2) NOT NULL,
    language VARCHAR(2) NOT NULL,
    published_at BIGINT NOT NULL,
    is_sample BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE KEY articles_url_hash (url_hash),
    KEY articles_published (published_at DESC, id DESC),
    KEY articles_country (country, published_at DESC, id DESC),
    KEY articles_language (language, published_at DESC, id DESC),
    KEY articles_category (category, published_at DESC, id DESC)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
