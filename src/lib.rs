//! # apikey-task
//!
//! A workflow task plugin for Rebilly's `POST /api-keys` ("Create an API key"). The endpoint
//! is data: an OpenAPI definition (`schemas/create-api-key.openapi.json`, embedded as the
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
//! The data flows through one module per stage: [`definition`] (load the operation),
//! `render` (expressions), `validate` (schema and rules), `request` (URL, headers, curl),
//! and [`Endpoint`], which ties them together and is compiled once for many steps. Then
//! [`Executor`] sends the request and turns the outcome into a [`TaskOutput`] or a classified
//! [`TaskError`]; [`task::Task`] is the face a workflow runner embeds; [`emulator`] is a local
//! stand-in for the API; `temporal` (cargo feature) is a Temporal activity worker.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod clock;
pub mod credentials;
pub mod definition;
pub mod emulator;
mod endpoint;
mod execute;
mod failure;
mod ip;
mod noise;
mod output;
mod problem;
mod render;
mod request;
mod retry;
mod schema;
pub mod secrets;
#[cfg(feature = "serve")]
pub mod serve;
mod suggest;
pub mod task;
#[cfg(feature = "temporal")]
pub mod temporal;
mod validate;

pub use credentials::{Credentials, CredentialsSource, FromEnv, Secret};
pub use definition::{Definition, DefinitionError, Operation, Selector};
pub use endpoint::{Endpoint, EndpointBuilder, Step, TestReport};
pub use execute::{Executor, ExecutorBuildError, ExecutorBuilder};
pub use failure::{InvalidField, Reconcile, TaskError};
pub use output::{RequestSummary, ResponseOutput, TaskOutput};
pub use problem::{AppliedDefault, Problem};
pub use render::Limits;
pub use request::HttpRequest;
pub use retry::RetryPolicy;
pub use validate::OperationIds;
