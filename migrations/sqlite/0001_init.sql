-- Times are Unix seconds (UTC) in BIGINT columns on every engine, so keyset paging and
-- expiry compare the same way everywhere.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE user_preferences (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    countries TEXT NOT NULL,
    languages TEXT NOT NULL,
    categories TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE articles (
    id INTEGER PRIMARY KEY,
    url_hash TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    source TEXT NOT NULL,
    author TEXT,
    image_url TEXT,
    category TEXT NOT NULL,
    country TEXT NOT NULL,
    language TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    is_sample BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX articles_published ON articles (published_at DESC, id DESC);
CREATE INDEX articles_country ON articles (country, published_at DESC, id DESC);
CREATE INDEX articles_language ON articles (language, published_at DESC, id DESC);
CREATE INDEX articles_category ON articles (category, published_at DESC, id DESC);
