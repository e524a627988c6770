//! What a reader asks for: a filter over the three dimensions and a keyset cursor.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::vocab::Dimension;
use super::Invalid;

/// Selected codes per dimension; an empty list means "all".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedFilter {
    pub countries: Vec<&'static str>,
    pub languages: Vec<&'static str>,
    pub categories: Vec<&'static str>,
}

impl FeedFilter {
    pub fn get(&self, d: Dimension) -> &[&'static str] {
        match d {
            Dimension::Country => &self.countries,
            Dimension::Language => &self.languages,
            Dimension::Category => &self.categories,
        }
    }

    fn get_mut(&mut self, d: Dimension) -> &mut Vec<&'static str> {
        match d {
            Dimension::Country => &mut self.countries,
            Dimension::Language => &mut self.languages,
            Dimension::Category => &mut self.categories,
        }
    }

    /// Adds user-supplied codes (each value may be comma-separated). All or nothing: one
    /// unknown code rejects the whole value.
    pub fn add(&mut self, d: Dimension, raw: &str) -> Result<(), Invalid> {
        let codes = raw
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|part| {
                d.lookup(part).ok_or_else(|| {
                    let shown: String = part.chars().take(40).collect();
                    Invalid::new(format!("Unknown {} code `{shown}`.", d.field()))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let list = self.get_mut(d);
        for code in codes {
            if !list.contains(&code) {
                list.push(code);
            }
        }
        Ok(())
    }

    /// Adds codes already taken from the vocabulary.
    pub fn add_codes(&mut self, d: Dimension, codes: &[&'static str]) {
        let list = self.get_mut(d);
        for code in codes {
            if !list.contains(code) {
                list.push(code);
            }
        }
    }

    /// Rebuilds a filter from stored codes, dropping any the vocabulary no longer has.
    pub fn from_stored(countries: &str, languages: &str, categories: &str) -> Self {
        let mut f = FeedFilter::default();
        for (d, raw) in Dimension::ALL
            .into_iter()
            .zip([countries, languages, categories])
        {
            for part in raw.split(',') {
                if let Some(code) = d.lookup(part) {
                    if !f.get(d).contains(&code) {
                        f.get_mut(d).push(code);
                    }
                }
            }
        }
        f.normalize();
        f
    }

    /// Sorted codes, so equal selections compare and store equally.
    pub fn normalize(&mut self) {
        for d in Dimension::ALL {
            self.get_mut(d).sort_unstable();
        }
    }

    pub fn stored(&self, d: Dimension) -> String {
        self.get(d).join(",")
    }

    pub fn is_empty(&self) -> bool {
        Dimension::ALL.iter().all(|d| self.get(*d).is_empty())
    }
}

/// Position after the last article of a page: newest-first order is (published_at, id) descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub published_at: i64,
    pub id: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.published_at, self.id))
    }

    pub fn decode(raw: &str) -> Result<Self, Invalid> {
        let bad = || Invalid::new("The page cursor is not valid; start again from the first page.");
        if raw.len() > 64 {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
        let (p, i) = text.split_once('.').ok_or_else(bad)?;
        let published_at = p.parse().map_err(|_| bad())?;
        let id = i.parse().map_err(|_| bad())?;
        if id <= 0 {
            return Err(bad());
        }
        Ok(Self { published_at, id })
    }
}

/// Position after the last article of a page of saved articles: newest saved first is
/// (saved_at, article_id) descending. Encoded like [`Cursor`], so both stay opaque alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedCursor {
    pub saved_at: i64,
    pub article_id: i64,
}

impl SavedCursor {
    pub fn encode(&self) -> String {
        Cursor {
            published_at: self.saved_at,
            id: self.article_id,
        }
        .encode()
    }

    pub fn decode(raw: &str) -> Result<Self, Invalid> {
        let c = Cursor::decode(raw)?;
        Ok(Self {
            saved_at: c.published_at,
            article_id: c.id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            published_at: 1_700_000_000,
            id: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        for bad in [
            "",
            "x",
            "!!!",
            &URL_SAFE_NO_PAD.encode("1.0"),
            &URL_SAFE_NO_PAD.encode("a.b"),
            &"A".repeat(100),
        ] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filter_accepts_repeats_and_commas() {
        let mut f = FeedFilter::default();
        f.add(Dimension::Country, "us, GB").unwrap();
        f.add(Dimension::Country, "us").unwrap();
        f.add(Dimension::Category, "sports").unwrap();
        assert_eq!(f.countries, vec!["us", "gb"]);
        assert!(f.add(Dimension::Language, "en,klingon").is_err());
        f.normalize();
        assert_eq!(f.stored(Dimension::Country), "gb,us");
        assert_eq!(FeedFilter::from_stored("gb,us,zz", "", "sports"), f);
    }
}
