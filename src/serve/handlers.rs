//! One function per route.

use super::PANEL;
use super::body::read_step;
use super::error::{ApiError, json_response};
use super::state::Shared;
use crate::endpoint::destination::origin_of;
use crate::secrets::Redact;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub(super) async fn panel(State(state): Shared) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, state.panel_csp.as_str()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PANEL,
    )
        .into_response()
}

pub(super) async fn healthz(State(state): Shared) -> Response {
    json_response(StatusCode::OK, &state.healthz)
}

pub(super) async fn input_schema(State(state): Shared) -> Response {
    json_response(StatusCode::OK, state.endpoint.input_schema())
}

pub(super) async fn output_schema(State(state): Shared) -> Response {
    json_response(StatusCode::OK, state.endpoint.output_schema())
}

pub(super) async fn report_schema(State(state): Shared) -> Response {
    json_response(StatusCode::OK, &state.report_schema)
}

pub(super) async fn test_request(State(state): Shared, headers: HeaderMap, body: Body) -> Response {
    let step = match read_step(&headers, body, state.body_limit).await {
        Ok(step) => step,
        Err(error) => return error.into_response(),
    };
    let credentials = state.credentials.credentials();
    let report = state.endpoint.test_request(step, credentials.as_ref());
    json_response(StatusCode::OK, &report)
}

/// Executes the step. 200 with the task output; 422 when the step is invalid (nothing was
/// sent); 502 when the API failed, with the error document saying whether a retry is safe.
pub(super) async fn run(State(state): Shared, headers: HeaderMap, body: Body) -> Response {
    let Some(executor) = &state.run else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "run_disabled",
            "this server only does test requests; start it with --allow-run to execute steps",
        )
        .into_response();
    };
    let step = match read_step(&headers, body, state.body_limit).await {
        Ok(step) => step,
        Err(error) => return error.into_response(),
    };
    // Where would it go? Rendered without credentials; an invalid step is left to the
    // executor, which refuses it without sending anything.
    let destination = state.endpoint.test_request(step.clone(), None);
    if destination.valid {
        let origin = origin_of(&destination.request.url).unwrap_or_default();
        if !state.run_origins.contains(&origin) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "server_not_allowed",
                format!(
                    "this server runs steps only against {}; {origin} was not allowed (--allow-run-to)",
                    state.run_origins.join(", ")
                ),
            )
            .at("/parameters/server")
            .into_response();
        }
    }
    // Always redacted: a secret in an HTTP answer would end up in browser tools and logs.
    let outcome = executor
        .execute(&state.endpoint, step, state.credentials.as_ref(), &Redact)
        .await;
    match outcome {
        Ok(output) => json_response(StatusCode::OK, &output),
        Err(error) if error.is_invalid_step() => {
            json_response(StatusCode::UNPROCESSABLE_ENTITY, &error.to_json())
        }
        Err(error) => json_response(StatusCode::BAD_GATEWAY, &error.to_json()),
    }
}

pub(super) async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route").into_response()
}

pub(super) async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
    .into_response()
}
