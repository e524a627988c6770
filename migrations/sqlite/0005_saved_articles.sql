-- Articles a reader keeps for later. Retention skips articles saved here, and deleting a reader
-- or an article removes its rows.
CREATE TABLE saved_articles (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    article_id BIGINT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    saved_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, article_id)
);
-- A reader's saved articles, newest saved first (keyset paging on saved_at, article_id).
CREATE INDEX saved_articles_newest ON saved_articles (user_id, saved_at DESC, article_id DESC);
-- Retention's "is it saved by anyone" and the cascade from articles.
CREATE INDEX saved_articles_article ON saved_articles (article_id);
