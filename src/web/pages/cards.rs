//! Article cards, shared by the news page and the saved-articles page, and the per-reader
//! save buttons spliced into them.
//!
//! A news page's cards are rendered once per cached feed page and shared by every reader
//! (`FeedPage::rendered`), so they carry no reader's state: each card's save button is
//! rendered "not saved", and its span is kept (`CardsHtml::spans`). A reader who saved some
//! of the page's articles gets the shared text with just those spans replaced: slices of one
//! shared buffer and a few small buttons, never a copy of the page.
use askama::Template;
use axum::body::Bytes;

use crate::domain::article::Article;
use crate::domain::vocab::Dimension;
use crate::storage::CardsHtml;
use crate::web::body;
use crate::web::error::AppError;

/// An article as a card on the page, borrowed from the (possibly cached) page.
pub struct Card<'a> {
    pub id: i64,
    pub title: &'a str,
    pub url: &'a str,
    pub description: &'a str,
    pub source: &'a str,
    pub author: Option<&'a str>,
    pub image: Option<String>,
    pub category: &'a str,
    pub category_name: &'a str,
    pub country_name: &'a str,
    pub language_name: &'a str,
    pub published_iso: String,
    pub published_ago: String,
    pub is_sample: bool,
    /// "2 hours ago" on the saved-articles page (never on the shared news cards).
    pub saved_ago: Option<String>,
}

/// "5 minutes ago", "3 hours ago", "2 days ago", else the date.
pub fn ago(ts: i64, now: i64) -> String {
    let secs = (now - ts).max(0);
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    match secs {
        0..60 => "just now".to_owned(),
        60..3600 => plural(secs / 60, "minute"),
        3600..86_400 => plural(secs / 3600, "hour"),
        86_400..604_800 => plural(secs / 86_400, "day"),
        _ => time::OffsetDateTime::from_unix_timestamp(ts)
            .ok()
            .and_then(|t| {
                t.format(time::macros::format_description!(
                    "[day] [month repr:short] [year]"
                ))
                .ok()
            })
            .unwrap_or_default(),
    }
}

impl<'a> Card<'a> {
    pub fn new(a: &'a Article, now: i64, cached_images: bool, saved_at: Option<i64>) -> Self {
        let image = a
            .image_url
            .as_deref()
            .and_then(|u| crate::web::media::image_src(cached_images, a.id, u));
        Card {
            id: a.id,
            category_name: Dimension::Category.name_of(&a.category),
            country_name: Dimension::Country.name_of(&a.country),
            language_name: Dimension::Language.name_of(&a.language),
            published_iso: crate::clock::rfc3339(a.published_at).unwrap_or_default(),
            published_ago: ago(a.published_at, now),
            title: &a.title,
            url: &a.url,
            description: &a.description,
            source: &a.source,
            author: a.author.as_deref(),
            image,
            category: &a.category,
            is_sample: a.is_sample,
            saved_ago: saved_at.map(|t| ago(t, now)),
        }
    }
}

/// Stands in each card where its save button goes. Nothing else in the cards can contain
/// it: everything else is escaped by askama (no `<` survives) or the template's own markup.
const BUTTON_SLOT: &str = "<!--save-button-->";

#[derive(Template)]
#[template(path = "news_cards.html")]
struct CardList<'a> {
    cards: Vec<Card<'a>>,
    placeholder: &'static str,
    /// `BUTTON_SLOT`, replaced by each card's save button after rendering.
    button_slot: &'static str,
}

/// A card's Save/Saved toggle: a submit button of the page's `save-form` (which holds the
/// reader's CSRF token), so the cards themselves carry nothing of the reader.
#[derive(Template)]
#[template(path = "save_button.html")]
struct SaveButton {
    id: i64,
    saved: bool,
}

pub fn save_button(id: i64, saved: bool) -> Result<String, AppError> {
    SaveButton { id, saved }
        .render()
        .map_err(|e| anyhow::anyhow!("save button failed to render: {e}").into())
}

/// Renders `cards` with the button `button(i)` for the i-th card, and where each button is.
fn render(
    cards: Vec<Card<'_>>,
    button: impl Fn(usize, i64) -> Result<String, AppError>,
) -> Result<CardsHtml, AppError> {
    let ids: Vec<i64> = cards.iter().map(|c| c.id).collect();
    let list = CardList {
        cards,
        placeholder: crate::web::assets::url("img/placeholder.svg"),
        button_slot: BUTTON_SLOT,
    };
    let rendered = list
        .render()
        .map_err(|e| anyhow::anyhow!("article cards failed to render: {e}"))?;
    let mut text = String::with_capacity(rendered.len() + ids.len() * 400);
    let mut spans = Vec::with_capacity(ids.len());
    let mut pieces = rendered.split(BUTTON_SLOT);
    text.push_str(pieces.next().unwrap_or_default());
    for (i, piece) in pieces.enumerate() {
        let id = *ids
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("more button slots than cards"))?;
        let start = text.len();
        text.push_str(&button(i, id)?);
        spans.push(start..text.len());
        text.push_str(piece);
    }
    if spans.len() != ids.len() {
        return Err(anyhow::anyhow!("{} button slots for {} cards", spans.len(), ids.len()).into());
    }
    Ok(CardsHtml {
        text: text.into(),
        spans,
    })
}

/// A feed page's cards as every reader gets them: every button "not saved".
pub fn shared(articles: &[Article], cached_images: bool) -> Result<CardsHtml, AppError> {
    let now = crate::clock::unix_now();
    let unsaved: Vec<String> = articles
        .iter()
        .map(|a| save_button(a.id, false))
        .collect::<Result<_, _>>()?;
    render(
        articles
            .iter()
            .map(|a| Card::new(a, now, cached_images, None))
            .collect(),
        |i, _| Ok(unsaved[i].clone()),
    )
}

/// Saved articles' cards, each with its save time and a "Saved" button (a reader's own page).
pub fn saved(
    items: &[crate::storage::SavedArticle],
    cached_images: bool,
) -> Result<String, AppError> {
    let now = crate::clock::unix_now();
    let cards = items
        .iter()
        .map(|s| Card::new(&s.article, now, cached_images, Some(s.saved_at)))
        .collect();
    Ok(render(cards, |_, id| save_button(id, true))?
        .text
        .to_string())
}

/// The shared cards for one reader: the spans of the articles in `saved` replaced by "Saved"
/// buttons. One piece (the shared text itself) when none is saved.
pub fn for_reader(
    cards: &CardsHtml,
    articles: &[Article],
    saved: &[i64],
) -> Result<Vec<Bytes>, AppError> {
    let all = body::shared(cards.text.clone());
    if saved.is_empty() {
        return Ok(vec![all]);
    }
    let mut pieces = Vec::with_capacity(saved.len() * 2 + 1);
    let mut at = 0;
    for (article, span) in articles.iter().zip(&cards.spans) {
        if saved.contains(&article.id) {
            pieces.push(all.slice(at..span.start));
            pieces.push(Bytes::from(save_button(article.id, true)?));
            at = span.end;
        }
    }
    pieces.push(all.slice(at..));
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: i64) -> Article {
        Article {
            id,
            url: format!("https://example.com/{id}"),
            title: format!("Title <{id}>"),
            description: String::new(),
            source: "Wire".into(),
            author: None,
            image_url: None,
            category: "general".into(),
            country: "us".into(),
            language: "en".into(),
            published_at: 1_800_000_000,
            is_sample: false,
        }
    }

    async fn text(pieces: Vec<Bytes>) -> String {
        let b = axum::body::to_bytes(body::chunks(pieces), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_reader_gets_the_shared_cards_with_only_their_saved_buttons_changed() {
        let mut articles: Vec<Article> = (1..=3).map(article).collect();
        // Article text can never pass for a slot: it is escaped.
        articles[2].title = BUTTON_SLOT.to_owned();
        let cards = shared(&articles, false).unwrap();
        assert_eq!(cards.spans.len(), 3);
        assert!(!cards.text.contains(BUTTON_SLOT));
        assert!(cards.text.contains("Title &#60;2&#62;"), "escaped");
        for (a, span) in articles.iter().zip(&cards.spans) {
            assert_eq!(&cards.text[span.clone()], save_button(a.id, false).unwrap());
        }
        // Nothing saved: the shared text itself, one piece.
        let none = for_reader(&cards, &articles, &[]).unwrap();
        assert_eq!(none.len(), 1);
        assert_eq!(text(none).await, &*cards.text);
        // Article 2 saved: its button (only) says so.
        let mine = text(for_reader(&cards, &articles, &[2]).unwrap()).await;
        let expected = cards.text.replacen(
            &save_button(2, false).unwrap(),
            &save_button(2, true).unwrap(),
            1,
        );
        assert_eq!(mine, expected);
        assert_eq!(mine.matches("aria-pressed=\"true\"").count(), 1);
        assert!(mine.contains("formaction=\"/saved/2/remove\""));
        assert!(
            mine.contains("formaction=\"/saved/1\"") && mine.contains("formaction=\"/saved/3\"")
        );
        // The shared text is unchanged for the next reader.
        assert_eq!(cards.text.matches("aria-pressed=\"true\"").count(), 0);
    }

    #[test]
    fn relative_times() {
        let now = 1_800_000_000;
        assert_eq!(ago(now - 5, now), "just now");
        assert_eq!(ago(now - 60, now), "1 minute ago");
        assert_eq!(ago(now - 7200, now), "2 hours ago");
        assert_eq!(ago(now - 86_400 * 3, now), "3 days ago");
        assert_eq!(ago(0, now), "01 Jan 1970");
    }
}
