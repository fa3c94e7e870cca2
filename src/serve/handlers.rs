//! One function per route.

use super::PANEL;
use super::body::{read_json, read_step};
use super::conversion;
use super::error::{ApiError, json_bytes, json_response};
use super::state::AppState;
use super::state::Shared;
use crate::credentials::Credentials;
use crate::endpoint::destination::origin_of;
use crate::endpoint::{Endpoint, Step, TestReport};
use crate::error::TaskError;
use crate::secrets::Redact;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::any::Any;
use std::sync::Arc;

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

pub(super) async fn operations(State(state): Shared) -> Response {
    json_response(StatusCode::OK, &state.catalogue.listing)
}

pub(super) async fn operation_ids(State(state): Shared) -> Response {
    json_response(StatusCode::OK, &state.catalogue.operation_ids)
}

/// The step in the body, the endpoint it names (the configured one unless it names
/// another) and whether it is small enough to be checked in place, or the 4xx that says why
/// not.
async fn read_request(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Step, Arc<Endpoint>, bool), ApiError> {
    let read = read_step(
        headers,
        body,
        state.body_limit,
        state.body_timeout,
        CHECKED_IN_PLACE_BYTES,
    )
    .await?;
    let endpoint = state.catalogue.select(read.choice.as_ref())?;
    let small =
        read.bytes <= CHECKED_IN_PLACE_BYTES && read.expressions <= CHECKED_IN_PLACE_EXPRESSIONS;
    Ok((read.step, endpoint, small))
}

/// Steps of at most this many bytes and expressions may be checked on the async worker that
/// read them (see `AppState::in_place`): the two hand-offs between threads that a blocking
/// check takes cost a typical step of 600 bytes and 3 expressions twice its own work. Their
/// work is bounded by both: each expression copies at most the step's own 4 KiB, and names
/// unknown to the definition cost at most 20 "did you mean" searches. The slowest such step
/// found, 256 misspelt permissions, takes about 2 ms, as long as the worker already takes to
/// parse a body of 100 KB.
const CHECKED_IN_PLACE_BYTES: usize = 4 << 10;
const CHECKED_IN_PLACE_EXPRESSIONS: usize = 8;

pub(super) async fn test_request(State(state): Shared, headers: HeaderMap, body: Body) -> Response {
    let (step, endpoint, small) = match read_request(&state, &headers, body).await {
        Ok(read) => read,
        Err(error) => return error.into_response(),
    };
    let credentials = state.credentials.credentials();
    // The semaphore is never closed.
    let permit = state.checks.clone().acquire_owned().await.ok();
    let in_place = small.then(|| state.in_place.try_acquire().ok()).flatten();
    if in_place.is_some() {
        let (answer, report) = test_request_answer(&endpoint, step, credentials.as_ref());
        drop(report);
        drop(in_place);
        drop(permit);
        return answer;
    }
    let (answer, answered) = tokio::sync::oneshot::channel();
    // Checked, written and freed on a blocking thread, within the budget of parallel checks.
    // The answer leaves before the report is freed: for a large step, freeing its values is
    // a tenth of the work, and the editor need not wait for it.
    tokio::task::spawn_blocking(move || {
        let (response, report) = test_request_answer(&endpoint, step, credentials.as_ref());
        let _ = answer.send(response);
        drop(report);
        drop(permit);
    });
    answered
        .await
        .unwrap_or_else(|_| internal().into_response())
}

/// The answer to a test request, and the report it was written from (for the caller to free
/// when it suits it).
fn test_request_answer(
    endpoint: &Endpoint,
    step: Step,
    credentials: Option<&Credentials>,
) -> (Response, TestReport) {
    let (mut report, body_at) = endpoint.test_request_for_json(step, credentials);
    let mut json = Vec::new();
    // The curl line repeats the body; for a large one, the answer says so instead, so that an
    // answer stays under about a megabyte whatever the step substitutes. Otherwise the body is
    // copied from the line (as `Endpoint::test_request_json` does).
    if report.curl.len() > MAX_CURL_BYTES {
        report.curl = format!(
            "(omitted: {} bytes; send request.body with curl --data-binary @FILE)",
            report.curl.len()
        );
        report.write_json(&mut json);
    } else {
        report.write_json_with(&mut json, body_at);
    }
    (json_bytes(StatusCode::OK, json), report)
}

/// Converts between a step, a curl line and a Conductor HTTP task (see `conversion`), on a
/// blocking thread within the budget of parallel checks, as a test request is.
pub(super) async fn convert(State(state): Shared, headers: HeaderMap, body: Body) -> Response {
    let request = match read_json(&headers, body, state.body_limit, state.body_timeout).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let _permit = state.checks.acquire().await.ok();
    let shared = state.clone();
    let answered = tokio::task::spawn_blocking(move || conversion::answer(&shared, request)).await;
    match answered {
        Ok(Ok(answer)) => json_response(StatusCode::OK, &answer),
        Ok(Err(error)) => error.into_response(),
        Err(_) => internal().into_response(),
    }
}

/// The longest curl line an answer carries.
const MAX_CURL_BYTES: usize = 128 << 10;

/// The test request on a blocking thread, within the server's budget of parallel checks: a
/// costly step waits its turn instead of occupying an async worker.
async fn check(
    state: &Arc<AppState>,
    endpoint: Arc<Endpoint>,
    step: Step,
    credentials: Option<Credentials>,
) -> Result<TestReport, ApiError> {
    // The semaphore is never closed.
    let _permit = state.checks.acquire().await.ok();
    tokio::task::spawn_blocking(move || endpoint.test_request(step, credentials.as_ref()))
        .await
        .map_err(|_| internal())
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
    let (step, endpoint, _) = match read_request(&state, &headers, body).await {
        Ok(read) => read,
        Err(error) => return error.into_response(),
    };
    // Where would it go, and is it valid at all? Checked without credentials, off the async
    // workers; an invalid step is answered here and never reaches the executor.
    let destination = match check(&state, endpoint.clone(), step.clone(), None).await {
        Ok(report) => report,
        Err(error) => return error.into_response(),
    };
    if !destination.valid {
        let error = TaskError::invalid_step(destination.errors);
        return json_response(StatusCode::UNPROCESSABLE_ENTITY, &error);
    }
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
    // Always redacted: a secret in an HTTP answer would end up in browser tools and logs.
    let outcome = executor
        .execute(&endpoint, step, state.credentials.as_ref(), &Redact)
        .await;
    match outcome {
        Ok(output) => json_response(StatusCode::OK, &output),
        Err(error) if error.is_invalid_step() => {
            json_response(StatusCode::UNPROCESSABLE_ENTITY, &error)
        }
        Err(error) => json_response(StatusCode::BAD_GATEWAY, &error),
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

/// A handler panicked: a JSON 500 that says what is known, instead of a dropped connection.
/// The panic's own message goes to the log (stderr), not to the client.
pub(super) fn panicked(_panic: Box<dyn Any + Send + 'static>) -> Response {
    internal().into_response()
}

fn internal() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the server failed while answering this request; if it was a run, the request may have been sent: check before retrying",
    )
}
