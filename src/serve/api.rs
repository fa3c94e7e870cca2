//! [`EditorApi`] and its builder: the options checked, the routes assembled.

use super::error::{BuildError, BuildErrorKind};
use super::operations::Catalogue;
use super::policy::{cors_layer, guard, host_entry, panel_csp};
use super::state::AppState;
use super::{DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, LOOPBACK_HOSTS, PANEL, handlers};
use crate::credentials::{CredentialsSource, FromEnv};
use crate::endpoint::destination::{origin_of, template_placeholders};
use crate::endpoint::{Endpoint, TestReport};
use crate::execute::Executor;
use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use serde_json::json;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;

/// Options for an [`EditorApi`]; see [`EditorApi::builder`].
pub struct EditorApiBuilder {
    endpoint: Arc<Endpoint>,
    credentials: Arc<dyn CredentialsSource>,
    run: Option<Executor>,
    run_to: Vec<String>,
    cors_origins: Vec<String>,
    allowed_hosts: Option<Vec<String>>,
    body_limit: usize,
    body_timeout: Duration,
    parallel_checks: usize,
}

impl fmt::Debug for EditorApiBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EditorApiBuilder")
            .field("endpoint", &self.endpoint)
            .field("run", &self.run.is_some())
            .field("run_to", &self.run_to)
            .field("cors_origins", &self.cors_origins)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("body_limit", &self.body_limit)
            .field("body_timeout", &self.body_timeout)
            .field("parallel_checks", &self.parallel_checks)
            .finish_non_exhaustive()
    }
}

impl EditorApiBuilder {
    /// Where credentials come from (default: [`FromEnv`]). Test requests only say whether
    /// they are configured; `/v1/run` sends them.
    pub fn credentials(mut self, source: impl CredentialsSource + 'static) -> Self {
        self.credentials = Arc::new(source);
        self
    }

    /// Enables `POST /v1/run`, which sends real requests with the configured credentials
    /// through `executor`. Off by default: a test-request server never touches the network.
    ///
    /// A run goes only to the definition's servers (the sandbox and live API), so that a
    /// caller cannot send the credentials to a host of its choosing; see
    /// [`EditorApiBuilder::allow_run_to`].
    pub fn allow_run(mut self, executor: Executor) -> Self {
        self.run = Some(executor);
        self
    }

    /// Lets `/v1/run` also send to this base URL's origin, e.g. a local emulator at
    /// `http://127.0.0.1:4010`. Repeatable.
    pub fn allow_run_to(mut self, base_url: impl Into<String>) -> Self {
        self.run_to.push(base_url.into());
        self
    }

    /// Lets a page on `origin` (e.g. `https://editor.example.com`) call the API from a
    /// browser; `*` lets any origin (refused together with [`EditorApiBuilder::allow_run`]).
    /// Repeatable. Without it only same-origin pages can.
    pub fn cors_origin(mut self, origin: impl Into<String>) -> Self {
        self.cors_origins.push(origin.into());
        self
    }

    /// Also answers requests whose `Host` is this name (any port), e.g. `editor.internal` or
    /// `10.0.0.5`. Repeatable. By default only [`LOOPBACK_HOSTS`] are answered (421 for the
    /// rest), which is right for a server on loopback.
    pub fn allowed_host(mut self, name: impl Into<String>) -> Self {
        self.allowed_hosts
            .get_or_insert_with(|| LOOPBACK_HOSTS.iter().map(|h| (*h).to_owned()).collect())
            .push(name.into());
        self
    }

    /// Answers whatever the `Host` header says: for a server behind a proxy that checks it.
    pub fn any_host(mut self) -> Self {
        self.allowed_hosts = Some(Vec::new());
        self
    }

    /// The largest request body accepted, in bytes (default [`DEFAULT_BODY_LIMIT`]); larger
    /// ones get 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Longest wait for a request body to arrive in full (default
    /// [`DEFAULT_BODY_TIMEOUT`]); a client that sends it slower gets 408.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// Most test requests checked at once (default: the number of CPUs); the rest wait, while
    /// `/healthz` and the schemas are answered. A small step (4 KiB, 8 expressions) is
    /// checked on the async worker that read it, at most one fewer at once than this (none
    /// when it is 1); the others on blocking threads. Set it to at most the runtime's workers.
    pub fn parallel_checks(mut self, checks: usize) -> Self {
        self.parallel_checks = checks.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    /// Checks the options and assembles the routes.
    pub fn build(self) -> Result<EditorApi, BuildError> {
        if self.run.is_some() && self.cors_origins.iter().any(|o| o == "*") {
            return Err(BuildError::new(
                BuildErrorKind::UnsafeCombination,
                "a server that runs steps cannot let every origin call it: name the editor's origin instead of *",
            ));
        }
        let cors = cors_layer(&self.cors_origins)?;
        let allowed_hosts = match self.allowed_hosts {
            None => LOOPBACK_HOSTS.iter().map(|h| (*h).to_owned()).collect(),
            Some(hosts) => hosts
                .iter()
                .map(|h| host_entry(h))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let catalogue = Catalogue::new(self.endpoint.clone());
        let mut run_origins: Vec<String> = Vec::new();
        for endpoint in catalogue.endpoints() {
            for server in &endpoint.operation().servers {
                if let Some(origin) = origin_of(&template_placeholders(&server.url))
                    && !run_origins.contains(&origin)
                {
                    run_origins.push(origin);
                }
            }
        }
        for base in &self.run_to {
            run_origins.push(origin_of(base).ok_or_else(|| {
                BuildError::new(
                    BuildErrorKind::RunTarget,
                    format!("run target {base:?} is not an http(s) URL"),
                )
            })?);
        }
        let panel_csp = panel_csp(PANEL);
        let state = Arc::new(AppState {
            healthz: json!({
                "status": "ok",
                "operation": self.endpoint.operation().id,
                "method": self.endpoint.operation().method,
                "path": self.endpoint.operation().path,
                "runAllowed": self.run.is_some(),
                "version": env!("CARGO_PKG_VERSION"),
            }),
            report_schema: TestReport::schema(),
            endpoint: self.endpoint,
            catalogue,
            credentials: self.credentials,
            run: self.run,
            run_origins,
            allowed_hosts,
            body_limit: self.body_limit,
            body_timeout: self.body_timeout,
            checks: Arc::new(Semaphore::new(self.parallel_checks)),
            in_place: Semaphore::new(self.parallel_checks.saturating_sub(1)),
            panel_csp,
        });
        let mut router = Router::new()
            .route("/", get(handlers::panel))
            .route("/healthz", get(handlers::healthz))
            .route("/v1/schemas/input", get(handlers::input_schema))
            .route("/v1/schemas/output", get(handlers::output_schema))
            .route("/v1/schemas/report", get(handlers::report_schema))
            .route("/v1/operations", get(handlers::operations))
            .route("/v1/operation-ids", get(handlers::operation_ids))
            .route("/v1/test-request", post(handlers::test_request))
            .route("/v1/run", post(handlers::run))
            .route("/v1/convert", post(handlers::convert))
            .fallback(handlers::not_found)
            .method_not_allowed_fallback(handlers::method_not_allowed)
            .layer(middleware::from_fn_with_state(state.clone(), guard))
            .with_state(state);
        if let Some(cors) = cors {
            router = router.layer(cors);
        }
        // Outermost: whatever panics below answers a JSON 500 instead of a dropped connection.
        let router = router.layer(CatchPanicLayer::custom(handlers::panicked));
        Ok(EditorApi { router })
    }
}

/// The editor API as an axum [`Router`]: build it once, then serve it with [`super::serve`] or
/// nest it in a larger app. The panel calls the API with relative URLs, so nest it under a
/// path that ends with `/` (open `/editor/`, not `/editor`).
#[derive(Clone)]
pub struct EditorApi {
    router: Router,
}

impl fmt::Debug for EditorApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EditorApi").finish_non_exhaustive()
    }
}

impl EditorApi {
    /// Starts building the API for `endpoint`.
    pub fn builder(endpoint: Arc<Endpoint>) -> EditorApiBuilder {
        EditorApiBuilder {
            endpoint,
            credentials: Arc::new(FromEnv),
            run: None,
            run_to: Vec::new(),
            cors_origins: Vec::new(),
            allowed_hosts: None,
            body_limit: DEFAULT_BODY_LIMIT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            parallel_checks: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }

    /// The routes (a cheap clone).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The routes.
    pub fn into_router(self) -> Router {
        self.router
    }
}

impl From<EditorApi> for Router {
    fn from(api: EditorApi) -> Router {
        api.router
    }
}
