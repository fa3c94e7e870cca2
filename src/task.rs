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

use crate::definition::{Definition, DefinitionError};
use crate::endpoint::{Endpoint, TestReport};
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

    /// `CreateApiKey`: the embedded `POST /api-keys`.
    pub fn create_api_key(executor: Executor) -> Result<Self, DefinitionError> {
        let endpoint = Endpoint::builder().operation_id("PostApiKey").build()?;
        Ok(HttpTask::new("CreateApiKey", Arc::new(endpoint), executor))
    }

    /// `GetApiKey`: the embedded definition's `GET /api-keys/{id}`.
    pub fn get_api_key(executor: Executor) -> Result<Self, DefinitionError> {
        let endpoint = Endpoint::builder()
            .definition(Definition::embedded())
            .operation_id("GetApiKey")
            .build()?;
        Ok(HttpTask::new("GetApiKey", Arc::new(endpoint), executor))
    }

    /// The compiled endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
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
