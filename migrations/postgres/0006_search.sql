-- Full-text search over titles and descriptions, stemmed in each article's language where
-- PostgreSQL has a stemmer ('simple', no stemming, elsewhere), case- and accent-insensitive
-- (unaccent before stemming). An expression index: no stored copy of the vectors, and
-- building it blocks article writes (ingestion) but never reads.
-- unaccent is a trusted extension (PostgreSQL 13+): the database owner may create it, and
-- RDS allows it.
CREATE EXTENSION IF NOT EXISTS unaccent;

CREATE TEXT SEARCH CONFIGURATION newsread_arabic (COPY = arabic);
CREATE TEXT SEARCH CONFIGURATION newsread_dutch (COPY = dutch);
CREATE TEXT SEARCH CONFIGURATION newsread_english (COPY = english);
CREATE TEXT SEARCH CONFIGURATION newsread_french (COPY = french);
CREATE TEXT SEARCH CONFIGURATION newsread_german (COPY = german);
CREATE TEXT SEARCH CONFIGURATION newsread_italian (COPY = italian);
CREATE TEXT SEARCH CONFIGURATION newsread_norwegian (COPY = norwegian);
CREATE TEXT SEARCH CONFIGURATION newsread_portuguese (COPY = portuguese);
CREATE TEXT SEARCH CONFIGURATION newsread_russian (COPY = russian);
CREATE TEXT SEARCH CONFIGURATION newsread_spanish (COPY = spanish);
CREATE TEXT SEARCH CONFIGURATION newsread_swedish (COPY = swedish);
CREATE TEXT SEARCH CONFIGURATION newsread_simple (COPY = simple);

ALTER TEXT SEARCH CONFIGURATION newsread_arabic ALTER MAPPING FOR hword, hword_part, word WITH unaccent, arabic_stem;
ALTER TEXT SEARCH CONFIGURATION newsread_dutch ALTER MAPPING FOR hword, hword_part, word WITH unaccent, dutch_stem;
ALTER TEXT SEARCH CONFIGURATION newsread_english ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem;
ALTER TEXT SEARCH CONFIGURATION newsread_french ALTER MAPPING FOR hword, hword_part, word WITH unaccent, french_stem;
ALTER TEXT SEARCH CONFIGURATION newsread_german ALTER MAPPING FOR hword, hword_part, word WITH unaccent, german_stem;
ALTER TEXT SEARCH CONFIGURATION newsread_italian ALTER MAPPING FOR hword, hword_part, word WITH unaccent, italian_stem;
ALTER TEXT SEARCH CONFIGURATION newsread_norwegian ALTER MAPPING FOR hword, hword_part, word WITH unaccent, norwegian_stem;
ALTER TEXT SEARCH CONFIGURATION newsread_portuguese ALTER MAPPING FOR hword, hword_part, word WITH unaccent, portuguese_stem;
ALTER TEXT SEARCH CONFIGURATION newsread_russian ALTER MAPPING FOR hword, hword_part, word WITH unaccent, russian_stem;
ALTER TEXT SEARCH CONFIGURATION newsread_spanish ALTER MAPPING FOR hword, hword_part, word WITH unaccent, spanish_stem;
ALTER TEXT SEARCH CONFIGURATION newsread_swedish ALTER MAPPING FOR hword, hword_part, word WITH unaccent, swedish_stem;
ALTER TEXT SEARCH CONFIGURATION newsread_simple ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;

-- mediastack's language codes (`se` is Swedish, `no` Norwegian) to configurations. Must stay
-- in step with the storage layer's list (src/storage/dialect.rs, SEARCH_CONFIGS).
CREATE FUNCTION newsread_search_config(language TEXT) RETURNS regconfig
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE language
        WHEN 'ar' THEN 'newsread_arabic'
        WHEN 'nl' THEN 'newsread_dutch'
        WHEN 'en' THEN 'newsread_english'
        WHEN 'fr' THEN 'newsread_french'
        WHEN 'de' THEN 'newsread_german'
        WHEN 'it' THEN 'newsread_italian'
        WHEN 'no' THEN 'newsread_norwegian'
        WHEN 'pt' THEN 'newsread_portuguese'
        WHEN 'ru' THEN 'newsread_russian'
        WHEN 'es' THEN 'newsread_spanish'
        WHEN 'se' THEN 'newsread_swedish'
        ELSE 'newsread_simple'
    END::regconfig
$$;

CREATE INDEX articles_search ON articles
USING GIN (to_tsvector(newsread_search_config(language), title || ' ' || description));
