//! RSS 2.0 (and 1.0), Atom and JSON Feed sources, fetched conditionally (ETag and
//! Last-Modified stored per feed) and parsed leniently item by item, strictly as documents:
//! a feed that is not well-formed is an error for that feed, never half-stored.
use reqwest::header::{HeaderName, ACCEPT, IF_MODIFIED_SINCE, IF_NONE_MATCH};
use roxmltree::{Document, Node, ParsingOptions};
use serde_json::Value;

use super::clean::redact_url;
use super::item::{from_language_tag, Defaults, RawItem, Untagged};
use super::report::{SourceReport, Status};
use super::Ingester;
use crate::config::FeedSource;

/// Items read per fetch; a feed longer than this is a dump, not news.
pub const MAX_ITEMS: usize = 500;
/// XML nodes parsed at most (bounds memory on hostile input).
const MAX_NODES: u32 = 200_000;

const ACCEPT_FEEDS: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
                            application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5";

const NS_ATOM: &str = "http://www.w3.org/2005/Atom";
const NS_RSS1: &str = "http://purl.org/rss/1.0/";
const NS_DC: &str = "http://purl.org/dc/elements/1.1/";
const NS_CONTENT: &str = "http://purl.org/rss/1.0/modules/content/";
const NS_MEDIA: &str = "http://search.yahoo.com/mrss/";
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// A feed document: its own metadata and its items, unvalidated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedFeed {
    pub format: &'static str,
    pub title: Option<String>,
    /// Declared language tag, e.g. `en-gb`.
    pub language: Option<String>,
    pub items: Vec<RawItem>,
    /// Items past [`MAX_ITEMS`], not read.
    pub dropped: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty response")]
    Empty,
    #[error("an HTML page, not a feed")]
    Html,
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("not a feed: {0}")]
    NotAFeed(String),
}

/// Recognises the format by content (servers often mislabel feeds) and parses it.
pub fn parse(body: &[u8]) -> Result<ParsedFeed, ParseError> {
    // Feeds are UTF-8 nearly always; the usual exception is Latin-1, whose bytes are the
    // first 256 code points, which beats replacement characters everywhere.
    let text: std::borrow::Cow<str> = match std::str::from_utf8(body) {
        Ok(s) => s.into(),
        Err(_) => body
            .iter()
            .map(|&b| char::from(b))
            .collect::<String>()
            .into(),
    };
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if text.is_empty() {
        return Err(ParseError::Empty);
    }
    let head: String = text
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    if head.starts_with("<!doctype html") || head.starts_with("<html") {
        return Err(ParseError::Html);
    }
    match text.as_bytes()[0] {
        b'{' => parse_json_feed(text),
        b'<' => parse_xml(text),
        _ => Err(ParseError::NotAFeed("neither XML nor JSON".into())),
    }
}

fn parse_xml(text: &str) -> Result<ParsedFeed, ParseError> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc =
        Document::parse_with_options(text, options).map_err(|e| ParseError::Xml(e.to_string()))?;
    let root = doc.root_element();
    match root.tag_name().name() {
        "rss" | "RDF" => Ok(parse_rss(root)),
        "feed" => Ok(parse_atom(root)),
        "html" => Err(ParseError::Html),
        other => Err(ParseError::NotAFeed(format!(
            "XML with root element <{}>",
            super::clean::truncate_chars(other, 40)
        ))),
    }
}

/// All text inside a node (CDATA included, markup of XHTML content flattened).
fn text_of(node: Node) -> String {
    node.descendants()
        .filter(Node::is_text)
        .filter_map(|n| n.text())
        .collect()
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// The first child element named `name` in one of `namespaces` (`None` = no namespace).
fn child<'a, 'i>(
    node: Node<'a, 'i>,
    name: &str,
    namespaces: &[Option<&str>],
) -> Option<Node<'a, 'i>> {
    node.children().find(|c| {
        c.is_element()
            && c.tag_name().name() == name
            && namespaces.contains(&c.tag_name().namespace())
    })
}

fn child_text(node: Node, name: &str, namespaces: &[Option<&str>]) -> Option<String> {
    child(node, name, namespaces)
        .map(text_of)
        .and_then(non_empty)
}

const RSS: &[Option<&str>] = &[None, Some(NS_RSS1)];

fn parse_rss(root: Node) -> ParsedFeed {
    let channel = child(root, "channel", RSS);
    let meta = |name: &str, ns: &[Option<&str>]| channel.and_then(|c| child_text(c, name, ns));
    let mut feed = ParsedFeed {
        format: "RSS",
        title: meta("title", RSS),
        language: meta("language", RSS).or_else(|| meta("language", &[Some(NS_DC)])),
        ..ParsedFeed::default()
    };
    // RSS 2.0 nests items in the channel, RSS 1.0 puts them beside it.
    let items = root.descendants().filter(|n| {
        n.is_element() && n.tag_name().name() == "item" && RSS.contains(&n.tag_name().namespace())
    });
    for node in items {
        if feed.items.len() >= MAX_ITEMS {
            feed.dropped += 1;
            continue;
        }
        feed.items.push(rss_item(node));
    }
    feed
}

fn rss_item(node: Node) -> RawItem {
    let link = child_text(node, "link", RSS).or_else(|| {
        child(node, "guid", RSS)
            .filter(|g| g.attribute("isPermaLink") != Some("false"))
            .map(text_of)
            .and_then(non_empty)
    });
    let description = child_text(node, "description", RSS)
        .or_else(|| child_text(node, "encoded", &[Some(NS_CONTENT)]));
    let author = child_text(node, "creator", &[Some(NS_DC)])
        .or_else(|| child_text(node, "author", RSS).map(|a| email_author(&a)));
    let published =
        child_text(node, "pubDate", RSS).or_else(|| child_text(node, "date", &[Some(NS_DC)]));
    let image = node
        .children()
        .filter(|c| c.is_element())
        .find_map(|c| {
            let ns = c.tag_name().namespace();
            let name = c.tag_name().name();
            let is_image = c.attribute("type").is_some_and(|t| t.starts_with("image/"))
                || c.attribute("medium") == Some("image");
            match (ns, name) {
                (None, "enclosure") if is_image => c.attribute("url"),
                (Some(NS_MEDIA), "content") if is_image || c.attribute("type").is_none() => {
                    c.attribute("url")
                }
                (Some(NS_MEDIA), "thumbnail") => c.attribute("url"),
                _ => None,
            }
        })
        .map(str::to_owned);
    RawItem {
        title: child_text(node, "title", RSS),
        link,
        description,
        author,
        image,
        published,
        ..RawItem::default()
    }
}

/// RSS `author` is an email, often `jo@example.org (Jo Doe)`: keep the name if there is one.
fn email_author(raw: &str) -> String {
    match (raw.find('('), raw.rfind(')')) {
        (Some(open), Some(close)) if open < close => raw[open + 1..close].trim().to_owned(),
        _ => raw.trim().to_owned(),
    }
}

const ATOM: &[Option<&str>] = &[Some(NS_ATOM), None];

fn parse_atom(root: Node) -> ParsedFeed {
    let mut feed = ParsedFeed {
        format: "Atom",
        title: child_text(root, "title", ATOM),
        language: root.attribute((NS_XML, "lang")).map(str::to_owned),
        ..ParsedFeed::default()
    };
    for node in root
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "entry")
    {
        if feed.items.len() >= MAX_ITEMS {
            feed.dropped += 1;
            continue;
        }
        feed.items.push(atom_entry(node));
    }
    feed
}

/// An Atom link's relation; a link without one is the alternate (the article itself).
fn rel<'a>(link: &Node<'a, '_>) -> &'a str {
    link.attribute("rel").unwrap_or("alternate")
}

fn atom_entry(node: Node) -> RawItem {
    let links: Vec<Node> = node
        .children()
        .filter(|c| {
            c.is_element()
                && c.tag_name().name() == "link"
                && ATOM.contains(&c.tag_name().namespace())
        })
        .collect();
    let link = links
        .iter()
        .filter(|l| rel(l) == "alternate")
        .max_by_key(|l| l.attribute("type").is_none_or(|t| t.contains("html")))
        .and_then(|l| l.attribute("href"))
        .map(str::to_owned);
    let image = links
        .iter()
        .find(|l| {
            rel(l) == "enclosure" && l.attribute("type").is_some_and(|t| t.starts_with("image/"))
        })
        .and_then(|l| l.attribute("href"))
        .or_else(|| {
            node.children()
                .find(|c| {
                    c.is_element()
                        && c.tag_name().namespace() == Some(NS_MEDIA)
                        && c.tag_name().name() == "thumbnail"
                })
                .and_then(|c| c.attribute("url"))
        })
        .map(str::to_owned);
    let (language, country) = node
        .attribute((NS_XML, "lang"))
        .map(from_language_tag)
        .unwrap_or_default();
    RawItem {
        title: child_text(node, "title", ATOM),
        link,
        description: child_text(node, "summary", ATOM)
            .or_else(|| child_text(node, "content", ATOM)),
        author: child(node, "author", ATOM).and_then(|a| child_text(a, "name", ATOM)),
        image,
        published: child_text(node, "published", ATOM)
            .or_else(|| child_text(node, "updated", ATOM)),
        language: language.map(str::to_owned),
        country: country.map(str::to_owned),
        ..RawItem::default()
    }
}

fn parse_json_feed(text: &str) -> Result<ParsedFeed, ParseError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ParseError::Json(e.to_string()))?;
    let version = v.get("version").and_then(Value::as_str).unwrap_or_default();
    if !version.contains("jsonfeed.org") {
        return Err(ParseError::NotAFeed(
            "JSON, but not a JSON Feed (no jsonfeed.org version)".into(),
        ));
    }
    let items = v
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::NotAFeed("JSON Feed without an `items` list".into()))?;
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .and_then(non_empty)
    };
    let mut feed = ParsedFeed {
        format: "JSON Feed",
        title: s(&v, "title"),
        language: s(&v, "language"),
        dropped: items.len().saturating_sub(MAX_ITEMS),
        ..ParsedFeed::default()
    };
    for item in items.iter().take(MAX_ITEMS) {
        let author = item
            .get("authors")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .or_else(|| item.get("author"))
            .and_then(|a| s(a, "name"));
        let (language, country) = s(item, "language")
            .map(|l| from_language_tag(&l))
            .unwrap_or_default();
        feed.items.push(RawItem {
            title: s(item, "title"),
            link: s(item, "url").or_else(|| s(item, "external_url")),
            description: s(item, "summary")
                .or_else(|| s(item, "content_text"))
                .or_else(|| s(item, "content_html")),
            author,
            image: s(item, "image").or_else(|| s(item, "banner_image")),
            published: s(item, "date_published").or_else(|| s(item, "date_modified")),
            language: language.map(str::to_owned),
            country: country.map(str::to_owned),
            ..RawItem::default()
        });
    }
    Ok(feed)
}

/// What the items of a parsed feed fall back to: the operator's tags win, then the item's
/// own, then the feed's declared language; items still untagged are stored anyway (general,
/// International, detected language or unknown). The source name is the feed's title.
pub(crate) fn defaults(
    parsed: &ParsedFeed,
    feed: &FeedSource,
    url: &url::Url,
    label: &str,
) -> Defaults {
    let (declared_language, declared_country) = parsed
        .language
        .as_deref()
        .map(from_language_tag)
        .unwrap_or_default();
    Defaults {
        forced_category: feed.category,
        forced_country: feed.country,
        forced_language: feed.language,
        category: None,
        country: declared_country,
        language: declared_language,
        untagged: Untagged::Store,
        source: parsed
            .title
            .clone()
            .or_else(|| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| label.to_owned()),
        base: Some(url.clone()),
    }
}

/// The id a feed's state is stored under.
fn state_id(feed: &FeedSource) -> String {
    format!("feed:{}", feed.url)
}

/// One cycle for one feed: back-off check, conditional GET, parse, store, remember validators.
pub async fn ingest(ing: &Ingester, feed: &FeedSource, now: i64, cutoff: i64) -> SourceReport {
    let label = redact_url(&feed.url);
    let mut report = SourceReport::new(label.clone());
    if let Err(e) = ingest_inner(ing, feed, &label, now, cutoff, &mut report).await {
        report.status = Status::Failed(format!("database: {e}"));
    }
    if let Status::Failed(why) = &report.status {
        tracing::warn!(source = %label, error = %why, "feed ingestion failed");
    }
    report
}

async fn ingest_inner(
    ing: &Ingester,
    feed: &FeedSource,
    label: &str,
    now: i64,
    cutoff: i64,
    report: &mut SourceReport,
) -> Result<(), crate::storage::Error> {
    let db = ing.db();
    let id = state_id(feed);
    let state = db.source_state(&id).await?;
    if state.blocked_until > now {
        report.status = Status::Skipped(format!(
            "{} until {}",
            state.blocked_reason.as_deref().unwrap_or("backing off"),
            super::format_time(state.blocked_until)
        ));
        return Ok(());
    }
    let url = match url::Url::parse(&feed.url) {
        Ok(u) => u,
        Err(e) => {
            report.status = Status::Failed(format!("invalid URL: {e}"));
            return Ok(());
        }
    };
    let mut headers: Vec<(HeaderName, String)> = vec![(ACCEPT, ACCEPT_FEEDS.to_owned())];
    if let Some(etag) = &state.etag {
        headers.push((IF_NONE_MATCH, etag.clone()));
    }
    if let Some(lm) = &state.last_modified {
        headers.push((IF_MODIFIED_SINCE, lm.clone()));
    }
    report.requests += 1;
    let response = match ing.http().get(&url, &headers).await {
        Ok(r) => r,
        Err(e) => {
            report.status = Status::Failed(e.to_string());
            return Ok(());
        }
    };
    match response.status {
        304 => {
            report.status = Status::NotModified;
            return Ok(());
        }
        s if s == 429 || (s == 503 && response.retry_after.is_some()) => {
            let until = ing
                .back_off(
                    &id,
                    label,
                    response.retry_after.as_deref(),
                    now,
                    response.status,
                )
                .await?;
            report.status = Status::Failed(format!(
                "HTTP {} (rate limited); next request after {}",
                response.status,
                super::format_time(until)
            ));
            return Ok(());
        }
        200..=299 => {}
        status => {
            report.status = Status::Failed(format!("HTTP {status}"));
            return Ok(());
        }
    }
    let parsed = match parse(&response.body) {
        Ok(p) => p,
        Err(e) => {
            let kind = response
                .content_type
                .as_deref()
                .unwrap_or("no content type");
            report.status = Status::Failed(format!("{e} ({kind})"));
            return Ok(());
        }
    };
    report.fetched = (parsed.items.len() + parsed.dropped) as u64;
    if parsed.dropped > 0 {
        *report
            .skipped
            .entry(format!("beyond the first {MAX_ITEMS} items"))
            .or_default() += parsed.dropped as u64;
    }
    let defaults = defaults(&parsed, feed, &url, label);
    let articles = super::convert(&parsed.items, &defaults, now, cutoff, report);
    let stats = db.upsert_articles(&articles, now).await?;
    report.stored(stats);
    // Only a fetch that was parsed and stored may move the validators: a garbage 200 must
    // not make the next request conditional on content we never kept.
    db.save_source_validators(
        &id,
        label,
        response.etag.as_deref(),
        response.last_modified.as_deref(),
        now,
    )
    .await?;
    report.notes.push(format!("format {}", parsed.format));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_items_with_namespaces_cdata_and_images() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:media="http://search.yahoo.com/mrss/">
<channel><title>Wire &amp; Co</title><language>en-gb</language>
<item><title><![CDATA[One <i>story</i>]]></title><link>https://e.org/1</link>
<description>&lt;p&gt;Hello&lt;/p&gt;</description><pubDate>Thu, 05 Nov 2026 08:00:00 GMT</pubDate>
<dc:creator>Jo</dc:creator><media:content url="https://e.org/1.jpg" medium="image"/></item>
<item><guid isPermaLink="true">https://e.org/2</guid><title>Two</title><author>a@e.org (Al)</author>
<enclosure url="https://e.org/2.png" type="image/png" length="1"/></item>
</channel></rss>"#;
        let feed = parse(xml.as_bytes()).unwrap();
        assert_eq!(feed.format, "RSS");
        assert_eq!(feed.title.as_deref(), Some("Wire & Co"));
        assert_eq!(feed.language.as_deref(), Some("en-gb"));
        assert_eq!(feed.items.len(), 2);
        let one = &feed.items[0];
        assert_eq!(one.title.as_deref(), Some("One <i>story</i>"));
        assert_eq!(one.description.as_deref(), Some("<p>Hello</p>"));
        assert_eq!(one.author.as_deref(), Some("Jo"));
        assert_eq!(one.image.as_deref(), Some("https://e.org/1.jpg"));
        let two = &feed.items[1];
        assert_eq!(two.link.as_deref(), Some("https://e.org/2"));
        assert_eq!(two.author.as_deref(), Some("Al"));
        assert_eq!(two.image.as_deref(), Some("https://e.org/2.png"));
    }

    #[test]
    fn atom_entries() {
        let xml = r#"<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr-CA"><title>Fil</title>
<entry><title type="html">Un &lt;b&gt;titre&lt;/b&gt;</title>
<link rel="self" href="https://e.org/self"/><link href="https://e.org/a" type="text/html"/>
<link rel="enclosure" type="image/jpeg" href="https://e.org/a.jpg"/>
<updated>2026-11-05T08:00:00Z</updated><summary>Résumé</summary><author><name>Ana</name></author></entry>
<entry xml:lang="en-US"><title>Two</title><link href="/b"/><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Body</p></div></content></entry>
</feed>"#;
        let feed = parse(xml.as_bytes()).unwrap();
        assert_eq!(feed.format, "Atom");
        assert_eq!(feed.language.as_deref(), Some("fr-CA"));
        let a = &feed.items[0];
        assert_eq!(a.link.as_deref(), Some("https://e.org/a"));
        assert_eq!(a.image.as_deref(), Some("https://e.org/a.jpg"));
        assert_eq!(a.published.as_deref(), Some("2026-11-05T08:00:00Z"));
        assert_eq!(a.author.as_deref(), Some("Ana"));
        let b = &feed.items[1];
        assert_eq!(b.link.as_deref(), Some("/b"));
        assert_eq!(b.description.as_deref(), Some("Body"));
        assert_eq!(
            (b.language.as_deref(), b.country.as_deref()),
            (Some("en"), Some("us"))
        );
    }

    #[test]
    fn json_feed_items_tolerate_wrong_types() {
        let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"J","language":"de",
            "items":[{"id":"1","url":"https://e.org/j1","title":"Eins","content_html":"<p>x</p>",
            "date_published":"2026-11-05T08:00:00Z","authors":[{"name":"Bea"}],"image":"https://e.org/j.png"},
            {"id":"2","title":42,"url":["no"]}]}"#;
        let feed = parse(json.as_bytes()).unwrap();
        assert_eq!(feed.format, "JSON Feed");
        assert_eq!(feed.items.len(), 2);
        assert_eq!(feed.items[0].author.as_deref(), Some("Bea"));
        assert_eq!(feed.items[0].description.as_deref(), Some("<p>x</p>"));
        assert_eq!(feed.items[1].title, None);
        assert_eq!(feed.items[1].link, None);
    }

    #[test]
    fn garbage_is_an_error_not_a_feed() {
        assert_eq!(parse(b"   "), Err(ParseError::Empty));
        assert_eq!(
            parse(b"<!DOCTYPE html><html><body>hi</body></html>"),
            Err(ParseError::Html)
        );
        assert_eq!(
            parse(b"<html><body>hi</body></html>"),
            Err(ParseError::Html)
        );
        assert!(matches!(
            parse(b"<rss><channel><item></rss>"),
            Err(ParseError::Xml(_))
        ));
        assert!(matches!(parse(b"<rss><channel>"), Err(ParseError::Xml(_))));
        assert!(matches!(parse(b"{\"items\": [}"), Err(ParseError::Json(_))));
        assert!(matches!(
            parse(b"{\"items\": []}"),
            Err(ParseError::NotAFeed(_))
        ));
        assert!(matches!(
            parse(b"<svg></svg>"),
            Err(ParseError::NotAFeed(_))
        ));
        assert!(matches!(parse(b"just text"), Err(ParseError::NotAFeed(_))));
        // Entity expansion bombs are refused (no DTDs).
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><rss>&lol2;</rss>"#;
        assert!(matches!(parse(bomb.as_bytes()), Err(ParseError::Xml(_))));
    }

    #[test]
    fn latin1_feeds_are_read() {
        let mut xml =
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss><channel><item><title>Caf"
                .to_vec();
        xml.push(0xe9);
        xml.extend_from_slice(b"</title></item></channel></rss>");
        let feed = parse(&xml).unwrap();
        assert_eq!(feed.items[0].title.as_deref(), Some("Caf\u{e9}"));
    }

    #[test]
    fn long_feeds_are_cut() {
        let items: String = (0..MAX_ITEMS + 5)
            .map(|i| format!("<item><title>t{i}</title><link>https://e.org/{i}</link></item>"))
            .collect();
        let feed = parse(format!("<rss><channel>{items}</channel></rss>").as_bytes()).unwrap();
        assert_eq!((feed.items.len(), feed.dropped), (MAX_ITEMS, 5));
    }
}
