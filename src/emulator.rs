//! A local, in-memory stand-in for Rebilly's API-key endpoints, for trying the project without
//! an account and for tests and benchmarks.
//!
//! It serves `POST /api-keys` and `GET /api-keys/{id}`, with or without an
//! `/organizations/{organizationId}` prefix, and behaves as the reference describes: 401
//! without valid credentials, 422 problem details with `invalidFields` for an invalid body,
//! 201 with a generated `id`, `secretKey`, times, `_links`, `Location` and rate-limit headers,
//! and 429 with `X-RateLimit-Retry-After` once the configured rate is exceeded. Like the API it
//! ignores read-only and unknown body fields. Its ids and secrets are not cryptographically
//! random: it is for trying and testing, never for real secrets.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let running = apikey_task::emulator::Emulator::builder().build().start("127.0.0.1:0").await?;
//! println!("POST {}/api-keys", running.url());
//! # Ok(()) }
//! ```

use crate::clock;
use crate::endpoint::Endpoint;
use crate::noise;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Request bodies larger than this are refused with 413.
const MAX_BODY: usize = 1 << 20;

/// Options for an [`Emulator`].
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    api_keys: Vec<String>,
    rate_limit: Option<(u32, Duration)>,
}

/// The sandbox's documented limit: 3000 non-GET requests per 10 minutes.
const SANDBOX_RATE: (u32, Duration) = (3000, Duration::from_secs(600));

impl Default for EmulatorBuilder {
    fn default() -> Self {
        EmulatorBuilder {
            api_keys: Vec::new(),
            rate_limit: Some(SANDBOX_RATE),
        }
    }
}

impl EmulatorBuilder {
    /// Accepts only these keys (as `REB-APIKEY`) or tokens (as `Authorization: Bearer`).
    /// Without any, every non-empty credential is accepted.
    pub fn accept(mut self, credential: impl Into<String>) -> Self {
        self.api_keys.push(credential.into());
        self
    }

    /// Answers 429 once an organization has made `limit` POSTs within `window` (default: the
    /// sandbox's 3000 per 10 minutes).
    pub fn rate_limit(mut self, limit: u32, window: Duration) -> Self {
        self.rate_limit = Some((limit, window));
        self
    }

    /// No rate limit at all (for load tests and benchmarks).
    pub fn unlimited(mut self) -> Self {
        self.rate_limit = None;
        self
    }

    /// Builds the emulator (validating with the embedded endpoint definition).
    pub fn build(self) -> Emulator {
        let validator = Endpoint::builder().build().ok();
        Emulator {
            state: Arc::new(State {
                config: self,
                validator,
                keys: Mutex::new(HashMap::new()),
                windows: Mutex::new(HashMap::new()),
            }),
        }
    }
}

/// The emulator, ready to serve.
#[derive(Clone)]
pub struct Emulator {
    state: Arc<State>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("rate_limit", &self.state.config.rate_limit)
            .finish_non_exhaustive()
    }
}

struct State {
    config: EmulatorBuilder,
    validator: Option<Endpoint>,
    /// Created keys by id, without their secrets.
    keys: Mutex<HashMap<String, Value>>,
    /// Per-organization rate windows: when each started, and POSTs in it.
    windows: Mutex<HashMap<String, (Instant, SystemTime, u32)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Emulator {
    /// Starts building an emulator.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// Binds `addr` (port 0 for an ephemeral one) and serves in the background until the
    /// returned handle is dropped or shut down.
    pub async fn start(&self, addr: &str) -> std::io::Result<RunningEmulator> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let state = self.state.clone();
        let task = tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = stopped.changed() => break,
                };
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(&state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(RunningEmulator {
            addr: local,
            stop,
            task: Some(task),
            state: self.state.clone(),
        })
    }
}

/// A serving emulator. Dropping it stops the server.
pub struct RunningEmulator {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    state: Arc<State>,
}

impl RunningEmulator {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, `http://127.0.0.1:PORT`: a step's `server` parameter.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many keys it has created.
    pub fn created(&self) -> usize {
        lock(&self.state.keys).len()
    }

    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

type Answer = Response<Full<Bytes>>;

async fn handle(state: &State, request: Request<Incoming>) -> Answer {
    let path = request.uri().path().to_owned();
    // `/organizations/{id}/api-keys...` or `/api-keys...`
    let (organization, rest) = match path.strip_prefix("/organizations/") {
        Some(tail) => match tail.split_once('/') {
            Some((org, rest)) => (org.to_owned(), format!("/{rest}")),
            None => (tail.to_owned(), String::new()),
        },
        None => ("default".to_owned(), path.clone()),
    };
    let prefix = path[..path.len() - rest.len()].to_owned();
    let host = request
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let base = format!("http://{host}{prefix}");

    if !authorized(state, &request) {
        return problem(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Invalid credentials: send REB-APIKEY or Authorization: Bearer.",
            &path,
        );
    }
    match (request.method(), rest.as_str()) {
        (&Method::POST, "/api-keys") => create(state, request, &organization, &base, &path).await,
        (&Method::GET, id_path) if id_path.starts_with("/api-keys/") => {
            let id = &id_path["/api-keys/".len()..];
            match lock(&state.keys).get(id) {
                Some(key) => json_response(StatusCode::OK, key, &[]),
                None => problem(
                    StatusCode::NOT_FOUND,
                    "Not Found",
                    "No such API key.",
                    &path,
                ),
            }
        }
        _ => problem(
            StatusCode::NOT_FOUND,
            "Not Found",
            "The emulator serves POST /api-keys and GET /api-keys/{id}.",
            &path,
        ),
    }
}

fn authorized(state: &State, request: &Request<Incoming>) -> bool {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let given = header("reb-apikey").or_else(|| {
        header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    });
    match given {
        None => false,
        Some(credential) => {
            state.config.api_keys.is_empty()
                || state.config.api_keys.iter().any(|k| k == credential)
        }
    }
}

async fn create(
    state: &State,
    request: Request<Incoming>,
    organization: &str,
    base: &str,
    path: &str,
) -> Answer {
    let (limit, remaining) = match admit(state, organization) {
        Ok(counts) => counts,
        Err(retry_at) => {
            let now = clock::unix_seconds(SystemTime::now());
            let wait = retry_at.saturating_sub(now).max(1);
            let mut answer = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                "Rate limit exceeded for this organization.",
                path,
            );
            let headers = answer.headers_mut();
            for (name, value) in [
                ("x-ratelimit-retry-after", retry_at.to_string()),
                ("retry-after", wait.to_string()),
                ("x-ratelimit-remaining", "0".to_owned()),
            ] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
            return answer;
        }
    };
    let json_content = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json_content {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "Send the body as application/json.",
            path,
        );
    }
    let bytes = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload Too Large",
                "The body is larger than 1 MiB.",
                path,
            );
        }
    };
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(body) => body,
        Err(error) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                &format!("The body is not JSON: {error}"),
                path,
            );
        }
    };
    let problems = match &state.validator {
        Some(endpoint) => endpoint.server_side_problems(&body),
        None => Vec::new(),
    };
    let Value::Object(fields) = body else {
        return invalid(
            path,
            vec![json!({"field": "", "message": "The body must be an object."})],
        );
    };
    if !problems.is_empty() {
        let invalid_fields = problems
            .iter()
            .map(|p| json!({ "field": field_name(p), "message": p.message }))
            .collect();
        return invalid(path, invalid_fields);
    }

    let id = format!(
        "api_key_{}",
        noise::string(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", 26)
    );
    let now = clock::rfc3339(SystemTime::now());
    let href = format!("{base}/api-keys/{id}");
    let mut key = Map::new();
    key.insert("id".into(), json!(id));
    key.insert(
        "description".into(),
        fields.get("description").cloned().unwrap_or(Value::Null),
    );
    key.insert(
        "type".into(),
        fields
            .get("type")
            .cloned()
            .unwrap_or_else(|| json!("secret")),
    );
    key.insert(
        "acl".into(),
        fields.get("acl").cloned().unwrap_or_else(|| json!([])),
    );
    key.insert(
        "allowedIps".into(),
        fields.get("allowedIps").cloned().unwrap_or(Value::Null),
    );
    key.insert("apiUser".into(), json!("emulator"));
    key.insert("createdTime".into(), json!(now));
    key.insert("updatedTime".into(), json!(now));
    key.insert("_links".into(), json!([{ "href": href, "rel": "self" }]));
    lock(&state.keys).insert(id.clone(), Value::Object(key.clone()));

    let secret = format!(
        "sk_sandbox_{}",
        noise::string(b"abcdefghijklmnopqrstuvwxyz0123456789", 32)
    );
    key.insert("secretKey".into(), json!(secret));
    json_response(
        StatusCode::CREATED,
        &Value::Object(key),
        &[
            ("location", href),
            ("x-ratelimit-limit", limit.to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
        ],
    )
}

/// Counts a POST against the organization's window: `Ok((limit, remaining))`, or
/// `Err(unix seconds when the window reopens)`.
fn admit(state: &State, organization: &str) -> Result<(u32, u32), u64> {
    let Some((limit, window)) = state.config.rate_limit else {
        return Ok((u32::MAX, u32::MAX));
    };
    let mut windows = lock(&state.windows);
    let now = Instant::now();
    let entry = windows
        .entry(organization.to_owned())
        .or_insert((now, SystemTime::now(), 0));
    if now.duration_since(entry.0) >= window {
        *entry = (now, SystemTime::now(), 0);
    }
    if entry.2 >= limit {
        let reopens = entry.1 + window;
        // Rounded up: a client that waits until this second is let in.
        return Err(clock::unix_seconds(reopens) + 1);
    }
    entry.2 += 1;
    Ok((limit, limit - entry.2))
}

/// The API's name for the field a problem is about. A missing field is reported at its parent
/// object; the API names the field itself.
fn field_name(problem: &crate::Problem) -> String {
    let parent = dotted(&problem.path);
    let missing = problem
        .message
        .strip_prefix("missing required field \"")
        .and_then(|rest| rest.strip_suffix('"'));
    match missing {
        Some(name) if parent.is_empty() => name.to_owned(),
        Some(name) => format!("{parent}.{name}"),
        None => parent,
    }
}

/// `/body/acl/0/permissions` to the API's dot notation, `acl.0.permissions`.
fn dotted(pointer: &str) -> String {
    pointer
        .trim_start_matches("/body")
        .trim_start_matches('/')
        .split('/')
        .map(|token| token.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

fn invalid(path: &str, fields: Vec<Value>) -> Answer {
    let mut body = problem_body(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid data",
        "Invalid data was sent.",
        path,
    );
    body["invalidFields"] = Value::Array(fields);
    json_response(StatusCode::UNPROCESSABLE_ENTITY, &body, &[])
}

fn problem_body(status: StatusCode, title: &str, detail: &str, instance: &str) -> Value {
    json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
        "instance": instance,
    })
}

fn problem(status: StatusCode, title: &str, detail: &str, instance: &str) -> Answer {
    json_response(status, &problem_body(status, title, detail, instance), &[])
}

fn json_response(status: StatusCode, body: &Value, headers: &[(&'static str, String)]) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let map = response.headers_mut();
    map.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            map.insert(*name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_dot_notation() {
        assert_eq!(dotted("/body/acl/0/permissions"), "acl.0.permissions");
        assert_eq!(dotted("/body/description"), "description");
    }
}
