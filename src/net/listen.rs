//! Accepting connections for `weft serve` and `weft studio`: each one served by hyper with a
//! short deadline for its request headers, a cap on open connections in all and per client
//! address, and all of them drained on shutdown.
//!
//! `axum::serve` gives hyper no timer, so a client that opens a connection and never finishes
//! its headers would hold it for ever; and it accepts without limit. Both are bounded here. A
//! full table does not turn new clients away while slow ones sit in it: a connection that is
//! not in the middle of a request (it has not finished its first request's headers, or it
//! waits idle between requests) is closed to make room — those that never sent a whole
//! request first, oldest first — so that a crowd of clients trickling partial headers
//! (slowloris) can't keep everyone else out. A connection with a request in flight is never
//! closed for room; when all are busy, the new one is closed instead.

use axum::Router;
use axum::body::{Body, Bytes};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

/// The default deadline for a request's headers, from the moment the server waits for them.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The default cap on open connections: below the usual limit of 1 024 open files per
/// process, leaving room for the runs' own connections and files.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// The default cap on open connections from one client address.
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 128;

/// How connections are served.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a client may take to send a request's headers, counted from when the server
    /// starts waiting for them (so also how long a keep-alive connection may stay idle).
    pub header_timeout: Duration,
    /// The most connections open at once.
    pub max_connections: usize,
    /// The most connections open at once from one client address.
    pub max_per_client: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_client: DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
        }
    }
}

/// Serves `router` on `listener` until `draining()` resolves, then waits for the open
/// connections to finish their requests. `draining` is called once for the accept loop and
/// once per connection.
pub async fn serve<D, F>(listener: TcpListener, router: Router, limits: Limits, draining: D)
where
    D: Fn() -> F + Clone + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let http = Arc::new(http);
    let table = Arc::new(Table::new(limits));
    // Every connection task holds a sender; when all are gone, every connection is closed.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    let stop = draining();
    let mut stop = std::pin::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            // That one connection went wrong (reset before it was accepted, say).
            Err(err) if is_connection_error(&err) => continue,
            Err(err) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(%err, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(connection) = table.admit(peer.ip()) else {
            // Not a warning each: a flood of connections would flood the log.
            tracing::debug!(client = %peer.ip(), "every connection is busy: one refused");
            continue;
        };
        // Small JSON answers: don't wait to coalesce them.
        let _ = tcp.set_nodelay(true);
        let inner = TowerToHyperService::new(router.clone());
        let service = {
            let connection = connection.clone();
            hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let busy = Busy::begin(&connection);
                let response = inner.call(request);
                async move {
                    let response = response.await?;
                    Ok::<_, std::convert::Infallible>(
                        response.map(|body| Tracked { body, _busy: busy }),
                    )
                }
            })
        };
        let (http, alive, draining, table) =
            (http.clone(), alive.clone(), draining.clone(), table.clone());
        tokio::spawn(async move {
            let served = http.serve_connection(TokioIo::new(tcp), service);
            let mut served = std::pin::pin!(served);
            tokio::select! {
                _ = served.as_mut() => {}
                // Closed to make room: dropping the connection closes it.
                () = connection.evicted.notified() => {}
                () = draining() => {
                    served.as_mut().graceful_shutdown();
                    let _ = served.await;
                }
            }
            table.remove(&connection);
            drop(alive);
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

/// A connection has not finished a request's headers yet.
const NEW: u8 = 0;
/// A request is in flight (from its headers to the end of its answer).
const BUSY: u8 = 1;
/// Between requests, after at least one.
const IDLE: u8 = 2;
/// Closed to make room.
const EVICTED: u8 = 3;

/// One open connection, as the table and its service see it.
struct Connection {
    /// Counts up: the lower, the older.
    id: u64,
    client: IpAddr,
    state: AtomicU8,
    /// When it last became idle, in milliseconds since the table's start.
    idle_since: AtomicU64,
    evicted: Notify,
    /// The table's start, to stamp `idle_since`.
    epoch: Instant,
}

impl Connection {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis().try_into().unwrap_or(u64::MAX)
    }
}

/// Marks a connection busy while a request is served, until its answer's body is done.
struct Busy(Arc<Connection>);

impl Busy {
    fn begin(connection: &Arc<Connection>) -> Self {
        // An evicted connection stays evicted: it is being closed.
        let _ = connection.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
            (state != EVICTED).then_some(BUSY)
        });
        Self(connection.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.idle_since.store(self.0.now(), Ordering::Release);
        let _ = self.0.state.compare_exchange(BUSY, IDLE, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// An answer's body, holding its connection busy until it is sent (or dropped).
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The open connections.
struct Table {
    limits: Limits,
    epoch: Instant,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    connections: HashMap<u64, Arc<Connection>>,
    per_client: HashMap<IpAddr, usize>,
}

impl Open {
    fn remove(&mut self, connection: &Connection) -> bool {
        if self.connections.remove(&connection.id).is_none() {
            return false;
        }
        if let Some(count) = self.per_client.get_mut(&connection.client) {
            *count -= 1;
            if *count == 0 {
                self.per_client.remove(&connection.client);
            }
        }
        true
    }

    /// Closes the connection that best gives way (of `client`, when given): one that never
    /// finished a request's headers, the oldest first; else the one idle the longest. False
    /// when every candidate has a request in flight.
    fn evict(&mut self, client: Option<IpAddr>) -> bool {
        loop {
            let candidates =
                self.connections.values().filter(|c| client.is_none_or(|ip| c.client == ip));
            // Those that never sent a request, the oldest first; then the longest idle.
            let victim = candidates
                .filter_map(|c| match c.state.load(Ordering::Acquire) {
                    NEW => Some(((0, 0, c.id), c)),
                    IDLE => Some(((1, c.idle_since.load(Ordering::Acquire), c.id), c)),
                    _ => None,
                })
                .min_by_key(|(key, _)| *key)
                .map(|(_, c)| c.clone());
            let Some(victim) = victim else { return false };
            let state = victim.state.load(Ordering::Acquire);
            let taken = matches!(state, NEW | IDLE)
                && victim
                    .state
                    .compare_exchange(state, EVICTED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
            if taken {
                self.remove(&victim);
                victim.evicted.notify_one();
                return true;
            }
            // It started a request meanwhile: look again.
        }
    }
}

impl Table {
    fn new(limits: Limits) -> Self {
        Self { limits, epoch: Instant::now(), open: Mutex::default() }
    }

    /// Registers a new connection from `client`, making room when the table or the client's
    /// share is full; `None` when no room can be made.
    fn admit(&self, client: IpAddr) -> Option<Arc<Connection>> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let theirs = open.per_client.get(&client).copied().unwrap_or(0);
        if theirs >= self.limits.max_per_client && !open.evict(Some(client)) {
            return None;
        }
        if open.connections.len() >= self.limits.max_connections && !open.evict(None) {
            return None;
        }
        open.next_id += 1;
        let connection = Arc::new(Connection {
            id: open.next_id,
            client,
            state: AtomicU8::new(NEW),
            idle_since: AtomicU64::new(0),
            evicted: Notify::new(),
            epoch: self.epoch,
        });
        open.connections.insert(connection.id, connection.clone());
        *open.per_client.entry(client).or_default() += 1;
        Some(connection)
    }

    fn remove(&self, connection: &Connection) {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).remove(connection);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(max_connections: usize, max_per_client: usize) -> Table {
        Table::new(Limits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_connections,
            max_per_client,
        })
    }

    #[test]
    fn room_is_made_by_closing_the_oldest_connection_without_a_request() {
        let table = table(3, 3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let state = |c: &Arc<Connection>| c.state.load(Ordering::Acquire);
        let first = table.admit(a).unwrap();
        let second = table.admit(a).unwrap();
        let third = table.admit(a).unwrap();
        // The first is busy: the second, the oldest without a request, makes room.
        let busy = Busy::begin(&first);
        let fourth = table.admit(a).unwrap();
        assert_eq!((state(&first), state(&second), state(&third)), (BUSY, EVICTED, NEW));
        // Idle after its request, the first goes after those that never sent one.
        drop(busy);
        let fifth = table.admit(a).unwrap();
        assert_eq!((state(&first), state(&third)), (IDLE, EVICTED));
        let busy = [Busy::begin(&fourth), Busy::begin(&fifth)];
        let sixth = table.admit(a).unwrap();
        assert_eq!(state(&first), EVICTED);
        // All busy: no room.
        let _busy = Busy::begin(&sixth);
        assert!(table.admit(a).is_none());
        // A request over: its connection can make room again.
        drop(busy);
        assert!(table.admit(a).is_some());
        assert_eq!(state(&fourth), EVICTED);
    }

    #[test]
    fn one_client_makes_room_among_its_own_connections() {
        let table = table(10, 2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let theirs = table.admit(b).unwrap();
        let first = table.admit(a).unwrap();
        table.admit(a).unwrap();
        table.admit(a).unwrap();
        assert_eq!(first.state.load(Ordering::Acquire), EVICTED);
        assert_eq!(theirs.state.load(Ordering::Acquire), NEW, "another client's connection stays");
        let open = table.open.lock().unwrap();
        assert_eq!((open.connections.len(), open.per_client[&a]), (3, 2));
    }
}
