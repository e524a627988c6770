//! The language of a feed item that declares none, detected from its text. Only a reliable
//! guess of one of our languages counts: a wrong language would hide the article from the
//! readers who can read it, so anything less is "unknown".
use whatlang::Lang;

/// Our language code for `text`, if whatlang is confident and the language is ours.
pub fn detect(text: &str) -> Option<&'static str> {
    let info = whatlang::detect(text)?;
    if !info.is_reliable() {
        return None;
    }
    code(info.lang())
}

/// whatlang's language (ISO 639-3) as our (mediastack's) code; `None` for languages we do
/// not list.
fn code(lang: Lang) -> Option<&'static str> {
    Some(match lang {
        Lang::Ara => "ar",
        Lang::Deu => "de",
        Lang::Eng => "en",
        Lang::Spa => "es",
        Lang::Fra => "fr",
        Lang::Heb => "he",
        Lang::Ita => "it",
        Lang::Nld => "nl",
        // Bokmål, the Norwegian whatlang knows.
        Lang::Nob => "no",
        Lang::Por => "pt",
        Lang::Rus => "ru",
        // mediastack's code for Swedish.
        Lang::Swe => "se",
        Lang::Cmn => "zh",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::vocab::{Dimension, UNKNOWN_LANGUAGE};

    #[test]
    fn every_language_of_ours_is_mapped_once_and_nothing_else() {
        let mut mapped: Vec<&str> = Lang::all().iter().filter_map(|l| code(*l)).collect();
        mapped.sort_unstable();
        let mut ours: Vec<&str> = Dimension::Language
            .vocabulary()
            .iter()
            .map(|(c, _)| *c)
            .filter(|c| *c != UNKNOWN_LANGUAGE)
            .collect();
        ours.sort_unstable();
        assert_eq!(mapped, ours);
    }

    #[test]
    fn clear_text_is_detected() {
        for (text, want) in [
            (
                "The city council approved the new budget for schools and hospitals on Tuesday evening.",
                "en",
            ),
            (
                "Der Stadtrat hat am Dienstagabend den neuen Haushalt für Schulen und Krankenhäuser beschlossen.",
                "de",
            ),
            (
                "Le conseil municipal a approuvé mardi soir le nouveau budget pour les écoles et les hôpitaux.",
                "fr",
            ),
            (
                "El ayuntamiento aprobó el martes por la noche el nuevo presupuesto para escuelas y hospitales.",
                "es",
            ),
            (
                "Городской совет во вторник вечером утвердил новый бюджет для школ и больниц.",
                "ru",
            ),
            (
                "وافق مجلس المدينة مساء الثلاثاء على الميزانية الجديدة للمدارس والمستشفيات.",
                "ar",
            ),
            (
                "מועצת העיר אישרה ביום שלישי בערב את התקציב החדש לבתי הספר ולבתי החולים.",
                "he",
            ),
            ("市议会周二晚上批准了学校和医院的新预算。", "zh"),
            (
                "Il consiglio comunale ha approvato martedì sera il nuovo bilancio per scuole e ospedali.",
                "it",
            ),
            (
                "De gemeenteraad heeft dinsdagavond de nieuwe begroting voor scholen en ziekenhuizen goedgekeurd.",
                "nl",
            ),
            (
                "A câmara municipal aprovou na terça-feira à noite o novo orçamento para escolas e hospitais.",
                "pt",
            ),
            (
                "Kommunfullmäktige godkände på tisdagskvällen den nya budgeten för skolor och sjukhus.",
                "se",
            ),
        ] {
            assert_eq!(detect(text), Some(want), "{text}");
        }
    }

    #[test]
    fn short_or_foreign_text_is_unknown() {
        // Too little to be sure of.
        for text in ["", "OK", "Live", "2026", "Update: 3-1"] {
            assert_eq!(detect(text), None, "{text:?}");
        }
        // Norwegian is too close to Danish to be sure of: such a feed needs its language
        // declared or tagged.
        assert_eq!(
            detect("Bystyret vedtok tirsdag kveld det nye budsjettet for skoler og sykehus."),
            None
        );
        // Surely Polish, which is not one of our languages.
        assert_eq!(
            detect(
                "Rada miasta zatwierdziła we wtorek wieczorem nowy budżet dla szkół i szpitali."
            ),
            None
        );
    }
}
