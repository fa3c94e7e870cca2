//! Why an execution failed, and whether trying again is safe.

use crate::output::ResponseOutput;
use crate::problem::Problem;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::fmt;
use std::time::Duration;

/// A failed execution. Three families, which a runner treats differently:
///
/// - **retryable** ([`TaskError::is_retryable`]): nothing was created, or the method is
///   idempotent (a `GET`) so repeating it is harmless; try again, after
///   [`TaskError::retry_after`] when the server said when;
/// - **outcome unknown** ([`TaskError::is_outcome_unknown`]): the request may have created a
///   key (a 5xx, a timeout or a connection lost after sending). Retrying blindly could create a
///   second one; [`TaskError::reconcile`] carries what is needed to look first;
/// - **terminal**: everything else; retrying the same step gives the same answer.
#[derive(Debug, Clone)]
pub struct TaskError(Box<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    kind: Kind,
    message: String,
    retry_after: Option<Duration>,
    problems: Vec<Problem>,
    invalid_fields: Vec<InvalidField>,
    response: Option<ResponseOutput>,
    reconcile: Option<Reconcile>,
    attempts: u32,
    /// The request's method is idempotent (GET, PUT, DELETE, ...): repeating it is harmless,
    /// so a failure after sending is retryable rather than outcome-unknown.
    idempotent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    InvalidStep,
    NoCredentials,
    Unauthorized,
    Forbidden,
    Unprocessable,
    RateLimited,
    Rejected,
    Redirected,
    ServerError,
    Timeout,
    ConnectionLost,
    Unreachable,
    ResponseTooLarge,
    MalformedResponse,
    SecretSink,
    Cancelled,
    DeadlineExceeded,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::InvalidStep => "invalid_step",
            Kind::NoCredentials => "no_credentials",
            Kind::Unauthorized => "unauthorized",
            Kind::Forbidden => "forbidden",
            Kind::Unprocessable => "unprocessable",
            Kind::RateLimited => "rate_limited",
            Kind::Rejected => "rejected",
            Kind::Redirected => "redirected",
            Kind::ServerError => "server_error",
            Kind::Timeout => "timeout",
            Kind::ConnectionLost => "connection_lost",
            Kind::Unreachable => "unreachable",
            Kind::ResponseTooLarge => "response_too_large",
            Kind::MalformedResponse => "malformed_response",
            Kind::SecretSink => "secret_sink",
            Kind::Cancelled => "cancelled",
            Kind::DeadlineExceeded => "deadline_exceeded",
        }
    }
}

/// A field the server rejected (422), with the parameter it maps back to when it can.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidField {
    /// The server's name for it, dot notation: `acl.0.permissions`.
    pub field: String,
    /// JSON Pointer into the step's parameters: `/body/acl/0/permissions`, when it exists there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The server's message.
    pub message: String,
}

/// What someone needs to find out whether an outcome-unknown request created a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reconcile {
    /// The request's URL.
    pub url: String,
    /// The `description` the key was requested with.
    pub description: Option<String>,
    /// When the first attempt was sent (RFC 3339, UTC).
    pub requested_at: String,
    /// What to do.
    pub advice: String,
}

impl TaskError {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        TaskError(Box::new(Inner {
            kind,
            message: message.into(),
            retry_after: None,
            problems: Vec::new(),
            invalid_fields: Vec::new(),
            response: None,
            reconcile: None,
            attempts: 0,
            idempotent: false,
        }))
    }

    pub(crate) fn with_problems(mut self, problems: Vec<Problem>) -> Self {
        self.0.problems = problems;
        self
    }

    pub(crate) fn with_response(mut self, response: ResponseOutput) -> Self {
        self.0.response = Some(response);
        self
    }

    pub(crate) fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.0.retry_after = after;
        self
    }

    pub(crate) fn with_invalid_fields(mut self, fields: Vec<InvalidField>) -> Self {
        self.0.invalid_fields = fields;
        self
    }

    pub(crate) fn with_reconcile(mut self, reconcile: Reconcile) -> Self {
        self.0.reconcile = Some(reconcile);
        self
    }

    pub(crate) fn with_idempotent(mut self, idempotent: bool) -> Self {
        self.0.idempotent = idempotent;
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.0.attempts = attempts;
        self
    }

    pub(crate) fn kind_of(&self) -> Kind {
        self.0.kind
    }

    /// A stable name for the kind: `invalid_step`, `unauthorized`, `rate_limited`,
    /// `server_error`, `timeout`, `unreachable`, ...
    pub fn kind(&self) -> &'static str {
        self.0.kind.name()
    }

    /// Safe to try again: nothing was created (the request never left, or the server refused
    /// it for now with 429).
    pub fn is_retryable(&self) -> bool {
        match self.0.kind {
            Kind::RateLimited | Kind::Unreachable => true,
            // Repeating an idempotent request cannot create a second resource.
            Kind::ServerError | Kind::Timeout | Kind::ConnectionLost => self.0.idempotent,
            _ => false,
        }
    }

    /// The request may have created a key; look before retrying (see [`TaskError::reconcile`]).
    pub fn is_outcome_unknown(&self) -> bool {
        self.0.reconcile.is_some()
    }

    /// The step was invalid and was never sent; [`TaskError::problems`] says why.
    pub fn is_invalid_step(&self) -> bool {
        self.0.kind == Kind::InvalidStep
    }

    /// The execution was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.0.kind == Kind::Cancelled
    }

    /// When the server said the request may be retried.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// The HTTP status, when a response arrived.
    pub fn status(&self) -> Option<u16> {
        self.0.response.as_ref().map(|r| r.status_code)
    }

    /// What went wrong, for a person. Never contains a credential or a secret.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Validation problems, when the step was invalid.
    pub fn problems(&self) -> &[Problem] {
        &self.0.problems
    }

    /// The fields a 422 named, mapped back to parameters where possible.
    pub fn invalid_fields(&self) -> &[InvalidField] {
        &self.0.invalid_fields
    }

    /// The response, when one arrived (secret fields replaced).
    pub fn response(&self) -> Option<&ResponseOutput> {
        self.0.response.as_ref()
    }

    /// What is needed to find out whether an outcome-unknown request created a key.
    pub fn reconcile(&self) -> Option<&Reconcile> {
        self.0.reconcile.as_ref()
    }

    /// How many times the request was sent.
    pub fn attempts(&self) -> u32 {
        self.0.attempts
    }

    /// The error as JSON: `{ "error": { "kind", "retryable", "outcomeUnknown", "message", ... },
    /// "response": ... }`, the shape the CLI prints.
    pub fn to_json(&self) -> Value {
        let mut error = Map::new();
        error.insert("kind".into(), json!(self.kind()));
        error.insert("retryable".into(), json!(self.is_retryable()));
        error.insert("outcomeUnknown".into(), json!(self.is_outcome_unknown()));
        error.insert("message".into(), json!(self.0.message));
        error.insert("attempts".into(), json!(self.0.attempts));
        if let Some(after) = self.0.retry_after {
            error.insert("retryAfterMs".into(), json!(after.as_millis() as u64));
        }
        if !self.0.problems.is_empty() {
            error.insert("errors".into(), json!(self.0.problems));
        }
        if !self.0.invalid_fields.is_empty() {
            error.insert("invalidFields".into(), json!(self.0.invalid_fields));
        }
        if let Some(reconcile) = &self.0.reconcile {
            error.insert("reconcile".into(), json!(reconcile));
        }
        let mut out = Map::new();
        out.insert("error".into(), Value::Object(error));
        if let Some(response) = &self.0.response {
            out.insert("response".into(), json!(response));
        }
        Value::Object(out)
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.0.message)
    }
}

impl std::error::Error for TaskError {}
