//! The news source's vocabulary (mediastack's), with human names, plus two codes of our own
//! for feed articles that say no more: [`INTERNATIONAL`] and [`UNKNOWN_LANGUAGE`].

/// The country of feed articles that name none. `xx` is in ISO 3166's user-assigned range,
/// so no real country can ever take it, and it fits the two-letter column.
pub const INTERNATIONAL: &str = "xx";
/// The language of feed articles that neither declare one nor are reliably detected. `xx`
/// is no ISO 639-1 code.
pub const UNKNOWN_LANGUAGE: &str = "xx";

/// Countries mediastack serves, by ISO 3166-1 alpha-2 code.
pub const COUNTRIES: &[(&str, &str)] = &[
    ("ae", "United Arab Emirates"),
    ("ar", "Argentina"),
    ("at", "Austria"),
    ("au", "Australia"),
    ("be", "Belgium"),
    ("bg", "Bulgaria"),
    ("br", "Brazil"),
    ("ca", "Canada"),
    ("ch", "Switzerland"),
    ("cn", "China"),
    ("co", "Colombia"),
    ("cu", "Cuba"),
    ("cz", "Czechia"),
    ("de", "Germany"),
    ("eg", "Egypt"),
    ("es", "Spain"),
    ("fr", "France"),
    ("gb", "United Kingdom"),
    ("gr", "Greece"),
    ("hk", "Hong Kong"),
    ("hu", "Hungary"),
    ("id", "Indonesia"),
    ("ie", "Ireland"),
    ("il", "Israel"),
    ("in", "India"),
    ("it", "Italy"),
    ("jp", "Japan"),
    ("kr", "South Korea"),
    ("lt", "Lithuania"),
    ("lv", "Latvia"),
    ("ma", "Morocco"),
    ("mx", "Mexico"),
    ("my", "Malaysia"),
    ("ng", "Nigeria"),
    ("nl", "Netherlands"),
    ("no", "Norway"),
    ("nz", "New Zealand"),
    ("ph", "Philippines"),
    ("pl", "Poland"),
    ("pt", "Portugal"),
    ("ro", "Romania"),
    ("rs", "Serbia"),
    ("ru", "Russia"),
    ("sa", "Saudi Arabia"),
    ("se", "Sweden"),
    ("sg", "Singapore"),
    ("si", "Slovenia"),
    ("sk", "Slovakia"),
    ("th", "Thailand"),
    ("tr", "Türkiye"),
    ("tw", "Taiwan"),
    ("ua", "Ukraine"),
    ("us", "United States"),
    ("ve", "Venezuela"),
    ("xx", "International"),
    ("za", "South Africa"),
];

/// mediastack's 13 languages (its own codes: `se` is Swedish, `no` Norwegian), and unknown.
pub const LANGUAGES: &[(&str, &str)] = &[
    ("ar", "Arabic"),
    ("de", "German"),
    ("en", "English"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("he", "Hebrew"),
    ("it", "Italian"),
    ("nl", "Dutch"),
    ("no", "Norwegian"),
    ("pt", "Portuguese"),
    ("ru", "Russian"),
    ("se", "Swedish"),
    ("xx", "Unknown"),
    ("zh", "Chinese"),
];

pub const CATEGORIES: &[(&str, &str)] = &[
    ("general", "General"),
    ("business", "Business"),
    ("entertainment", "Entertainment"),
    ("health", "Health"),
    ("science", "Science"),
    ("sports", "Sports"),
    ("technology", "Technology"),
];

/// One of the three filter dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Country,
    Language,
    Category,
}

impl Dimension {
    pub const ALL: [Dimension; 3] = [Dimension::Country, Dimension::Language, Dimension::Category];

    pub fn field(self) -> &'static str {
        match self {
            Dimension::Country => "country",
            Dimension::Language => "language",
            Dimension::Category => "category",
        }
    }

    pub fn vocabulary(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Dimension::Country => COUNTRIES,
            Dimension::Language => LANGUAGES,
            Dimension::Category => CATEGORIES,
        }
    }

    /// Codes NewsRead gives articles itself; no upstream source uses them.
    pub fn own_codes(self) -> &'static [&'static str] {
        match self {
            Dimension::Country => &[INTERNATIONAL],
            Dimension::Language => &[UNKNOWN_LANGUAGE],
            Dimension::Category => &[],
        }
    }

    /// [`Dimension::lookup`] for a code from upstream (an item's or a feed's own tag, a
    /// mediastack query): a feed saying `xx` says nothing, it does not mean "International".
    pub fn lookup_upstream(self, code: &str) -> Option<&'static str> {
        self.lookup(code).filter(|c| !self.own_codes().contains(c))
    }

    /// The canonical `'static` code for user input, if it is in the vocabulary.
    pub fn lookup(self, code: &str) -> Option<&'static str> {
        let code = code.trim();
        self.vocabulary()
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(code))
            .map(|(c, _)| *c)
    }

    pub fn name_of(self, code: &str) -> &str {
        self.vocabulary()
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(code, |(_, name)| name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_are_sorted_unique_and_complete() {
        for d in Dimension::ALL {
            let codes: Vec<_> = d.vocabulary().iter().map(|(c, _)| *c).collect();
            let mut sorted = codes.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(codes.len(), sorted.len(), "{d:?} has duplicates");
        }
        assert_eq!(LANGUAGES.len(), 13 + 1);
        assert_eq!(CATEGORIES.len(), 7);
        for c in ["us", "gb", "ng"] {
            assert!(Dimension::Country.lookup(c).is_some());
        }
        assert_eq!(Dimension::Country.lookup("GB"), Some("gb"));
        assert_eq!(Dimension::Language.lookup("zz"), None);
        assert_eq!(Dimension::Category.name_of("sports"), "Sports");
    }

    #[test]
    fn our_own_codes_are_in_the_vocabulary_but_never_taken_from_upstream() {
        assert_eq!(Dimension::Country.name_of(INTERNATIONAL), "International");
        assert_eq!(Dimension::Language.name_of(UNKNOWN_LANGUAGE), "Unknown");
        for d in Dimension::ALL {
            for code in d.own_codes() {
                assert_eq!(d.lookup(&code.to_uppercase()), Some(*code));
                assert_eq!(d.lookup_upstream(code), None);
                // They fit the articles' VARCHAR(2) columns.
                assert_eq!(code.len(), 2);
            }
        }
        assert_eq!(Dimension::Country.lookup_upstream("GB"), Some("gb"));
    }
}
