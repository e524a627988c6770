//! The listener: hyper's connection handling (what `axum::serve` does) plus what `axum::serve`
//! cannot set: a deadline for a request's headers and one for an idle kept-alive connection,
//! so slow or silent clients cannot hold connections forever.
//!
//! hyper's own `header_read_timeout` is not used: it starts when hyper begins waiting for a
//! request, idle time included, so it cannot tell a slow client (cut off after 10 s) from a
//! load balancer's kept-alive connection (which must stay open longer than the balancer's own
//! idle timeout, or the balancer gets 502s). A small watchdog per connection tells them apart,
//! with the semantics of Go's `ReadHeaderTimeout` and `IdleTimeout`.
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tower::Service as _;

/// How long a client may take to send a request's headers, and to start its next request.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From the connection (first request) or the first byte of a later request until the
    /// request's headers are complete.
    pub header_read: Duration,
    /// Between the end of a response and the first byte of the next request.
    pub idle: Duration,
}

/// What a connection is doing, for its watchdog.
struct Activity {
    /// Requests being handled or whose responses are being sent.
    in_flight: usize,
    /// When the connection last had nothing in flight (accepted, or last response sent).
    idle_since: Instant,
    /// When the first byte of the next request arrived, while nothing was in flight.
    reading_since: Option<Instant>,
    /// Whether a request has been answered on this connection.
    served: bool,
}

impl Activity {
    /// When the connection is to be closed if nothing changes; `None` while busy.
    fn deadline(&self, t: Timeouts) -> Option<Instant> {
        if self.in_flight > 0 {
            return None;
        }
        Some(match self.reading_since {
            Some(since) => since + t.header_read,
            None if !self.served => self.idle_since + t.header_read,
            None => self.idle_since + t.idle,
        })
    }
}

/// The connection's activity, read by its watchdog. Requests only update it (an uncontended
/// lock, no wake-up, no timer): the watchdog re-reads it when it wakes, at the deadline it
/// computed or after the shortest timeout at the latest. Every deadline lies at least that
/// far after the event that set it, so none is missed, and the timer is re-armed once per
/// timeout period rather than once or twice per request.
struct Watch {
    activity: Mutex<Activity>,
}

impl Watch {
    fn update(&self, f: impl FnOnce(&mut Activity)) {
        f(&mut self.activity.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Resolves when the connection has been silent (or slow) past its deadline.
    async fn expired(&self, timeouts: Timeouts) {
        let longest_nap = timeouts.header_read.min(timeouts.idle);
        loop {
            let deadline = self
                .activity
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .deadline(timeouts);
            let now = Instant::now();
            let wake = match deadline {
                Some(at) if at <= now => return,
                Some(at) => at.min(now + longest_nap),
                None => now + longest_nap,
            };
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// The socket, noting when a request starts to arrive on an idle connection.
struct Watched {
    io: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let mut a = self
                .watch
                .activity
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if a.in_flight == 0 && a.reading_since.is_none() {
                a.reading_since = Some(Instant::now());
            }
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// One request in flight, from its headers until its response has been sent (or dropped).
struct InFlight(Arc<Watch>);

impl InFlight {
    fn start(watch: Arc<Watch>) -> Self {
        watch.update(|a| {
            a.in_flight += 1;
            a.reading_since = None;
        });
        Self(watch)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|a| {
            a.in_flight = a.in_flight.saturating_sub(1);
            if a.in_flight == 0 {
                a.idle_since = Instant::now();
                a.served = true;
            }
        });
    }
}

/// A response body that keeps its request counted as in flight until it is done.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets every
/// connection finish its requests, and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (signal_tx, signal_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    // Every connection holds a receiver; the server returns when all are gone.
    let (close_tx, close_rx) = watch::channel(());
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = signal_tx.closed() => break,
        };
        let (router, signal_tx, close_rx) = (router.clone(), signal_tx.clone(), close_rx.clone());
        tokio::spawn(async move {
            connection(stream, remote, router, timeouts, signal_tx).await;
            drop(close_rx);
        });
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
}

/// Accept errors: per-connection ones (the client went away) are nothing; others (out of
/// file descriptors) get a pause so the loop does not spin.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    timeouts: Timeouts,
    signal: watch::Sender<()>,
) {
    let watch = Arc::new(Watch {
        activity: Mutex::new(Activity {
            in_flight: 0,
            idle_since: Instant::now(),
            reading_since: None,
            served: false,
        }),
    });
    let io = TokioIo::new(Watched {
        io: stream,
        watch: watch.clone(),
    });
    let service_watch = watch.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let in_flight = InFlight::start(service_watch.clone());
        req.extensions_mut().insert(ConnectInfo(remote));
        let mut router = router.clone();
        async move {
            let response = router.call(req.map(Body::new)).await?;
            Ok::<_, Infallible>(response.map(|body| Tracked {
                body,
                _in_flight: in_flight,
            }))
        }
    });
    let builder = Builder::new(TokioExecutor::new());
    let mut conn = pin!(builder.serve_connection_with_upgrades(io, service));
    let mut shutting_down = pin!(signal.closed());
    let mut expired = pin!(watch.expired(timeouts));
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                return;
            }
            // Finish the request in progress, then close (an idle connection closes now).
            () = &mut shutting_down, if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            () = &mut expired => {
                tracing::debug!(%remote, "closing a connection that was idle or slow to send its request");
                return;
            }
        }
    }
}
