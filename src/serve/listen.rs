//! Serving the API on a socket so that slow or idle clients cannot hold it: every connection
//! must send its request headers within a time limit (which also ends idle keep-alive
//! connections), bodies have their own limit ([`super::DEFAULT_BODY_TIMEOUT`]), and the number
//! of connections stays under the open-file limit. A new connection beyond the cap closes the
//! oldest one (at once, unless it is answering a request, which may finish), so a client that
//! opens hundreds of idle or half-sent connections cannot keep `/healthz` or anyone else out.

use super::EditorApi;
use crate::util::lock;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Limits on the connections [`serve`] accepts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// Longest wait for a request's headers, from the moment the connection is ready for one:
    /// a new connection, or an idle keep-alive one (default 10 s).
    pub header_read_timeout: Duration,
    /// Most connections open at once (default: half of the open-file limit left after 64,
    /// at most 1024). A new one beyond it closes the oldest; closed ones still finishing a
    /// request may add an eighth more (plus 8) for up to `grace`, past which accepting waits.
    pub max_connections: usize,
    /// How long a closed connection may take to finish the request it is answering (5 s).
    pub grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: crate::util::fd::socket_budget(64, 1024).min(1024),
            grace: Duration::from_secs(5),
        }
    }
}

impl ConnectionLimits {
    /// Longest wait for a request's headers (and between keep-alive requests).
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Most connections open at once.
    pub fn with_max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }
}

/// One request being answered, counted for as long as it lives (also when dropped).
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn start(count: &Arc<AtomicUsize>) -> Busy {
        count.fetch_add(1, Ordering::SeqCst);
        Busy(count.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The open connections, oldest first, each with the signal that closes it.
#[derive(Default)]
struct Open {
    next: u64,
    connections: VecDeque<(u64, Arc<Notify>)>,
}

/// Serves `api` on `listener` within `limits` until `shutdown` completes, then closes every
/// connection gracefully and returns once the requests in flight are answered (or the
/// grace has passed). Errors accepting a connection (such as running out of file
/// descriptors) are waited out, not returned.
pub async fn serve(
    listener: TcpListener,
    api: EditorApi,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let service = TowerToHyperService::new(api.into_router());
    let open = Arc::new(Mutex::new(Open::default()));
    // Connections whose task has not ended, the closed ones finishing a request included:
    // what the cap bounds is descriptors.
    let alive = Arc::new(AtomicUsize::new(0));
    let hard_cap = limits.max_connections + limits.max_connections / 8 + 8;
    tokio::pin!(shutdown);
    'accepting: loop {
        // Closed connections finishing a request (up to `grace`) are still descriptors: past
        // a little headroom over the cap, stop accepting until some have gone.
        while alive.load(Ordering::SeqCst) >= hard_cap {
            if let Some((_, oldest)) = lock(&open).connections.pop_front() {
                oldest.notify_one();
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(5)) => {}
                () = &mut shutdown => break 'accepting,
            }
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break 'accepting,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // EMFILE and the like: connections will close and free descriptors.
                tracing::warn!(%error, "accept failed; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Answers are written in more than one piece; without TCP_NODELAY the last piece of a
        // large report can wait for the client's delayed ACK.
        let _ = stream.set_nodelay(true);
        let close = Arc::new(Notify::new());
        let alive = Busy::start(&alive);
        let id = {
            let mut open = lock(&open);
            // The oldest make room, at once when idle.
            while open.connections.len() >= limits.max_connections {
                if let Some((_, oldest)) = open.connections.pop_front() {
                    oldest.notify_one();
                }
            }
            open.next += 1;
            let id = open.next;
            open.connections.push_back((id, close.clone()));
            id
        };
        let service = service.clone();
        let open = open.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            // Requests of this connection being answered: a connection closed while none is
            // goes at once, even halfway through sending a request head (which is what a slow
            // client holding descriptors looks like); one answering a request gets the grace.
            let answering = Arc::new(AtomicUsize::new(0));
            let counted = {
                let answering = answering.clone();
                hyper::service::service_fn(move |request| {
                    let service = service.clone();
                    let busy = Busy::start(&answering);
                    async move {
                        let answer = hyper::service::Service::call(&service, request).await;
                        drop(busy);
                        answer
                    }
                })
            };
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), counted);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = close.notified() => {
                    if answering.load(Ordering::SeqCst) > 0 {
                        connection.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(limits.grace, connection).await;
                    }
                    // Otherwise dropping the connection closes its socket now.
                }
            }
            lock(&open).connections.retain(|(other, _)| *other != id);
            drop(alive);
        });
    }
    close_all(&open);
    // Requests being answered finish (within the grace) before `serve` returns, so a
    // process that exits after it cuts none of them off.
    let deadline = tokio::time::Instant::now() + limits.grace + Duration::from_millis(100);
    while alive.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Closes every open connection (gracefully: one answering a request may finish).
fn close_all(open: &Mutex<Open>) {
    let closing: Vec<Arc<Notify>> = lock(open)
        .connections
        .drain(..)
        .map(|(_, close)| close)
        .collect();
    for close in closing {
        close.notify_one();
    }
}
