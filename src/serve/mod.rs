//! The editor's HTTP API and reference panel: what a workflow editor's "Test request" button
//! calls, usable from any language.
//!
//! | Route                     | Answer                                                      |
//! |---------------------------|-------------------------------------------------------------|
//! | `GET /`                   | the reference panel: one self-contained HTML page           |
//! | `POST /v1/test-request`   | a [`TestReport`] for `{"parameters": ..., "context": ...}`  |
//! | `GET /v1/schemas/input`   | JSON Schema of a step's parameters                          |
//! | `GET /v1/schemas/output`  | JSON Schema of the task output                              |
//! | `GET /v1/schemas/report`  | JSON Schema of the test-request report                      |
//! | `GET /healthz`            | `{"status": "ok", ...}`                                     |
//! | `POST /v1/run`            | executes the step; only when built with [`ServerBuilder::allow_run`] |
//!
//! Every failure is JSON, `{"error": {"kind", "message", "pointer"?}}`, with a 4xx status for
//! bad input. No answer ever holds a credential: reports show `<redacted>`, and `/v1/run`
//! redacts the created key's `secretKey`.
//!
//! ```no_run
//! use apikey_task::serve::Server;
//! use apikey_task::Endpoint;
//! use std::sync::Arc;
//!
//! # async fn start() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoint = Arc::new(Endpoint::builder().build()?);
//! let server = Server::builder(endpoint)
//!     .cors_origin("https://editor.example.com")
//!     .build()?;
//! // Mount `server.router()` in an existing axum app, or serve it alone:
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, server.router()).await?;
//! # Ok(())
//! # }
//! ```

use crate::credentials::{CredentialsSource, FromEnv};
use crate::endpoint::{Endpoint, Step, TestReport};
use crate::execute::Executor;
use crate::problem::push_token;
use crate::secrets::Redact;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use std::fmt;
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The reference panel, served at `/`. No build step and no external assets: the HTML, CSS
/// and script are all in this one file.
const PANEL: &str = include_str!("panel.html");

/// The panel may run its own inline script and style and talk to this server; nothing else.
const PANEL_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// Default cap on a request body. A step is a few KiB; a 200-entry ACL is about 20 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// Options for a [`Server`]; see [`Server::builder`].
pub struct ServerBuilder {
    endpoint: Arc<Endpoint>,
    credentials: Arc<dyn CredentialsSource>,
    run: Option<Executor>,
    cors_origins: Vec<String>,
    allowed_hosts: Vec<String>,
    body_limit: usize,
}

impl ServerBuilder {
    /// Where credentials come from (default: [`FromEnv`]). Test requests only say whether
    /// they are configured; `/v1/run` sends them.
    pub fn credentials(mut self, source: impl CredentialsSource + 'static) -> Self {
        self.credentials = Arc::new(source);
        self
    }

    /// Enables `POST /v1/run`, which sends real requests with the configured credentials
    /// through `executor`. Off by default: a test-request server never touches the network.
    pub fn allow_run(mut self, executor: Executor) -> Self {
        self.run = Some(executor);
        self
    }

    /// Lets a page on `origin` (e.g. `https://editor.example.com`) call the API from a
    /// browser; `*` lets any origin. Repeatable. Without it only same-origin pages can.
    pub fn cors_origin(mut self, origin: impl Into<String>) -> Self {
        self.cors_origins.push(origin.into());
        self
    }

    /// Answers only requests whose `Host` is one of these names (any port), e.g.
    /// `localhost`, `127.0.0.1`, `[::1]`. A server on loopback should set them: a page on
    /// another site can otherwise reach it through DNS rebinding.
    pub fn allowed_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_hosts = hosts
            .into_iter()
            .map(|h| h.into().to_ascii_lowercase())
            .collect();
        self
    }

    /// The largest request body accepted, in bytes (default [`DEFAULT_BODY_LIMIT`]); larger
    /// ones get 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Checks the options and assembles the routes.
    pub fn build(self) -> Result<Server, ServeError> {
        let cors = cors_layer(&self.cors_origins)?;
        let state = Arc::new(AppState {
            healthz: json!({
                "status": "ok",
                "operation": self.endpoint.operation().id,
                "method": self.endpoint.operation().method,
                "path": self.endpoint.operation().path,
                "runAllowed": self.run.is_some(),
                "version": env!("CARGO_PKG_VERSION"),
            }),
            report_schema: TestReport::schema(),
            endpoint: self.endpoint,
            credentials: self.credentials,
            run: self.run,
            allowed_hosts: self.allowed_hosts,
            body_limit: self.body_limit,
        });
        let mut router = Router::new()
            .route("/", get(panel))
            .route("/healthz", get(healthz))
            .route("/v1/schemas/input", get(input_schema))
            .route("/v1/schemas/output", get(output_schema))
            .route("/v1/schemas/report", get(report_schema))
            .route("/v1/test-request", post(test_request))
            .route("/v1/run", post(run))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(middleware::from_fn_with_state(state.clone(), guard))
            .with_state(state);
        if let Some(cors) = cors {
            router = router.layer(cors);
        }
        Ok(Server { router })
    }
}

/// The editor API as an axum [`Router`], built once and cheap to clone.
#[derive(Clone)]
pub struct Server {
    router: Router,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

impl Server {
    /// Starts building a server for `endpoint`.
    pub fn builder(endpoint: Arc<Endpoint>) -> ServerBuilder {
        ServerBuilder {
            endpoint,
            credentials: Arc::new(FromEnv),
            run: None,
            cors_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// The routes, to serve with `axum::serve` or to nest in a larger app.
    pub fn router(&self) -> Router {
        self.router.clone()
    }
}

/// Options a [`Server`] cannot be built with.
#[derive(Debug)]
pub struct ServeError {
    message: String,
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServeError {}

fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, ServeError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let mut values = Vec::with_capacity(origins.len());
        for origin in origins {
            let parsed = url::Url::parse(origin).ok().filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
                    && !origin.ends_with('/')
            });
            let value = parsed.and_then(|_| HeaderValue::from_str(origin).ok());
            let Some(value) = value else {
                return Err(ServeError {
                    message: format!(
                        "CORS origin {origin:?} is not an origin: give scheme://host[:port] with no path, or *"
                    ),
                });
            };
            values.push(value);
        }
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE])
            .max_age(std::time::Duration::from_secs(600)),
    ))
}

struct AppState {
    endpoint: Arc<Endpoint>,
    credentials: Arc<dyn CredentialsSource>,
    run: Option<Executor>,
    allowed_hosts: Vec<String>,
    body_limit: usize,
    healthz: Value,
    report_schema: Value,
}

type Shared = State<Arc<AppState>>;

/// An API failure: a status and `{"error": {"kind", "message", "pointer"?}}`.
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    pointer: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
            pointer: None,
        }
    }

    fn at(mut self, pointer: impl Into<String>) -> Self {
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
fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let body = match serde_json::to_vec(value) {
        Ok(body) => body,
        Err(error) => {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("cannot encode the answer: {error}"),
            )
            .into_response();
        }
    };
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

/// Refuses requests for another `Host` (see [`ServerBuilder::allowed_hosts`]).
async fn guard(State(state): Shared, request: Request, next: Next) -> Response {
    if !state.allowed_hosts.is_empty() {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(host_name)
            .unwrap_or_default();
        if !state.allowed_hosts.contains(&host) {
            return ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "host_not_allowed",
                format!(
                    "this server answers only for the hosts {:?}",
                    state.allowed_hosts
                ),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// `Host` without its port, lower case: `LocalHost:8080` -> `localhost`, `[::1]:80` -> `[::1]`.
fn host_name(host: &str) -> String {
    let name = match host.rfind(':') {
        Some(colon) if !host[colon..].contains(']') => &host[..colon],
        _ => host,
    };
    name.to_ascii_lowercase()
}

async fn panel() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PANEL_CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PANEL,
    )
        .into_response()
}

async fn healthz(State(state): Shared) -> Response {
    json_response(StatusCode::OK, &state.healthz)
}

async fn input_schema(State(state): Shared) -> Response {
    json_response(StatusCode::OK, state.endpoint.input_schema())
}

async fn output_schema(State(state): Shared) -> Response {
    json_response(StatusCode::OK, state.endpoint.output_schema())
}

async fn report_schema(State(state): Shared) -> Response {
    json_response(StatusCode::OK, &state.report_schema)
}

async fn test_request(State(state): Shared, headers: HeaderMap, body: Body) -> Response {
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
async fn run(State(state): Shared, headers: HeaderMap, body: Body) -> Response {
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

async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route").into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
    .into_response()
}

/// Reads `{"parameters": {...}, "context": {...}}`, refusing with a located 4xx whatever is
/// not that: another media type (which also makes cross-origin browsers ask first), too many
/// bytes, text that is not JSON, or JSON of another shape.
async fn read_step(headers: &HeaderMap, body: Body, limit: usize) -> Result<Step, ApiError> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media_type != "application/json" && !media_type.ends_with("+json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the step as Content-Type: application/json",
        ));
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|error| {
        let over_limit = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if over_limit {
            too_large()
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                format!("cannot read the request body: {error}"),
            )
        }
    })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not JSON: {error}"),
        )
    })?;
    step_from_value(value)
}

/// The step in a parsed body, or a 422 at the pointer of the first thing that is wrong.
fn step_from_value(value: Value) -> Result<Step, ApiError> {
    let invalid = |pointer: &str, message: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_step", message).at(pointer)
    };
    let Value::Object(fields) = value else {
        return Err(invalid(
            "",
            "the body must be an object: {\"parameters\": {...}, \"context\": {...}}".into(),
        ));
    };
    if !fields.contains_key("parameters") {
        return Err(invalid(
            "",
            "missing field \"parameters\": the body is {\"parameters\": {...}, \"context\": {...}}"
                .into(),
        ));
    }
    let mut step = Step::default();
    for (name, value) in fields {
        let pointer = push_token("", &name);
        match (name.as_str(), value) {
            ("parameters", Value::Object(parameters)) => step.parameters = parameters,
            ("context", Value::Object(context)) => step.context = context,
            ("parameters" | "context", other) => {
                return Err(invalid(
                    &pointer,
                    format!(
                        "{name} must be an object, not {}",
                        crate::problem::json_kind(&other)
                    ),
                ));
            }
            _ => {
                return Err(invalid(
                    &pointer,
                    format!("unknown field {name:?}: a step has only parameters and context"),
                ));
            }
        }
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("LocalHost:8080"), "localhost");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_name("[::1]:4000"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
    }

    #[test]
    fn cors_origins_must_be_origins() {
        assert!(cors_layer(&["https://editor.example.com".into()]).is_ok());
        assert!(cors_layer(&["http://localhost:5173".into()]).is_ok());
        assert!(cors_layer(&["*".into()]).is_ok());
        for bad in [
            "editor.example.com",
            "https://editor.example.com/",
            "https://x/path",
            "ftp://x",
        ] {
            let error = cors_layer(&[bad.into()]).err().map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|m| m.contains("not an origin")),
                "{bad}: {error:?}"
            );
        }
    }

    #[test]
    fn steps_of_the_wrong_shape_are_located() {
        let pointer = |value: Value| step_from_value(value).err().and_then(|e| e.pointer);
        assert_eq!(pointer(json!([])), Some(String::new()));
        assert_eq!(pointer(json!({"context": {}})), Some(String::new()));
        assert_eq!(
            pointer(json!({"parameters": []})),
            Some("/parameters".into())
        );
        assert_eq!(
            pointer(json!({"parameters": {}, "context": "x"})),
            Some("/context".into())
        );
        assert_eq!(
            pointer(json!({"parameters": {}, "a/b": 1})),
            Some("/a~1b".into())
        );
        let step = step_from_value(json!({"parameters": {"x": 1}})).ok();
        assert_eq!(step.map(|s| s.parameters.len()), Some(1));
    }
}
