//! What a reader typed into the search box, parsed once into terms every engine can be
//! given safely. Only two things are syntax: "quoted phrases" and a leading `-` that
//! excludes a word or phrase. Everything else is words: runs of letters and digits, so
//! quotes left open, operators, `%`, `*`, SQL or HTML can never reach an engine as syntax.
use super::Invalid;

/// Longest query, in characters.
pub const MAX_CHARS: usize = 200;
/// Most words searched for, counting those in phrases and exclusions; later ones are
/// dropped (and the reader told), so a pasted paragraph still searches rather than fails.
pub const MAX_WORDS: usize = 10;

/// One word, or a phrase of words that must appear in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Lower-case words, each non-empty and only letters and digits.
    pub words: Vec<String>,
}

/// A parsed search: articles must have every `include` term and none of the `exclude` ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub include: Vec<Term>,
    pub exclude: Vec<Term>,
    /// The text as typed (trimmed), to show back and to carry into paging links.
    pub text: String,
    /// Words past [`MAX_WORDS`] were dropped.
    pub truncated: bool,
}

impl SearchQuery {
    /// `Ok(None)` for an empty box. Too long is an error the reader can fix; anything else
    /// parses.
    pub fn parse(raw: &str) -> Result<Option<Self>, Invalid> {
        let text = raw.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if text.chars().count() > MAX_CHARS {
            return Err(Invalid::new(format!(
                "Search for at most {MAX_CHARS} characters."
            )));
        }
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        let mut count = 0;
        let mut truncated = false;
        let mut rest = text;
        while let Some(start) = rest.find(|c: char| c == '"' || c == '-' || is_word_char(c)) {
            rest = &rest[start..];
            let negated = rest.starts_with('-');
            if negated {
                rest = &rest[1..];
                // A `-` not directly before a word or phrase is just punctuation.
                if !rest.starts_with(|c: char| c == '"' || is_word_char(c)) {
                    continue;
                }
            }
            let words = if let Some(quoted) = rest.strip_prefix('"') {
                // A phrase runs to the closing quote, or to the end when it is left open.
                let end = quoted.find('"').unwrap_or(quoted.len());
                let phrase = &quoted[..end];
                rest = quoted.get(end + 1..).unwrap_or("");
                words_of(phrase)
            } else {
                let end = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
                let word = &rest[..end];
                rest = &rest[end..];
                words_of(word)
            };
            if words.is_empty() {
                continue;
            }
            let term = Term { words };
            let list = if negated { &mut exclude } else { &mut include };
            if list.contains(&term) {
                continue;
            }
            if count + term.words.len() > MAX_WORDS {
                truncated = true;
                break;
            }
            count += term.words.len();
            list.push(term);
        }
        Ok(Some(SearchQuery {
            include,
            exclude,
            text: text.to_owned(),
            truncated,
        }))
    }

    /// Nothing searchable was typed (only punctuation): no article can match.
    pub fn is_void(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// What is searched, as one string: the same for every text that finds the same
    /// articles (case, punctuation, words past the limit), a key for cached results. Words
    /// hold only letters and digits, so the separators cannot be confused with them.
    pub fn canonical(&self) -> String {
        let term = |sign: char, t: &Term| format!("{sign}{}", t.words.join(" "));
        self.include
            .iter()
            .map(|t| term('+', t))
            .chain(self.exclude.iter().map(|t| term('-', t)))
            .collect::<Vec<_>>()
            .join("|")
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !is_word_char(c))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(list: &[Term]) -> Vec<String> {
        list.iter().map(|t| t.words.join(" ")).collect()
    }

    fn parse(raw: &str) -> SearchQuery {
        SearchQuery::parse(raw).unwrap().unwrap()
    }

    #[test]
    fn texts_that_find_the_same_articles_have_one_canonical_form() {
        let canonical = |t: &str| SearchQuery::parse(t).unwrap().unwrap().canonical();
        assert_eq!(canonical("Eclipse  TOTAL!"), canonical("eclipse total"));
        assert_eq!(canonical("\"solar eclipse\" -moon"), "+solar eclipse|-moon");
        // A phrase is not its words apart, nor an exclusion an inclusion.
        assert_ne!(canonical("\"solar eclipse\""), canonical("solar eclipse"));
        assert_ne!(canonical("-moon"), canonical("moon"));
    }

    #[test]
    fn words_phrases_and_exclusions() {
        let q = parse(r#"  Telescope "Final Release" -budget -"river harbour" "#);
        assert_eq!(terms(&q.include), ["telescope", "final release"]);
        assert_eq!(terms(&q.exclude), ["budget", "river harbour"]);
        assert_eq!(
            q.text,
            r#"Telescope "Final Release" -budget -"river harbour""#
        );
    }

    #[test]
    fn syntax_of_every_engine_is_just_words() {
        let q = parse(r#"a% *b* c' OR 1=1; -- <script>x</script> NEAR(d e) col:f ^g"#);
        assert_eq!(
            terms(&q.include),
            ["a", "b", "c", "or", "1", "script", "x", "near", "d", "e"]
        );
        assert!(q.exclude.is_empty());
        // A dangling dash or quote is punctuation.
        let q = parse(r#"- "" -"  x"#);
        assert_eq!(terms(&q.include), [] as [&str; 0]);
        assert_eq!(terms(&q.exclude), ["x"]);
        assert!(parse("%%% *** \"\"").is_void());
    }

    #[test]
    fn unclosed_quote_runs_to_the_end_and_accents_are_kept() {
        let q = parse(r#"état "Côte d'Ivoire"#);
        assert_eq!(terms(&q.include), ["état", "côte d ivoire"]);
    }

    #[test]
    fn limits() {
        assert_eq!(SearchQuery::parse("   ").unwrap(), None);
        assert!(SearchQuery::parse(&"a".repeat(MAX_CHARS))
            .unwrap()
            .is_some());
        let long = SearchQuery::parse(&"é".repeat(MAX_CHARS + 1)).unwrap_err();
        assert!(long.0.contains("200 characters"), "{long}");
        let words: Vec<String> = (0..=MAX_WORDS).map(|i| format!("w{i}")).collect();
        let many = parse(&words.join(" "));
        assert_eq!(many.include.len(), MAX_WORDS);
        assert!(many.truncated);
        // Duplicates count once; a phrase that does not fit is dropped whole.
        let same = parse(&"same ".repeat(30));
        assert_eq!((same.include.len(), same.truncated), (1, false));
        let q = parse(r#"a b c d e f g h i "j k""#);
        assert_eq!((q.include.len(), q.truncated), (9, true));
    }
}
