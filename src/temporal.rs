//! A Temporal activity worker (cargo feature `temporal`), on the official Rust SDK.
//!
//! It registers the activity `CreateApiKey` (input: a step file's shape,
//! `{"parameters": {...}, "context": {...}}`; result: the task output) and the workflow
//! `CreateApiKeyWorkflow`, which runs that one activity, so any Temporal client can start a key
//! creation directly:
//!
//! ```sh
//! temporal workflow execute --type CreateApiKeyWorkflow --task-queue apikey-task \
//!   --input '{"parameters": {"organizationId": "org-1", "body": {"description": "CI"}}, "context": {}}'
//! ```
//!
//! **Exactly one key per activity, crash or not.** A worker can die with a request on the
//! wire (`kill -9`, a lost node); Temporal then times the activity out and retries it on
//! another worker. A retried `POST` would create a second key, so by default the activity
//! creates with `PUT /api-keys/{keyId}`, at an id it derives from the namespace, workflow
//! id, the id of the workflow's first run and the activity id ([`derived_key_id`]): the same
//! for every retry of that activity, in that run or a retry or reset of it, different for any
//! other, at most 50 characters; a failure's details name it (`keyId`). A retry then answers 200 with
//! the key the lost attempt made. A step's own `keyId` wins over the derived one.
//!
//! The opt-out, `"temporal": {"createWith": "post"}` in the workflow input, keeps `POST`
//! (keys with server-made ids). Then the activity runs at most once per failure that may have
//! reached the server: the workflow retries only what the plugin says is safe (nothing was
//! sent, or a 429), and an attempt that timed out (its worker died) ends the workflow with a
//! non-retryable `interrupted` failure whose details hold the reconcile data (outcome
//! unknown), never a second `POST`.
//!
//! Failures keep the plugin's classification: terminal and outcome-unknown errors become
//! non-retryable application failures whose details are the error document (with what is
//! needed to reconcile), a 429 becomes a retryable failure whose next retry delay is the
//! server's, and cancellation reaches the execution through heartbeats. Credentials come from
//! the worker's environment (`REBILLY_API_KEY` / `REBILLY_JWT`), never from workflow input.
//!
//! `"temporal": {"heartbeatTimeoutSeconds": N}` sets how soon a dead worker is noticed
//! (default 15).

// The SDK's macros generate public items without docs or `Debug`.
#![allow(missing_docs, missing_debug_implementations)]

use crate::credentials::FromEnv;
use crate::endpoint::Step;
use crate::error::TaskError;
use crate::secrets::Redact;
use crate::task::{HttpTask, Task};
use crate::workflow::WorkflowState;
use serde_json::Value;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions, Url};
use temporalio_common::RetryPolicy;
use temporalio_common::error::IncomingError;
use temporalio_sdk::activities::{ActivityContext, ActivityError, activities};
use temporalio_sdk::workflows::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityCancellationType, ActivityOptions, ApplicationFailure, Runtime, Worker, WorkerOptions,
    WorkflowContext, WorkflowResult,
};
use tokio::signal::unix::signal;
use tokio_util::sync::CancellationToken;

/// Where the worker connects and what it polls. Start from [`WorkerConfig::default`] and set
/// the fields you need.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkerConfig {
    /// `HOST:PORT` of the Temporal frontend.
    pub address: String,
    /// The namespace.
    pub namespace: String,
    /// The task queue.
    pub task_queue: String,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            address: "127.0.0.1:7233".into(),
            namespace: "default".into(),
            task_queue: "apikey-task".into(),
        }
    }
}

/// The activities: the `CreateApiKey` task behind Temporal's activity interface.
pub struct ApiKeyActivities {
    task: HttpTask,
}

#[activities]
impl ApiKeyActivities {
    /// Executes one step; heartbeats while the request is in flight so that cancellation
    /// (delivered with heartbeat responses) reaches it.
    #[activity(name = "CreateApiKey")]
    pub async fn create_api_key(
        self: Arc<Self>,
        ctx: ActivityContext,
        mut input: Value,
    ) -> Result<Value, ActivityError> {
        // Put by default; the workflow says when the step opted out, and which run's id the
        // key id derives from (the first of the workflow's chain of runs).
        let (derive_key_id, key_id_run) = match &mut input {
            Value::Object(fields) => (
                fields.remove(DERIVE_KEY_ID) != Some(Value::Bool(false)),
                match fields.remove(KEY_ID_RUN) {
                    Some(Value::String(run)) => Some(run),
                    _ => None,
                },
            ),
            _ => (true, None),
        };
        let Step {
            mut parameters,
            context,
        } = serde_json::from_value(input).map_err(|error| {
            ActivityError::application(
                ApplicationFailure::builder(format!(
                    "the input is not a step ({{\"parameters\": {{...}}, \"context\": {{...}}}}): {error}"
                ))
                .type_name("invalid_input".to_owned())
                .non_retryable(true)
                .build(),
            )
        })?;
        let info = ctx.info();
        let mut derived = None;
        if derive_key_id
            && let Some(parameter) = self.task.endpoint().idempotent_parameter()
            && !parameters.contains_key(parameter)
        {
            let run = key_id_run
                .as_deref()
                .or(info.workflow_run_id.as_deref())
                .unwrap_or_default();
            let id = derived_key_id(
                &info.namespace,
                info.workflow_id.as_deref().unwrap_or_default(),
                run,
                &info.activity_id,
            );
            parameters.insert(parameter.to_owned(), Value::String(id.clone()));
            derived = Some(id);
        }
        // `${workflow.workflowId}` is the Temporal workflow's id unless the input says otherwise.
        let mut state = WorkflowState::from_map(context);
        if let Some(id) = &info.workflow_id {
            state = state.with_default_workflow_id(id.clone());
        }
        let token = CancellationToken::new();
        let mut task_ctx = state
            .context(&FromEnv, &Redact)
            .with_cancellation(token.clone())
            .with_attempt(info.attempt);
        if let Some(left) = info
            .deadline
            .and_then(|deadline| deadline.duration_since(SystemTime::now()).ok())
        {
            task_ctx = task_ctx.with_deadline(Instant::now() + left);
        }
        let every = info
            .heartbeat_timeout
            .map_or(Duration::from_secs(5), |timeout| timeout / 3)
            .max(Duration::from_millis(200));

        let execution = self.task.execute(parameters, &task_ctx);
        tokio::pin!(execution);
        let mut heartbeat = tokio::time::interval(every);
        let mut cancel_seen = false;
        let outcome = loop {
            tokio::select! {
                outcome = &mut execution => break outcome,
                () = ctx.cancelled(), if !cancel_seen => {
                    cancel_seen = true;
                    token.cancel();
                }
                _ = heartbeat.tick() => {
                    let _ = ctx.record_heartbeat(()).await;
                }
            }
        };
        match outcome {
            Ok(output) => serde_json::to_value(output).map_err(|error| {
                ActivityError::application(
                    ApplicationFailure::builder(format!("cannot encode the output: {error}"))
                        .non_retryable(true)
                        .build(),
                )
            }),
            Err(error) => Err(activity_error(&error, derived.as_deref())),
        }
    }
}

/// The activity input member by which the workflow says whether to derive a key id.
const DERIVE_KEY_ID: &str = "deriveKeyId";
/// The activity input member naming the run the key id derives from: the workflow's first
/// execution, so that a workflow retried or reset as a new run still finds its key.
const KEY_ID_RUN: &str = "keyIdRun";

/// The id an activity creates its key at when the step gives none: `tw-` and 40 hex digits
/// of SHA-256 over the namespace, workflow id, run id and activity id (each length-prefixed,
/// so no two different tuples collide by concatenation). Stable across retries of one
/// activity in one run; 43 characters of `[-0-9a-z]`, within the API's 50 and its pattern.
pub fn derived_key_id(
    namespace: &str,
    workflow_id: &str,
    run_id: &str,
    activity_id: &str,
) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [namespace, workflow_id, run_id, activity_id] {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part.as_bytes());
    }
    let digest = context.finish();
    let hex: String = digest.as_ref()[..20]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("tw-{hex}")
}

/// The longest server-requested wait the activity retries after.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// The plugin's classification, in Temporal's terms; the details also name the key id the
/// activity derived, so that whoever looks after a failure knows where the key would be.
fn activity_error(error: &TaskError, derived_key_id: Option<&str>) -> ActivityError {
    if error.is_cancelled() {
        return ActivityError::cancelled_with_details(error.to_json());
    }
    // A server may ask for any wait; one longer than the workflow would sensibly sleep ends
    // the activity (with the server's time in the details) instead of parking it for years.
    let wait_too_long = error
        .retry_after()
        .is_some_and(|after| after > MAX_RETRY_DELAY);
    let failure = ApplicationFailure::builder(error.to_string())
        .type_name(error.kind().as_str().to_owned())
        // Only what is safe to repeat is retried; an outcome-unknown error is not.
        .non_retryable(!error.is_retryable() || wait_too_long)
        .maybe_next_retry_delay(error.retry_after().filter(|_| !wait_too_long))
        .details(details(error, derived_key_id))
        .build();
    ActivityError::application(failure)
}

/// The error document, with `"keyId"` when the activity derived one.
fn details(error: &TaskError, derived_key_id: Option<&str>) -> Value {
    let mut document = error.to_json();
    if let (Some(id), Value::Object(fields)) = (derived_key_id, &mut document) {
        fields.insert("keyId".into(), Value::String(id.to_owned()));
    }
    document
}

/// Runs the `CreateApiKey` activity: with `PUT` at a derived id (retried by Temporal, safe),
/// or with `POST` at most once per attempt that may have reached the server.
#[workflow]
#[derive(Default)]
pub struct CreateApiKeyWorkflow;

/// The workflow's own options, `"temporal": {...}` in its input.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WorkflowOptions {
    /// `put` (the default): create at a derived id; `post`: let the server choose the id.
    #[serde(default)]
    create_with: Option<String>,
    /// How long without a heartbeat before Temporal gives the activity to another worker.
    #[serde(default)]
    heartbeat_timeout_seconds: Option<u64>,
}

/// Attempts of the activity at most, whichever way it creates.
const MAX_ATTEMPTS: u32 = 5;

#[workflow_methods]
impl CreateApiKeyWorkflow {
    /// The workflow's only method: the activity's result is the workflow's result.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, mut input: Value) -> WorkflowResult<Value> {
        let options: WorkflowOptions = match &mut input {
            Value::Object(fields) => match fields.remove("temporal") {
                Some(value) => serde_json::from_value(value).map_err(|error| {
                    ApplicationFailure::builder(format!("\"temporal\" in the input: {error}"))
                        .type_name("invalid_input".to_owned())
                        .non_retryable(true)
                        .build()
                })?,
                None => WorkflowOptions::default(),
            },
            _ => WorkflowOptions::default(),
        };
        let post = match options.create_with.as_deref() {
            None | Some("put") => false,
            Some("post") => true,
            Some(other) => {
                return Err(ApplicationFailure::builder(format!(
                    "\"temporal\": {{\"createWith\": {other:?}}}: expected \"put\" or \"post\""
                ))
                .type_name("invalid_input".to_owned())
                .non_retryable(true)
                .build()
                .into());
            }
        };
        if let Value::Object(fields) = &mut input {
            fields.insert(DERIVE_KEY_ID.into(), Value::Bool(!post));
            fields.insert(
                KEY_ID_RUN.into(),
                Value::String(ctx.info().first_execution_run_id().to_owned()),
            );
        }
        let heartbeat = Duration::from_secs(options.heartbeat_timeout_seconds.unwrap_or(15).max(1));
        let activity_options = |attempts: u32| {
            ActivityOptions::with_start_to_close_timeout(Duration::from_secs(60))
                .heartbeat_timeout(heartbeat)
                .cancellation_type(ActivityCancellationType::WaitCancellationCompleted)
                .retry_policy(
                    RetryPolicy::builder()
                        .initial_interval(Duration::from_secs(1))
                        .backoff_coefficient(2.0)
                        .maximum_interval(Duration::from_secs(60))
                        .maximum_attempts(attempts)
                        .build(),
                )
                .build()
        };
        if !post {
            // Every attempt puts at the same id: Temporal may retry anything, a dead worker
            // included.
            let output = ctx
                .execute_activity(
                    ApiKeyActivities::create_api_key,
                    input,
                    activity_options(MAX_ATTEMPTS),
                )
                .await?;
            return Ok(output);
        }
        // POST: one attempt at a time, and a new one only after a failure the plugin calls
        // retryable (nothing reached the server, or a 429). An attempt that timed out may
        // have created a key on a worker that died: that ends the workflow.
        let mut attempt = 1;
        loop {
            let scheduled = ctx.workflow_time();
            let outcome = ctx
                .execute_activity(
                    ApiKeyActivities::create_api_key,
                    input.clone(),
                    activity_options(1),
                )
                .await;
            let error = match outcome {
                Ok(output) => return Ok(output),
                Err(error) => error,
            };
            let retry_after = match error.cause() {
                Some(IncomingError::Application(failure))
                    if !failure.is_non_retryable() && attempt < MAX_ATTEMPTS =>
                {
                    failure.next_retry_delay()
                }
                Some(IncomingError::Timeout(_)) => {
                    let workflow_id = ctx.info().workflow_id().to_owned();
                    return Err(lost_post(&input, &workflow_id, scheduled).into());
                }
                _ => return Err(error.into()),
            };
            let backoff = Duration::from_secs(1 << (attempt - 1).min(6));
            ctx.timer(retry_after.unwrap_or(backoff)).await;
            attempt += 1;
        }
    }
}

/// The failure of a `POST` whose worker stopped answering: the plugin's outcome-unknown
/// error, with the reconcile data for the step, as a non-retryable failure.
fn lost_post(
    input: &Value,
    workflow_id: &str,
    scheduled: Option<SystemTime>,
) -> ApplicationFailure {
    let message = "the worker running the create stopped answering (it crashed, was killed or lost its network) while the request may have been in flight; it is not sent again";
    let mut step = input.clone();
    if let Value::Object(fields) = &mut step {
        fields.remove(DERIVE_KEY_ID);
        fields.remove(KEY_ID_RUN);
    }
    let endpoint = WORKER_ENDPOINT.get();
    let details = match (serde_json::from_value::<Step>(step), endpoint) {
        (Ok(step), Some(endpoint)) => {
            // As the activity rendered it.
            let state = WorkflowState::from_map(step.context).with_default_workflow_id(workflow_id);
            crate::execute::outcome_unknown(
                endpoint,
                step.parameters,
                state.as_map(),
                scheduled.unwrap_or(SystemTime::UNIX_EPOCH),
                message,
            )
            .to_json()
        }
        _ => {
            serde_json::json!({ "error": { "kind": "interrupted", "outcomeUnknown": true, "message": message } })
        }
    };
    ApplicationFailure::builder(message)
        .type_name(crate::ErrorKind::Interrupted.as_str().to_owned())
        .non_retryable(true)
        .details(details)
        .build()
}

/// The endpoint the worker's activity runs, for workflow code that must render a step as the
/// activity would (the reconcile data of a `POST` whose worker died). Set once by
/// [`run_worker`]; workflow code only reads it, so replays see the same endpoint.
static WORKER_ENDPOINT: std::sync::OnceLock<Arc<crate::Endpoint>> = std::sync::OnceLock::new();

/// Connects to Temporal and polls until interrupted (Ctrl-C or SIGTERM).
pub async fn run_worker(
    config: WorkerConfig,
    task: HttpTask,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // Listening from the start: a signal that arrives while connecting is kept, and shuts the
    // worker down gracefully once it runs, instead of killing the process.
    let terminate = signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let interrupt = signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    let _ = WORKER_ENDPOINT.set(task.endpoint_arc());
    let url = Url::from_str(&format!("http://{}", config.address))?;
    let runtime = Runtime::from_current_tokio(Default::default())?;
    let connection = Connection::connect(ConnectionOptions::new(url).build()).await?;
    let client = Client::new(
        connection,
        ClientOptions::new(config.namespace.clone()).build(),
    )?;
    let options = WorkerOptions::new(config.task_queue.clone())
        .register_activities(ApiKeyActivities { task })
        .register_workflow::<CreateApiKeyWorkflow>()?
        .graceful_shutdown_period(Duration::from_secs(5))
        .build();
    let mut worker = Worker::new(&runtime, client, options)?;
    let shutdown = worker.shutdown_handle();
    tokio::spawn(async move {
        let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(interrupt) => {}
            () = wait(terminate) => {}
        }
        shutdown();
    });
    tracing::info!(
        address = %config.address,
        namespace = %config.namespace,
        task_queue = %config.task_queue,
        "worker polling"
    );
    worker.run().await?;
    Ok(())
}

impl std::fmt::Debug for ApiKeyActivities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyActivities")
            .field("task", &self.task.task_type())
            .finish()
    }
}
