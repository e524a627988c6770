//! Response bodies made of shared pieces, so that text rendered once per cached feed page
//! (the cards HTML, the API JSON) goes out without being copied into every response.
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};

/// Shared text as `Bytes`, without a copy.
pub fn shared(text: Arc<str>) -> Bytes {
    Bytes::from_owner(SharedText(text))
}

struct SharedText(Arc<str>);

impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// A body of several chunks with an exact length (so it is sent with `Content-Length`, and
/// hyper writes the chunks with one vectored write rather than copying them together).
pub fn chunks(parts: impl IntoIterator<Item = Bytes>) -> Body {
    let parts: VecDeque<Bytes> = parts.into_iter().filter(|b| !b.is_empty()).collect();
    let remaining = parts.iter().map(|b| b.len() as u64).sum();
    Body::new(Chunks { parts, remaining })
}

struct Chunks {
    parts: VecDeque<Bytes>,
    remaining: u64,
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let next = this.parts.pop_front();
        if let Some(b) = &next {
            this.remaining -= b.len() as u64;
        }
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunks_arrive_whole_and_in_order() {
        let cards: Arc<str> = "<li>b</li>".into();
        let body = chunks([
            Bytes::from_static(b"<ol>"),
            shared(cards.clone()),
            Bytes::new(),
            Bytes::from_static(b"</ol>"),
        ]);
        assert_eq!(
            http_body::Body::size_hint(&body).exact(),
            Some(19),
            "exact length, so Content-Length"
        );
        let bytes = axum::body::to_bytes(body, 1024).await.unwrap();
        assert_eq!(&bytes[..], b"<ol><li>b</li></ol>");
    }
}
