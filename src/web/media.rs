//! `GET /media/{article id}/{key}`: an article's image from the shared cache, fetched on first
//! request. Keyed by the image URL's hash, so a changed image gets a new URL and each URL's
//! bytes can be cached forever by browsers and the CDN.
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::error::AppError;
use super::{assets, AppState};
use crate::media::url_key;

/// Where the page points an article's image: through the cache when there is one.
pub fn image_src(state_has_media: bool, article_id: i64, image_url: &str) -> Option<String> {
    if let Some(local) = assets::resolve_image(image_url) {
        return Some(local.to_owned());
    }
    if !(image_url.starts_with("https://") || image_url.starts_with("http://")) {
        return None;
    }
    Some(if state_has_media {
        format!("/media/{article_id}/{}", &url_key(image_url)[..16])
    } else {
        image_url.to_owned()
    })
}

fn placeholder() -> Response {
    let asset = assets::FILES
        .iter()
        .find(|a| a.path == "img/placeholder.svg")
        .map_or(&b""[..], |a| a.body);
    let mut r = ([(header::CONTENT_TYPE, "image/svg+xml")], asset).into_response();
    // Short: the real image may be fetched successfully later.
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

fn image(bytes: Vec<u8>, kind: &'static str) -> Response {
    let mut r = ([(header::CONTENT_TYPE, kind)], bytes).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    r
}

pub async fn serve(
    State(state): State<AppState>,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let Some(media) = &state.media else {
        return Err(AppError::NotFound);
    };
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    if key.len() != 16
        || !key
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(AppError::NotFound);
    }
    // Only images of stored articles, and only the one this URL names.
    let Some(url) = state.db.article_image(id).await? else {
        return Err(AppError::NotFound);
    };
    let full = url_key(&url);
    if !full.starts_with(&key) {
        return Err(AppError::NotFound);
    }
    if let Some((bytes, kind)) = media.cached(&full).await {
        return Ok(image(bytes, kind));
    }
    if media.recently_failed(&full).await {
        return Ok(placeholder());
    }
    match media.fetch_and_store(&url, &full).await {
        Ok((bytes, kind)) => Ok(image(bytes, kind)),
        Err(e) => {
            tracing::info!(article_id = id, error = %e, "article image unavailable; showing the placeholder");
            Ok(placeholder())
        }
    }
}
