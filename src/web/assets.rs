//! Static files compiled into the binary (see `build.rs`).
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::AppError;

pub struct Asset {
    pub path: &'static str,
    pub hashed: &'static str,
    pub etag: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The fingerprinted URL of an asset. Panics only for a name that is not in `assets/static`,
/// which the tests catch for every name the templates use.
pub fn url(path: &str) -> &'static str {
    static URLS: std::sync::LazyLock<Vec<(&'static str, String)>> =
        std::sync::LazyLock::new(|| {
            FILES
                .iter()
                .map(|a| (a.path, format!("/static/{}", a.hashed)))
                .collect()
        });
    URLS.iter()
        .find(|(p, _)| *p == path)
        .map(|(_, u)| u.as_str())
        .unwrap_or_else(|| panic!("unknown asset {path}"))
}

/// Maps a stored local image path (`/static/img/...`) to its fingerprinted URL; other URLs
/// pass through.
pub fn resolve_image(image: &str) -> Option<&'static str> {
    let rel = image.strip_prefix("/static/")?;
    FILES.iter().find(|a| a.path == rel).map(|a| url(a.path))
}

/// `GET /static/{*path}`: fingerprinted names are immutable for a year; plain names (used by
/// stored sample-article image paths) are cached briefly.
pub async fn serve(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, AppError> {
    let (asset, immutable) = FILES
        .iter()
        .find_map(|a| {
            if a.hashed == path {
                Some((a, true))
            } else if a.path == path {
                Some((a, false))
            } else {
                None
            }
        })
        .ok_or(AppError::NotFound)?;
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == asset.etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_pages_use_exists() {
        for name in ["app.css", "app.js", "favicon.svg", "img/placeholder.svg"] {
            let u = url(name);
            assert!(u.starts_with("/static/") && u.len() > name.len() + 9, "{u}");
        }
        assert!(resolve_image("/static/img/sample/science-1.svg").is_some());
        assert_eq!(resolve_image("https://example.com/x.png"), None);
    }
}
