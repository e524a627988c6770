-- Full-text search over titles and descriptions. InnoDB FULLTEXT compares with the columns'
-- collation (utf8mb4_unicode_ci: case- and accent-insensitive) and does not stem.
ALTER TABLE articles ADD FULLTEXT INDEX articles_search (title, description);
