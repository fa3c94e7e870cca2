//! What can go wrong: options the API cannot be built with ([`BuildError`]), and failed
//! requests, answered as `{"error": {"kind", "message", "pointer"?}}`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, json};
use std::fmt;

/// An API failure: a status and `{"error": {"kind", "message", "pointer"?}}`.
pub(super) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    pub(super) pointer: Option<String>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
            pointer: None,
        }
    }

    pub(super) fn at(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = Map::new();
        error.insert("kind".into(), json!(self.kind));
        error.insert("message".into(), json!(self.message));
        if let Some(pointer) = self.pointer {
            error.insert("pointer".into(), json!(pointer));
        }
        json_response(self.status, &json!({ "error": error }))
    }
}

/// JSON with `Cache-Control: no-store`: answers depend on the step and the credentials'
/// presence, and nothing here should sit in a shared cache. Serialized straight from the
/// Rust value: going through a `serde_json::Value` first would copy a large report.
pub(super) fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => json_bytes(status, body),
        Err(error) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("cannot encode the answer: {error}"),
        )
        .into_response(),
    }
}

/// [`json_response`] for an answer already written as JSON.
pub(super) fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Options an [`EditorApi`](super::EditorApi) cannot be built with: a malformed CORS origin, host name or run
/// target, or a combination that would be unsafe.
#[derive(Debug)]
pub struct BuildError {
    kind: BuildErrorKind,
    message: String,
}

/// Which option a [`BuildError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildErrorKind {
    /// A CORS origin that is not `scheme://host[:port]` or `*`.
    CorsOrigin,
    /// An allowed host that is not a bare host name.
    AllowedHost,
    /// A run target that is not an http(s) URL.
    RunTarget,
    /// Options that are unsafe together (running steps for every origin).
    UnsafeCombination,
}

impl BuildError {
    pub(super) fn new(kind: BuildErrorKind, message: impl Into<String>) -> Self {
        BuildError {
            kind,
            message: message.into(),
        }
    }

    /// Which option is wrong.
    pub fn kind(&self) -> BuildErrorKind {
        self.kind
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BuildError {}
