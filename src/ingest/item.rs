//! One upstream item, whatever its format, and the rules that make it an article or a
//! counted skip: every source goes through the same cleaning and the same checks.
use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::OffsetDateTime;

use super::clean::{
    article_url, image_url, plain_text, MAX_AUTHOR, MAX_DESCRIPTION, MAX_SOURCE, MAX_TITLE,
};
use crate::domain::article::NewArticle;
use crate::domain::vocab::{Dimension, INTERNATIONAL, UNKNOWN_LANGUAGE};

/// An item as found upstream: raw text (possibly HTML), nothing validated yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawItem {
    pub title: Option<String>,
    pub link: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub image: Option<String>,
    pub published: Option<String>,
    /// Per-item tags (mediastack has them; feeds may declare a language per entry).
    pub category: Option<String>,
    pub country: Option<String>,
    pub language: Option<String>,
    /// Per-item source name (mediastack); feeds use their own title.
    pub source: Option<String>,
}

/// What an item falls back to when it does not say.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// Tags that win over the item's own (a feed tagged by the operator).
    pub forced_category: Option<&'static str>,
    pub forced_country: Option<&'static str>,
    pub forced_language: Option<&'static str>,
    /// What the source itself declares (a feed's language tag), when the item does not say.
    pub category: Option<&'static str>,
    pub country: Option<&'static str>,
    pub language: Option<&'static str>,
    /// What happens to an item still without a tag: refused (mediastack tags every item it
    /// means to send), or stored (feeds).
    pub untagged: Untagged,
    pub source: String,
    /// Resolves relative links (the feed's URL).
    pub base: Option<url::Url>,
}

/// What becomes of an item that, after the operator, the item and its source, still has no
/// category, country or language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Untagged {
    /// Refused, with the reason counted in the report.
    #[default]
    Refuse,
    /// Stored as category [`DEFAULT_CATEGORY`], country International, and the language
    /// detected from its text, or unknown: a feed a reader adds shows up whatever it says.
    Store,
}

/// How one of an article's tags was chosen, for the ingest report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The operator's tag, the item's own or its source's.
    Given,
    /// Detected from the item's text (languages only).
    Detected,
    /// Nobody said: general, International or unknown.
    Default,
}

/// An item made an article, and how its tags were chosen.
#[derive(Debug, Clone)]
pub struct Converted {
    pub article: NewArticle,
    pub category: Origin,
    pub country: Origin,
    pub language: Origin,
}

impl Converted {
    /// What the report says about tags that nobody gave, one line per kind, e.g.
    /// `category: general (default: the feed has none)`.
    pub fn defaults_used(&self) -> impl Iterator<Item = String> + '_ {
        let a = &self.article;
        [
            (self.category == Origin::Default)
                .then(|| format!("category: {} (default: the feed has none)", a.category)),
            (self.country == Origin::Default).then(|| {
                "country: International (default: no country tag, and no region in the \
                 feed's language)"
                    .to_owned()
            }),
            match self.language {
                Origin::Given => None,
                Origin::Detected => Some(format!(
                    "language: {} (detected: the feed declares none)",
                    a.language
                )),
                Origin::Default => Some(
                    "language: unknown (default: not declared nor reliably detected)".to_owned(),
                ),
            },
        ]
        .into_iter()
        .flatten()
    }
}

/// Cleans and checks one item. `now` caps dates in the future; items published before
/// `cutoff` are refused, since retention would delete them at once.
pub fn to_article(
    item: &RawItem,
    defaults: &Defaults,
    now: i64,
    cutoff: i64,
) -> Result<Converted, String> {
    let url = article_url(
        item.link.as_deref().unwrap_or_default(),
        defaults.base.as_ref(),
    )
    .map_err(str::to_owned)?;
    let title = plain_text(item.title.as_deref().unwrap_or_default(), MAX_TITLE);
    if title.is_empty() {
        return Err("no title".to_owned());
    }
    let description = plain_text(
        item.description.as_deref().unwrap_or_default(),
        MAX_DESCRIPTION,
    );
    let store = defaults.untagged == Untagged::Store;
    let (category, category_origin) = pick(
        Dimension::Category,
        defaults.forced_category,
        item.category.as_deref(),
        defaults.category,
    )
    .or_else(|e| {
        store
            .then_some((super::DEFAULT_CATEGORY, Origin::Default))
            .ok_or(e)
    })?;
    let (country, country_origin) = pick(
        Dimension::Country,
        defaults.forced_country,
        item.country.as_deref(),
        defaults.country,
    )
    .or_else(|e| store.then_some((INTERNATIONAL, Origin::Default)).ok_or(e))?;
    let (language, language_origin) = pick(
        Dimension::Language,
        defaults.forced_language,
        item.language.as_deref(),
        defaults.language,
    )
    .or_else(|e| {
        if !store {
            return Err(e);
        }
        Ok(
            match super::language::detect(&format!("{title}\n{description}")) {
                Some(code) => (code, Origin::Detected),
                None => (UNKNOWN_LANGUAGE, Origin::Default),
            },
        )
    })?;
    // A missing or unreadable date means "seen now"; a future one is upstream's clock or a
    // typo, and would pin the item to the top of every feed, so it is capped at now.
    let published_at = item
        .published
        .as_deref()
        .and_then(parse_date)
        .map_or(now, |t| t.min(now));
    if published_at < cutoff {
        return Err("older than the retention period".to_owned());
    }
    let source = item
        .source
        .as_deref()
        .map(|s| plain_text(s, MAX_SOURCE))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| plain_text(&defaults.source, MAX_SOURCE));
    let author = item
        .author
        .as_deref()
        .map(|a| plain_text(a, MAX_AUTHOR))
        .filter(|a| !a.is_empty());
    let article = NewArticle {
        url,
        title,
        description,
        source,
        author,
        image_url: item
            .image
            .as_deref()
            .and_then(|i| image_url(i, defaults.base.as_ref())),
        category,
        country,
        language,
        published_at,
        is_sample: false,
    };
    Ok(Converted {
        article,
        category: category_origin,
        country: country_origin,
        language: language_origin,
    })
}

/// The operator's tag, else the item's own (if in the vocabulary), else the source's.
fn pick(
    d: Dimension,
    forced: Option<&'static str>,
    own: Option<&str>,
    declared: Option<&'static str>,
) -> Result<(&'static str, Origin), String> {
    if let Some(code) = forced {
        return Ok((code, Origin::Given));
    }
    let own = own.map(str::trim).filter(|s| !s.is_empty());
    if let Some(code) = own.and_then(|raw| d.lookup_upstream(raw)) {
        return Ok((code, Origin::Given));
    }
    declared
        .map(|code| (code, Origin::Given))
        .ok_or_else(|| match own {
            Some(raw) => format!("unknown {} `{}`", d.field(), plain_text(raw, 20)),
            None => format!("no {} (tag the source with {}=…)", d.field(), d.field()),
        })
}

/// Language and country from a language tag such as `en-GB`, `fr_ca` or `de`.
pub fn from_language_tag(tag: &str) -> (Option<&'static str>, Option<&'static str>) {
    let mut parts = tag.trim().split(['-', '_']);
    let language = parts
        .next()
        .and_then(|l| Dimension::Language.lookup_upstream(l));
    let country = parts
        .next()
        .filter(|c| c.len() == 2)
        .and_then(|c| Dimension::Country.lookup_upstream(c));
    (language, country)
}

/// Unix seconds from the date formats feeds actually use: RFC 3339 (Atom, JSON Feed,
/// mediastack), RFC 2822 (RSS) with the common zone names, and `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn parse_date(raw: &str) -> Option<i64> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc2822) {
        return Some(t.unix_timestamp());
    }
    // RFC 2822 with a zone name time does not know, or lower-case/odd spacing.
    if let Some((head, zone)) = s.rsplit_once(' ') {
        let offset = match zone.to_ascii_uppercase().as_str() {
            "UT" | "UTC" | "GMT" | "Z" => Some("+0000"),
            "EST" => Some("-0500"),
            "EDT" => Some("-0400"),
            "CST" => Some("-0600"),
            "CDT" => Some("-0500"),
            "MST" => Some("-0700"),
            "MDT" => Some("-0600"),
            "PST" => Some("-0800"),
            "PDT" => Some("-0700"),
            "CET" => Some("+0100"),
            "CEST" => Some("+0200"),
            "BST" => Some("+0100"),
            _ => None,
        };
        if let Some(offset) = offset {
            if let Ok(t) = OffsetDateTime::parse(&format!("{head} {offset}"), &Rfc2822) {
                return Some(t.unix_timestamp());
            }
        }
    }
    // `2026-11-02 10:00:00` or `2026-11-02T10:00:00` without a zone: read as UTC.
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let spaced = s.replacen('T', " ", 1);
    time::PrimitiveDateTime::parse(&spaced, &fmt)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn item() -> RawItem {
        RawItem {
            title: Some("A <b>bold</b> title &amp; more".into()),
            link: Some("https://news.example.org/a?utm_medium=rss".into()),
            description: Some("<p>First</p><p>Second</p>".into()),
            published: Some("2027-01-15T08:00:00Z".into()),
            ..RawItem::default()
        }
    }

    fn defaults() -> Defaults {
        Defaults {
            category: Some("general"),
            country: Some("gb"),
            language: Some("en"),
            source: "Example News".into(),
            ..Defaults::default()
        }
    }

    #[test]
    fn items_become_clean_articles() {
        let a = to_article(&item(), &defaults(), NOW, 0).unwrap().article;
        assert_eq!(a.title, "A bold title & more");
        assert_eq!(a.url, "https://news.example.org/a");
        assert_eq!(a.description, "First Second");
        assert_eq!((a.category, a.country, a.language), ("general", "gb", "en"));
        assert_eq!(a.source, "Example News");
        assert_eq!(
            a.published_at,
            NOW.min(parse_date("2027-01-15T08:00:00Z").unwrap())
        );
        assert!(!a.is_sample);
    }

    #[test]
    fn bad_items_are_refused_with_a_reason() {
        let mut no_title = item();
        no_title.title = Some("  <br/> ".into());
        assert_eq!(
            to_article(&no_title, &defaults(), NOW, 0).unwrap_err(),
            "no title"
        );
        let mut bad_link = item();
        bad_link.link = Some("mailto:x@example.org".into());
        assert_eq!(
            to_article(&bad_link, &defaults(), NOW, 0).unwrap_err(),
            "link is not http(s)"
        );
        let mut untagged = item();
        untagged.country = Some("zz".into());
        let d = Defaults {
            country: None,
            ..defaults()
        };
        assert_eq!(
            to_article(&untagged, &d, NOW, 0).unwrap_err(),
            "unknown country `zz`"
        );
        untagged.country = None;
        assert!(to_article(&untagged, &d, NOW, 0)
            .unwrap_err()
            .starts_with("no country"));
        let mut old = item();
        old.published = Some("1999-01-01T00:00:00Z".into());
        assert_eq!(
            to_article(&old, &defaults(), NOW, NOW - 86_400).unwrap_err(),
            "older than the retention period"
        );
    }

    #[test]
    fn feed_items_nobody_tagged_are_stored_with_defaults_and_say_so() {
        let feed = Defaults {
            untagged: Untagged::Store,
            source: "Anywhere Wire".into(),
            ..Defaults::default()
        };
        let mut english = item();
        english.title = Some("Harbour cranes return to work after the long winter strike".into());
        english.description =
            Some("Dock workers and the port authority signed the agreement on Monday.".into());
        let c = to_article(&english, &feed, NOW, 0).unwrap();
        assert_eq!(
            (c.article.category, c.article.country, c.article.language),
            ("general", INTERNATIONAL, "en")
        );
        assert_eq!(
            (c.category, c.country, c.language),
            (Origin::Default, Origin::Default, Origin::Detected)
        );
        let said: Vec<String> = c.defaults_used().collect();
        assert_eq!(said.len(), 3, "{said:?}");
        assert_eq!(said[0], "category: general (default: the feed has none)");
        assert!(said[1].starts_with("country: International (default"));
        assert_eq!(said[2], "language: en (detected: the feed declares none)");

        // Too little text: unknown. An upstream `xx` is no claim to our own codes.
        let mut terse = item();
        terse.title = Some("Live".into());
        terse.description = None;
        terse.country = Some("xx".into());
        terse.language = Some("XX".into());
        let c = to_article(&terse, &feed, NOW, 0).unwrap();
        assert_eq!(
            (c.article.country, c.article.language, c.language),
            (INTERNATIONAL, UNKNOWN_LANGUAGE, Origin::Default)
        );

        // What the item or the feed says wins over detection and defaults.
        let declared = Defaults {
            language: Some("fr"),
            ..feed.clone()
        };
        let c = to_article(&english, &declared, NOW, 0).unwrap();
        assert_eq!((c.article.language, c.language), ("fr", Origin::Given));
        let mut own = english.clone();
        own.country = Some("GB".into());
        own.language = Some("en".into());
        let c = to_article(&own, &feed, NOW, 0).unwrap();
        assert_eq!((c.article.country, c.country), ("gb", Origin::Given));
        assert_eq!(c.defaults_used().count(), 1, "only the category defaulted");
    }

    #[test]
    fn absurd_or_missing_dates_become_now() {
        for date in [
            None,
            Some("9999-12-31T23:59:59Z"),
            Some("yesterday-ish"),
            Some(""),
        ] {
            let mut i = item();
            i.published = date.map(str::to_owned);
            assert_eq!(
                to_article(&i, &defaults(), NOW, 0)
                    .unwrap()
                    .article
                    .published_at,
                NOW
            );
        }
    }

    #[test]
    fn tags_follow_precedence() {
        let mut i = item();
        i.country = Some("us".into());
        i.category = Some("sports".into());
        let a = to_article(&i, &defaults(), NOW, 0).unwrap().article;
        assert_eq!((a.country, a.category), ("us", "sports"));
        let forced = Defaults {
            forced_country: Some("ng"),
            ..defaults()
        };
        assert_eq!(
            to_article(&i, &forced, NOW, 0).unwrap().article.country,
            "ng"
        );
        assert_eq!(from_language_tag("en-GB"), (Some("en"), Some("gb")));
        assert_eq!(from_language_tag("fr_ca"), (Some("fr"), Some("ca")));
        assert_eq!(from_language_tag("de"), (Some("de"), None));
        assert_eq!(from_language_tag("xx-YY"), (None, None));
        assert_eq!(from_language_tag("en-XX"), (Some("en"), None));
    }

    #[test]
    fn dates_in_the_formats_feeds_use() {
        let t = 1_793_865_600; // 2026-11-05T08:00:00Z
        assert_eq!(parse_date("2026-11-05T08:00:00Z"), Some(t));
        assert_eq!(parse_date("2026-11-05T09:00:00+01:00"), Some(t));
        assert_eq!(parse_date("Thu, 05 Nov 2026 08:00:00 +0000"), Some(t));
        assert_eq!(parse_date("Thu, 05 Nov 2026 08:00:00 GMT"), Some(t));
        assert_eq!(parse_date("Thu, 05 Nov 2026 03:00:00 EST"), Some(t));
        assert_eq!(parse_date("05 Nov 2026 08:00:00 +0000"), Some(t));
        assert_eq!(parse_date("2026-11-05 08:00:00"), Some(t));
        assert_eq!(parse_date("not a date"), None);
    }
}
