//! Turning upstream text into what we store: plain text, capped lengths, http(s) links only.
//! Upstreams send HTML in descriptions, entities everywhere and links of every scheme; the
//! pages escape on output anyway, but stored text should already be what a reader sees.
use crate::domain::article::canonical_url;

/// Column caps (the MySQL schema's); text is cut on a character boundary before storing.
pub const MAX_URL: usize = 2048;
pub const MAX_TITLE: usize = 500;
/// Descriptions are cut well below the 2000-character column: a card shows a teaser.
pub const MAX_DESCRIPTION: usize = 1000;
pub const MAX_SOURCE: usize = 200;
pub const MAX_AUTHOR: usize = 200;

/// Elements whose content is never text a reader should see.
const HIDDEN: [&str; 4] = ["script", "style", "noscript", "template"];

/// Elements that end a line of text when rendered.
const BLOCK: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
];

/// HTML (or plain text with entities) to one line of plain text: tags and comments removed,
/// entities decoded, whitespace collapsed, at most `max` characters (cut at a word with `…`).
pub fn plain_text(html: &str, max: usize) -> String {
    let stripped = strip_tags(html);
    let decoded = decode_entities(&stripped);
    let collapsed = collapse_whitespace(&decoded);
    truncate_words(&collapsed, max)
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let tail = &rest[lt..];
        if let Some(after) = tail.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        // A `<` not starting a tag ("a < b") is text.
        let next = tail[1..].chars().next();
        if !next.is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!' || c == '?') {
            out.push('<');
            rest = &tail[1..];
            continue;
        }
        let Some(gt) = tail.find('>') else {
            // An unterminated tag: drop the remainder rather than show markup.
            rest = "";
            break;
        };
        let tag = &tail[1..gt];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        rest = &tail[gt + 1..];
        if !tag.starts_with('/') && HIDDEN.contains(&name.as_str()) {
            let close = format!("</{name}");
            rest = find_ascii_ci(rest, &close).map_or("", |i| {
                let after = &rest[i..];
                after.find('>').map_or("", |g| &after[g + 1..])
            });
        }
        // Block-level boundaries separate words; inline tags (b, a, span) do not.
        if BLOCK.contains(&name.as_str()) {
            out.push(' ');
        }
    }
    out.push_str(rest);
    out
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    let h = haystack.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Named entities worth knowing in news text; unknown ones are left as written.
const ENTITIES: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", ' '),
    ("ndash", '–'),
    ("mdash", '—'),
    ("hellip", '…'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("sbquo", '‚'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("bdquo", '„'),
    ("laquo", '«'),
    ("raquo", '»'),
    ("copy", '©'),
    ("reg", '®'),
    ("trade", '™'),
    ("deg", '°'),
    ("euro", '€'),
    ("pound", '£'),
    ("yen", '¥'),
    ("cent", '¢'),
    ("sect", '§'),
    ("middot", '·'),
    ("bull", '•'),
    ("times", '×'),
    ("divide", '÷'),
    ("plusmn", '±'),
    ("frac12", '½'),
    ("frac14", '¼'),
    ("frac34", '¾'),
    ("iexcl", '¡'),
    ("iquest", '¿'),
    ("shy", '\u{ad}'),
    ("thinsp", ' '),
    ("ensp", ' '),
    ("emsp", ' '),
    ("aacute", 'á'),
    ("Aacute", 'Á'),
    ("agrave", 'à'),
    ("Agrave", 'À'),
    ("acirc", 'â'),
    ("auml", 'ä'),
    ("Auml", 'Ä'),
    ("atilde", 'ã'),
    ("aring", 'å'),
    ("aelig", 'æ'),
    ("ccedil", 'ç'),
    ("Ccedil", 'Ç'),
    ("eacute", 'é'),
    ("Eacute", 'É'),
    ("egrave", 'è'),
    ("Egrave", 'È'),
    ("ecirc", 'ê'),
    ("euml", 'ë'),
    ("iacute", 'í'),
    ("igrave", 'ì'),
    ("icirc", 'î'),
    ("iuml", 'ï'),
    ("ntilde", 'ñ'),
    ("Ntilde", 'Ñ'),
    ("oacute", 'ó'),
    ("ograve", 'ò'),
    ("ocirc", 'ô'),
    ("ouml", 'ö'),
    ("Ouml", 'Ö'),
    ("otilde", 'õ'),
    ("oslash", 'ø'),
    ("Oslash", 'Ø'),
    ("szlig", 'ß'),
    ("uacute", 'ú'),
    ("ugrave", 'ù'),
    ("ucirc", 'û'),
    ("uuml", 'ü'),
    ("Uuml", 'Ü'),
    ("yacute", 'ý'),
    ("yuml", 'ÿ'),
];

/// Decodes `&name;`, `&#N;` and `&#xH;`. Invalid or unknown references stay as written; code
/// points that are not characters (or are controls) become U+FFFD / a space.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp + 1..];
        let end = tail
            .char_indices()
            .take(32)
            .find(|(_, c)| *c == ';')
            .map(|(i, _)| i);
        let decoded = end.and_then(|end| {
            let name = &tail[..end];
            let ch = if let Some(num) = name.strip_prefix('#') {
                let code = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => num.parse::<u32>().ok(),
                }?;
                let c = char::from_u32(code).unwrap_or('\u{fffd}');
                if c.is_control() && !c.is_whitespace() {
                    ' '
                } else {
                    c
                }
            } else {
                ENTITIES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)?
            };
            Some((ch, end))
        });
        match decoded {
            Some((ch, end)) => {
                out.push(ch);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| c.is_whitespace() || (c.is_control())) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// At most `max` characters; a longer text is cut at the last space in its final fifth (or
/// mid-word if there is none) and ends with `…`.
pub fn truncate_words(s: &str, max: usize) -> String {
    if s.chars().count() <= max || max == 0 {
        return if max == 0 {
            String::new()
        } else {
            s.to_owned()
        };
    }
    let limit = max - 1;
    let cut = s.char_indices().nth(limit).map_or(s.len(), |(i, _)| i);
    let head = &s[..cut];
    let min_keep = head.len() * 4 / 5;
    let head = match head.rfind(' ') {
        Some(sp) if sp >= min_keep => &head[..sp],
        _ => head,
    };
    format!("{}…", head.trim_end())
}

/// Cuts to at most `max` characters on a character boundary (no ellipsis).
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// The canonical form of an article link, or why it is not kept.
pub fn article_url(raw: &str, base: Option<&url::Url>) -> Result<String, &'static str> {
    let raw = decode_entities(raw.trim());
    if raw.is_empty() {
        return Err("no link");
    }
    let absolute = absolutize(&raw, base).ok_or("invalid link")?;
    let canonical = canonical_url(&absolute).map_err(|_| "link is not http(s)")?;
    if canonical.chars().count() > MAX_URL {
        return Err("link too long");
    }
    Ok(canonical)
}

/// An image URL if it is http(s) and fits; anything else is dropped (the article is kept).
pub fn image_url(raw: &str, base: Option<&url::Url>) -> Option<String> {
    let raw = decode_entities(raw.trim());
    if raw.is_empty() {
        return None;
    }
    let absolute = absolutize(&raw, base)?;
    let url = url::Url::parse(&absolute).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    let s = url.to_string();
    (s.chars().count() <= MAX_URL).then_some(s)
}

fn absolutize(raw: &str, base: Option<&url::Url>) -> Option<String> {
    match url::Url::parse(raw) {
        Ok(u) => Some(u.to_string()),
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            base.and_then(|b| b.join(raw).ok()).map(|u| u.to_string())
        }
        Err(_) => None,
    }
}

/// A URL safe to log or show: no credentials, no query (API keys travel there), no fragment.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "[unparseable URL]".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_plain_text() {
        let html = "<p>Hello&nbsp;<b>world</b> &amp; <a href=\"x\">friends</a>!</p>\n\n<script>alert('x')</script><style>p{}</style>  Bye &#8212; &#x41;&unknown; 3 < 4 <!-- hidden -->";
        assert_eq!(
            plain_text(html, 200),
            "Hello world & friends! Bye — A&unknown; 3 < 4"
        );
        assert_eq!(plain_text("<p>unterminated <b", 100), "unterminated");
        assert_eq!(
            plain_text("&lt;b&gt;shown as text&lt;/b&gt;", 100),
            "<b>shown as text</b>"
        );
        assert_eq!(plain_text("a\u{0}b\u{7}c", 100), "a b c");
        assert_eq!(
            decode_entities("&#0; &#xD800; &#99999999999;"),
            "  \u{fffd} &#99999999999;"
        );
    }

    #[test]
    fn long_text_is_cut_at_a_word_with_an_ellipsis() {
        let text = "word ".repeat(100);
        let cut = plain_text(&text, 50);
        assert!(cut.chars().count() <= 50, "{cut}");
        assert!(cut.ends_with("word…"), "{cut}");
        let one = "x".repeat(60);
        assert_eq!(truncate_words(&one, 10).chars().count(), 10);
        assert_eq!(truncate_chars("ééé", 2), "éé");
        assert_eq!(truncate_words("short", 10), "short");
    }

    #[test]
    fn only_http_links_are_kept() {
        let base = url::Url::parse("https://feeds.example.org/news/rss.xml").unwrap();
        assert_eq!(
            article_url(" https://Example.org/a?utm_source=x&amp;id=1#c ", None).unwrap(),
            "https://example.org/a?id=1"
        );
        assert_eq!(
            article_url("/story/1", Some(&base)).unwrap(),
            "https://feeds.example.org/story/1"
        );
        assert_eq!(
            article_url("javascript:alert(1)", None),
            Err("link is not http(s)")
        );
        assert_eq!(article_url("", None), Err("no link"));
        assert_eq!(article_url("/relative", None), Err("invalid link"));
        let long = format!("https://example.org/{}", "a".repeat(3000));
        assert_eq!(article_url(&long, None), Err("link too long"));
        assert_eq!(image_url("data:image/png;base64,xx", None), None);
        assert_eq!(
            image_url("img/a.jpg", Some(&base)).as_deref(),
            Some("https://feeds.example.org/news/img/a.jpg")
        );
    }

    #[test]
    fn redacted_urls_lose_keys_and_credentials() {
        assert_eq!(
            redact_url("http://user:pw@api.example.com/v1/news?access_key=SECRET&limit=1#x"),
            "http://api.example.com/v1/news"
        );
    }
}
