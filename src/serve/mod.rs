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
//! | `POST /v1/run`            | executes the step; only when built with [`EditorApiBuilder::allow_run`] |
//!
//! Every failure is JSON, `{"error": {"kind", "message", "pointer"?}}`, with a 4xx status for
//! bad input. No answer ever holds a credential: reports show `<redacted>`, and `/v1/run`
//! redacts the created key's `secretKey`. Nor can a caller send the credentials elsewhere: a
//! run goes only to the definition's servers and [`EditorApiBuilder::allow_run_to`]. Only
//! loopback `Host` names are answered unless [`EditorApiBuilder::allowed_host`] adds others.
//!
//! ```no_run
//! use apikey_task::serve::EditorApi;
//! use apikey_task::Endpoint;
//! use std::sync::Arc;
//!
//! # async fn start() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoint = Arc::new(Endpoint::builder().build()?);
//! let api = EditorApi::builder(endpoint)
//!     .cors_origin("https://editor.example.com")
//!     .build()?;
//! // Nest `api.router()` in an existing axum app, or serve it alone:
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, api.into_router()).await?;
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

/// Default cap on a request body. A typical step is under 1 KiB; a 200-entry ACL with every
/// scope kind is about 50 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// The `Host` names answered by default: a server on loopback should answer nothing else, or a
/// page on another site can reach it through DNS rebinding.
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Options for an [`EditorApi`]; see [`EditorApi::builder`].
pub struct EditorApiBuilder {
    endpoint: Arc<Endpoint>,
    credentials: Arc<dyn CredentialsSource>,
    run: Option<Executor>,
    run_to: Vec<String>,
    cors_origins: Vec<String>,
    allowed_hosts: Option<Vec<String>>,
    body_limit: usize,
}

impl EditorApiBuilder {
    /// Where credentials come from (default: [`FromEnv`]). Test requests only say whether
    /// they are configured; `/v1/run` sends them.
    pub fn credentials(mut self, source: impl CredentialsSource + 'static) -> Self {
        self.credentials = Arc::new(source);
        self
    }

    /// Enables `POST /v1/run`, which sends real requests with the configured credentials
    /// through `executor`. Off by default: a test-request server never touches the network.
    ///
    /// A run goes only to the definition's servers (the sandbox and live API), so that a
    /// caller cannot send the credentials to a host of its choosing; see
    /// [`EditorApiBuilder::allow_run_to`].
    pub fn allow_run(mut self, executor: Executor) -> Self {
        self.run = Some(executor);
        self
    }

    /// Lets `/v1/run` also send to this base URL's origin, e.g. a local emulator at
    /// `http://127.0.0.1:4010`. Repeatable.
    pub fn allow_run_to(mut self, base_url: impl Into<String>) -> Self {
        self.run_to.push(base_url.into());
        self
    }

    /// Lets a page on `origin` (e.g. `https://editor.example.com`) call the API from a
    /// browser; `*` lets any origin (refused together with [`EditorApiBuilder::allow_run`]).
    /// Repeatable. Without it only same-origin pages can.
    pub fn cors_origin(mut self, origin: impl Into<String>) -> Self {
        self.cors_origins.push(origin.into());
        self
    }

    /// Also answers requests whose `Host` is this name (any port), e.g. `editor.internal` or
    /// `10.0.0.5`. Repeatable. By default only [`LOOPBACK_HOSTS`] are answered (421 for the
    /// rest), which is right for a server on loopback.
    pub fn allowed_host(mut self, name: impl Into<String>) -> Self {
        self.allowed_hosts
            .get_or_insert_with(|| LOOPBACK_HOSTS.iter().map(|h| (*h).to_owned()).collect())
            .push(name.into());
        self
    }

    /// Answers whatever the `Host` header says: for a server behind a proxy that checks it.
    pub fn any_host(mut self) -> Self {
        self.allowed_hosts = Some(Vec::new());
        self
    }

    /// The largest request body accepted, in bytes (default [`DEFAULT_BODY_LIMIT`]); larger
    /// ones get 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Checks the options and assembles the routes.
    pub fn build(self) -> Result<EditorApi, BuildError> {
        if self.run.is_some() && self.cors_origins.iter().any(|o| o == "*") {
            return Err(BuildError::new(
                "a server that runs steps cannot let every origin call it: name the editor's origin instead of *",
            ));
        }
        let cors = cors_layer(&self.cors_origins)?;
        let allowed_hosts = match self.allowed_hosts {
            None => LOOPBACK_HOSTS.iter().map(|h| (*h).to_owned()).collect(),
            Some(hosts) => hosts
                .iter()
                .map(|h| host_entry(h))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let mut run_origins: Vec<String> = self
            .endpoint
            .operation()
            .servers
            .iter()
            .filter_map(|server| origin_of(&template_placeholders(&server.url)))
            .collect();
        for base in &self.run_to {
            run_origins.push(origin_of(base).ok_or_else(|| {
                BuildError::new(format!("run target {base:?} is not an http(s) URL"))
            })?);
        }
        let panel_csp = panel_csp(PANEL);
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
            run_origins,
            allowed_hosts,
            body_limit: self.body_limit,
            panel_csp,
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
        Ok(EditorApi { router })
    }
}

/// The editor API as an axum [`Router`]: build it once, then serve it with `axum::serve` or
/// nest it in a larger app. The panel calls the API with relative URLs, so nest it under a
/// path that ends with `/` (open `/editor/`, not `/editor`).
#[derive(Clone)]
pub struct EditorApi {
    router: Router,
}

impl fmt::Debug for EditorApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EditorApi").finish_non_exhaustive()
    }
}

impl EditorApi {
    /// Starts building the API for `endpoint`.
    pub fn builder(endpoint: Arc<Endpoint>) -> EditorApiBuilder {
        EditorApiBuilder {
            endpoint,
            credentials: Arc::new(FromEnv),
            run: None,
            run_to: Vec::new(),
            cors_origins: Vec::new(),
            allowed_hosts: None,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// The routes (a cheap clone).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The routes.
    pub fn into_router(self) -> Router {
        self.router
    }
}

impl From<EditorApi> for Router {
    fn from(api: EditorApi) -> Router {
        api.router
    }
}

/// Options an [`EditorApi`] cannot be built with: a malformed CORS origin, host name or run
/// target, or a combination that would be unsafe.
#[derive(Debug)]
pub struct BuildError {
    message: String,
}

impl BuildError {
    fn new(message: impl Into<String>) -> Self {
        BuildError {
            message: message.into(),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BuildError {}

/// `scheme://host[:port]` as browsers and [`url::Url::origin`] write it, or `None` for what is
/// not an http(s) URL with a host.
fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return None;
    }
    Some(parsed.origin().ascii_serialization())
}

/// A server URL template with its `{variables}` filled with a placeholder, so it parses.
fn template_placeholders(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut in_variable = false;
    for c in template.chars() {
        match c {
            '{' => in_variable = true,
            '}' if in_variable => {
                in_variable = false;
                out.push('x');
            }
            _ if in_variable => {}
            _ => out.push(c),
        }
    }
    out
}

/// An allowed `Host` name as [`host_name`] will compare it: lower case, IPv6 in brackets, no
/// port.
fn host_entry(name: &str) -> Result<String, BuildError> {
    let name = name.trim().to_ascii_lowercase();
    if name.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok(format!("[{name}]"));
    }
    if name.is_empty() || host_name(&name) != name || name.contains('/') {
        return Err(BuildError::new(format!(
            "allowed host {name:?} is not a host name: give it without scheme, port or path"
        )));
    }
    Ok(name)
}

/// The panel's CSP: its own inline script and style, by hash, and requests to this server;
/// nothing else. A hash rather than `'unsafe-inline'` means no injected script could run.
fn panel_csp(page: &str) -> String {
    let hash = |tag: &str| {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        let start = page.find(&open)? + open.len();
        let end = start + page[start..].find(&close)?;
        let digest = ring::digest::digest(&ring::digest::SHA256, &page.as_bytes()[start..end]);
        Some(format!(
            "'sha256-{}'",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest.as_ref())
        ))
    };
    let none = || "'none'".to_owned();
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hash("script").unwrap_or_else(none),
        hash("style").unwrap_or_else(none),
    )
}

fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, BuildError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let mut values = Vec::with_capacity(origins.len());
        for origin in origins {
            // Browsers send the serialized origin (lower-case host, no default port): compare
            // with that, and refuse anything that is more than an origin.
            let parsed = url::Url::parse(origin).ok().filter(|u| {
                u.path() == "/"
                    && u.query().is_none()
                    && u.fragment().is_none()
                    && u.username().is_empty()
                    && u.password().is_none()
                    && !origin.ends_with('/')
            });
            let value = parsed
                .and_then(|u| origin_of(u.as_str()))
                .and_then(|o| HeaderValue::from_str(&o).ok());
            let Some(value) = value else {
                return Err(BuildError::new(format!(
                    "CORS origin {origin:?} is not an origin: give scheme://host[:port] with no path, or *"
                )));
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
    /// The origins `/v1/run` may send to: the definition's servers and `allow_run_to`.
    run_origins: Vec<String>,
    /// Empty: any host.
    allowed_hosts: Vec<String>,
    body_limit: usize,
    healthz: Value,
    report_schema: Value,
    panel_csp: String,
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

/// Refuses requests for another `Host` (see [`EditorApiBuilder::allowed_host`]).
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

async fn panel(State(state): Shared) -> Response {
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
    fn allowed_hosts_are_compared_as_host_names() {
        assert_eq!(
            host_entry("Editor.Internal").ok().as_deref(),
            Some("editor.internal")
        );
        assert_eq!(host_entry("::1").ok().as_deref(), Some("[::1]"));
        assert_eq!(host_entry("[::1]").ok().as_deref(), Some("[::1]"));
        assert_eq!(host_entry("10.0.0.5").ok().as_deref(), Some("10.0.0.5"));
        for bad in ["localhost:8080", "http://x", "", "a/b"] {
            assert!(host_entry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn run_targets_are_origins() {
        assert_eq!(
            origin_of(&template_placeholders(
                "https://api-sandbox.rebilly.com/organizations/{organizationId}"
            ))
            .as_deref(),
            Some("https://api-sandbox.rebilly.com")
        );
        assert_eq!(
            origin_of("HTTP://127.0.0.1:80/x").as_deref(),
            Some("http://127.0.0.1")
        );
        assert_eq!(origin_of("ftp://x"), None);
        assert_eq!(origin_of("not a url"), None);
    }

    #[test]
    fn the_panel_csp_allows_its_own_script_and_style_by_hash() {
        let csp = panel_csp(PANEL);
        assert!(
            csp.starts_with("default-src 'none'; script-src 'sha256-"),
            "{csp}"
        );
        assert!(csp.contains("style-src 'sha256-"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        // A different script gets a different hash.
        assert_ne!(csp, panel_csp(&PANEL.replace("\"use strict\";", "")));
        assert!(panel_csp("<p>no script</p>").contains("script-src 'none'"));
    }

    #[test]
    fn cors_origins_must_be_origins() {
        assert!(cors_layer(&["https://editor.example.com".into()]).is_ok());
        assert!(cors_layer(&["https://Editor.Example.com:443".into()]).is_ok());
        assert!(cors_layer(&["http://localhost:5173".into()]).is_ok());
        assert!(cors_layer(&["*".into()]).is_ok());
        for bad in [
            "editor.example.com",
            "https://editor.example.com/",
            "https://x/path",
            "ftp://x",
            "https://user:pw@editor.example.com",
            "https://editor.example.com#x",
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
