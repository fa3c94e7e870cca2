//! What a runner hands each execution besides the step's parameters: the workflow state,
//! where credentials come from and secrets go, cancellation, a deadline, the attempt number
//! and a tracing span. A leaf: the executor and the `Task` trait both take it.

use crate::credentials::CredentialsSource;
use crate::secrets::SecretSink;
use serde_json::{Map, Value};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Everything one execution needs from the runner besides the step's parameters.
pub struct TaskContext<'a> {
    state: &'a Map<String, Value>,
    credentials: &'a dyn CredentialsSource,
    secrets: &'a dyn SecretSink,
    cancel: CancellationToken,
    deadline: Option<Instant>,
    attempt: u32,
    span: tracing::Span,
}

impl<'a> TaskContext<'a> {
    /// A context for attempt 1, with no deadline, a fresh cancellation token and the current
    /// span. `state` is what expressions read: `workflow` and each earlier step's name.
    pub fn new(
        state: &'a Map<String, Value>,
        credentials: &'a dyn CredentialsSource,
        secrets: &'a dyn SecretSink,
    ) -> Self {
        TaskContext {
            state,
            credentials,
            secrets,
            cancel: CancellationToken::new(),
            deadline: None,
            attempt: 1,
            span: tracing::Span::current(),
        }
    }

    /// Cancels the execution when `token` is cancelled.
    pub fn with_cancellation(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// Gives up at `deadline`, retries included.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Which attempt of the step this is, as the runner counts (1 for the first).
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// The span the execution's own span is a child of.
    pub fn with_span(mut self, span: tracing::Span) -> Self {
        self.span = span;
        self
    }

    /// The workflow state expressions read.
    pub fn state(&self) -> &Map<String, Value> {
        self.state
    }

    /// Where credentials come from.
    pub fn credentials(&self) -> &dyn CredentialsSource {
        self.credentials
    }

    /// Where secrets from responses go.
    pub fn secrets(&self) -> &dyn SecretSink {
        self.secrets
    }

    /// The cancellation token.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The runner's attempt number.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The parent span.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }
}

impl std::fmt::Debug for TaskContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext")
            .field("state_keys", &self.state.keys().collect::<Vec<_>>())
            .field("cancelled", &self.cancel.is_cancelled())
            .field("deadline", &self.deadline)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}
