//! `GET /media/{article id}/{key}`: an article's image from the shared cache, fetched on first
//! request. Keyed by the image URL's hash, so a changed image gets a new URL and each URL's
//! bytes can be cached forever by browsers and the CDN.
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::error::AppError;
use super::{assets, AppState};
use crate::media::{url_key, CachedImage};

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

/// The image streamed from its file in small chunks: never read whole into memory.
fn image(cached: CachedImage) -> Response {
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(cached.file));
    let mut r = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(cached.kind)),
            (header::CONTENT_LENGTH, HeaderValue::from(cached.len)),
        ],
        body,
    )
        .into_response();
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
    if let Some(cached) = media.cached(&full).await {
        return Ok(image(cached));
    }
    if media.recently_failed(&full).await {
        return Ok(placeholder());
    }
    match media.fetch_once(&url, &full).await {
        Ok(()) => Ok(media.cached(&full).await.map_or_else(placeholder, image)),
        Err(e) => {
            tracing::info!(article_id = id, error = %e, "article image unavailable; showing the placeholder");
            Ok(placeholder())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cached_images_are_streamed_in_small_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::media::MediaStore::new(dir.path(), false).unwrap();
        let key = url_key("https://images.example.org/big.png");
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.resize(1024 * 1024, 7);
        let shard = dir.path().join("media").join(&key[..2]);
        std::fs::create_dir_all(&shard).unwrap();
        std::fs::write(shard.join(&key), &bytes).unwrap();

        let cached = store.cached(&key).await.expect("cached");
        let response = image(cached);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "image/png");
        assert_eq!(
            response.headers()[header::CONTENT_LENGTH],
            bytes.len().to_string().as_str()
        );
        let mut body = response.into_body();
        let (mut frames, mut largest, mut served) = (0, 0, Vec::new());
        while let Some(frame) = std::future::poll_fn(|cx| {
            http_body::Body::poll_frame(std::pin::Pin::new(&mut body), cx)
        })
        .await
        {
            let data = frame.unwrap().into_data().unwrap();
            frames += 1;
            largest = largest.max(data.len());
            served.extend_from_slice(&data);
        }
        assert_eq!(served, bytes);
        assert!(frames > 1, "sent in one piece: read whole into memory");
        assert!(largest <= 64 * 1024, "chunks of {largest} bytes");
    }
}
