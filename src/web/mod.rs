//! The HTTP layer: it translates requests into calls on the storage layer and results into
//! pages or JSON, and nothing more.
mod api;
pub mod assets;
mod body;
pub mod error;
mod form;
mod frame;
mod health;
mod media;
pub mod metrics;
mod pages;
pub mod server;
pub mod session;
mod throttle;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderMap;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use ipnet::IpNet;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;

use crate::config::Config;
use crate::password::Passwords;
use crate::storage::Db;
use crate::telemetry::Metrics;
use error::AppError;

/// Form and API bodies are small; anything larger is refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What handlers and middleware share, behind one `Arc`: every extractor and middleware
/// layer clones the state per request, and cloning the fields one by one (and dropping them)
/// was ~8% of a `/healthz`'s CPU (bench/README.md, issue 19).
#[derive(Clone)]
pub struct AppState(Arc<AppServices>);

impl AppState {
    pub fn new(services: AppServices) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppServices;
    fn deref(&self) -> &AppServices {
        &self.0
    }
}

pub struct AppServices {
    pub db: Db,
    pub config: Arc<Config>,
    pub passwords: Passwords,
    /// False from the moment a shutdown starts, so the load balancer drains this instance.
    pub ready: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
    /// The shared image cache, when a shared directory is configured.
    pub media: Option<crate::media::MediaStore>,
}

/// What every page's frame needs.
pub struct Layout {
    pub title: String,
    pub user: Option<String>,
    pub csrf_token: String,
    pub flash: Option<&'static str>,
    pub css: &'static str,
    pub js: &'static str,
    pub icon: &'static str,
    pub placeholder: &'static str,
}

impl Layout {
    pub fn anonymous() -> Self {
        Self {
            title: String::new(),
            user: None,
            csrf_token: String::new(),
            flash: None,
            css: assets::url("app.css"),
            js: assets::url("app.js"),
            icon: assets::url("favicon.svg"),
            placeholder: assets::url("img/placeholder.svg"),
        }
    }
}

/// The visitor as the application sees it, after trusted-proxy headers are applied.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub https: bool,
}

/// Who the client is: the peer, unless the peer is one of our proxies, in which case the
/// `client_header` (e.g. CloudFront's `CloudFront-Viewer-Address`, which the edge sets and
/// overwrites) or else the right-most `X-Forwarded-For` entry not added by our own proxies.
/// Addresses are canonical first: `::ffff:a.b.c.d` from a dual-stack listener is IPv4.
fn client_info(
    trusted: &[IpNet],
    client_header: Option<&str>,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> ClientInfo {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer.map(|p| p.to_canonical());
    let Some(peer) = peer.filter(|p| is_trusted(p)) else {
        return ClientInfo {
            ip: peer,
            https: false,
        };
    };
    let from_header = client_header
        .and_then(|name| headers.get(name))
        .and_then(|v| v.to_str().ok())
        .and_then(parse_viewer_address);
    let ip = from_header.or_else(|| {
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .map(|ip| ip.to_canonical())
            .collect();
        forwarded.iter().rev().find(|ip| !is_trusted(ip)).copied()
    });
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    ClientInfo {
        ip: ip.or(Some(peer)),
        https,
    }
}

/// `address:port` as CloudFront writes it (`198.51.100.10:46532`, IPv6 unbracketed:
/// `2001:db8::1:46532`), `[v6]:port`, or a bare address.
fn parse_viewer_address(value: &str) -> Option<IpAddr> {
    let value = value.trim();
    let ip = value
        .parse::<SocketAddr>()
        .map(|s| s.ip())
        .ok()
        .or_else(|| {
            let (addr, port) = value.rsplit_once(':')?;
            port.parse::<u16>().ok()?;
            addr.parse::<IpAddr>().ok()
        })
        .or_else(|| value.parse::<IpAddr>().ok())?;
    Some(ip.to_canonical())
}

async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        error::ApiError(AppError::NotFound).into_response()
    } else {
        AppError::NotFound.into_response()
    }
}

/// Every request passes through the frame (`frame.rs`: request id, client address, span,
/// metrics, log line, security headers, panic guard). Pages, the API, assets and media also
/// get the request timeout, compression, the body limit and personalised error pages; the
/// load balancer's probes do not need them (their bodies are a few bytes, they render no page,
/// and `/readyz` bounds its own check), and skipping those layers keeps the checks cheap.
pub fn router(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    let pages = Router::new()
        .route("/", get(pages::home::show))
        .route(
            "/register",
            get(pages::register::show).post(pages::register::submit),
        )
        .route("/login", get(pages::login::show).post(pages::login::submit))
        .route("/logout", post(pages::logout::submit))
        .route("/news", get(pages::news::show))
        .route("/saved", get(pages::saved::show))
        .route("/saved/{article_id}", post(pages::save::submit))
        .route("/saved/{article_id}/remove", post(pages::unsave::submit))
        .route(
            "/customize",
            get(pages::customize::show).post(pages::customize::submit),
        )
        .route("/account", get(pages::account::show))
        .route("/account/password", post(pages::account::change_password))
        .route("/account/delete", post(pages::account::delete))
        .route("/api/v1/articles", get(api::articles::list))
        .route("/api/v1/saved", get(api::saved::list))
        .route(
            "/api/v1/saved/{article_id}",
            put(api::saved::put).delete(api::saved::delete),
        )
        .route("/static/{*path}", get(assets::serve))
        .route("/media/{id}/{key}", get(media::serve))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            error::personalize,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ));
    let probes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    probes
        .merge(pages)
        .layer(frame::Layer::new(&state))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue};

    /// Also used by the tests of the other `web` modules.
    pub(super) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn forwarded_headers_only_from_trusted_peers() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/16".parse().unwrap()];
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9, 10.0.1.2"),
            ("x-forwarded-proto", "https"),
        ]);
        let via_proxy = client_info(&trusted, None, Some("10.0.0.5".parse().unwrap()), &h);
        assert_eq!(via_proxy.ip, Some("203.0.113.9".parse().unwrap()));
        assert!(via_proxy.https);
        let direct = client_info(&trusted, None, Some("198.51.100.7".parse().unwrap()), &h);
        assert_eq!(direct.ip, Some("198.51.100.7".parse().unwrap()));
        assert!(!direct.https);
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/16".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "::ffff:203.0.113.9, ::ffff:10.0.1.2")]);
        // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
        let mapped_peer = Some("::ffff:10.0.0.5".parse().unwrap());
        let via_proxy = client_info(&trusted, None, mapped_peer, &h);
        assert_eq!(via_proxy.ip, Some("203.0.113.9".parse().unwrap()));
        let direct = client_info(
            &trusted,
            None,
            Some("::ffff:198.51.100.7".parse().unwrap()),
            &h,
        );
        assert_eq!(direct.ip, Some("198.51.100.7".parse().unwrap()));
    }

    #[test]
    fn the_client_address_header_is_believed_only_from_trusted_peers() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/16".parse().unwrap()];
        let name = Some("cloudfront-viewer-address");
        let edge = Some("10.0.0.5".parse().unwrap());
        for (value, want) in [
            ("198.51.100.10:46532", "198.51.100.10"),
            ("2001:db8::1:46532", "2001:db8::1"),
            ("[2001:db8::2]:443", "2001:db8::2"),
            ("::ffff:198.51.100.11:5000", "198.51.100.11"),
            ("198.51.100.12", "198.51.100.12"),
        ] {
            let h = headers(&[
                ("cloudfront-viewer-address", value),
                ("x-forwarded-for", "203.0.113.9"),
            ]);
            let c = client_info(&trusted, name, edge, &h);
            assert_eq!(c.ip, Some(want.parse().unwrap()), "{value}");
        }
        // Unparseable or absent: the X-Forwarded-For rules apply.
        let h = headers(&[
            ("cloudfront-viewer-address", "garbage"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(
            client_info(&trusted, name, edge, &h).ip,
            Some("203.0.113.9".parse().unwrap())
        );
        // From an untrusted peer the header is the client's own claim: ignored.
        let h = headers(&[("cloudfront-viewer-address", "198.51.100.10:1")]);
        let direct = client_info(&trusted, name, Some("192.0.2.1".parse().unwrap()), &h);
        assert_eq!(direct.ip, Some("192.0.2.1".parse().unwrap()));
        // Not configured: the header means nothing.
        let c = client_info(&trusted, None, edge, &h);
        assert_eq!(c.ip, Some("10.0.0.5".parse().unwrap()));
    }
}
