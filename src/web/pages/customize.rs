use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::domain::feed::FeedFilter;
use crate::domain::vocab::Dimension;
use crate::web::error::AppError;
use crate::web::form::Form;
use crate::web::session::{self, Flash, PageContext};
use crate::web::{AppState, Layout};

pub struct Choice {
    pub code: &'static str,
    pub name: &'static str,
    pub checked: bool,
}

pub struct Group {
    pub field: &'static str,
    pub legend: &'static str,
    pub hint: &'static str,
    pub selected: usize,
    pub choices: Vec<Choice>,
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
                choices: d
                    .vocabulary()
                    .iter()
                    .map(|(code, name)| Choice {
                        code,
                        name,
                        checked: selected.contains(code),
                    })
                    .collect(),
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
}

pub async fn show(State(state): State<AppState>, ctx: PageContext) -> Result<Response, AppError> {
    let user = ctx.require_user()?;
    let filter = state.db.preferences(user.user_id).await?;
    let view = CustomizePage {
        layout: ctx.layout("Customize your feed"),
        groups: groups(&filter),
        error: None,
    };
    Ok(ctx.render(StatusCode::OK, &view))
}

/// `POST /customize`: replaces the reader's selection; nothing checked in a group means all.
pub async fn submit(
    State(state): State<AppState>,
    ctx: PageContext,
    form: Form,
) -> Result<Response, AppError> {
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
        };
        return Ok(ctx.render(StatusCode::UNPROCESSABLE_ENTITY, &view));
    }
    filter.normalize();
    state
        .db
        .save_preferences(user.user_id, &filter, session::now())
        .await?;
    Ok(ctx.redirect("/news", Some(Flash::PreferencesSaved)))
}
