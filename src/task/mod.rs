//! The plugin's face for workflow runners: one small, object-safe trait.
//!
//! A runner holds many task types as `Arc<dyn Task>` in a [`TaskRegistry`], and for each step
//! hands the task its parameters and a [`TaskContext`]: the workflow state that expressions
//! read, where credentials come from and secrets go, cancellation, an optional deadline, the
//! attempt number and a tracing span. Errors are [`TaskError`]s: terminal, retryable (with a
//! retry-after hint) or outcome-unknown.
//!
//! ```
//! use apikey_task::task::{HttpTask, Task, TaskContext, TaskRegistry};
//! use apikey_task::{secrets::Redact, Executor, FromEnv};
//! use serde_json::{json, Map, Value};
//! use std::sync::Arc;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut registry = TaskRegistry::new();
//! registry.register(Arc::new(HttpTask::create_api_key(Executor::builder().build()?)?));
//! let task = registry.get("CreateApiKey").expect("registered");
//!
//! let state: Map<String, Value> = serde_json::from_value(json!({
//!     "workflow": { "input": { "team": "payments" } }
//! }))?;
//! let ctx = TaskContext::new(&state, &FromEnv, &Redact);
//! let parameters = serde_json::from_value(json!({
//!     "organizationId": "org-1",
//!     "body": { "description": "Key for ${workflow.input.team}" }
//! }))?;
//! let report = task.test_request(parameters, &ctx);
//! assert_eq!(report.request.body.unwrap()["description"], "Key for payments");
//! // `task.execute(parameters, &ctx).await` sends it.
//! # Ok(()) }
//! ```

pub use crate::context::TaskContext;

use crate::definition::{DefinitionError, DefinitionErrorKind};
use crate::endpoint::{Endpoint, EndpointBuilder, TestReport};
use crate::error::TaskError;
use crate::execute::Executor;
use crate::output::TaskOutput;
use async_trait::async_trait;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A task type a workflow runner can run. Object-safe: hold it as `Arc<dyn Task>`.
#[async_trait]
pub trait Task: Send + Sync {
    /// The name workflow definitions use for this task type, e.g. `CreateApiKey`.
    fn task_type(&self) -> &str;

    /// JSON Schema of the step parameters (for editors and validation before saving).
    fn input_schema(&self) -> &Value;

    /// JSON Schema of the output of a successful execution.
    fn output_schema(&self) -> &Value;

    /// The dry run: the request that would be sent and every problem with it. No I/O.
    fn test_request(&self, parameters: Map<String, Value>, ctx: &TaskContext<'_>) -> TestReport;

    /// Executes the step. Cancellation and the deadline in `ctx` are honoured promptly.
    async fn execute(
        &self,
        parameters: Map<String, Value>,
        ctx: &TaskContext<'_>,
    ) -> Result<TaskOutput, TaskError>;
}

/// A task made of one operation of an endpoint definition: render, validate, send.
///
/// Parameters that come again (the same step in another run of a workflow) are executed from
/// a template the endpoint keeps (see [`EndpointBuilder::keep_templates`]): checked whole
/// once, then only in their expressions' strings. What is sent and reported is the same.
#[derive(Debug, Clone)]
pub struct HttpTask {
    task_type: String,
    endpoint: Arc<Endpoint>,
    executor: Executor,
}

impl HttpTask {
    /// A task type named `task_type` for `endpoint`, sending with `executor`.
    pub fn new(task_type: impl Into<String>, endpoint: Arc<Endpoint>, executor: Executor) -> Self {
        HttpTask {
            task_type: task_type.into(),
            endpoint,
            executor,
        }
    }

    /// The task of the operation that names `task_type` (`x-task-type`) in the definition
    /// `builder` holds (the embedded one by default), compiled with the builder's options.
    pub fn of_type(
        task_type: &str,
        builder: EndpointBuilder,
        executor: Executor,
    ) -> Result<Self, DefinitionError> {
        let definition = builder.definition_or_embedded();
        let Some((_, operation_id)) = definition
            .task_types()
            .into_iter()
            .find(|(name, _)| *name == task_type)
        else {
            return Err(DefinitionError::new(
                DefinitionErrorKind::OperationNotFound,
                format!(
                    "no operation has x-task-type {task_type:?}; the definition names: {}",
                    definition
                        .task_types()
                        .iter()
                        .map(|(name, _)| *name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let endpoint = builder
            .definition(definition.clone())
            .operation_id(operation_id)
            .build()?;
        Ok(HttpTask::new(task_type, Arc::new(endpoint), executor))
    }

    /// `CreateApiKey`: the embedded `POST /api-keys`, or `PUT /api-keys/{keyId}` when the
    /// step gives `keyId`.
    pub fn create_api_key(executor: Executor) -> Result<Self, DefinitionError> {
        HttpTask::of_type("CreateApiKey", Endpoint::builder(), executor)
    }

    /// `GetApiKey`: the embedded definition's `GET /api-keys/{id}`.
    pub fn get_api_key(executor: Executor) -> Result<Self, DefinitionError> {
        HttpTask::of_type("GetApiKey", Endpoint::builder(), executor)
    }

    /// The compiled endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The compiled endpoint, shared.
    pub fn endpoint_arc(&self) -> Arc<Endpoint> {
        self.endpoint.clone()
    }
}

#[async_trait]
impl Task for HttpTask {
    fn task_type(&self) -> &str {
        &self.task_type
    }

    fn input_schema(&self) -> &Value {
        self.endpoint.input_schema()
    }

    fn output_schema(&self) -> &Value {
        self.endpoint.output_schema()
    }

    fn test_request(&self, parameters: Map<String, Value>, ctx: &TaskContext<'_>) -> TestReport {
        let credentials = ctx.credentials().credentials();
        self.endpoint
            .test_request_in(parameters, ctx.state(), credentials.as_ref())
    }

    async fn execute(
        &self,
        parameters: Map<String, Value>,
        ctx: &TaskContext<'_>,
    ) -> Result<TaskOutput, TaskError> {
        self.executor
            .execute_in(&self.endpoint, parameters, ctx)
            .await
    }
}

/// Task types by name, for a runner that holds many.
#[derive(Default, Clone)]
pub struct TaskRegistry {
    tasks: BTreeMap<String, Arc<dyn Task>>,
}

impl TaskRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        TaskRegistry::default()
    }

    /// A task for every operation of the definition that names a task type (`x-task-type`):
    /// with the embedded definition, `CreateApiKey`, `GetApiKey`, `ListApiKeys`,
    /// `UpsertApiKey` and `DeleteApiKey`. Each is compiled with `builder`'s options.
    pub fn from_definition(
        builder: EndpointBuilder,
        executor: Executor,
    ) -> Result<Self, DefinitionError> {
        let definition = builder.definition_or_embedded();
        // Not skipped in silence: a task type the registry cannot list is an error.
        if let Some(why) = definition.unusable_task_type() {
            return Err(DefinitionError::new(DefinitionErrorKind::Unsupported, why));
        }
        let mut registry = TaskRegistry::new();
        for (task_type, _) in definition.task_types() {
            if registry.get(task_type).is_some() {
                return Err(DefinitionError::new(
                    DefinitionErrorKind::Unsupported,
                    format!("two operations name the task type {task_type:?} (x-task-type)"),
                ));
            }
            let task = HttpTask::of_type(task_type, builder.clone(), executor.clone())?;
            registry.register(Arc::new(task));
        }
        Ok(registry)
    }

    /// Adds a task under its [`Task::task_type`], replacing any task of that type.
    pub fn register(&mut self, task: Arc<dyn Task>) -> &mut Self {
        self.tasks.insert(task.task_type().to_owned(), task);
        self
    }

    /// The task of this type.
    pub fn get(&self, task_type: &str) -> Option<Arc<dyn Task>> {
        self.tasks.get(task_type).cloned()
    }

    /// The registered type names, sorted.
    pub fn task_types(&self) -> impl Iterator<Item = &str> {
        self.tasks.keys().map(String::as_str)
    }
}

impl std::fmt::Debug for TaskRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tasks.keys()).finish()
    }
}
