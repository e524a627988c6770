use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::domain::feed::FeedFilter;
use crate::domain::vocab::Dimension;
use crate::web::error::AppError;
use crate::web::form::Form;
use crate::web::session::{Flash, PageContext};
use crate::web::{AppState, Layout};

pub struct Choice {
    pub code: &'static str,
    pub name: &'static str,
    pub checked: bool,
}

/// A run of choices under a sub-heading (countries by region); one untitled section otherwise.
pub struct Section {
    pub title: Option<&'static str>,
    pub choices: Vec<Choice>,
}

pub struct Group {
    pub field: &'static str,
    pub legend: &'static str,
    pub hint: &'static str,
    pub selected: usize,
    pub total: usize,
    pub sections: Vec<Section>,
}

/// World regions for the country list: 55 countries are quicker to scan in groups.
/// International (feed articles that name no country) has one of its own.
const REGIONS: [(&str, &[&str]); 6] = [
    ("Africa", &["eg", "ma", "ng", "za"]),
    (
        "Americas",
        &["ar", "br", "ca", "co", "cu", "mx", "us", "ve"],
    ),
    (
        "Asia and Pacific",
        &[
            "au", "cn", "hk", "id", "in", "jp", "kr", "my", "nz", "ph", "sg", "th", "tw",
        ],
    ),
    (
        "Europe",
        &[
            "at", "be", "bg", "ch", "cz", "de", "es", "fr", "gb", "gr", "hu", "ie", "it", "lt",
            "lv", "nl", "no", "pl", "pt", "ro", "rs", "ru", "se", "si", "sk", "tr", "ua",
        ],
    ),
    ("Middle East", &["ae", "il", "sa"]),
    ("Worldwide", &[crate::domain::vocab::INTERNATIONAL]),
];

fn sections(d: Dimension, selected: &[&'static str]) -> Vec<Section> {
    let choice = |&(code, name): &(&'static str, &'static str)| Choice {
        code,
        name,
        checked: selected.contains(&code),
    };
    // Countries and languages alphabetically by name; categories in their own order.
    let by_name = |mut choices: Vec<Choice>| {
        if d != Dimension::Category {
            choices.sort_by_key(|c| c.name);
        }
        choices
    };
    if d != Dimension::Country {
        return vec![Section {
            title: None,
            choices: by_name(d.vocabulary().iter().map(choice).collect()),
        }];
    }
    let mut out: Vec<Section> = REGIONS
        .iter()
        .map(|(title, codes)| Section {
            title: Some(*title),
            choices: by_name(
                d.vocabulary()
                    .iter()
                    .filter(|(code, _)| codes.contains(code))
                    .map(choice)
                    .collect(),
            ),
        })
        .collect();
    // A country added to the vocabulary but not to a region is still offered.
    let rest: Vec<Choice> = d
        .vocabulary()
        .iter()
        .filter(|(code, _)| !REGIONS.iter().any(|(_, codes)| codes.contains(code)))
        .map(choice)
        .collect();
    if !rest.is_empty() {
        out.push(Section {
            title: Some("Other"),
            choices: by_name(rest),
        });
    }
    out
}

/// "1,234", or "10,000+" past the storage layer's counting cap.
fn format_count(n: i64) -> String {
    const CAP: i64 = 10_000; // storage::stats::COUNT_CAP
    let shown = n.min(CAP);
    let digits = shown.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n > CAP {
        out.push('+');
    }
    out
}

fn groups(filter: &FeedFilter) -> Vec<Group> {
    Dimension::ALL
        .into_iter()
        .map(|d| {
            let (legend, hint) = match d {
                Dimension::Country => ("Countries", "News published in these countries."),
                Dimension::Language => ("Languages", "Articles written in these languages."),
                Dimension::Category => ("Categories", "Topics you want to follow."),
            };
            let selected = filter.get(d);
            Group {
                field: d.field(),
                legend,
                hint,
                selected: selected.len(),
                total: d.vocabulary().len(),
                sections: sections(d, selected),
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "customize.html")]
struct CustomizePage {
    layout: Layout,
    groups: Vec<Group>,
    error: Option<String>,
    /// How many articles the saved selection matches, formatted; `None` when not counted.
    matching: Option<String>,
    /// Whether the saved selection matches nothing.
    matches_none: bool,
}

pub async fn show(State(state): State<AppState>, ctx: PageContext) -> Result<Response, AppError> {
    let user = ctx.require_user()?;
    let filter = &user.preferences;
    let count = state.db.count_matching(filter).await?;
    let view = CustomizePage {
        layout: ctx.layout("Customize your feed"),
        groups: groups(filter),
        error: None,
        matching: Some(format_count(count)),
        matches_none: count == 0,
    };
    Ok(ctx.render(StatusCode::OK, &view))
}

/// `POST /customize`: replaces the reader's selection; nothing checked in a group means all.
pub async fn submit(
    State(state): State<AppState>,
    ctx: PageContext,
    form: Form,
) -> Result<Response, AppError> {
    let result = save(&state, &ctx, &form).await;
    crate::web::error::offer_again(result, || {
        // The reader's choices, as submitted, offered again.
        let mut filter = FeedFilter::default();
        for d in Dimension::ALL {
            for value in form.all(d.field()) {
                let _ = filter.add(d, value);
            }
        }
        let view = CustomizePage {
            layout: ctx.layout("Customize your feed"),
            groups: groups(&filter),
            error: Some(crate::web::error::READ_ONLY_MESSAGE.to_owned()),
            matching: None,
            matches_none: false,
        };
        ctx.render(StatusCode::SERVICE_UNAVAILABLE, &view)
    })
}

async fn save(state: &AppState, ctx: &PageContext, form: &Form) -> Result<Response, AppError> {
    let user = ctx.require_user()?;
    ctx.check_csrf(form.get("csrf_token"))?;
    let mut filter = FeedFilter::default();
    let mut error = None;
    for d in Dimension::ALL {
        for value in form.all(d.field()) {
            if let Err(e) = filter.add(d, value) {
                error.get_or_insert(e.0);
            }
        }
    }
    if let Some(error) = error {
        let view = CustomizePage {
            layout: ctx.layout("Customize your feed"),
            groups: groups(&filter),
            error: Some(error),
            matching: None,
            matches_none: false,
        };
        return Ok(ctx.render(StatusCode::UNPROCESSABLE_ENTITY, &view));
    }
    filter.normalize();
    state
        .db
        .save_preferences(user.user_id, &filter, crate::clock::unix_now())
        .await?;
    Ok(ctx.redirect("/news", Some(Flash::PreferencesSaved)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_and_capped() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1000), "1,000");
        assert_eq!(format_count(10_000), "10,000");
        assert_eq!(format_count(10_001), "10,000+");
    }

    #[test]
    fn every_country_is_in_exactly_one_region() {
        let all = sections(Dimension::Country, &[]);
        let codes: Vec<&str> = all
            .iter()
            .flat_map(|s| s.choices.iter().map(|c| c.code))
            .collect();
        assert_eq!(codes.len(), Dimension::Country.vocabulary().len());
        assert!(all.iter().all(|s| s.title != Some("Other")), "{codes:?}");
    }
}
