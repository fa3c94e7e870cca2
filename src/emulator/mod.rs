//! A local, in-memory stand-in for Rebilly's API-key resource, for trying the project without
//! an account and for tests and benchmarks.
//!
//! It serves, with or without an `/organizations/{organizationId}` prefix (without one, the
//! organization is `default`; keys of one organization are invisible to another):
//!
//! - `GET /api-keys`: the keys, with `filter` (Rebilly's search-filter syntax on `id`,
//!   `description`, `type`, `createdTime`, `updatedTime`, `apiUser`), `sort`, `limit` and
//!   `offset`, and the `Pagination-*` headers;
//! - `POST /api-keys`: 201 with a generated `id`, `secretKey`, times, `_links`, `Location`
//!   and rate-limit headers;
//! - `GET /api-keys/{id}` (the key with its secret), `PUT /api-keys/{id}` (201 creating the
//!   key at that id, 200 updating it) and `DELETE /api-keys/{id}` (204).
//!
//! It behaves as the reference describes: 401 without valid credentials, 422 problem details
//! with `invalidFields` for an invalid body, id or query, 404 for a key that is not there, and
//! 429 with `X-RateLimit-Retry-After` once an organization exceeds the configured rate of
//! non-GET requests. Like the API it ignores read-only and unknown body fields. Its ids and
//! secrets are not cryptographically random: it is for trying and testing, never for real
//! secrets.
//!
//! It misbehaves on demand, for tests and demos of exactly-once creation:
//! [`EmulatorBuilder::lose_answers`] (or [`RunningEmulator::lose_next_creates`]) stores the
//! next creates and then drops their connections without an answer, and
//! [`EmulatorBuilder::slow_creates`] (or [`RunningEmulator::set_slow_creates`]) holds each
//! stored create or update's answer for a while.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let running = apikey_task::emulator::Emulator::builder().build().start("127.0.0.1:0").await?;
//! println!("POST {}/api-keys", running.url());
//! # Ok(()) }
//! ```
//!
//! - this file: the builder, the server loop and the running handle;
//! - `routes`: the requests it answers;
//! - `store`: the keys, per organization, and how a body becomes one;
//! - `collection`: the list's query (`filter`, `sort`, `limit`, `offset`) and its page;
//! - `filter`: the search-filter syntax;
//! - `fault`: the misbehaviour knobs (lost and slow answers);
//! - `rate`: the per-organization rate windows;
//! - `answer`: problem details and JSON answers in the API's shapes.

mod answer;
mod collection;
mod fault;
mod filter;
mod rate;
mod routes;
mod store;

use crate::endpoint::Endpoint;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Options for an [`Emulator`].
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    api_keys: Vec<String>,
    rate_limit: Option<(u32, Duration)>,
    lose_answers: u32,
    slow_creates: Option<Duration>,
}

/// The sandbox's documented limit: 3000 non-GET requests per 10 minutes.
const SANDBOX_RATE: (u32, Duration) = (3000, Duration::from_secs(600));

impl Default for EmulatorBuilder {
    fn default() -> Self {
        EmulatorBuilder {
            api_keys: Vec::new(),
            rate_limit: Some(SANDBOX_RATE),
            lose_answers: 0,
            slow_creates: None,
        }
    }
}

impl EmulatorBuilder {
    /// Accepts only these keys (as `REB-APIKEY`) or tokens (as `Authorization: Bearer`).
    /// Without any, every non-empty credential is accepted.
    pub fn accept(mut self, credential: impl Into<String>) -> Self {
        self.api_keys.push(credential.into());
        self
    }

    /// Answers 429 once an organization has made `limit` non-GET requests (POST, PUT, DELETE)
    /// within `window` (default: the sandbox's 3000 per 10 minutes).
    pub fn rate_limit(mut self, limit: u32, window: Duration) -> Self {
        self.rate_limit = Some((limit, window));
        self
    }

    /// No rate limit at all (for load tests and benchmarks).
    pub fn unlimited(mut self) -> Self {
        self.rate_limit = None;
        self
    }

    /// Loses the answers of the next `creates` creates (a POST, or a PUT that creates): each
    /// key is stored, then the connection is dropped without an answer, as when a response is
    /// lost on the way back. What does not create is answered and does not count.
    pub fn lose_answers(mut self, creates: u32) -> Self {
        self.lose_answers = creates;
        self
    }

    /// Holds the answer to every create or update (POST, PUT) for `delay` after the key is
    /// stored: a client that gives up meanwhile does not undo it.
    pub fn slow_creates(mut self, delay: Duration) -> Self {
        self.slow_creates = Some(delay);
        self
    }

    /// Builds the emulator (validating with the embedded endpoint definition).
    pub fn build(self) -> Emulator {
        let validator = Endpoint::builder().build().ok();
        let faults = fault::Faults::new(self.lose_answers, self.slow_creates);
        Emulator {
            state: Arc::new(State {
                config: self,
                validator,
                keys: Mutex::new(store::Store::default()),
                windows: Mutex::new(HashMap::new()),
                faults,
            }),
        }
    }
}

/// The emulator, ready to serve.
#[derive(Clone)]
pub struct Emulator {
    state: Arc<State>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("rate_limit", &self.state.config.rate_limit)
            .finish_non_exhaustive()
    }
}

pub(crate) struct State {
    config: EmulatorBuilder,
    validator: Option<Endpoint>,
    /// The keys, per organization, with their secrets.
    keys: Mutex<store::Store>,
    /// Per-organization rate windows: when each started, and non-GET requests in it.
    windows: Mutex<HashMap<String, (Instant, SystemTime, u32)>>,
    faults: fault::Faults,
}

pub(crate) use crate::util::lock;

/// How long a shutdown waits for the requests in flight.
const GRACE: std::time::Duration = std::time::Duration::from_secs(10);

impl Emulator {
    /// Starts building an emulator.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// Binds `addr` (port 0 for an ephemeral one) and serves in the background until the
    /// returned handle is dropped or shut down.
    pub async fn start(&self, addr: &str) -> std::io::Result<RunningEmulator> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let state = self.state.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = stopped.changed() => break,
                };
                // Reap the connections that have ended.
                while connections.try_join_next().is_some() {}
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                let mut stop = stopped.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        // An `Err` makes hyper drop the connection without an answer.
                        async move { routes::handle(&state, request).await }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    tokio::pin!(connection);
                    tokio::select! {
                        _ = connection.as_mut() => {}
                        _ = stop.changed() => {
                            // Idle connections close now; one answering finishes first.
                            connection.as_mut().graceful_shutdown();
                            let _ = connection.await;
                        }
                    }
                });
            }
            // Shut down: the requests in flight are answered (a slow create included) within
            // a bound, then the rest are dropped.
            let _ = tokio::time::timeout(GRACE, async {
                while connections.join_next().await.is_some() {}
            })
            .await;
        });
        Ok(RunningEmulator {
            addr: local,
            stop,
            task: Some(task),
            state: self.state.clone(),
        })
    }
}

/// A serving emulator. Dropping it stops the server.
pub struct RunningEmulator {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    state: Arc<State>,
}

impl RunningEmulator {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, `http://127.0.0.1:PORT`: a step's `server` parameter.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many keys it holds, all organizations (created and not deleted).
    pub fn created(&self) -> usize {
        lock(&self.state.keys).len()
    }

    /// Every key it holds, all organizations, in creation order, without `secretKey`.
    pub fn keys(&self) -> Vec<Value> {
        lock(&self.state.keys).without_secrets()
    }

    /// How many POSTs and PUTs passed validation and stored a key, whether they were answered
    /// or their answers were lost: against [`created`](Self::created), how many retries
    /// created a duplicate.
    pub fn create_requests(&self) -> usize {
        self.state.faults.committed()
    }

    /// Loses the answers of the next `creates` creates from now on (replacing any count
    /// left); see [`EmulatorBuilder::lose_answers`].
    pub fn lose_next_creates(&self, creates: u32) {
        self.state.faults.lose_next(creates);
    }

    /// Holds the answer to every create or update for this long from now on (`None`: answer
    /// at once); see [`EmulatorBuilder::slow_creates`].
    pub fn set_slow_creates(&self, delay: Option<Duration>) {
        self.state.faults.set_slow(delay);
    }

    /// Stores a key as `PUT /organizations/{organization}/api-keys/{id}` with this
    /// description would (creating or updating it), for demos and tests to start from. It is
    /// not a request: no rate limit, misbehaviour or id check applies.
    pub fn insert_key(&self, organization: &str, id: &str, description: &str) {
        let body = json!({ "description": description });
        let fields = body.as_object().cloned().unwrap_or_default();
        let href = format!("{}/organizations/{organization}/api-keys/{id}", self.url());
        lock(&self.state.keys).put(organization, id, &fields, &href);
    }

    /// Stops accepting connections, lets the requests in flight be answered (for up to 10 s)
    /// and waits for that.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
