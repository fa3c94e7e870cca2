//! # apikey-task
//!
//! A workflow task plugin for Rebilly's `POST /api-keys` ("Create an API key"). The endpoint
//! is data: an OpenAPI definition (`schemas/api-keys.openapi.json`, embedded as the
//! default) from which a step's parameters are rendered against the workflow state, validated
//! with every problem located by a JSON Pointer, and turned into the exact HTTP request.
//!
//! ```
//! use apikey_task::{Credentials, Endpoint, Secret, Step};
//! use serde_json::json;
//!
//! let endpoint = Endpoint::builder().build()?;
//! let step: Step = serde_json::from_value(json!({
//!     "parameters": {
//!         "organizationId": "org-1",
//!         "body": { "description": "CI key", "allowedIps": ["10.0.0.8"] }
//!     }
//! }))?;
//! let credentials = Credentials::ApiKey(Secret::new("sk_live_not_printed"));
//! let report = endpoint.test_request(step, Some(&credentials));
//!
//! assert!(!report.valid);
//! assert_eq!(report.errors[0].path, "/body/allowedIps/0");
//! assert_eq!(report.request.headers[1], ("REB-APIKEY".into(), "<redacted>".into()));
//! assert!(!serde_json::to_string(&report)?.contains("sk_live_not_printed"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The folders follow the data's path:
//!
//! 1. [`definition`]: load an OpenAPI document and resolve one [`Operation`];
//! 2. [`endpoint`]: the compiled [`Endpoint`], whose stages render a [`Step`]'s expressions,
//!    build the URL and headers, validate the body and assemble the [`HttpRequest`] (the
//!    [`TestReport`] of a dry run stops here);
//! 3. [`execute`]: the [`Executor`] sends it, retries what is safe and classifies every
//!    outcome;
//! 4. [`output`]: the response as [`TaskOutput`] that later steps read through the
//!    [`workflow`] state, or a [`TaskError`] that says whether a retry is safe.
//!
//! Around them: [`task`] (the [`Task`](task::Task) trait a runner embeds) with its
//! [`TaskContext`]; [`convert`] (curl lines and Conductor tasks to steps and back);
//! [`credentials`] and [`secrets`] (what goes in, what comes out); and,
//! behind cargo features, `emulator` (a local stand-in for the API), `serve` (the editor's
//! HTTP API) and `temporal` (a Temporal activity worker). The command-line tool lives in
//! `src/bin/apikey-task/` and uses only this public API.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![cfg_attr(test, deny(warnings))]

pub mod context;
pub mod convert;
pub mod credentials;
pub mod definition;
pub mod endpoint;
pub mod error;
pub mod execute;
pub mod output;
mod problem;
pub mod secrets;
pub mod task;
mod util;
pub mod workflow;

#[cfg(feature = "emulator")]
pub mod emulator;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "temporal")]
pub mod temporal;

pub use context::TaskContext;
pub use credentials::{Credentials, CredentialsSource, FromEnv, Secret};
pub use definition::{Definition, DefinitionError, DefinitionErrorKind, Operation, Selector};
pub use endpoint::{
    Endpoint, EndpointBuilder, HttpRequest, Limits, OperationIds, Step, StepError, StepTemplate,
    TestReport,
};
pub use error::{ErrorKind, InvalidField, Reconcile, ReconcileList, TaskError};
pub use execute::{Executor, ExecutorBuildError, ExecutorBuilder, RetryPolicy};
pub use output::{RequestSummary, ResponseHeaders, ResponseOutput, TaskOutput};
pub use problem::{AppliedDefault, Problem};
pub use workflow::WorkflowState;
