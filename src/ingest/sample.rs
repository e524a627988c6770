//! The bundled sample articles: synthetic news written for this project, so that a fresh
//! install shows a working feed with no API key and no network.
use serde::Deserialize;

use super::report::{SourceReport, Status};
use crate::domain::article::{canonical_url, NewArticle};
use crate::domain::vocab::Dimension;
use crate::storage::{Db, Error, InsertStats};

const SAMPLE_JSON: &str = include_str!("../../assets/sample/articles.json");

#[derive(Deserialize)]
struct SampleArticle {
    title: String,
    description: String,
    url: String,
    source: String,
    author: Option<String>,
    image: Option<String>,
    category: String,
    language: String,
    country: String,
    published_minutes_ago: i64,
}

/// The sample set with times relative to `now`, so the feed looks current on first start.
pub fn articles(now: i64) -> anyhow::Result<Vec<NewArticle>> {
    let raw: Vec<SampleArticle> = serde_json::from_str(SAMPLE_JSON)?;
    raw.into_iter()
        .map(|a| {
            let code = |d: Dimension, v: &str| {
                d.lookup(v).ok_or_else(|| {
                    anyhow::anyhow!("sample article has unknown {} `{v}`", d.field())
                })
            };
            Ok(NewArticle {
                url: canonical_url(&a.url)
                    .map_err(|e| anyhow::anyhow!("sample URL {}: {e}", a.url))?,
                title: a.title,
                description: a.description,
                source: a.source,
                author: a.author,
                image_url: a.image,
                category: code(Dimension::Category, &a.category)?,
                country: code(Dimension::Country, &a.country)?,
                language: code(Dimension::Language, &a.language)?,
                published_at: now - a.published_minutes_ago * 60,
                is_sample: true,
            })
        })
        .collect()
}

/// Loads the sample set into an empty database. Safe when several instances start at once:
/// articles are unique by URL.
pub async fn load_if_empty(db: &Db, now: i64) -> Result<Option<InsertStats>, Error> {
    if db.has_articles().await? {
        return Ok(None);
    }
    // The bundled set is checked by a unit test: failing here is a bug.
    let articles = articles(now)
        .map_err(|e| Error::invariant(format!("the bundled sample set is broken: {e:#}")))?;
    let stats = db.upsert_articles(&articles, now).await?;
    tracing::info!(added = stats.added, "loaded the bundled sample news");
    Ok(Some(stats))
}

/// The source's name in reports and metrics.
pub const SOURCE: &str = "sample";

/// The sample set as a cycle's source, used when no other source is configured: stores the
/// set again (with times relative to `now`), which changes nothing except re-adding articles
/// that retention removed, so a demo install keeps a full, current-looking feed.
pub(crate) async fn ingest(db: &Db, enabled: bool, now: i64, cutoff: i64) -> SourceReport {
    let mut report = SourceReport::new(SOURCE);
    if !enabled {
        report.status = Status::Skipped("NEWSREAD_SAMPLE_NEWS is off".to_owned());
        return report;
    }
    let all = match articles(now) {
        Ok(a) => a,
        Err(e) => {
            report.status = Status::Failed(format!("bundled sample set: {e}"));
            return report;
        }
    };
    report.fetched = all.len() as u64;
    let (fresh, old): (Vec<_>, Vec<_>) = all.into_iter().partition(|a| a.published_at >= cutoff);
    for _ in &old {
        report.skip("older than the retention period");
    }
    match db.upsert_articles(&fresh, now).await {
        Ok(stats) => report.stored(stats),
        Err(e) => report.status = Status::Failed(format!("database: {e}")),
    }
    report
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn sample_set_covers_what_the_issue_promises() {
        let all = articles(1_800_000_000).unwrap();
        assert!(all.len() >= 200, "{}", all.len());
        let countries: HashSet<_> = all.iter().map(|a| a.country).collect();
        let languages: HashSet<_> = all.iter().map(|a| a.language).collect();
        let categories: HashSet<_> = all.iter().map(|a| a.category).collect();
        assert!(countries.len() >= 8 && ["us", "gb", "ng"].iter().all(|c| countries.contains(c)));
        assert!(languages.len() >= 5 && languages.contains("en") && languages.contains("fr"));
        assert_eq!(categories.len(), 7);
        assert!(all
            .iter()
            .all(|a| a.is_sample && a.source.contains("(sample)")));
        let urls: HashSet<_> = all.iter().map(|a| a.url.as_str()).collect();
        assert_eq!(urls.len(), all.len(), "sample URLs are unique");
        for a in &all {
            if let Some(img) = &a.image_url {
                assert!(
                    crate::web::assets::resolve_image(img).is_some(),
                    "missing image {img}"
                );
            }
        }
    }
}
