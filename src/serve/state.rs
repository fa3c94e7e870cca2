//! What the handlers share: the compiled endpoint, the policies and the precomputed answers.

use super::operations::Catalogue;
use crate::credentials::CredentialsSource;
use crate::endpoint::Endpoint;
use crate::execute::Executor;
use axum::extract::State;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// What the handlers share.
pub(super) struct AppState {
    /// The configured operation: the schemas' routes describe it, and a step that names no
    /// operation is sent as it.
    pub endpoint: Arc<Endpoint>,
    /// Every operation of the definition, compiled once, for steps that name one.
    pub catalogue: Catalogue,
    pub credentials: Arc<dyn CredentialsSource>,
    pub run: Option<Executor>,
    /// The origins `/v1/run` may send to: the definition's servers and `allow_run_to`.
    pub run_origins: Vec<String>,
    /// Empty: any host.
    pub allowed_hosts: Vec<String>,
    pub body_limit: usize,
    /// Longest wait for a request body to arrive in full.
    pub body_timeout: Duration,
    /// Checks at once: a costly step runs on a blocking thread, so that it cannot starve
    /// `/healthz` or the other clients of the async workers.
    pub checks: Arc<Semaphore>,
    /// Of those, how many small steps may be checked on the async worker that read them: one
    /// fewer than the checks (none with one), so that such checks hold at most one fewer
    /// worker than there are CPUs.
    pub in_place: Semaphore,
    pub healthz: Value,
    pub report_schema: Value,
    pub panel_csp: String,
}

pub(super) type Shared = State<Arc<AppState>>;
