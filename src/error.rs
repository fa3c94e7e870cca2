//! Why an execution failed, and whether trying again is safe.

use crate::output::ResponseOutput;
use crate::problem::Problem;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A failed execution. Three families, which a runner treats differently:
///
/// - **retryable** ([`TaskError::is_retryable`]): nothing happened on the server, or the
///   method is idempotent (a `GET`, a `PUT`) so repeating it is harmless; try again, after
///   [`TaskError::retry_after`] when the server said when;
/// - **outcome unknown** ([`TaskError::is_outcome_unknown`]): the request may have taken
///   effect (a 5xx, a timeout or a connection lost after sending a `POST`). Retrying blindly
///   could do it twice; [`TaskError::reconcile`] carries what is needed to look first;
/// - **terminal**: everything else; retrying the same step gives the same answer.
///
/// [`TaskError::kind`] says what happened as an [`ErrorKind`]; the transport or I/O error
/// behind a failure is its [`source`](std::error::Error::source). Serialized, it is the
/// document the CLI prints: `{"error": {"kind", "retryable", "outcomeUnknown", "message",
/// "attempts", ...}, "response": ...}`.
#[derive(Clone)]
pub struct TaskError(Box<Inner>);

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
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
    /// Shared so that the error stays `Clone` (a reqwest or I/O error is not).
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// What kind of failure a [`TaskError`] is. Serialized (and [`ErrorKind::as_str`]) as the
/// stable snake-case names the CLI prints: `invalid_step`, `rate_limited`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The step is invalid; nothing was sent. See [`TaskError::problems`].
    InvalidStep,
    /// The operation needs credentials and none are configured; nothing was sent.
    NoCredentials,
    /// 401: the credentials were rejected.
    Unauthorized,
    /// 403: the credentials may not call this operation.
    Forbidden,
    /// 422: the server rejected the data. See [`TaskError::invalid_fields`].
    Unprocessable,
    /// 429: too many requests; see [`TaskError::retry_after`].
    RateLimited,
    /// Another 4xx.
    Rejected,
    /// A 3xx: redirects are never followed.
    Redirected,
    /// A 5xx.
    ServerError,
    /// No answer in time.
    Timeout,
    /// The connection failed after the request was sent.
    ConnectionLost,
    /// No connection could be made; nothing was sent.
    Unreachable,
    /// The response body is larger than the configured limit.
    ResponseTooLarge,
    /// A success whose body is not JSON.
    MalformedResponse,
    /// The secret sink refused a secret from the response.
    SecretSink,
    /// Cancelled by the runner.
    Cancelled,
    /// The runner's deadline passed.
    DeadlineExceeded,
    /// The process sending the request stopped (crashed, was killed) while the request may
    /// have been in flight, which a supervisor (a workflow engine) reports; or the async
    /// runtime running the request shut down while it was in flight.
    Interrupted,
    /// A create at a chosen id found something else already there (other values); nothing
    /// was written. See [`TaskError::response`] for what is there.
    Conflict,
}

impl ErrorKind {
    /// The stable name: `invalid_step`, `unauthorized`, `rate_limited`, `server_error`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidStep => "invalid_step",
            ErrorKind::NoCredentials => "no_credentials",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Unprocessable => "unprocessable",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Redirected => "redirected",
            ErrorKind::ServerError => "server_error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::ConnectionLost => "connection_lost",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::ResponseTooLarge => "response_too_large",
            ErrorKind::MalformedResponse => "malformed_response",
            ErrorKind::SecretSink => "secret_sink",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::DeadlineExceeded => "deadline_exceeded",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Conflict => "conflict",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field the server rejected (422), with the parameter it maps back to when it can.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct InvalidField {
    /// The server's name for it, dot notation: `acl.0.permissions`.
    pub field: String,
    /// JSON Pointer into the step's parameters: `/body/acl/0/permissions`, when it exists there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The server's message.
    pub message: String,
}

impl InvalidField {
    pub(crate) fn new(field: String, path: Option<String>, message: String) -> Self {
        InvalidField {
            field,
            path,
            message,
        }
    }
}

/// What someone needs to find out whether an outcome-unknown request took effect.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Reconcile {
    /// The request's URL.
    pub url: String,
    /// When the first attempt was sent (RFC 3339, UTC).
    pub requested_at: String,
    /// What to do, in the operation's own words.
    pub advice: String,
    /// The request's fields that identify what it made (the definition's `x-reconcile`
    /// `match`), e.g. `{"description": "CI key"}`.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub matches: Map<String, Value>,
    /// The listing that finds it, when the definition names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<ReconcileList>,
}

/// A ready step that lists what an outcome-unknown request may have made: run it with the
/// task of `operationId`, then keep the items whose `createdField` is at or after
/// `createdFrom` and whose fields equal [`Reconcile::matches`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ReconcileList {
    /// The listing operation, e.g. `GetApiKeyCollection`.
    pub operation_id: String,
    /// Its task type, when the definition names one (`ListApiKeys`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    /// The step: `{"parameters": {"server", "filter", ...}}`, in the API's filter syntax.
    pub step: Value,
    /// The item field holding its creation time, e.g. `createdTime`.
    pub created_field: String,
    /// The earliest creation time that can be the request's (RFC 3339, UTC): `requestedAt`
    /// less a margin for clock skew between here and the server.
    pub created_from: String,
}

impl Reconcile {
    pub(crate) fn new(
        url: String,
        requested_at: String,
        advice: String,
        matches: Map<String, Value>,
        list: Option<ReconcileList>,
    ) -> Self {
        Reconcile {
            url,
            requested_at,
            advice,
            matches,
            list,
        }
    }
}

impl TaskError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
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
            source: None,
        }))
    }

    /// A step that failed validation: never sent.
    pub(crate) fn invalid_step(problems: Vec<Problem>) -> Self {
        TaskError::new(
            ErrorKind::InvalidStep,
            format!(
                "the step is invalid ({} problem{}); nothing was sent",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            ),
        )
        .with_problems(problems)
    }

    /// The same error, its message prefixed with what was being done: `"{doing}: {message}"`.
    pub(crate) fn in_context(mut self, doing: &str) -> Self {
        self.0.message = format!("{doing}: {}", self.0.message);
        self
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

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.0.source = Some(Arc::new(source));
        self
    }

    /// What kind of failure it is.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// Safe to try again: nothing happened on the server (the request never left, or the
    /// server refused it for now with 429), or repeating the request is harmless.
    pub fn is_retryable(&self) -> bool {
        match self.0.kind {
            ErrorKind::RateLimited | ErrorKind::Unreachable => true,
            // Repeating an idempotent request cannot do it twice.
            ErrorKind::ServerError | ErrorKind::Timeout | ErrorKind::ConnectionLost => {
                self.0.idempotent
            }
            _ => false,
        }
    }

    /// The request may have taken effect; look before retrying (see [`TaskError::reconcile`]).
    pub fn is_outcome_unknown(&self) -> bool {
        self.0.reconcile.is_some()
    }

    /// The step was invalid and was never sent; [`TaskError::problems`] says why.
    pub fn is_invalid_step(&self) -> bool {
        self.0.kind == ErrorKind::InvalidStep
    }

    /// The execution was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.0.kind == ErrorKind::Cancelled
    }

    /// No answer in time: an attempt timed out, or the runner's deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.0.kind,
            ErrorKind::Timeout | ErrorKind::DeadlineExceeded
        )
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

    /// What is needed to find out whether an outcome-unknown request took effect.
    pub fn reconcile(&self) -> Option<&Reconcile> {
        self.0.reconcile.as_ref()
    }

    /// How many times the request was sent.
    pub fn attempts(&self) -> u32 {
        self.0.attempts
    }

    /// The error as a JSON value: the document [`Serialize`] writes and the CLI prints.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// The `error` member of the serialized document.
struct ErrorFields<'e>(&'e Inner, bool);

impl Serialize for ErrorFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let ErrorFields(inner, retryable) = *self;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("kind", &inner.kind)?;
        map.serialize_entry("retryable", &retryable)?;
        map.serialize_entry("outcomeUnknown", &inner.reconcile.is_some())?;
        map.serialize_entry("message", &inner.message)?;
        map.serialize_entry("attempts", &inner.attempts)?;
        if let Some(after) = inner.retry_after {
            let millis = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
            map.serialize_entry("retryAfterMs", &millis)?;
        }
        if !inner.problems.is_empty() {
            map.serialize_entry("errors", &inner.problems)?;
        }
        if !inner.invalid_fields.is_empty() {
            map.serialize_entry("invalidFields", &inner.invalid_fields)?;
        }
        if let Some(reconcile) = &inner.reconcile {
            map.serialize_entry("reconcile", reconcile)?;
        }
        map.end()
    }
}

impl Serialize for TaskError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("error", &ErrorFields(&self.0, self.is_retryable()))?;
        if let Some(response) = &self.0.response {
            map.serialize_entry("response", response)?;
        }
        map.end()
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.0;
        f.debug_struct("TaskError")
            .field("kind", &inner.kind)
            .field("message", &inner.message)
            .field("attempts", &inner.attempts)
            .field("retry_after", &inner.retry_after)
            .field("problems", &inner.problems)
            .field("invalid_fields", &inner.invalid_fields)
            .field("response", &inner.response)
            .field("reconcile", &inner.reconcile)
            .field("source", &inner.source)
            .finish()
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.kind, self.0.message)
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}
