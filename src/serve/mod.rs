//! The editor's HTTP API and reference panel: what a workflow editor's "Test request" button
//! calls, usable from any language.
//!
//! | Route                     | Answer                                                      |
//! |---------------------------|-------------------------------------------------------------|
//! | `GET /`                   | the reference panel: one self-contained HTML page           |
//! | `POST /v1/test-request`   | a [`TestReport`](crate::TestReport) for `{"parameters": ..., "context": ...}`, optionally naming `"operationId"` or `"taskType"` |
//! | `GET /v1/operations`      | every operation of the definition: reference documentation and its step's schema |
//! | `GET /v1/operation-ids`   | the operationIds an ACL permission may name                 |
//! | `GET /v1/schemas/input`   | JSON Schema of a step's parameters                          |
//! | `GET /v1/schemas/output`  | JSON Schema of the task output                              |
//! | `GET /v1/schemas/report`  | JSON Schema of the test-request report                      |
//! | `GET /healthz`            | `{"status": "ok", ...}`                                     |
//! | `POST /v1/run`            | executes the step; only when built with [`EditorApiBuilder::allow_run`] |
//! | `POST /v1/convert`        | a step, curl line or Conductor HTTP task as another of them (see [`crate::convert`]) |
//!
//! Every failure is JSON, `{"error": {"kind", "message", "pointer"?}}`, with a 4xx status for
//! bad input. No answer ever holds a credential: reports show `<redacted>`, and `/v1/run`
//! redacts the created key's `secretKey`. Nor can a caller send the credentials elsewhere: a
//! run goes only to the definition's servers and [`EditorApiBuilder::allow_run_to`]. Only
//! loopback `Host` names are answered unless [`EditorApiBuilder::allowed_host`] adds others.
//!
//! ```no_run
//! use apikey_task::serve::{ConnectionLimits, EditorApi, serve};
//! use apikey_task::Endpoint;
//! use std::sync::Arc;
//!
//! # async fn start() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoint = Arc::new(Endpoint::builder().build()?);
//! let api = EditorApi::builder(endpoint)
//!     .cors_origin("https://editor.example.com")
//!     .build()?;
//! // Serve it alone, with header and idle timeouts and a connection cap (or nest
//! // `api.router()` in an existing axum app, whose server then sets those):
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, api, ConnectionLimits::default(), std::future::pending()).await;
//! # Ok(())
//! # }
//! ```
//!
//! - `api`: [`EditorApi`] and its builder, which checks the options and assembles the routes;
//! - `policy`: who may call (the `Host` guard, CORS) and what the panel may load (CSP);
//! - `handlers`: one function per route;
//! - `listen`: [`serve`], the connection loop with its timeouts and connection cap;
//! - `operations`: every operation of the definition, compiled once, and its documentation;
//! - `body`: a request body to a [`Step`](crate::Step), refused with a located 4xx otherwise;
//! - `conversion`: `/v1/convert`'s request and answer;
//! - `state`: what the handlers share;
//! - `error`: [`BuildError`], and the JSON error answers.

mod api;
mod body;
mod conversion;
mod error;
mod handlers;
mod listen;
mod operations;
mod policy;
mod state;

pub use api::{EditorApi, EditorApiBuilder};
pub use error::{BuildError, BuildErrorKind};
pub use listen::{ConnectionLimits, serve};

/// The reference panel, served at `/`. No build step and no external assets: the HTML, CSS
/// and script are all in this one file.
const PANEL: &str = include_str!("panel.html");

/// Default cap on a request body. A typical step is under 1 KiB; a 200-entry ACL with every
/// scope kind is about 50 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// The `Host` names answered by default: a server on loopback should answer nothing else, or a
/// page on another site can reach it through DNS rebinding.
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Default longest wait for a request body: a step is small, so a body still arriving after
/// this is a slow client holding a connection.
pub const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
