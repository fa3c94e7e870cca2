//! Sending the request and turning every outcome into task output or a classified error.

use crate::clock;
use crate::credentials::Secret;
use crate::credentials::{CredentialsSource, REDACTED};
use crate::endpoint::{Endpoint, Prepared, Step};
use crate::failure::{InvalidField, Kind, Reconcile, TaskError};
use crate::output::{RequestSummary, ResponseOutput, TaskOutput};
use crate::problem::append_token;
use crate::retry::RetryPolicy;
use crate::secrets::{ReturnedSecret, SecretSink};
use crate::task::TaskContext;
use hyper::body::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tracing::Instrument;

/// Options for an [`Executor`]; see [`Executor::builder`].
#[derive(Debug, Clone)]
pub struct ExecutorBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    max_response_bytes: usize,
    retry: RetryPolicy,
}

impl Default for ExecutorBuilder {
    fn default() -> Self {
        ExecutorBuilder {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            max_response_bytes: 1 << 20,
            retry: RetryPolicy::default(),
        }
    }
}

impl ExecutorBuilder {
    /// Longest wait for a connection (default 5 s). Nothing has been sent when it expires,
    /// so the failure is retryable.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Longest time for one attempt, from connecting to the end of the body (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Largest response body read (default 1 MiB); a larger one is an error.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The retry policy (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Builds the HTTP client (rustls, no redirects, connection pool) once.
    pub fn build(self) -> Result<Executor, ExecutorBuildError> {
        let client = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            // A redirected POST is reported, never followed: the credential header must not
            // travel to another origin, and a redirect means the key was not created here.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("apikey-task/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| ExecutorBuildError(error_chain(&error)))?;
        Ok(Executor {
            client,
            max_response_bytes: self.max_response_bytes,
            retry: self.retry,
        })
    }
}

/// The HTTP client could not be built (for example, no TLS backend).
#[derive(Debug)]
pub struct ExecutorBuildError(String);

impl fmt::Display for ExecutorBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot build the HTTP client: {}", self.0)
    }
}

impl std::error::Error for ExecutorBuildError {}

/// Sends prepared requests: one HTTP client (and connection pool) reused across executions.
/// Cheap to clone; share one per process.
///
/// ```no_run
/// use apikey_task::{secrets::Redact, Endpoint, Executor, FromEnv, Step};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let endpoint = Endpoint::builder().build()?;
/// let executor = Executor::builder().build()?;
/// let step = Step::from_json(r#"{"parameters": {"organizationId": "org-1",
///                                               "body": {"description": "CI key"}}}"#)?;
/// match executor.execute(&endpoint, step, &FromEnv, &Redact).await {
///     Ok(output) => println!("created {}", output.response.body["id"]),
///     Err(error) if error.is_retryable() => println!("try again after {:?}", error.retry_after()),
///     Err(error) if error.is_outcome_unknown() => println!("look first: {:?}", error.reconcile()),
///     Err(error) => println!("failed: {error}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Executor {
    client: reqwest::Client,
    max_response_bytes: usize,
    retry: RetryPolicy,
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("max_response_bytes", &self.max_response_bytes)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// A prepared request in wire form, shared by every attempt.
struct Outgoing<'a> {
    endpoint: &'a Endpoint,
    prepared: &'a Prepared,
    method: reqwest::Method,
    headers: HeaderMap,
    body: Bytes,
}

impl Outgoing<'_> {
    /// RFC 9110's idempotent methods: repeating one cannot create a second resource.
    fn idempotent(&self) -> bool {
        matches!(
            self.method,
            reqwest::Method::GET
                | reqwest::Method::HEAD
                | reqwest::Method::OPTIONS
                | reqwest::Method::PUT
                | reqwest::Method::DELETE
        )
    }
}

/// What an execution stopped from outside needs to know: how far the attempts got, and whether
/// one was on the wire.
#[derive(Default)]
struct Progress {
    in_flight: AtomicBool,
    attempts: AtomicU32,
}

/// One response as read from the wire, before it becomes output or an error.
struct Raw {
    status: reqwest::StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Executor {
    /// Starts building an executor with the defaults: 5 s to connect, 30 s per attempt, 1 MiB
    /// responses, [`RetryPolicy::default`].
    pub fn builder() -> ExecutorBuilder {
        ExecutorBuilder::default()
    }

    /// Executes a step: renders and validates it (an invalid step is never sent), sends it with
    /// the configured credentials, retries what is safe to retry, hands secrets in the response
    /// to `secrets`, and returns the response as task output.
    pub async fn execute(
        &self,
        endpoint: &Endpoint,
        step: Step,
        credentials: &dyn CredentialsSource,
        secrets: &dyn SecretSink,
    ) -> Result<TaskOutput, TaskError> {
        let Step {
            parameters,
            context,
        } = step;
        let ctx = TaskContext::new(&context, credentials, secrets);
        self.execute_in(endpoint, parameters, &ctx).await
    }

    /// [`Executor::execute`] with a runner's [`TaskContext`]: the workflow state borrowed,
    /// cancellation, a deadline, the attempt number and a parent span.
    pub async fn execute_in(
        &self,
        endpoint: &Endpoint,
        parameters: Map<String, Value>,
        ctx: &TaskContext<'_>,
    ) -> Result<TaskOutput, TaskError> {
        if ctx.cancellation().is_cancelled() {
            return Err(TaskError::new(
                Kind::Cancelled,
                "cancelled before anything was sent",
            ));
        }
        let credentials = ctx.credentials().credentials();
        let prepared = endpoint
            .prepare(parameters, ctx.state(), credentials.as_ref())
            .map_err(|problems| {
                TaskError::new(
                    Kind::InvalidStep,
                    format!(
                        "the step is invalid ({} problem{}); nothing was sent",
                        problems.len(),
                        if problems.len() == 1 { "" } else { "s" }
                    ),
                )
                .with_problems(problems)
            })?;
        if prepared.credential.is_none() && !endpoint.operation().security.is_empty() {
            return Err(TaskError::new(
                Kind::NoCredentials,
                "no credentials configured (REBILLY_API_KEY or REBILLY_JWT for the CLI, a credentials source when embedded); nothing was sent",
            ));
        }
        // Serialized once; each attempt shares the same bytes.
        let body = Bytes::from(match &prepared.request.body {
            Some(body) => serde_json::to_vec(body).unwrap_or_default(),
            None => Vec::new(),
        });
        let headers = request_headers(&prepared)?;
        let method =
            reqwest::Method::from_bytes(prepared.request.method.as_bytes()).map_err(|_| {
                TaskError::new(
                    Kind::InvalidStep,
                    "the definition's method is not a valid HTTP method",
                )
            })?;

        let span = tracing::info_span!(
            parent: ctx.span(),
            "execute",
            method = %prepared.request.method,
            url = %prepared.request.url,
            runner_attempt = ctx.attempt()
        );
        let requested_at = SystemTime::now();
        let progress = Progress::default();
        let request = Outgoing {
            endpoint,
            prepared: &prepared,
            method,
            headers,
            body,
        };
        let work = self.send_with_retries(&request, ctx, &progress);
        let deadline = async {
            match ctx.deadline() {
                Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                None => std::future::pending().await,
            }
        };
        let stopped = tokio::select! {
            outcome = work.instrument(span) => return outcome,
            () = ctx.cancellation().cancelled() => Kind::Cancelled,
            () = deadline => Kind::DeadlineExceeded,
        };
        // Stopped from outside. If a request was on the wire, it may have created the key,
        // unless repeating it is harmless.
        let on_wire = progress.in_flight.load(Ordering::SeqCst);
        let created_maybe = on_wire && !request.idempotent();
        let what = if stopped == Kind::Cancelled {
            "cancelled"
        } else {
            "the deadline passed"
        };
        let message = match (on_wire, created_maybe) {
            (true, true) => {
                format!("{what} while a request was in flight; the key may have been created")
            }
            (true, false) => format!(
                "{what} while a request was in flight; it is idempotent, so repeating it is safe"
            ),
            _ => format!("{what}; no request was in flight, so nothing was created"),
        };
        let error = TaskError::new(stopped, message);
        Err(finish(
            error,
            progress.attempts.load(Ordering::SeqCst),
            &prepared,
            requested_at,
            created_maybe,
        ))
    }

    async fn send_with_retries(
        &self,
        request: &Outgoing<'_>,
        ctx: &TaskContext<'_>,
        progress: &Progress,
    ) -> Result<TaskOutput, TaskError> {
        let Outgoing {
            endpoint, prepared, ..
        } = *request;
        let started = Instant::now();
        let requested_at = SystemTime::now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            progress.attempts.store(attempt, Ordering::SeqCst);
            tracing::debug!(attempt, "sending request");
            progress.in_flight.store(true, Ordering::SeqCst);
            let sent = self
                .send_once(
                    request.method.clone(),
                    &prepared.request.url,
                    request.headers.clone(),
                    request.body.clone(),
                )
                .await;
            let failure: TaskError = match sent {
                Ok(raw) if raw.status.is_success() => {
                    tracing::info!(attempt, status = raw.status.as_u16(), "request succeeded");
                    let summary = RequestSummary {
                        method: prepared.request.method.clone(),
                        url: prepared.request.url.clone(),
                        attempts: attempt,
                        duration_ms: started.elapsed().as_millis() as u64,
                    };
                    return self
                        .success(endpoint, raw, summary, ctx.secrets())
                        .await
                        .map_err(|error| {
                            finish_classified(error, attempt, prepared, requested_at)
                        });
                }
                Ok(raw) => classify(endpoint, raw),
                Err(error) => error,
            }
            .with_idempotent(request.idempotent());
            // A failure that is safe to retry means nothing is outstanding.
            if failure.is_retryable() {
                progress.in_flight.store(false, Ordering::SeqCst);
            }
            tracing::warn!(attempt, kind = failure.kind(), "attempt failed");
            let remaining = ctx
                .deadline()
                .map(|deadline| deadline.saturating_duration_since(Instant::now()));
            if failure.is_retryable()
                && let Some(delay) =
                    self.retry
                        .next_delay(attempt, started.elapsed(), failure.retry_after())
                && remaining.is_none_or(|left| delay < left)
            {
                tracing::debug!(delay_ms = delay.as_millis() as u64, "retrying");
                tokio::time::sleep(delay).await;
                continue;
            }
            return Err(finish_classified(failure, attempt, prepared, requested_at));
        }
    }

    async fn send_once(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Raw, TaskError> {
        let mut response = self
            .client
            .request(method, url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|error| transport_error(&error, false))?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let too_large = |status: reqwest::StatusCode, headers: &HeaderMap| {
            TaskError::new(
                Kind::ResponseTooLarge,
                format!(
                    "the {status} response body is larger than {} bytes; it was not read",
                    self.max_response_bytes
                ),
            )
            .with_response(response_output(status, headers, Value::Null))
        };
        if response
            .content_length()
            .is_some_and(|length| length > self.max_response_bytes as u64)
        {
            return Err(too_large(status, &headers));
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.max_response_bytes {
                        return Err(too_large(status, &headers));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(error) => return Err(transport_error(&error, true)),
            }
        }
        Ok(Raw {
            status,
            headers,
            body,
        })
    }

    async fn success(
        &self,
        endpoint: &Endpoint,
        raw: Raw,
        request: RequestSummary,
        secrets: &dyn SecretSink,
    ) -> Result<TaskOutput, TaskError> {
        let mut body = if raw.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice::<Value>(&raw.body).map_err(|error| {
                TaskError::new(
                    Kind::MalformedResponse,
                    format!(
                        "the server answered {} but its body is not JSON ({error})",
                        raw.status
                    ),
                )
            })?
        };
        let resource_id = body.get("id").and_then(Value::as_str).map(str::to_owned);
        let mut sink_failure = None;
        for field in endpoint.secret_fields() {
            let Some(slot) = body.pointer_mut(field) else {
                continue;
            };
            let Value::String(value) = std::mem::take(slot) else {
                *slot = Value::String(REDACTED.to_owned());
                continue;
            };
            let secret = ReturnedSecret {
                field: field.clone(),
                resource_id: resource_id.clone(),
                value: Secret::new(value),
            };
            match secrets.store(secret).await {
                Ok(reference) => *slot = Value::String(reference),
                Err(error) => {
                    *slot = Value::String(REDACTED.to_owned());
                    sink_failure = Some(error);
                }
            }
        }
        let response = response_output(raw.status, &raw.headers, body);
        if let Some(error) = sink_failure {
            return Err(TaskError::new(
                Kind::SecretSink,
                format!(
                    "the key was created{} but the secret sink refused its secret: {error}. The secret cannot be read again; delete or rotate the key",
                    resource_id.map(|id| format!(" ({id})")).unwrap_or_default()
                ),
            )
            .with_response(response));
        }
        Ok(TaskOutput { response, request })
    }
}

/// The headers to send: the prepared ones, then the credential, marked sensitive so that
/// even the HTTP stack's `Debug` hides it.
fn request_headers(prepared: &Prepared) -> Result<HeaderMap, TaskError> {
    let invalid = |what: &str| {
        TaskError::new(
            Kind::InvalidStep,
            format!("{what} cannot be sent as an HTTP header"),
        )
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &prepared.request.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(name))?;
        let value = HeaderValue::from_str(value).map_err(|_| invalid(name.as_str()))?;
        headers.append(name, value);
    }
    if let Some((name, secret)) = &prepared.credential {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(name))?;
        let mut value =
            HeaderValue::from_str(secret.expose()).map_err(|_| invalid("the credential"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

/// A transport failure. Only a failure to connect happened before anything was sent.
fn transport_error(error: &reqwest::Error, reading_body: bool) -> TaskError {
    let cause = error_chain(error);
    if error.is_connect() {
        TaskError::new(
            Kind::Unreachable,
            format!("could not connect; nothing was sent: {cause}"),
        )
    } else if error.is_timeout() {
        TaskError::new(
            Kind::Timeout,
            format!(
                "timed out {}: {cause}",
                if reading_body {
                    "while reading the response"
                } else {
                    "waiting for the response"
                }
            ),
        )
    } else {
        TaskError::new(
            Kind::ConnectionLost,
            format!(
                "the connection failed after the request was sent{}: {cause}",
                if reading_body {
                    ", while reading the response"
                } else {
                    ""
                }
            ),
        )
    }
}

/// A non-2xx response as an error of the right kind.
fn classify(endpoint: &Endpoint, raw: Raw) -> TaskError {
    let status = raw.status;
    let body = parse_lenient(&raw.body);
    let detail = problem_text(&body);
    let retry_after = retry_after(&raw.headers, SystemTime::now());
    let location = raw
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = body;
    redact_secrets(endpoint, &mut body);
    let response = response_output(status, &raw.headers, body);
    let code = status.as_u16();
    let error = match code {
        300..=399 => TaskError::new(
            Kind::Redirected,
            format!(
                "the server answered {status} (to {}); a POST is not redirected, so nothing was created there",
                location.as_deref().unwrap_or("no Location")
            ),
        ),
        401 => TaskError::new(
            Kind::Unauthorized,
            format!("the credentials were rejected (401){detail}"),
        ),
        403 => TaskError::new(
            Kind::Forbidden,
            format!("the credentials may not create API keys (403){detail}"),
        ),
        422 => {
            let fields = invalid_fields(&response.body);
            TaskError::new(
                Kind::Unprocessable,
                format!("the server rejected the data (422){detail}"),
            )
            .with_invalid_fields(fields)
        }
        429 => TaskError::new(
            Kind::RateLimited,
            format!(
                "rate limit exceeded (429){}",
                retry_after
                    .map(|d| format!(
                        "; the server allows a retry in {} s",
                        d.as_secs_f64().ceil()
                    ))
                    .unwrap_or_default()
            ),
        )
        .with_retry_after(retry_after),
        500..=599 => TaskError::new(
            Kind::ServerError,
            format!("the server failed ({status}){detail}"),
        ),
        _ => TaskError::new(
            Kind::Rejected,
            format!("the server answered {status}{detail}"),
        ),
    };
    error.with_response(response)
}

/// Adds the attempt count, and reconcile data when the kind of failure means the request may
/// have created a key.
fn finish_classified(
    error: TaskError,
    attempts: u32,
    prepared: &Prepared,
    requested_at: SystemTime,
) -> TaskError {
    let created_maybe = matches!(
        error.kind_of(),
        Kind::ServerError | Kind::Timeout | Kind::ConnectionLost
    ) || (matches!(
        error.kind_of(),
        Kind::MalformedResponse | Kind::ResponseTooLarge
    ) && error.status().is_none_or(|s| (200..300).contains(&s)));
    // For an idempotent request the question "was it created?" does not arise.
    let created_maybe = created_maybe && !error.is_retryable();
    finish(error, attempts, prepared, requested_at, created_maybe)
}

/// Adds the attempt count, and for an outcome that may have created a key, what is needed to
/// reconcile.
fn finish(
    error: TaskError,
    attempts: u32,
    prepared: &Prepared,
    requested_at: SystemTime,
    created_maybe: bool,
) -> TaskError {
    let error = error.with_attempts(attempts);
    if !created_maybe {
        return error;
    }
    let description = prepared
        .request
        .body
        .as_ref()
        .and_then(|b| b.get("description"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    error.with_reconcile(Reconcile {
        url: prepared.request.url.clone(),
        description,
        requested_at: clock::rfc3339(requested_at),
        advice: "the key may have been created: list the organization's API keys (GET /api-keys) and look for this description, created at or after requestedAt, before retrying".to_owned(),
    })
}

fn parse_lenient(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// `: title: detail` from problem details, when present.
fn problem_text(body: &Value) -> String {
    let part = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    match (part("title"), part("detail")) {
        (Some(title), Some(detail)) if title != detail => format!(": {title}: {detail}"),
        (Some(text), _) | (None, Some(text)) => format!(": {text}"),
        (None, None) => String::new(),
    }
}

/// `invalidFields` of a 422, with `acl.0.permissions` mapped to `/body/acl/0/permissions`.
fn invalid_fields(body: &Value) -> Vec<InvalidField> {
    body.get("invalidFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let field = entry.get("field")?.as_str()?.to_owned();
            let message = entry
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let mut path = String::from("/body");
            for token in field.split('.') {
                append_token(&mut path, token);
            }
            Some(InvalidField {
                field,
                path: Some(path),
                message,
            })
        })
        .collect()
}

/// When the server allows a retry: `X-RateLimit-Retry-After` (a Unix timestamp in seconds),
/// else `Retry-After` (seconds).
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    number("x-ratelimit-retry-after")
        .map(|timestamp| clock::until_unix(timestamp, now))
        .or_else(|| number("retry-after").map(Duration::from_secs))
}

fn redact_secrets(endpoint: &Endpoint, body: &mut Value) {
    for field in endpoint.secret_fields() {
        if let Some(slot) = body.pointer_mut(field) {
            *slot = Value::String(REDACTED.to_owned());
        }
    }
}

fn response_output(
    status: reqwest::StatusCode,
    headers: &HeaderMap,
    body: Value,
) -> ResponseOutput {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        // Cookies are credentials of a kind; they are not task output.
        let text = if name == reqwest::header::SET_COOKIE {
            REDACTED.to_owned()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        out.entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&text);
            })
            .or_insert(text);
    }
    ResponseOutput {
        status_code: status.as_u16(),
        reason_phrase: status.canonical_reason().unwrap_or("").to_owned(),
        headers: out,
        body,
    }
}

/// An error and its causes on one line ("error sending request: connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_fields_map_to_parameter_pointers() {
        let fields = invalid_fields(&json!({"invalidFields": [
            {"field": "acl.0.permissions", "message": "bad"},
            {"field": "description", "message": "required"}]}));
        assert_eq!(fields[0].path.as_deref(), Some("/body/acl/0/permissions"));
        assert_eq!(fields[1].path.as_deref(), Some("/body/description"));
    }

    #[test]
    fn retry_after_prefers_the_rate_limit_timestamp() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("9"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(9)));
        headers.insert("x-ratelimit-retry-after", HeaderValue::from_static("1003"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(3)));
        headers.insert("x-ratelimit-retry-after", HeaderValue::from_static("900"));
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
    }
}
