//! What the handlers share: the compiled endpoint, the policies and the precomputed answers.

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
    pub endpoint: Arc<Endpoint>,
    /// Every other operation of the definition with an operationId, compiled, for what
    /// `/v1/convert` recognises.
    pub operations: Vec<(String, Arc<Endpoint>)>,
    pub credentials: Arc<dyn CredentialsSource>,
    pub run: Option<Executor>,
    /// The origins `/v1/run` may send to: the definition's servers and `allow_run_to`.
    pub run_origins: Vec<String>,
    /// Empty: any host.
    pub allowed_hosts: Vec<String>,
    pub body_limit: usize,
    /// Longest wait for a request body to arrive in full.
    pub body_timeout: Duration,
    /// Checks run on blocking threads, at most this many at once, so that a costly step
    /// cannot starve `/healthz` or the other clients of the async workers.
    pub checks: Arc<Semaphore>,
    pub healthz: Value,
    pub report_schema: Value,
    pub panel_csp: String,
}

pub(super) type Shared = State<Arc<AppState>>;
