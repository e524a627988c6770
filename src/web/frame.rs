//! The frame every request passes through: request id, client address, a span named by the
//! route template, the panic guard, security headers, metrics and one log line.
//!
//! Written as a tower service rather than `middleware::from_fn`: `from_fn` boxes the inner
//! service and the whole middleware future on every request, and this frame is the fixed
//! cost of every request, `/healthz` included (bench/README.md, issue 19).
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tower::Service;

use super::error::AppError;
use super::{client_info, AppState};
use crate::config::Config;
use crate::telemetry::Metrics;

/// Wraps each route (and the fallback) in the frame.
#[derive(Clone)]
pub struct Layer {
    config: Arc<Config>,
    metrics: Arc<Metrics>,
}

impl Layer {
    pub fn new(state: &AppState) -> Self {
        Self {
            config: state.config.clone(),
            metrics: state.metrics.clone(),
        }
    }
}

impl<S> tower::Layer<S> for Layer {
    type Service = Frame<S>;

    fn layer(&self, inner: S) -> Frame<S> {
        Frame {
            inner,
            config: self.config.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Frame<S> {
    inner: S,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
}

/// What the frame keeps from the request until the response is ready.
struct Seen {
    start: Instant,
    id: HeaderValue,
    https: bool,
    /// The route template, not the path: bounded labels. Shares the router's string.
    route: Option<MatchedPath>,
    method: Method,
    span: tracing::Span,
    metrics: Arc<Metrics>,
}

impl<S> Service<Request> for Frame<S>
where
    S: Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = Framed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let start = Instant::now();
        let id = request_id(req.headers());
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let config = &self.config;
        let client = client_info(
            &config.trusted_proxies,
            config.client_address_header.as_deref(),
            peer,
            req.headers(),
        );
        let https = client.https;
        req.extensions_mut().insert(client);
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = req.method().clone();
        let span = tracing::info_span!(
            "request",
            %method,
            route = route.as_ref().map_or("unmatched", MatchedPath::as_str),
            request_id = id.to_str().unwrap_or_default()
        );
        // A service may panic in `call` as well as while its future runs.
        let inner = {
            let _enter = span.enter();
            std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(req))).ok()
        };
        Framed {
            inner,
            seen: Some(Seen {
                start,
                id,
                https,
                route,
                method,
                span,
                metrics: self.metrics.clone(),
            }),
        }
    }
}

pin_project! {
    pub struct Framed<F> {
        // None when the inner service panicked in `call`.
        #[pin]
        inner: Option<F>,
        seen: Option<Seen>,
    }
}

impl<F> Future for Framed<F>
where
    F: Future<Output = Result<Response, std::convert::Infallible>>,
{
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(seen) = this.seen.take() else {
            // Polled again after it answered: a caller's bug, answered without a second log line.
            return Poll::Ready(Ok(panic_page()));
        };
        let response = match this.inner.as_pin_mut() {
            None => panic_page(),
            Some(inner) => {
                let polled = {
                    let _enter = seen.span.enter();
                    std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx)))
                };
                match polled {
                    Ok(Poll::Pending) => {
                        *this.seen = Some(seen);
                        return Poll::Pending;
                    }
                    Ok(Poll::Ready(Ok(response))) => response,
                    Ok(Poll::Ready(Err(never))) => match never {},
                    // Not polled again: this future is done.
                    Err(_) => panic_page(),
                }
            }
        };
        Poll::Ready(Ok(finish(seen, response)))
    }
}

/// A panic in a handler or a layer becomes the generic 500 page (logged), not a dropped
/// connection.
fn panic_page() -> Response {
    AppError::Internal(anyhow::anyhow!("handler panicked")).into_response()
}

fn finish(seen: Seen, mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.reserve(SECURITY_HEADERS + 2);
    security_headers(headers, seen.https);
    headers.insert(HeaderName::from_static("x-request-id"), seen.id);
    let status = response.status().as_u16();
    let elapsed = seen.start.elapsed().as_secs_f64();
    let route = seen.route.as_ref().map_or("unmatched", MatchedPath::as_str);
    seen.metrics
        .observe_request(seen.method.as_str(), route, status, elapsed);
    let latency_ms = elapsed * 1000.0;
    let _enter = seen.span.enter();
    if route == "/healthz" || route == "/readyz" {
        tracing::debug!(status, latency_ms, "request");
    } else {
        tracing::info!(status, latency_ms, "request");
    }
    response
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The client's request id when it is a sane one (kept as it is, sharing the request's buffer),
/// else a new one.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get("x-request-id").filter(|v| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= 128 && b.iter().all(u8::is_ascii_graphic)
    }) {
        return v.clone();
    }
    // Not a secret: the thread's userspace generator spares a syscall per request.
    let bytes: [u8; 12] = rand::random();
    let mut text = [0u8; 24];
    for (pair, b) in text.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX_DIGITS[usize::from(b >> 4)];
        pair[1] = HEX_DIGITS[usize::from(b & 0xf)];
    }
    HeaderValue::from_bytes(&text).unwrap_or(HeaderValue::from_static("-"))
}

const CSP: &str = "default-src 'self'; img-src 'self' https: http: data:; style-src 'self'; \
                   script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// How many headers `security_headers` may add.
const SECURITY_HEADERS: usize = 8;

fn security_headers(headers: &mut HeaderMap, https: bool) {
    let fixed: [(HeaderName, &str); 6] = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    // Pages carry per-user content: never stored by a shared cache.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("private, no-store"));
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::convert::Infallible;

    use axum::http::StatusCode;
    use tower::{Layer as _, ServiceExt as _};

    use super::*;
    use crate::web::tests::headers;

    fn layer() -> Layer {
        let config = Config::from_vars(BTreeMap::new()).expect("the default configuration");
        Layer {
            config: Arc::new(config),
            metrics: Arc::new(Metrics::new()),
        }
    }

    #[test]
    fn request_ids_are_honoured_or_generated() {
        assert_eq!(
            request_id(&headers(&[("x-request-id", "abc-123")])),
            "abc-123"
        );
        let generated = request_id(&headers(&[("x-request-id", "has space")]));
        assert_eq!(generated.len(), 24);
        assert!(generated
            .as_bytes()
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)));
        assert_ne!(generated, request_id(&HeaderMap::new()));
    }

    async fn body_text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn answers_carry_the_frame_and_are_counted() {
        let layer = layer();
        let metrics = layer.metrics.clone();
        let service = layer.layer(tower::service_fn(|_: Request| async {
            Ok::<_, Infallible>(StatusCode::IM_A_TEAPOT.into_response())
        }));
        let req = Request::builder()
            .uri("/anything")
            .header("x-request-id", "from-the-edge")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = service.oneshot(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
        let h = response.headers();
        assert_eq!(h["x-request-id"], "from-the-edge");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::CACHE_CONTROL], "private, no-store");
        assert!(h.contains_key(header::CONTENT_SECURITY_POLICY));
        assert!(
            !h.contains_key(header::STRICT_TRANSPORT_SECURITY),
            "plain HTTP"
        );
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(out.contains(
            "newsread_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"418\"} 1"
        ));
    }

    /// A service that panics in `call` itself, before it returns a future.
    #[derive(Clone)]
    struct PanicsInCall;

    impl Service<Request> for PanicsInCall {
        type Response = Response;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request) -> Self::Future {
            panic!("boom in call");
        }
    }

    #[tokio::test]
    async fn a_panic_becomes_the_generic_500_page() {
        let layer = layer();
        let at_once = layer.layer(tower::service_fn(|_: Request| async {
            if true {
                panic!("boom");
            }
            Ok::<_, Infallible>(StatusCode::OK.into_response())
        }));
        let after_a_wait = layer.layer(tower::service_fn(|_: Request| async {
            tokio::task::yield_now().await;
            if true {
                panic!("boom after a wait");
            }
            Ok::<_, Infallible>(StatusCode::OK.into_response())
        }));
        let in_call = layer.layer(PanicsInCall);
        let empty = || Request::new(axum::body::Body::empty());
        for response in [
            at_once.oneshot(empty()).await.unwrap(),
            after_a_wait.oneshot(empty()).await.unwrap(),
            in_call.oneshot(empty()).await.unwrap(),
        ] {
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert!(response.headers().contains_key("x-request-id"));
            let body = body_text(response).await;
            assert!(!body.contains("boom"), "{body}");
        }
        let mut out = String::new();
        layer.metrics.render(&mut out);
        assert!(out.contains(
            "newsread_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"500\"} 3"
        ));
    }
}
