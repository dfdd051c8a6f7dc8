//! Accepting connections: each one served by hyper with a deadline for its request headers, at
//! most a fixed number at once, and all of them drained on shutdown.
//!
//! `axum::serve` gives hyper no timer, so a client that opens a connection and never finishes
//! its headers would hold it for ever; and it accepts without limit. Both are bounded here, so
//! idle or slow clients can't pile up in front of the run slots.

use super::Phase;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

/// How connections are served.
pub(super) struct Limits {
    /// How long a client may take to send a request's headers; also how long an idle
    /// keep-alive connection stays open (hyper restarts the deadline when a connection idles).
    pub(super) header_timeout: Duration,
    /// The most connections open at once; more are closed as soon as they are accepted.
    pub(super) max_connections: usize,
}

/// Serves `router` on `listener` until the phase reaches [`Phase::Draining`], then waits for
/// the open connections to finish their requests.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut phase: watch::Receiver<Phase>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let http = Arc::new(http);
    let open = Arc::new(Semaphore::new(limits.max_connections));
    // Every connection task holds a sender; when all are gone, every connection is closed.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = draining(&mut phase) => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            // That one connection went wrong (reset before it was accepted, say).
            Err(err) if is_connection_error(&err) => continue,
            Err(err) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(%err, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            // Not a warning each: a flood of connections would flood the log.
            tracing::debug!(max = limits.max_connections, "too many connections: one refused");
            continue;
        };
        // Small JSON answers: don't wait to coalesce them.
        let _ = tcp.set_nodelay(true);
        let (http, service, alive, mut phase) =
            (http.clone(), TowerToHyperService::new(router.clone()), alive.clone(), phase.clone());
        tokio::spawn(async move {
            let connection = http.serve_connection(TokioIo::new(tcp), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = draining(&mut phase) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop((permit, alive));
        });
    }
    drop((listener, alive));
    let _ = all_closed.recv().await;
}

/// Whether an accept error concerns only the connection being accepted.
fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(err.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// Until the server starts draining (or its handle is gone).
async fn draining(phase: &mut watch::Receiver<Phase>) {
    // The guard `wait_for` returns is not `Send`: dropped here, before any other await.
    let _ = phase.wait_for(|p| *p >= Phase::Draining).await;
}
