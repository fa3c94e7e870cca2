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
//! Failures keep the plugin's classification: terminal and outcome-unknown errors become
//! non-retryable application failures whose details are the error document (with what is
//! needed to reconcile), a 429 becomes a retryable failure whose next retry delay is the
//! server's, and cancellation reaches the execution through heartbeats. Credentials come from
//! the worker's environment (`REBILLY_API_KEY` / `REBILLY_JWT`), never from workflow input.

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
use temporalio_sdk::activities::{ActivityContext, ActivityError, activities};
use temporalio_sdk::workflows::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityCancellationType, ActivityOptions, ApplicationFailure, Runtime, Worker, WorkerOptions,
    WorkflowContext, WorkflowResult,
};
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
        input: Value,
    ) -> Result<Value, ActivityError> {
        let Step {
            parameters,
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
            Err(error) => Err(activity_error(&error)),
        }
    }
}

/// The longest server-requested wait the activity retries after.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// The plugin's classification, in Temporal's terms.
fn activity_error(error: &TaskError) -> ActivityError {
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
        .details(error.to_json())
        .build();
    ActivityError::application(failure)
}

/// Runs the `CreateApiKey` activity once, with retries only for what the plugin says is
/// retryable, after the delay it asks for.
#[workflow]
#[derive(Default)]
pub struct CreateApiKeyWorkflow;

#[workflow_methods]
impl CreateApiKeyWorkflow {
    /// The workflow's only method: the activity's result is the workflow's result.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: Value) -> WorkflowResult<Value> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(60))
            .heartbeat_timeout(Duration::from_secs(15))
            .cancellation_type(ActivityCancellationType::WaitCancellationCompleted)
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_secs(1))
                    .backoff_coefficient(2.0)
                    .maximum_interval(Duration::from_secs(60))
                    .maximum_attempts(5)
                    .build(),
            )
            .build();
        let output = ctx
            .execute_activity(ApiKeyActivities::create_api_key, input, options)
            .await?;
        Ok(output)
    }
}

/// Connects to Temporal and polls until interrupted (Ctrl-C or SIGTERM).
pub async fn run_worker(
    config: WorkerConfig,
    task: HttpTask,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
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
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
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
