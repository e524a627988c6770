-- Articles a reader keeps for later. Retention skips articles saved here, and deleting a reader
-- or an article removes its rows.
CREATE TABLE saved_articles (
    user_id BIGINT NOT NULL,
    article_id BIGINT NOT NULL,
    saved_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, article_id),
    -- A reader's saved articles, newest saved first (keyset paging on saved_at, article_id).
    KEY saved_articles_newest (user_id, saved_at DESC, article_id DESC),
    -- Retention's "is it saved by anyone" and the cascade from articles.
    KEY saved_articles_article (article_id),
    CONSTRAINT saved_articles_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT saved_articles_article_fk FOREIGN KEY (article_id) REFERENCES articles (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
