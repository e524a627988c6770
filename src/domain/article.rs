//! News articles as stored and shown.
use super::Invalid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    pub id: i64,
    pub url: String,
    pub title: String,
    pub description: String,
    pub source: String,
    pub author: Option<String>,
    pub image_url: Option<String>,
    pub category: String,
    pub country: String,
    pub language: String,
    /// Unix seconds, UTC.
    pub published_at: i64,
    pub is_sample: bool,
}

/// An article on its way into the database, already cleaned by the ingestion layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArticle {
    pub url: String,
    pub title: String,
    pub description: String,
    pub source: String,
    pub author: Option<String>,
    pub image_url: Option<String>,
    pub category: &'static str,
    pub country: &'static str,
    pub language: &'static str,
    pub published_at: i64,
    pub is_sample: bool,
}

/// Query parameters that only track where a click came from; they make one article look like many.
fn is_tracking_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("utm_")
        || matches!(
            n.as_str(),
            "fbclid"
                | "gclid"
                | "dclid"
                | "msclkid"
                | "mc_cid"
                | "mc_eid"
                | "igshid"
                | "yclid"
                | "_ga"
                | "ref_src"
        )
}

/// The identity of an article's link: http(s) only, lower-case host, no fragment, no tracking
/// parameters, no default port. Two URLs that differ only in those are the same article.
pub fn canonical_url(raw: &str) -> Result<String, Invalid> {
    let mut url = url::Url::parse(raw.trim()).map_err(|_| Invalid::new("not a valid URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Invalid::new("only http and https links are kept"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Invalid::new("URL has no host"));
    }
    url.set_fragment(None);
    // The publisher's query is kept byte for byte (`?123456`, `a=1;b=2`, its own escaping):
    // decoding and re-encoding pairs would change links that servers match literally.
    if let Some(query) = url.query() {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|part| !part.is_empty())
            .filter(|part| {
                let key = part.split_once('=').map_or(*part, |(k, _)| k);
                let key = percent_decode(key);
                !is_tracking_param(&key)
            })
            .collect();
        let kept = kept.join("&");
        url.set_query((!kept.is_empty()).then_some(kept.as_str()));
    }
    Ok(url.to_string())
}

/// A query key as a browser would read it (`+` is a space), for comparing names only.
fn percent_decode(key: &str) -> String {
    form_urlencoded::parse(key.as_bytes())
        .next()
        .map_or_else(String::new, |(k, _)| k.into_owned())
}

/// An article id as a client writes it in a path: decimal digits only, positive, in range.
pub fn parse_article_id(raw: &str) -> Result<i64, Invalid> {
    let bad = || {
        let shown: String = raw.chars().take(40).collect();
        Invalid::new(format!(
            "`{shown}` is not an article id; ids are positive whole numbers."
        ))
    };
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_ids_are_positive_decimal_numbers() {
        assert_eq!(parse_article_id("42"), Ok(42));
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            "1.0",
            "abc",
            "99999999999999999999",
            " 1",
        ] {
            assert!(parse_article_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn canonical_urls_keep_the_publishers_query_exactly() {
        for (raw, want) in [
            ("https://x.org/story?123456", "https://x.org/story?123456"),
            ("https://x.org/p?a=1;b=2", "https://x.org/p?a=1;b=2"),
            (
                "https://x.org/p?q=a%2Fb&x=%7E",
                "https://x.org/p?q=a%2Fb&x=%7E",
            ),
            (
                "https://x.org/p?id=7&utm_source=rss&x",
                "https://x.org/p?id=7&x",
            ),
            (
                "https://x.org/p?%75tm_source=x&id=1",
                "https://x.org/p?id=1",
            ),
            ("https://x.org/p?utm_source=x&fbclid=2", "https://x.org/p"),
            ("https://x.org/p?&&id=1&", "https://x.org/p?id=1"),
        ] {
            assert_eq!(canonical_url(raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn canonical_urls_drop_tracking_and_fragments() {
        let a =
            canonical_url("https://News.Example.com:443/a/b?id=7&utm_source=x&UTM_medium=y#top")
                .unwrap();
        assert_eq!(a, "https://news.example.com/a/b?id=7");
        assert_eq!(
            canonical_url("http://x.org/p?fbclid=1").unwrap(),
            "http://x.org/p"
        );
        assert!(canonical_url("javascript:alert(1)").is_err());
        assert!(canonical_url("ftp://x.org/file").is_err());
        assert!(canonical_url("not a url").is_err());
    }
}
