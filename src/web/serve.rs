//! Serving the router on a TCP listener, with the limits `axum::serve` does not offer: a
//! header-read timeout (a client that never finishes its headers is cut off) and a cap on
//! open connections; graceful shutdown drains the requests in flight. `berth serve` and the
//! tests both serve through [`serve`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// The most a client may take to send a request's headers (`BERTH_HEADER_TIMEOUT_SECS` may
/// lower it); it also ends keep-alive connections left idle that long.
pub const MAX_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The drain time by default (`BERTH_DRAIN_S`).
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(10);

/// How connections are held.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// A connection that has not sent a request's complete headers within this time (from
    /// its opening, or from the end of its previous request) is closed.
    pub header_read_timeout: Duration,
    /// Connections open at once; further clients wait in the listen queue until one closes.
    pub max_connections: usize,
    /// After shutdown is asked for, how long requests in flight may take; then every
    /// connection still open (idle, half-read or mid-request) is closed.
    pub drain: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: MAX_HEADER_READ_TIMEOUT,
            max_connections: default_max_connections(),
            drain: DEFAULT_DRAIN,
        }
    }
}

/// The default cap, sized for the machine: the process's open-file limit less 256 for the
/// database pool, the embedded PostgreSQL's pipes, logs and webhook deliveries, between 64
/// and 4096 (768 under the usual soft limit of 1024).
pub fn default_max_connections() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let files = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    } else {
        1024
    };
    files.saturating_sub(256).clamp(64, 4096)
}

/// Serves `app` on `listener` until `shutdown` completes, then waits for the requests in
/// flight, for at most `limits.drain`: idle keep-alive connections close at once, and
/// whatever is still open then (a client that sent half a request and waits, a slow
/// request) is closed, so a stop never waits on a client. Each request carries the peer's
/// address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout.min(MAX_HEADER_READ_TIMEOUT));
    let mut shutdown = std::pin::pin!(shutdown);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(move |req: axum::http::Request<Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            req
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        connections.spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "connections still open at the end of the drain time are closed"
        );
    }
    connections.shutdown().await;
    Ok(())
}
