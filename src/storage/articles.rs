use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::dialect::Arg;
use super::{Db, Error};
use crate::domain::article::{Article, NewArticle};
use crate::domain::feed::{Cursor, FeedFilter};
use crate::domain::vocab::Dimension;

pub(super) const ARTICLE_COLUMNS: &str =
    "id, url, title, description, source, author, image_url, category, \
                               country, language, published_at, is_sample";
/// The same, of `articles` aliased `a`.
pub(super) const ARTICLE_COLUMNS_A: &str =
    "a.id, a.url, a.title, a.description, a.source, a.author, a.image_url, a.category, \
     a.country, a.language, a.published_at, a.is_sample";

/// One page of the feed, newest first.
#[derive(Debug, Clone, Default)]
pub struct FeedPage {
    pub articles: Vec<Article>,
    /// Where the next (older) page starts; `None` on the last page.
    pub next: Option<Cursor>,
    /// Renderings of the page made by its readers, kept with it so that a cached page is
    /// rendered once rather than once per request.
    pub rendered: Renderings,
}

/// Text made from a page alone (nothing about the reader), filled on first use.
#[derive(Debug, Clone, Default)]
pub struct Renderings {
    /// The web page's article cards.
    pub html: std::sync::OnceLock<std::sync::Arc<CardsHtml>>,
    /// The API's response body.
    pub json: std::sync::OnceLock<std::sync::Arc<str>>,
}

/// A page's cards as every reader gets them, and where each card shows the reader's own
/// state (its save button), so a request can replace just those spans.
#[derive(Debug, Clone)]
pub struct CardsHtml {
    pub text: std::sync::Arc<str>,
    /// Per article of the page, in order: the span of `text` a reader's state may replace.
    pub spans: Vec<std::ops::Range<usize>>,
}

/// What an upsert did, per article.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertStats {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
}

pub(crate) fn url_hash(canonical_url: &str) -> String {
    crate::hex(&Sha256::digest(canonical_url.as_bytes()))
}

/// Filters with more values than this in every dimension use one IN-list query instead of
/// one branch per value.
const MAX_BRANCHES: usize = 16;

/// The dimension to split a filtered page on, if any has several values.
///
/// A branch for one value of dimension d walks the (d, published_at) index until a page of
/// rows also matches the other dimensions, so with k of |V| codes selected (and articles
/// spread evenly) the branches read in total about page × k² / (|V| × selectivity of the
/// whole filter) rows: the best split minimises k²/|V|, e.g. 5 of 55 countries (0.45) before
/// 3 of 7 categories (1.29). See bench/README.md, finding 2.
fn split_dimension(filter: &FeedFilter) -> Option<Dimension> {
    let cost = |d: Dimension| {
        let k = filter.get(d).len() as f64;
        k * k / d.vocabulary().len() as f64
    };
    Dimension::ALL
        .into_iter()
        .filter(|d| (2..=MAX_BRANCHES).contains(&filter.get(*d).len()))
        .min_by(|a, b| cost(*a).total_cmp(&cost(*b)))
}

/// One keyset page query for `filter`, strictly older than `after`.
fn page_query(
    filter: &FeedFilter,
    after: Option<Cursor>,
    fetch: i64,
) -> (String, Vec<Arg<'static>>) {
    let (clause, codes) = filter_sql(filter, "");
    let mut params: Vec<Arg> = codes.into_iter().map(Arg::Text).collect();
    let mut sql = format!("SELECT {ARTICLE_COLUMNS} FROM articles WHERE 1 = 1{clause}");
    if let Some(c) = after {
        // The redundant `published_at <= ?` gives every engine's planner an index range.
        sql.push_str(" AND published_at <= ? AND (published_at < ? OR id < ?)");
        params.extend([
            Arg::Int(c.published_at),
            Arg::Int(c.published_at),
            Arg::Int(c.id),
        ]);
    }
    sql.push_str(" ORDER BY published_at DESC, id DESC LIMIT ?");
    params.push(Arg::Int(fetch));
    (sql, params)
}

/// ` AND column IN (?, ...)` for each filtered dimension, with its codes; columns prefixed
/// with `alias` (`""` or e.g. `"a."`).
pub(super) fn filter_sql(filter: &FeedFilter, alias: &str) -> (String, Vec<&'static str>) {
    let mut sql = String::new();
    let mut codes = Vec::new();
    for d in Dimension::ALL {
        let selected = filter.get(d);
        if selected.is_empty() {
            continue;
        }
        if selected.len() == 1 {
            sql.push_str(&format!(" AND {alias}{} = ?", d.field()));
        } else {
            sql.push_str(&format!(
                " AND {alias}{} IN ({})",
                d.field(),
                vec!["?"; selected.len()].join(", ")
            ));
        }
        codes.extend(selected.iter().copied());
    }
    (sql, codes)
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds arguments built at run time, in order.
pub(super) fn bind_args<'q>(mut q: AnyQuery<'q>, args: &'q [Arg<'_>]) -> AnyQuery<'q> {
    for arg in args {
        q = match arg {
            Arg::Text(t) => q.bind(*t),
            Arg::Owned(s) => q.bind(s.as_str()),
            Arg::Int(n) => q.bind(*n),
        };
    }
    q
}

/// Binds the 14 columns of an `INSERT INTO articles (url_hash, ..., updated_at)` row.
/// The columns [`bind_new_article`] binds, in its order.
const NEW_ARTICLE_COLUMNS: &[&str] = &[
    "url_hash",
    "url",
    "title",
    "description",
    "source",
    "author",
    "image_url",
    "category",
    "country",
    "language",
    "published_at",
    "is_sample",
    "created_at",
    "updated_at",
];

fn bind_new_article<'q>(
    q: AnyQuery<'q>,
    a: &'q NewArticle,
    hash: String,
    now: i64,
) -> AnyQuery<'q> {
    q.bind(hash)
        .bind(&a.url)
        .bind(&a.title)
        .bind(&a.description)
        .bind(&a.source)
        .bind(a.author.as_deref())
        .bind(a.image_url.as_deref())
        .bind(a.category)
        .bind(a.country)
        .bind(a.language)
        .bind(a.published_at)
        .bind(i64::from(a.is_sample))
        .bind(now)
        .bind(now)
}

/// Articles in the order they are best inserted: oldest first. SQLite's search index is
/// keyed by publication time, and FTS5 writes its pending index data out whenever a key is
/// lower than the one before, so newest-first inserts (a feed's order) cost a flush each:
/// 100,000 seeded articles took two minutes instead of seconds.
fn oldest_first(articles: &[NewArticle]) -> Vec<&NewArticle> {
    let mut sorted: Vec<&NewArticle> = articles.iter().collect();
    sorted.sort_by_key(|a| a.published_at);
    sorted
}

/// Up to `limit` of `rows` (fetched with one more, to know whether an older page exists),
/// newest first, as a page.
pub(super) fn page_of(rows: &[AnyRow], limit: u32) -> Result<FeedPage, Error> {
    let mut articles = rows
        .iter()
        .map(article_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    articles.sort_unstable_by_key(|a| std::cmp::Reverse((a.published_at, a.id)));
    let next = if articles.len() > limit as usize {
        articles.truncate(limit as usize);
        articles.last().map(|a| Cursor {
            published_at: a.published_at,
            id: a.id,
        })
    } else {
        None
    };
    Ok(FeedPage {
        articles,
        next,
        rendered: Renderings::default(),
    })
}

pub(super) fn article_from_row(r: &AnyRow) -> Result<Article, sqlx::Error> {
    Ok(Article {
        id: r.try_get("id")?,
        url: r.try_get("url")?,
        title: r.try_get("title")?,
        description: r.try_get("description")?,
        source: r.try_get("source")?,
        author: r.try_get("author")?,
        image_url: r.try_get("image_url")?,
        category: r.try_get("category")?,
        country: r.try_get("country")?,
        language: r.try_get("language")?,
        published_at: r.try_get("published_at")?,
        is_sample: r.try_get::<i64, _>("is_sample")? != 0,
    })
}

impl Db {
    /// A page of articles matching `filter`, strictly older than `after`, from the feed cache
    /// when another request read it within the TTL (see `feed_cache`).
    pub async fn feed_page(
        &self,
        filter: &FeedFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<std::sync::Arc<FeedPage>, Error> {
        self.inner
            .feed_cache
            .get_or_load(filter, after, limit, || {
                self.read_feed_page(filter, after, limit)
            })
            .await
    }

    /// Keyset paging on (published_at, id): the cost of a page does not grow with its depth.
    async fn read_feed_page(
        &self,
        filter: &FeedFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<FeedPage, Error> {
        let fetch = i64::from(limit) + 1;
        // One index-ordered range scan per selected value of the split dimension, each
        // stopping after a page, merged here: the cost depends on the page size and the
        // filter's selectivity, never on the size of the archive (an IN list makes the
        // database collect and sort every match). SQLite plans a compound UNION ALL of such
        // scans poorly, so they run as separate queries.
        let queries: Vec<(String, Vec<Arg>)> = match split_dimension(filter) {
            Some(dim) => filter
                .get(dim)
                .iter()
                .map(|code| {
                    let mut one = FeedFilter::default();
                    for d in Dimension::ALL {
                        if d == dim {
                            one.add_codes(d, &[code]);
                        } else {
                            one.add_codes(d, filter.get(d));
                        }
                    }
                    page_query(&one, after, fetch)
                })
                .collect(),
            None => vec![page_query(filter, after, fetch)],
        };
        let queries: Vec<(String, Vec<Arg>)> = queries
            .into_iter()
            .map(|(sql, params)| (self.sql(&sql).into_owned(), params))
            .collect();
        let queries = &queries;
        let rows = self
            .read(|pool| async move {
                let mut conn = pool.acquire().await?;
                let mut rows = Vec::new();
                for (sql, params) in queries {
                    let q = bind_args(sqlx::query(sql), params);
                    rows.extend(q.fetch_all(&mut *conn).await?);
                }
                Ok(rows)
            })
            .await?;
        page_of(&rows, limit)
    }

    /// Stores articles once per canonical URL. A known URL whose title, description or image
    /// changed is updated; one that did not is left alone.
    pub async fn upsert_articles(
        &self,
        articles: &[NewArticle],
        now: i64,
    ) -> Result<InsertStats, Error> {
        // Rows come from ingestion, which caps every field to its column (see dialect's
        // note on MySQL's INSERT IGNORE).
        let insert =
            self.dialect()
                .insert_or_skip("articles", NEW_ARTICLE_COLUMNS, &["url_hash"], 1);
        let select =
            self.sql("SELECT title, description, image_url FROM articles WHERE url_hash = ?");
        let update = self.sql(
            "UPDATE articles SET title = ?, description = ?, image_url = ?, updated_at = ? WHERE url_hash = ?",
        );
        let mut stats = InsertStats::default();
        for chunk in oldest_first(articles).chunks(200) {
            let mut tx = self.write_tx().await?;
            for &a in chunk {
                let hash = url_hash(&a.url);
                let existing = sqlx::query(&select)
                    .bind(&hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                match existing {
                    None => {
                        let done = bind_new_article(sqlx::query(&insert), a, hash.clone(), now)
                            .execute(&mut *tx)
                            .await?;
                        if done.rows_affected() == 1 {
                            stats.added += 1;
                        } else {
                            stats.unchanged += 1;
                        }
                    }
                    Some(row) => {
                        let same = row.try_get::<String, _>("title")? == a.title
                            && row.try_get::<String, _>("description")? == a.description
                            && row.try_get::<Option<String>, _>("image_url")? == a.image_url;
                        if same {
                            stats.unchanged += 1;
                        } else {
                            sqlx::query(&update)
                                .bind(&a.title)
                                .bind(&a.description)
                                .bind(a.image_url.as_deref())
                                .bind(now)
                                .bind(&hash)
                                .execute(&mut *tx)
                                .await?;
                            stats.updated += 1;
                        }
                    }
                }
            }
            tx.commit().await?;
            self.inner.feed_cache.clear();
        }
        Ok(stats)
    }

    /// The fast path for large synthetic archives (`newsread seed`): multi-row inserts in big
    /// transactions, skipping URLs already stored, with no per-row change detection.
    pub async fn bulk_insert_articles(
        &self,
        articles: &[NewArticle],
        now: i64,
    ) -> Result<u64, Error> {
        const ROWS: usize = 500;
        let mut added = 0;
        let articles = oldest_first(articles);
        for group in articles.chunks(ROWS * 20) {
            let mut tx = self.write_tx().await?;
            for chunk in group.chunks(ROWS) {
                let sql = self.dialect().insert_or_skip(
                    "articles",
                    NEW_ARTICLE_COLUMNS,
                    &["url_hash"],
                    chunk.len(),
                );
                let mut q = sqlx::query(&sql);
                for a in chunk {
                    q = bind_new_article(q, a, url_hash(&a.url), now);
                }
                added += q.execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            self.inner.feed_cache.clear();
        }
        Ok(added)
    }

    /// An article's image URL, for the image cache; lag-tolerant.
    pub async fn article_image(&self, id: i64) -> Result<Option<String>, Error> {
        let sql = self.sql("SELECT image_url FROM articles WHERE id = ?");
        let sql = &sql;
        let row = self
            .read(|pool| async move { sqlx::query(sql).bind(id).fetch_optional(&pool).await })
            .await?;
        Ok(row
            .map(|r| r.try_get::<Option<String>, _>("image_url"))
            .transpose()?
            .flatten())
    }

    /// Cheap on any archive size, unlike COUNT(*): used at start-up.
    pub async fn has_articles(&self) -> Result<bool, Error> {
        let row = sqlx::query("SELECT id FROM articles LIMIT 1")
            .fetch_optional(self.primary()?)
            .await?;
        Ok(row.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    fn filter(countries: &str, categories: &str) -> FeedFilter {
        let mut f = FeedFilter::default();
        f.add(Dimension::Country, countries).unwrap();
        f.add(Dimension::Category, categories).unwrap();
        f
    }

    #[test]
    fn pages_split_on_the_most_selective_dimension() {
        // 5 of 55 countries (25/55) beat 3 of 7 categories (9/7), though they are more values.
        let f = filter("us,gb,ng,fr,de", "general,business,technology");
        assert_eq!(split_dimension(&f), Some(Dimension::Country));
        assert_eq!(
            split_dimension(&filter("us", "general,business")),
            Some(Dimension::Category)
        );
        assert_eq!(split_dimension(&filter("us", "general")), None);
        assert_eq!(split_dimension(&FeedFilter::default()), None);
    }

    /// Without statistics SQLite walked the category index for `country = ? AND category = ?`
    /// and filtered thousands of rows (bench/README.md, finding 2). After a bulk load and
    /// `optimize`, each branch must use the country index, already in page order.
    #[tokio::test]
    async fn sqlite_plans_filtered_branches_on_the_selective_index() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::storage::pools::test_config(&format!(
            "sqlite://{}",
            dir.path().join("plan.db").display()
        ));
        // As `newsread seed` does it: migrate, bulk load, ANALYZE...
        let seeder = Db::connect(&cfg).unwrap();
        seeder.migrate().await.unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let articles = crate::seed::synthetic_articles(5_000, 0, 1_800_000_000, &mut rng);
        seeder
            .bulk_insert_articles(&articles, 1_800_000_000)
            .await
            .unwrap();
        seeder.optimize(true).await.unwrap();
        seeder.close().await;
        // ...then a server starts on it. (SQLite loads statistics with the schema, so only
        // connections opened after an ANALYZE use its results.)
        let db = Db::connect(&cfg).unwrap();
        db.migrate().await.unwrap();

        // One country and one category: no split, one query with two equalities.
        let branch = filter("us", "general");
        let (sql, params) = page_query(&branch, None, 31);
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let q = bind_args(sqlx::query(&explain), &params);
        let plan: Vec<String> = q
            .fetch_all(db.primary().unwrap())
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String, _>("detail").unwrap())
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("articles_country"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");

        // And the page itself: newest first, every article matching.
        let f = filter("us,gb,ng,fr,de", "general,business,technology");
        let page = db.read_feed_page(&f, None, 30).await.unwrap();
        assert_eq!(page.articles.len(), 30);
        assert!(page
            .articles
            .windows(2)
            .all(|w| (w[0].published_at, w[0].id) > (w[1].published_at, w[1].id)));
        assert!(page
            .articles
            .iter()
            .all(|a| f.countries.contains(&a.country.as_str())
                && f.categories.contains(&a.category.as_str())));
    }
}
