//! A local, in-memory stand-in for Rebilly's API-key endpoints, for trying the project without
//! an account and for tests and benchmarks.
//!
//! It serves `POST /api-keys` and `GET /api-keys/{id}`, with or without an
//! `/organizations/{organizationId}` prefix, and behaves as the reference describes: 401
//! without valid credentials, 422 problem details with `invalidFields` for an invalid body,
//! 201 with a generated `id`, `secretKey`, times, `_links`, `Location` and rate-limit headers,
//! and 429 with `X-RateLimit-Retry-After` once the configured rate is exceeded. Like the API it
//! ignores read-only and unknown body fields. Its ids and secrets are not cryptographically
//! random: it is for trying and testing, never for real secrets.
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
//! - `rate`: the per-organization rate windows;
//! - `answer`: problem details and JSON answers in the API's shapes.

mod answer;
mod rate;
mod routes;

use crate::endpoint::Endpoint;
use serde_json::Value;
use std::collections::HashMap;
use std::convert::Infallible;
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
}

/// The sandbox's documented limit: 3000 non-GET requests per 10 minutes.
const SANDBOX_RATE: (u32, Duration) = (3000, Duration::from_secs(600));

impl Default for EmulatorBuilder {
    fn default() -> Self {
        EmulatorBuilder {
            api_keys: Vec::new(),
            rate_limit: Some(SANDBOX_RATE),
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

    /// Answers 429 once an organization has made `limit` POSTs within `window` (default: the
    /// sandbox's 3000 per 10 minutes).
    pub fn rate_limit(mut self, limit: u32, window: Duration) -> Self {
        self.rate_limit = Some((limit, window));
        self
    }

    /// No rate limit at all (for load tests and benchmarks).
    pub fn unlimited(mut self) -> Self {
        self.rate_limit = None;
        self
    }

    /// Builds the emulator (validating with the embedded endpoint definition).
    pub fn build(self) -> Emulator {
        let validator = Endpoint::builder().build().ok();
        Emulator {
            state: Arc::new(State {
                config: self,
                validator,
                keys: Mutex::new(HashMap::new()),
                windows: Mutex::new(HashMap::new()),
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
    /// Created keys by id, without their secrets.
    keys: Mutex<HashMap<String, Value>>,
    /// Per-organization rate windows: when each started, and POSTs in it.
    windows: Mutex<HashMap<String, (Instant, SystemTime, u32)>>,
}

pub(crate) use crate::util::lock;

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
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = stopped.changed() => break,
                };
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(routes::handle(&state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
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

    /// How many keys it has created.
    pub fn created(&self) -> usize {
        lock(&self.state.keys).len()
    }

    /// Stops accepting connections and waits for the accept loop to end.
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
