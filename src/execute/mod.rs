//! Sending the request and turning every outcome into task output or a classified error.
//!
//! - this file: [`Executor`], its builder, and the attempt loop under the runner's
//!   cancellation and deadline;
//! - `wire`: the request in wire form, and a response as read;
//! - `send`: one attempt, the response read within its limit, in a task of its own when it
//!   is polled outside the runtime's tasks and other requests are on the wire;
//! - `scrub`: the credential sent, removed from whatever the answer echoes;
//! - `classify`: a failed attempt as a [`TaskError`] of the right kind;
//! - `chosen_id`: a create at an id the step chose: look, then create-or-update, retried;
//! - `handoff`: a success as [`TaskOutput`], its secrets handed to the sink;
//! - `reconcile`: what to look for when a request may have taken effect;
//! - `retry`: the [`RetryPolicy`].

mod chosen_id;
mod classify;
mod handoff;
mod reconcile;
mod retry;
mod scrub;
mod send;
mod wire;

pub use retry::RetryPolicy;

/// The error for a step whose request may have taken effect while nobody saw the answer: the
/// process that sent it died, and whoever supervises it (a workflow engine) knows only that.
/// It carries the reconcile data (see [`TaskError::reconcile`]), computed from the step as
/// the request would have been rendered; `requested_at` is when the request was started.
pub fn outcome_unknown(
    endpoint: &Endpoint,
    parameters: Map<String, Value>,
    state: &Map<String, Value>,
    requested_at: SystemTime,
    message: &str,
) -> TaskError {
    let error = TaskError::new(ErrorKind::Interrupted, message);
    let endpoint = endpoint.route(&parameters);
    let effect_maybe = !wire::is_idempotent(endpoint.operation().method());
    match endpoint.prepare(parameters, state, None) {
        Ok(prepared) => {
            reconcile::finish(error, 0, endpoint, &prepared, requested_at, effect_maybe)
        }
        // Rendered once, it would render again; if not, the outcome is no less unknown.
        Err(problems) if effect_maybe => {
            reconcile::unrendered(error, endpoint, &problems, requested_at)
        }
        Err(_) => error,
    }
}

use crate::context::TaskContext;
use crate::credentials::Credentials;
use crate::credentials::CredentialsSource;
use crate::endpoint::{Endpoint, Lookup, Prepared, Step, StepTemplate};
use crate::error::{ErrorKind, TaskError};
use crate::output::{RequestSummary, TaskOutput};
use crate::problem::Problem;
use crate::secrets::SecretSink;
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Semaphore;
use tracing::Instrument;
use wire::{Outgoing, Progress, Raw};

/// Options for an [`Executor`]; see [`Executor::builder`].
#[derive(Debug, Clone)]
pub struct ExecutorBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    max_response_bytes: usize,
    retry: RetryPolicy,
    client: Option<reqwest::Client>,
    max_in_flight: Option<usize>,
}

impl Default for ExecutorBuilder {
    fn default() -> Self {
        ExecutorBuilder {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            max_response_bytes: 1 << 20,
            retry: RetryPolicy::default(),
            client: None,
            max_in_flight: None,
        }
    }
}

impl ExecutorBuilder {
    /// Longest wait for a connection (default 5 s). Nothing has been sent when it expires,
    /// so the failure is retryable. Not applied to a client given with
    /// [`ExecutorBuilder::client`], which keeps its own.
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

    /// Most requests on the wire at once, across every execution sharing this executor; the
    /// rest wait for a free slot. The default fits the process's open-file limit (half of what
    /// is left after 64 descriptors, so the idle connections the pool keeps fit too): a batch
    /// run with a high concurrency under `ulimit -n 256` waits instead of failing with "too
    /// many open files".
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = Some(requests.clamp(1, Semaphore::MAX_PERMITS));
        self
    }

    /// Sends through this client instead of one of our own: for proxies, extra root
    /// certificates or client certificates (mTLS). Build it with
    /// `.redirect(reqwest::redirect::Policy::none())`: the credential header must not follow
    /// a redirect to another origin, and a redirect the client follows anyway is reported as
    /// [`ErrorKind::Redirected`]. The per-attempt [`ExecutorBuilder::timeout`] still applies.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Builds the HTTP client (rustls with the operating system's trust store, no redirects,
    /// a connection pool) once, or takes the one given.
    pub fn build(self) -> Result<Executor, ExecutorBuildError> {
        let (client, per_request_timeout) = match self.client {
            Some(client) => (client, Some(self.timeout)),
            None => (own_client(self.connect_timeout, self.timeout)?, None),
        };
        let max_in_flight = self
            .max_in_flight
            .unwrap_or_else(|| crate::util::fd::socket_budget(64, 4096))
            .min(Semaphore::MAX_PERMITS);
        Ok(Executor {
            client,
            per_request_timeout,
            max_response_bytes: self.max_response_bytes,
            retry: self.retry,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
        })
    }
}

fn own_client(
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<reqwest::Client, ExecutorBuildError> {
    // reqwest is built without a crypto provider of its own (its default, aws-lc, needs cmake
    // and a long build); ring is installed as the process default unless the embedder
    // installed one first.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one in the meantime, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        // A redirected request is reported, never followed: the credential header must not
        // travel to another origin, and the operation did not happen where it was sent.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("apikey-task/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| ExecutorBuildError { source: error })
}

/// The HTTP client could not be built (for example, the operating system's certificates
/// could not be loaded). The reqwest error is its [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct ExecutorBuildError {
    source: reqwest::Error,
}

impl fmt::Display for ExecutorBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot build the HTTP client: {}",
            classify::error_chain(&self.source)
        )
    }
}

impl std::error::Error for ExecutorBuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

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
    /// Set when the client is the embedder's, whose own timeout we do not know.
    per_request_timeout: Option<Duration>,
    max_response_bytes: usize,
    retry: RetryPolicy,
    /// One permit per request on the wire.
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("max_response_bytes", &self.max_response_bytes)
            .field("retry", &self.retry)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// Most requests this executor has on the wire at once (see
    /// [`ExecutorBuilder::max_in_flight`]).
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// Starts building an executor with the defaults: 5 s to connect, 30 s per attempt, 1 MiB
    /// responses, [`RetryPolicy::default`].
    pub fn builder() -> ExecutorBuilder {
        ExecutorBuilder::default()
    }

    /// Executes a step: renders and validates it (an invalid step is never sent), sends it with
    /// the configured credentials, retries what is safe to retry, hands secrets in the response
    /// to `secrets`, and returns the response as task output. Parameters that come again after
    /// an execution of them succeeded are checked from the template the endpoint keeps of
    /// them, with the same outcome (see
    /// [`EndpointBuilder::keep_templates`](crate::EndpointBuilder::keep_templates)).
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
        // A create that names its id goes out as the definition's retry-safe variant.
        let routed = endpoint.route(&parameters);
        match endpoint.reader_for(routed) {
            // Boxed: its future holds two requests, and would make every execution as large.
            Some(read) => {
                Box::pin(chosen_id::create(
                    self, endpoint, routed, read, parameters, ctx,
                ))
                .await
            }
            // Sent as itself: from the endpoint's template of these parameters, when it keeps
            // one.
            None if std::ptr::eq(routed, endpoint) => match endpoint.kept_template(&parameters) {
                Lookup::Template(template) => {
                    drop(parameters);
                    self.execute_in_parts(&template, ctx).await
                }
                Lookup::Step(key) => {
                    let executed = self.execute_routed(endpoint, parameters, ctx).await;
                    if let (Ok(_), Some(key)) = (&executed, key) {
                        endpoint.passed(key);
                    }
                    executed
                }
            },
            None => self.execute_routed(routed, parameters, ctx).await,
        }
    }

    /// [`Executor::execute_in`] for a step made into a template
    /// ([`Endpoint::template`](crate::Endpoint::template)), as a runner executes the same step
    /// of a workflow in run after run: after the first execution that passes the whole check,
    /// only the strings holding an expression are rendered and checked, when
    /// [`StepTemplate::checks_in_parts`] says they can be. The same requests, output and errors
    /// as [`Executor::execute_in`] with the template's parameters.
    pub async fn execute_template(
        &self,
        template: &StepTemplate<'_>,
        ctx: &TaskContext<'_>,
    ) -> Result<TaskOutput, TaskError> {
        if !template.checks_in_parts() {
            return self
                .execute_in(template.endpoint(), template.parameters().clone(), ctx)
                .await;
        }
        self.execute_in_parts(template, ctx).await
    }

    /// A template that checks in parts: prepare from it, send with retries, hand off.
    async fn execute_in_parts(
        &self,
        template: &StepTemplate<'_>,
        ctx: &TaskContext<'_>,
    ) -> Result<TaskOutput, TaskError> {
        let prepared = self.prepare_checked(ctx, |credentials| {
            template.prepare(ctx.state(), credentials)
        })?;
        Box::pin(self.send_prepared(template.endpoint(), prepared, ctx)).await
    }

    /// One operation, its step already routed: prepare, send with retries, hand off.
    pub(super) async fn execute_routed(
        &self,
        endpoint: &Endpoint,
        parameters: Map<String, Value>,
        ctx: &TaskContext<'_>,
    ) -> Result<TaskOutput, TaskError> {
        let prepared = self.prepare_checked(ctx, |credentials| {
            endpoint.prepare(parameters, ctx.state(), credentials)
        })?;
        Box::pin(self.send_prepared(endpoint, prepared, ctx)).await
    }

    /// The request to send, rendered and checked by `prepare` with the configured credentials,
    /// unless the runner has cancelled already.
    fn prepare_checked<'t>(
        &self,
        ctx: &TaskContext<'_>,
        prepare: impl FnOnce(Option<Credentials>) -> Result<Prepared<'t>, Vec<Problem>>,
    ) -> Result<Prepared<'t>, TaskError> {
        if ctx.cancellation().is_cancelled() {
            return Err(TaskError::new(
                ErrorKind::Cancelled,
                "cancelled before anything was sent",
            ));
        }
        prepare(ctx.credentials().credentials()).map_err(TaskError::invalid_step)
    }

    /// A prepared request sent with retries, its answer handed off as output. Callers box
    /// it: its state (the attempts, the race, the hand-off) is about 2 KiB, and the futures a
    /// runner holds and moves stay small without it. An `async` block rather than an `async
    /// fn`, which would copy its arguments into locals of its own and hold `prepared` (312
    /// bytes) twice in that state.
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn would hold its arguments twice in its state"
    )]
    fn send_prepared(
        &self,
        endpoint: &Endpoint,
        prepared: Prepared<'_>,
        ctx: &TaskContext<'_>,
    ) -> impl Future<Output = Result<TaskOutput, TaskError>> {
        async move {
            let operation = endpoint.operation();
            if prepared.credential.is_none() && !operation.security.is_empty() {
                return Err(TaskError::new(
                    ErrorKind::NoCredentials,
                    format!(
                        "{} needs credentials and none are configured ({} or {} for the CLI, a credentials source when embedded); nothing was sent",
                        operation.label(),
                        crate::credentials::API_KEY_ENV,
                        crate::credentials::JWT_ENV,
                    ),
                ));
            }
            let request = Outgoing::new(endpoint, &prepared)?;
            let span = tracing::info_span!(
                parent: ctx.span(),
                "execute",
                method = %prepared.request.method,
                url = %prepared.request.url,
                runner_attempt = ctx.attempt()
            );
            let requested_at = SystemTime::now();
            let progress = Progress::default();
            let work = self.send_with_retries(&request, ctx, &progress, requested_at);
            let deadline = async {
                match ctx.deadline() {
                    Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                    None => std::future::pending().await,
                }
            };
            // The race ends before the hand-off starts, so that the futures it polled are gone by
            // then and the hand-off's state can take their place: a smaller future to allocate
            // and move for every execution.
            let finished = tokio::select! {
                outcome = work.instrument(span.clone()) => Ok(outcome),
                () = ctx.cancellation().cancelled() => Err(ErrorKind::Cancelled),
                () = deadline => Err(ErrorKind::DeadlineExceeded),
            };
            let stopped = match finished {
                Ok(outcome) => {
                    // The server has answered with success: that is done, whatever the runner says
                    // now, so the hand-off (which may wait on the embedder's secret sink) is not
                    // raced against cancellation or the deadline.
                    let (raw, attempts, duration_ms) = outcome?;
                    let handed = handoff::success(&request, raw, ctx.secrets())
                        .instrument(span)
                        .await
                        .map_err(|error| {
                            reconcile::finish_classified(error, attempts, &request, requested_at)
                        });
                    drop(request);
                    // Nothing needs the request any more: its method and URL move into the output.
                    let (method, url) = prepared.into_method_and_url();
                    return handed.map(|(response, secret_obtained)| TaskOutput {
                        response,
                        request: RequestSummary {
                            method,
                            url,
                            attempts,
                            duration_ms,
                        },
                        secret_obtained,
                    });
                }
                Err(stopped) => stopped,
            };
            // Stopped from outside. If a request was on the wire, it may have taken effect,
            // unless repeating it is harmless.
            let on_wire = progress.in_flight.load(Ordering::SeqCst);
            let effect_maybe = on_wire && !request.idempotent();
            let what = if stopped == ErrorKind::Cancelled {
                "cancelled"
            } else {
                "the deadline passed"
            };
            let message = match (on_wire, effect_maybe) {
                (true, true) => format!(
                    "{what} while a request was in flight; {} may have taken effect",
                    operation.label()
                ),
                (true, false) => format!(
                    "{what} while a request was in flight; it is idempotent, so repeating it is safe"
                ),
                _ => format!("{what}; no request was in flight, so nothing was sent"),
            };
            let error = TaskError::new(stopped, message);
            Err(reconcile::finish(
                error,
                progress.attempts.load(Ordering::SeqCst),
                endpoint,
                &prepared,
                requested_at,
                effect_maybe,
            ))
        }
    }

    /// The attempt loop: send, classify, and retry what the policy and the deadline allow,
    /// until a success (its raw answer, the attempts made and the milliseconds they took, for
    /// the hand-off) or a failure that ends the step.
    async fn send_with_retries(
        &self,
        request: &Outgoing<'_>,
        ctx: &TaskContext<'_>,
        progress: &Progress,
        requested_at: SystemTime,
    ) -> Result<(Raw, u32, u64), TaskError> {
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            progress.attempts.store(attempt, Ordering::SeqCst);
            tracing::debug!(attempt, "sending request");
            // The semaphore is never closed, so a permit always comes (perhaps after a wait).
            let permit = Arc::clone(&self.in_flight).acquire_owned().await.ok();
            // Others of this executor's requests are on the wire too (see `send::once`).
            let crowded = self.in_flight.available_permits().saturating_add(1) < self.max_in_flight;
            progress.in_flight.store(true, Ordering::SeqCst);
            let sent = send::once(
                &self.client,
                request,
                self.per_request_timeout,
                self.max_response_bytes,
                permit,
                crowded,
            )
            .await;
            let failure: TaskError = match sent {
                Ok(raw)
                    if raw.status.is_success()
                        // "Already done" only for a repeat: a first attempt that finds
                        // nothing to delete may name the wrong thing.
                        || ((attempt > 1 || ctx.attempt() > 1)
                            && request
                                .endpoint
                                .operation()
                                .is_already_done(raw.status.as_u16())) =>
                {
                    tracing::info!(attempt, status = raw.status.as_u16(), "request succeeded");
                    let duration_ms =
                        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    return Ok((raw, attempt, duration_ms));
                }
                Ok(raw) => classify::response(request, raw),
                Err(error) => error,
            }
            .with_idempotent(request.idempotent());
            // A failure that is safe to retry means nothing is outstanding.
            if failure.is_retryable() {
                progress.in_flight.store(false, Ordering::SeqCst);
            }
            // A failure that ends the step is the caller's to report (a look-first read's 404
            // is no news at all); one that is retried is worth a line.
            if failure.is_retryable() {
                tracing::warn!(attempt, kind = %failure.kind(), "attempt failed");
            } else {
                tracing::debug!(attempt, kind = %failure.kind(), "attempt failed");
            }
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
            return Err(reconcile::finish_classified(
                failure,
                attempt,
                request,
                requested_at,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Redact;
    use crate::util::json::object;
    use serde_json::json;

    /// The futures a runner stores, spawns or moves are small: the state of sending and
    /// handing off (about 2 KiB) is boxed once, not copied with every move of theirs.
    #[test]
    fn execution_futures_stay_small() {
        let endpoint = Endpoint::builder().build().expect("endpoint");
        let executor = Executor::builder().build().expect("executor");
        let parameters = object(json!({
            "organizationId": "org-1",
            "body": { "description": "key ${workflow.input.n}" }
        }));
        let template = endpoint.template(parameters.clone());
        let state = Map::new();
        let none: Option<Credentials> = None;
        let ctx = TaskContext::new(&state, &none, &Redact);
        let from_template = executor.execute_template(&template, &ctx);
        let whole = executor.execute(
            &endpoint,
            Step {
                parameters: parameters.clone(),
                context: Map::new(),
            },
            &none,
            &Redact,
        );
        // It holds the step it was given.
        assert!(
            std::mem::size_of_val(&whole) <= 768,
            "{}",
            std::mem::size_of_val(&whole)
        );
        // The boxed state itself: copied whole into its box for every execution, and moved
        // between its states. The request given to the client is not kept in it (264 bytes
        // more, held while waiting for the answer, before 2026-11-28); the attempt's permit,
        // which its wire work holds wherever that runs, is (16 bytes), where it was sent, for a
        // client that may follow redirects (8 bytes: boxed), and the body's first chunk kept as
        // the connection's buffer rather than copied (24 bytes, for an allocation and a copy
        // fewer per execution).
        let filled = object(json!({ "workflow": { "input": { "n": 1 } } }));
        let prepared = endpoint
            .prepare(parameters.clone(), &filled, None)
            .expect("prepared");
        let send = executor.send_prepared(&endpoint, prepared, &ctx);
        assert!(
            std::mem::size_of_val(&send) <= 1_984,
            "{}",
            std::mem::size_of_val(&send)
        );
        drop(send);
        let step = executor.execute_in(&endpoint, parameters, &ctx);
        assert!(
            std::mem::size_of_val(&from_template) <= 512,
            "{}",
            std::mem::size_of_val(&from_template)
        );
        assert!(
            std::mem::size_of_val(&step) <= 512,
            "{}",
            std::mem::size_of_val(&step)
        );
    }
}
