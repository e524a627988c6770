-- Full-text search over titles and descriptions: a tsvector per article, stemmed in the
-- article's language where PostgreSQL has a stemmer (`simple` elsewhere), case- and
-- accent-insensitive (unaccent before stemming), with no stop words (a query word is never
-- dropped in one language and required in another; see src/storage/dialect.rs).
-- The column is kept by a trigger and filled here by one UPDATE: adding it takes no table
-- rewrite, and the UPDATE locks rows, not the table, so readers are never blocked; building
-- the index blocks article writes (ingestion) but not reads.
-- unaccent is a trusted extension (PostgreSQL 13+): the database owner may create it, and
-- RDS allows it.
CREATE EXTENSION IF NOT EXISTS unaccent;

CREATE TEXT SEARCH DICTIONARY newsread_arabic_stem (TEMPLATE = snowball, Language = arabic);
CREATE TEXT SEARCH DICTIONARY newsread_dutch_stem (TEMPLATE = snowball, Language = dutch);
CREATE TEXT SEARCH DICTIONARY newsread_english_stem (TEMPLATE = snowball, Language = english);
CREATE TEXT SEARCH DICTIONARY newsread_french_stem (TEMPLATE = snowball, Language = french);
CREATE TEXT SEARCH DICTIONARY newsread_german_stem (TEMPLATE = snowball, Language = german);
CREATE TEXT SEARCH DICTIONARY newsread_italian_stem (TEMPLATE = snowball, Language = italian);
CREATE TEXT SEARCH DICTIONARY newsread_norwegian_stem (TEMPLATE = snowball, Language = norwegian);
CREATE TEXT SEARCH DICTIONARY newsread_portuguese_stem (TEMPLATE = snowball, Language = portuguese);
CREATE TEXT SEARCH DICTIONARY newsread_russian_stem (TEMPLATE = snowball, Language = russian);
CREATE TEXT SEARCH DICTIONARY newsread_spanish_stem (TEMPLATE = snowball, Language = spanish);
CREATE TEXT SEARCH DICTIONARY newsread_swedish_stem (TEMPLATE = snowball, Language = swedish);

CREATE TEXT SEARCH CONFIGURATION newsread_arabic (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION newsread_arabic ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, newsread_arabic_stem;
CREATE TEXT SEARCH CONFIGURATION newsread_dutch (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION newsread_dutch ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, newsread_dutch_stem;
CREATE TEXT SEARCH CONFIGURATION newsread_english (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION newsread_english ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, newsread_english_stem;
CREATE TEXT SEARCH CONFIGURATION newsread_french (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION newsread_french ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, newsread_french_stem;
CREATE TEXT SEARCH CONFIGURATION newsread_german (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION newsread_german ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, newsread_german_stem;
CREATE TEXT SEARCH CONFIGURATION newsread_italian (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION newsread_italian ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, newsread_italian_stem;
CREATE TEXT SEARCH CONFIGURATION newsread_norwegian (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION newsread_norwegian ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, newsread_norwegian_stem;
CREATE TEXT SEARCH CONFIGURATION newsread_portuguese (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION newsread_portuguese ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, newsread_portuguese_stem;
CREATE TEXT SEARCH CONFIGURATION newsread_russian (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION newsread_russian ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, newsread_russian_stem;
CREATE TEXT SEARCH CONFIGURATION newsread_spanish (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION newsread_spanish ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, newsread_spanish_stem;
CREATE TEXT SEARCH CONFIGURATION newsread_swedish (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION newsread_swedish ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, newsread_swedish_stem;
CREATE TEXT SEARCH CONFIGURATION newsread_simple (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION newsread_simple ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, simple;

-- mediastack's language codes (`se` is Swedish, `no` Norwegian) to configurations. The
-- storage layer lists the same configurations (src/storage/dialect.rs, SEARCH_CONFIGS).
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

ALTER TABLE articles ADD COLUMN search tsvector;

CREATE FUNCTION newsread_article_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := to_tsvector(newsread_search_config(NEW.language), NEW.title || ' ' || NEW.description);
    RETURN NEW;
END
$$;

CREATE TRIGGER articles_search BEFORE INSERT OR UPDATE OF title, description, language ON articles
FOR EACH ROW EXECUTE FUNCTION newsread_article_search();

UPDATE articles SET search = to_tsvector(newsread_search_config(language), title || ' ' || description);

CREATE INDEX articles_search ON articles USING GIN (search);

