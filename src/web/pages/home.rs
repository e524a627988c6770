use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use crate::web::session::PageContext;
use crate::web::Layout;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
}

/// `GET /`: the landing page; readers who are logged in go straight to their news.
pub async fn show(ctx: PageContext) -> Response {
    if ctx.user.is_some() {
        return ctx.redirect("/news", None);
    }
    ctx.render(
        StatusCode::OK,
        &HomePage {
            layout: ctx.layout("News that fits you"),
        },
    )
}
