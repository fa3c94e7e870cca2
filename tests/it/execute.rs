//! Executions against real HTTP servers on loopback: the project's emulator, wiremock for
//! answers the emulator does not give, and raw TCP servers for broken connections.

use crate::support::{
    CANARY_KEY, answer_server, credentials, emulator, endpoint, fast_executor, no_retry_executor,
    raw_server, refused_url, step, team_parameters, team_state,
};
use apikey_task::emulator::Emulator;
use apikey_task::secrets::{Redact, ReturnedSecret, SecretSink, SecretSinkError};
use apikey_task::{
    Credentials, Definition, Endpoint, ErrorKind, Executor, Step, TaskError, WorkflowState,
};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// How messages name the embedded definition's `PostApiKey`: its summary and its id.
const CREATE: &str = r#""Create an API key" (PostApiKey)"#;

/// The minimal step of these tests: `CI key for payments`.
fn minimal(server: &str) -> Step {
    step(
        server,
        json!({ "description": "CI key for ${workflow.input.team}" }),
    )
}

/// Remembers every secret it is given, and answers with a vault reference.
#[derive(Default)]
struct Vault(Mutex<Vec<(String, Option<String>, String)>>);

#[async_trait]
impl SecretSink for Vault {
    async fn store(&self, secret: ReturnedSecret) -> Result<String, SecretSinkError> {
        let reference = format!(
            "vault://api-keys/{}",
            secret.resource_id.as_deref().unwrap_or("unknown")
        );
        self.0
            .lock()
            .map_err(|_| SecretSinkError::new("poisoned"))?
            .push((
                secret.field,
                secret.resource_id,
                secret.value.expose().to_owned(),
            ));
        Ok(reference)
    }
}

struct FailingSink;

#[async_trait]
impl SecretSink for FailingSink {
    async fn store(&self, _secret: ReturnedSecret) -> Result<String, SecretSinkError> {
        Err(SecretSinkError::new("vault is sealed"))
    }
}

/// Executes the minimal step against `server`, expecting a failure.
async fn failure(executor: &Executor, server: &str) -> TaskError {
    executor
        .execute(&endpoint(), minimal(server), &credentials(), &Redact)
        .await
        .expect_err("the execution should fail")
}

/// Everything a canary must not appear in.
fn assert_no_canary(error: &TaskError, secret: &str) {
    for text in [
        format!("{error:?}"),
        error.to_string(),
        error.to_json().to_string(),
    ] {
        assert!(!text.contains(CANARY_KEY), "credential leaked: {text}");
        assert!(
            secret.is_empty() || !text.contains(secret),
            "secret leaked: {text}"
        );
    }
}

#[tokio::test]
async fn success_emits_output_and_hands_the_secret_to_the_sink() {
    let emulator = emulator(Emulator::builder()).await;
    let endpoint = endpoint();
    let vault = Vault::default();
    let output = fast_executor()
        .execute(&endpoint, minimal(&emulator.url()), &credentials(), &vault)
        .await
        .expect("created");

    let stored = vault.0.lock().expect("vault").clone();
    assert_eq!(stored.len(), 1);
    let (field, id, secret) = &stored[0];
    assert_eq!(field, "/secretKey");
    assert!(secret.starts_with("sk_sandbox_"), "{secret}");
    assert_eq!(id.as_deref(), output.response.body["id"].as_str());
    assert_eq!(
        output.response.body["secretKey"],
        format!("vault://api-keys/{}", id.as_deref().unwrap_or_default())
    );

    let json = serde_json::to_value(&output).expect("output JSON");
    let text = json.to_string();
    assert!(!text.contains(secret.as_str()) && !text.contains(CANARY_KEY));
    assert!(!format!("{output:?}").contains(secret.as_str()));

    // Real output matches the published output schema.
    let validator = jsonschema::validator_for(endpoint.output_schema()).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    // Redacted here and snapshotted as text: insta's own JSON writer does not know serde_json's
    // exact numbers (the `exact-numbers` feature).
    let mut redacted = json.clone();
    for (pointer, placeholder) in [
        ("/response/headers/date", "[date]"),
        ("/response/headers/location", "[location]"),
        ("/response/headers/content-length", "[length]"),
        ("/response/body/id", "[id]"),
        ("/response/body/secretKey", "[vault reference]"),
        ("/response/body/createdTime", "[time]"),
        ("/response/body/updatedTime", "[time]"),
        ("/response/body/_links/0/href", "[href]"),
        ("/request/url", "[url]"),
        ("/request/durationMs", "[ms]"),
    ] {
        if let Some(slot) = redacted.pointer_mut(pointer) {
            *slot = Value::String(placeholder.to_owned());
        }
    }
    insta::assert_snapshot!(
        "emulator_success",
        serde_json::to_string_pretty(&redacted).expect("JSON")
    );
    assert_eq!(emulator.created(), 1);
}

#[tokio::test]
async fn a_later_step_reads_the_output() {
    let emulator = emulator(Emulator::builder()).await;
    let endpoint = endpoint();
    let executor = fast_executor();
    let credentials = credentials();
    let mut state = WorkflowState::new("wf-chain", json!({ "team": "payments" }));
    let first = executor
        .execute_in(
            &endpoint,
            minimal(&emulator.url()).parameters,
            &state.context(&credentials, &Redact),
        )
        .await
        .expect("first key");
    assert_eq!(first.response.body["description"], "CI key for payments");
    state.record("createKey", &first);
    assert_eq!(
        state.output("createKey"),
        Some(&serde_json::to_value(&first).expect("output"))
    );
    let second = step(
        &emulator.url(),
        json!({ "description": "Companion of ${createKey.output.response.body.id}" }),
    );
    let output = executor
        .execute_in(
            &endpoint,
            second.parameters,
            &state.context(&credentials, &Redact),
        )
        .await
        .expect("second key");
    assert_eq!(
        output.response.body["description"],
        format!(
            "Companion of {}",
            first.response.body["id"].as_str().unwrap_or_default()
        )
    );
    assert_eq!(output.response.body["secretKey"], "<redacted>");
}

#[tokio::test]
async fn rejected_credentials_are_terminal() {
    let emulator = emulator(Emulator::builder().accept("sk_the_only_good_key")).await;
    let error = failure(&fast_executor(), &emulator.url()).await;
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert_eq!(error.status(), Some(401));
    assert!(!error.is_retryable() && !error.is_outcome_unknown());
    assert_eq!(error.attempts(), 1);
    assert!(
        error.source().is_none(),
        "an answer has no underlying error"
    );
    assert_no_canary(&error, "");
    assert_eq!(emulator.created(), 0);
}

#[tokio::test]
async fn invalid_steps_and_missing_credentials_are_never_sent() {
    let emulator = emulator(Emulator::builder()).await;
    let endpoint = endpoint();
    let invalid = step(
        &emulator.url(),
        json!({ "description": "x", "allowedIps": ["10.0.0.8"] }),
    );
    let error = fast_executor()
        .execute(&endpoint, invalid, &credentials(), &Redact)
        .await
        .expect_err("invalid");
    assert!(error.is_invalid_step());
    assert_eq!(error.problems()[0].path, "/body/allowedIps/0");
    assert_eq!(error.attempts(), 0);

    let error = fast_executor()
        .execute(
            &endpoint,
            minimal(&emulator.url()),
            &None::<Credentials>,
            &Redact,
        )
        .await
        .expect_err("no credentials");
    assert_eq!(error.kind(), ErrorKind::NoCredentials);
    assert!(error.message().contains(CREATE), "{error}");
    assert_eq!(emulator.created(), 0);
}

#[tokio::test]
async fn rate_limited_then_created_after_the_servers_wait() {
    let emulator = emulator(Emulator::builder().rate_limit(1, Duration::from_secs(1))).await;
    let endpoint = endpoint();
    let executor = fast_executor();
    executor
        .execute(&endpoint, minimal(&emulator.url()), &credentials(), &Redact)
        .await
        .expect("first fits the window");

    // Without retries the 429 is reported as retryable, with the server's time.
    let error = failure(&no_retry_executor(), &emulator.url()).await;
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert!(error.is_retryable());
    let wait = error.retry_after().expect("server said when");
    assert!(wait <= Duration::from_secs(3), "{wait:?}");
    assert_eq!(
        error
            .response()
            .map(|r| r.headers.contains_key("x-ratelimit-retry-after")),
        Some(true)
    );

    // With the default policy the executor waits for the server's time, then succeeds.
    let started = Instant::now();
    let output = executor
        .execute(&endpoint, minimal(&emulator.url()), &credentials(), &Redact)
        .await
        .expect("created after waiting");
    assert_eq!(output.request.attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(emulator.created(), 2);
}

#[tokio::test]
async fn forbidden_and_unprocessable_are_terminal_and_mapped() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/org-403/api-keys"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "type": "about:blank", "title": "Forbidden", "status": 403,
            "detail": "This key may not manage API keys.", "instance": "/api-keys"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/org-422/api-keys"))
        .and(header("content-type", "application/json"))
        .and(header("reb-apikey", CANARY_KEY))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "title": "Invalid data", "status": 422, "detail": "Invalid data was sent.",
            "invalidFields": [
                { "field": "acl.0.permissions", "message": "Permission is not allowed for this key" },
                { "field": "description", "message": "Too long" }]})))
        .expect(1)
        .mount(&server)
        .await;
    let endpoint = endpoint();
    let executor = fast_executor();

    let error = failure(&executor, &format!("{}/org-403", server.uri())).await;
    assert_eq!(error.kind(), ErrorKind::Forbidden);
    assert!(
        error
            .message()
            .contains("This key may not manage API keys.")
    );
    assert!(
        error
            .message()
            .contains(&format!("the credentials may not call {CREATE} (403)")),
        "{error}"
    );
    assert!(!error.is_retryable() && !error.is_outcome_unknown());

    let restricted = step(
        &format!("{}/org-422", server.uri()),
        json!({ "description": "d", "acl": [{ "scope": {}, "permissions": ["GetCustomer"] }] }),
    );
    let error = executor
        .execute(&endpoint, restricted, &credentials(), &Redact)
        .await
        .expect_err("422");
    assert_eq!(error.kind(), ErrorKind::Unprocessable);
    assert!(!error.is_retryable());
    let fields = error.invalid_fields();
    assert_eq!(fields[0].path.as_deref(), Some("/body/acl/0/permissions"));
    assert_eq!(fields[1].path.as_deref(), Some("/body/description"));
    assert_eq!(
        error.to_json()["error"]["invalidFields"][0]["field"],
        "acl.0.permissions"
    );
    assert_no_canary(&error, "");
}

#[tokio::test]
async fn server_errors_are_outcome_unknown_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream down"))
        .expect(1)
        .mount(&server)
        .await;
    let error = failure(&fast_executor(), &server.uri()).await;
    assert_eq!(error.kind(), ErrorKind::ServerError);
    assert!(error.is_outcome_unknown() && !error.is_retryable());
    let reconcile = error.reconcile().expect("reconcile");
    assert_eq!(reconcile.matches["description"], "CI key for payments");
    assert!(reconcile.requested_at.ends_with('Z'));
    assert_eq!(
        reconcile.advice,
        format!(
            "{CREATE} may have taken effect: run the ready ListApiKeys (GetApiKeyCollection) step in `list` and look for an item created at or after createdFrom with the same description before retrying"
        )
    );
    let list = reconcile.list.as_ref().expect("a listing");
    assert_eq!(list.operation_id, "GetApiKeyCollection");
    assert_eq!(list.step["parameters"]["server"], server.uri());
    assert_eq!(
        list.step["parameters"]["filter"],
        format!(
            "createdTime:{}..;description:CI key for payments",
            list.created_from
        )
    );
    assert!(list.created_from < reconcile.requested_at);
    assert_eq!(
        error.response().map(|r| r.body.clone()),
        Some(json!("upstream down"))
    );
    assert_eq!(error.attempts(), 1);
}

#[tokio::test]
async fn a_timeout_after_sending_is_outcome_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(3)))
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let error = failure(&fast_executor(), &server.uri()).await;
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert!(error.is_outcome_unknown() && !error.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn malformed_and_oversized_success_bodies_are_outcome_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/malformed/api-keys"))
        .respond_with(
            ResponseTemplate::new(201).set_body_raw("{\"id\": \"api_key_1\", ", "application/json"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/huge/api-keys"))
        .respond_with(ResponseTemplate::new(201).set_body_string("x".repeat(2 << 20)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/huge-error/api-keys"))
        .respond_with(ResponseTemplate::new(400).set_body_string("y".repeat(2 << 20)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/huge-outage/api-keys"))
        .respond_with(ResponseTemplate::new(503).set_body_string("z".repeat(2 << 20)))
        .mount(&server)
        .await;
    let executor = fast_executor();

    let error = failure(&executor, &format!("{}/malformed", server.uri())).await;
    assert_eq!(error.kind(), ErrorKind::MalformedResponse);
    assert!(error.is_outcome_unknown());
    assert!(
        error.source().is_some_and(|e| e.is::<serde_json::Error>()),
        "the parse error is the source: {error:?}"
    );

    let error = failure(&executor, &format!("{}/huge", server.uri())).await;
    assert_eq!(error.kind(), ErrorKind::ResponseTooLarge);
    assert!(error.is_outcome_unknown());

    // Any other answer is classified by its status; the unread body is only noted.
    let error = failure(&executor, &format!("{}/huge-error", server.uri())).await;
    assert_eq!(error.kind(), ErrorKind::Rejected, "{error}");
    assert_eq!(error.status(), Some(400));
    assert!(error.message().contains("larger than"), "{error}");
    assert!(!error.is_outcome_unknown());
    let error = failure(&executor, &format!("{}/huge-outage", server.uri())).await;
    assert_eq!(error.kind(), ErrorKind::ServerError, "{error}");
    assert!(
        error.is_outcome_unknown(),
        "a 5xx to a POST may have created the key"
    );
}

#[tokio::test]
async fn redirects_are_reported_and_never_followed() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/api-keys", elsewhere.uri()).as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    let error = failure(&fast_executor(), &server.uri()).await;
    assert_eq!(error.kind(), ErrorKind::Redirected);
    assert!(!error.is_retryable() && !error.is_outcome_unknown());
    assert!(error.message().contains(&elsewhere.uri()));
    assert!(
        error.message().contains(&format!(
            "redirects are not followed, so {CREATE} did not happen there"
        )),
        "{error}"
    );
    // `elsewhere` verifies on drop that it received nothing: the credential stayed home.
}

#[tokio::test]
async fn a_connection_lost_mid_response_is_outcome_unknown() {
    let url = raw_server(
        b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"id\": \"api_",
        false,
    )
    .await;
    let error = failure(&fast_executor(), &url).await;
    assert_eq!(error.kind(), ErrorKind::ConnectionLost);
    assert!(error.is_outcome_unknown() && !error.is_retryable());
    assert_eq!(error.attempts(), 1);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let url = raw_server(b"", true).await;
    let started = Instant::now();
    let error = failure(&fast_executor(), &url).await;
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert!(error.is_outcome_unknown());
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn refused_connections_are_retried_then_reported_retryable() {
    let error = failure(&fast_executor(), &refused_url()).await;
    assert_eq!(error.kind(), ErrorKind::Unreachable);
    assert!(error.is_retryable() && !error.is_outcome_unknown());
    assert_eq!(error.attempts(), 3);
}

#[tokio::test]
async fn a_transport_failure_has_the_transport_error_as_its_source() {
    let error = failure(&no_retry_executor(), &refused_url()).await;
    assert_eq!(error.kind(), ErrorKind::Unreachable);
    let source = error.source().expect("a refused connection has a source");
    let transport = source
        .downcast_ref::<reqwest::Error>()
        .expect("the source is the HTTP client's error");
    assert!(transport.is_connect(), "{transport:?}");
    // The chain is for people too: it never shows the credential.
    let mut chain = Some(source);
    while let Some(cause) = chain {
        assert!(!cause.to_string().contains(CANARY_KEY));
        chain = cause.source();
    }
}

#[tokio::test]
async fn an_error_serializes_as_the_document_the_cli_prints() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream down"))
        .mount(&server)
        .await;
    let refused = failure(&no_retry_executor(), &refused_url()).await;
    let failed = failure(&no_retry_executor(), &server.uri()).await;
    for error in [&refused, &failed] {
        let serialized = serde_json::to_value(error).expect("an error serializes");
        assert_eq!(serialized, error.to_json());
        assert_eq!(serialized["error"]["kind"], error.kind().as_str());
        assert_eq!(error.kind().to_string(), error.kind().as_str());
        assert_eq!(serialized["error"]["retryable"], error.is_retryable());
        assert_eq!(
            serialized["error"]["outcomeUnknown"],
            error.is_outcome_unknown()
        );
        assert_eq!(serialized["error"]["message"], error.message());
        assert_eq!(serialized["error"]["attempts"], error.attempts());
        assert_eq!(
            error.to_string(),
            format!("{}: {}", error.kind(), error.message())
        );
    }
    assert_eq!(refused.to_json()["error"]["kind"], "unreachable");
    assert!(refused.to_json().get("response").is_none());
    assert_eq!(failed.to_json()["error"]["kind"], "server_error");
    assert_eq!(failed.to_json()["response"]["statusCode"], 503);
    assert_eq!(
        failed.to_json()["error"]["reconcile"]["matches"]["description"],
        "CI key for payments"
    );
}

/// A step for each operation of the embedded definition, to `server`.
fn step_for(operation_id: &str, server: &str) -> Step {
    match operation_id {
        "PostApiKey" => minimal(server),
        "GetApiKey" | "DeleteApiKey" => serde_json::from_value(json!({
            "parameters": { "server": server, "organizationId": "org-1", "id": "api_key_1" }
        }))
        .expect("step"),
        "PutApiKey" => serde_json::from_value(json!({
            "parameters": { "server": server, "organizationId": "org-1", "id": "api_key_1",
                            "body": { "description": "CI key" } }
        }))
        .expect("step"),
        "GetApiKeyCollection" => serde_json::from_value(json!({
            "parameters": { "server": server, "organizationId": "org-1",
                            "filter": "description:CI key", "limit": 10 }
        }))
        .expect("step"),
        other => panic!("{other} is shipped in the definition but has no step here: add one"),
    }
}

/// An HTTP/1.1 answer with a problem-details body.
fn problem(status: &str, extra_headers: &str) -> String {
    let body = json!({
        "type": "about:blank", "title": "Refused", "detail": "Not with these credentials."
    })
    .to_string();
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/problem+json\r\n{extra_headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A test per shipped operation: a refusal, a redirect and a server failure each name the
/// operation that was called, in the definition's words, and never another one.
#[tokio::test]
async fn every_shipped_operation_is_named_in_its_errors() {
    let forbidden = raw_server(problem("403 Forbidden", ""), false).await;
    let redirecting = raw_server(
        problem(
            "307 Temporary Redirect",
            "location: http://elsewhere.invalid/api-keys\r\n",
        ),
        false,
    )
    .await;
    let failing = raw_server(problem("500 Internal Server Error", ""), false).await;
    let executor = no_retry_executor();
    let definition = Definition::embedded();
    let operations = definition.operations();
    let ids: Vec<Option<&str>> = operations.iter().map(|(id, _, _)| *id).collect();
    assert!(
        ids.contains(&Some("PostApiKey")) && ids.contains(&Some("GetApiKey")),
        "{ids:?}"
    );

    for (id, method, path) in operations {
        let id = id.expect("every shipped operation has an operationId");
        let endpoint = Endpoint::builder()
            .operation_id(id)
            .build()
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        let operation = endpoint.operation();
        assert_eq!(
            (operation.method(), operation.path()),
            (method.as_str(), path)
        );
        let summary = operation
            .summary()
            .expect("every shipped operation has a summary");
        let label = operation.label();
        assert_eq!(label, format!("{summary:?} ({id})"));
        if id == "PostApiKey" {
            assert_eq!(label, CREATE);
        }

        for (server, kind) in [
            (&forbidden, ErrorKind::Forbidden),
            (&redirecting, ErrorKind::Redirected),
            (&failing, ErrorKind::ServerError),
        ] {
            let error = executor
                .execute(&endpoint, step_for(id, server), &credentials(), &Redact)
                .await
                .expect_err("refused");
            assert_eq!(error.kind(), kind, "{id}: {error}");
            assert_eq!(error.attempts(), 1, "{id}: {error}");
            // What a person reads: the message, and the advice when the outcome is unknown.
            let words = format!(
                "{} {}",
                error.message(),
                error
                    .reconcile()
                    .map(|r| r.advice.as_str())
                    .unwrap_or_default()
            );
            match kind {
                ErrorKind::Forbidden => assert!(
                    error
                        .message()
                        .contains(&format!("the credentials may not call {label} (403)")),
                    "{id}: {error}"
                ),
                ErrorKind::Redirected => assert!(
                    error
                        .message()
                        .contains(&format!("so {label} did not happen there")),
                    "{id}: {error}"
                ),
                _ if method == "POST" => assert!(
                    error.reconcile().is_some_and(|r| r
                        .advice
                        .starts_with(&format!("{label} may have taken effect"))),
                    "{id}: {error:?}"
                ),
                // Repeating a read is harmless: no "did it happen?" to answer.
                _ => assert!(
                    error.is_retryable() && !error.is_outcome_unknown(),
                    "{id}: {error:?}"
                ),
            }
            if kind != ErrorKind::ServerError || method == "POST" {
                assert!(words.contains(summary), "{id}: {words}");
            }
            if id == "GetApiKey" {
                for text in [words.clone(), error.to_json().to_string()] {
                    assert!(
                        !text.to_lowercase().contains("creat"),
                        "a read speaks of creating: {text}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn a_failing_secret_sink_is_terminal_and_names_the_key() {
    let emulator = emulator(Emulator::builder()).await;
    let error = fast_executor()
        .execute(
            &endpoint(),
            minimal(&emulator.url()),
            &credentials(),
            &FailingSink,
        )
        .await
        .expect_err("sink failed");
    assert_eq!(error.kind(), ErrorKind::SecretSink);
    assert!(!error.is_retryable());
    let body = error.response().map(|r| r.body.clone()).unwrap_or_default();
    assert_eq!(body["secretKey"], "<redacted>");
    let id = body["id"].as_str().unwrap_or("?");
    assert!(error.message().contains(id));
    assert!(
        error.message().contains(&format!(
            "{CREATE} succeeded (201 Created, id {id}) but the secret sink refused the secret at /secretKey: vault is sealed"
        )),
        "{error}"
    );
    assert!(
        error.source().is_some_and(|e| e.is::<SecretSinkError>()),
        "the sink's error is the source: {error:?}"
    );
}

/// A writer that keeps what trace-level logging wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn trace_logs_never_show_the_credential_or_the_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let emulator = emulator(Emulator::builder()).await;
    let vault = Vault::default();
    let executor = fast_executor();
    let endpoint = endpoint();
    executor
        .execute(&endpoint, minimal(&emulator.url()), &credentials(), &vault)
        .await
        .expect("created");
    let error = executor
        .execute(&endpoint, minimal(&refused_url()), &credentials(), &vault)
        .await
        .expect_err("refused");

    let secret = vault.0.lock().expect("vault")[0].2.clone();
    assert_no_canary(&error, &secret);
    let logs = String::from_utf8_lossy(&captured.0.lock().expect("logs")).into_owned();
    assert!(
        logs.contains("request succeeded"),
        "trace logging captured nothing: {logs}"
    );
    assert!(!logs.contains(CANARY_KEY), "credential in logs");
    assert!(!logs.contains(&secret), "secret in logs");
    assert!(!format!("{executor:?}{endpoint:?}{:?}", credentials()).contains(CANARY_KEY));
}

#[tokio::test]
async fn an_idempotent_read_is_retried_after_a_server_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api-keys/api_key_1"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api-keys/api_key_1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "id": "api_key_1", "description": "d" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let get = Endpoint::builder()
        .operation_id("GetApiKey")
        .build()
        .expect("GetApiKey");
    let read: Step = serde_json::from_value(json!({
        "parameters": { "server": server.uri(), "id": "api_key_1" }
    }))
    .expect("step");
    let output = fast_executor()
        .execute(&get, read, &credentials(), &Redact)
        .await
        .expect("read after one retry");
    assert_eq!(output.request.attempts, 2);
    assert_eq!(output.response.body["id"], "api_key_1");
}

#[tokio::test]
async fn credentials_go_only_to_servers_written_in_the_step_or_allowed() {
    let (url, received) = answer_server(crate::support::http_answer(
        "201 Created",
        &[("Content-Type", "application/json")],
        r#"{"id": "k1"}"#,
    ))
    .await;
    let host = url.trim_start_matches("http://").to_owned();
    let refused = |error: &TaskError| {
        assert_eq!(error.kind(), ErrorKind::InvalidStep, "{error}");
        assert!(
            error.problems().iter().any(|p| p.path == "/server"),
            "{:?}",
            error.problems()
        );
    };

    // Workflow data names a live loopback server as the host: refused, nothing sent.
    let from_data: Step = serde_json::from_value(json!({
        "parameters": { "server": "http://${workflow.input.host}/x",
                        "body": { "description": "x" } },
        "context": { "workflow": { "input": { "host": host } } }
    }))
    .expect("step");
    let error = fast_executor()
        .execute(&endpoint(), from_data, &credentials(), &Redact)
        .await
        .expect_err("a host from workflow data is refused");
    refused(&error);
    assert_eq!(received.load(std::sync::atomic::Ordering::SeqCst), 0);

    // A literal server that is neither the definition's nor loopback: refused, nothing sent.
    let collector = "https://collector.example.net";
    let error = fast_executor()
        .execute(
            &endpoint(),
            step(collector, json!({ "description": "x" })),
            &credentials(),
            &Redact,
        )
        .await
        .expect_err("a server nobody allowed is refused");
    refused(&error);
    assert!(
        error.problems()[0].message.contains("allow_server"),
        "{:?}",
        error.problems()
    );

    // Allowed by the operator: the same step is valid (and not sent anywhere here).
    let allowed = Endpoint::builder()
        .allow_server(collector)
        .build()
        .expect("endpoint");
    let report = allowed.test_request(
        step(collector, json!({ "description": "x" })),
        Some(&credentials()),
    );
    assert!(report.valid, "{:?}", report.errors);
    assert_eq!(report.request.url, format!("{collector}/api-keys"));
    // The loopback server named literally is fine too (and this time receives the request).
    fast_executor()
        .execute(
            &endpoint(),
            step(&url, json!({ "description": "x" })),
            &credentials(),
            &Redact,
        )
        .await
        .expect("a literal loopback server");
    assert_eq!(received.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// A definition whose server names its host with a variable: only the `enum`'s values, or an
/// origin the operator allowed, may receive the credentials, whatever the workflow supplies.
#[test]
fn a_host_variable_takes_only_the_values_the_definition_lists() {
    let definition = apikey_task::Definition::from_value(
        json!({
            "openapi": "3.1.0",
            "info": { "title": "t", "version": "1" },
            "servers": [
                { "url": "https://{env}.example.com/v1", "x-name": "listed",
                  "variables": { "env": { "default": "sandbox", "enum": ["sandbox", "live"] } } },
                { "url": "https://{host}/v1", "x-name": "open",
                  "variables": { "host": { "default": "api.example.com" } } }
            ],
            "paths": { "/things": { "post": {
                "operationId": "PostThing",
                "requestBody": { "content": { "application/json": { "schema": { "type": "object" } } } },
                "responses": { "201": { "description": "ok" } }
            } } }
        }),
        "host variables",
    )
    .expect("loads");
    let build = |allowed: Option<&str>| {
        let mut builder = Endpoint::builder().definition(definition.clone());
        if let Some(allowed) = allowed {
            builder = builder.allow_server(allowed);
        }
        builder.build().expect("builds")
    };
    let report = |endpoint: &Endpoint, parameters: serde_json::Value| {
        let step: Step = serde_json::from_value(json!({
            "parameters": parameters,
            "context": { "workflow": { "input": { "where": "attacker" } } }
        }))
        .expect("step");
        endpoint.test_request(step, None)
    };
    let endpoint = build(None);
    assert!(
        report(
            &endpoint,
            json!({"server": "listed", "env": "live", "body": {}})
        )
        .valid
    );
    for parameters in [
        json!({"server": "listed", "env": "${workflow.input.where}", "body": {}}),
        json!({"server": "listed", "env": "attacker", "body": {}}),
        json!({"server": "open", "host": "api.example.com", "body": {}}),
        json!({"server": "open", "host": "${workflow.input.where}", "body": {}}),
    ] {
        let found = report(&endpoint, parameters.clone());
        assert!(!found.valid, "{parameters}: {:?}", found.request.url);
        assert!(
            found.errors.iter().any(|e| e.path == "/server"
                && e.message
                    .contains("is not a server the credentials may go to")),
            "{parameters}: {:?}",
            found.errors
        );
    }
    // The operator can allow the open server's one real host.
    let allowed = build(Some("https://api.example.com"));
    assert!(
        report(
            &allowed,
            json!({"server": "open", "host": "api.example.com", "body": {}})
        )
        .valid
    );
    assert!(
        !report(
            &allowed,
            json!({"server": "open", "host": "other.example.com", "body": {}})
        )
        .valid
    );
}

/// A runner handing `Executor::execute` the same step in run after run: from the run after its
/// first success, the endpoint keeps a template of the parameters. Each run gets what an
/// endpoint keeping none gives it: its own key (an object put into the description as its
/// JSON), or for input the checks refuse (a value missing, a number where the schema wants a
/// string, a private address) the same refusal, with nothing sent.
#[tokio::test]
async fn the_same_step_run_after_run_executes_as_an_endpoint_keeping_no_template() {
    let emulator = emulator(Emulator::builder()).await;
    let keeping = endpoint();
    let whole = Endpoint::builder()
        .keep_templates(false)
        .build()
        .expect("endpoint");
    let executor = fast_executor();
    let credentials = credentials();
    let parameters = team_parameters(&emulator.url());
    let runs = [
        json!({ "team": "payments", "ip": "153.12.32.33" }),
        json!({ "team": "billing", "ip": "153.12.32.33" }),
        json!({ "team": "support", "ip": "153.12.32.34" }),
        json!({ "team": "no ip" }),
        json!({ "team": "numbered", "ip": 5 }),
        json!({ "team": "private", "ip": "10.0.0.1" }),
        json!({ "team": { "nested": true }, "ip": "153.12.32.33" }),
        json!({ "team": "treasury", "ip": "153.12.32.33" }),
    ];
    let (mut created, mut refused) = (0, 0);
    for input in runs {
        let step: Step = serde_json::from_value(json!({
            "parameters": parameters,
            "context": { "workflow": { "input": input } }
        }))
        .expect("step");
        let kept = executor
            .execute(&keeping, step.clone(), &credentials, &Redact)
            .await;
        let checked_whole = executor.execute(&whole, step, &credentials, &Redact).await;
        match (kept, checked_whole) {
            (Ok(kept), Ok(checked_whole)) => {
                created += 2;
                assert_eq!(kept.request.url, checked_whole.request.url);
                assert_eq!(kept.request.method, checked_whole.request.method);
                for field in ["description", "allowedIps"] {
                    assert_eq!(
                        kept.response.body[field], checked_whole.response.body[field],
                        "{input}"
                    );
                }
                if let Some(team) = input["team"].as_str() {
                    assert_eq!(
                        kept.response.body["description"],
                        format!("CI key for {team}")
                    );
                }
            }
            (Err(kept), Err(checked_whole)) => {
                refused += 1;
                assert_eq!(kept.kind(), ErrorKind::InvalidStep, "{input}: {kept}");
                assert_eq!(kept.message(), checked_whole.message(), "{input}");
                assert_eq!(kept.problems(), checked_whole.problems(), "{input}");
                assert_eq!(kept.is_retryable(), checked_whole.is_retryable());
            }
            (kept, checked_whole) => panic!("{input}: {kept:?} against {checked_whole:?}"),
        }
        assert_eq!(emulator.created(), created, "{input}");
    }
    assert_eq!((created, refused), (10, 3));
    assert_eq!(keeping.templates_kept(), 1);
    assert_eq!(whole.templates_kept(), 0);
}

/// A step made into a template and executed in run after run, with different workflow input:
/// each run creates its own key with its own input, and a run whose input the checks refuse
/// is refused as the step itself would be, with nothing sent.
#[tokio::test]
async fn a_template_executes_run_after_run_as_the_step_would() {
    let emulator = emulator(Emulator::builder()).await;
    let endpoint = endpoint();
    let executor = fast_executor();
    let credentials = credentials();
    let parameters = team_parameters(&emulator.url());
    let template = endpoint.template(parameters.clone());
    assert!(template.checks_in_parts());
    for (run, team) in ["payments", "billing", "support"].into_iter().enumerate() {
        let state = team_state(team, "153.12.32.33");
        let ctx = apikey_task::TaskContext::new(&state, &credentials, &Redact);
        let output = executor
            .execute_template(&template, &ctx)
            .await
            .expect("created");
        assert_eq!(
            output.response.body["description"],
            format!("CI key for {team}")
        );
        assert_eq!(output.response.body["allowedIps"], json!(["153.12.32.33"]));
        assert_eq!(output.secret_obtained, Some(true));
        assert_eq!(emulator.created(), run + 1);
    }

    // An answer lost on the way back: what to look for is this run's rendered body.
    emulator.lose_next_creates(1);
    let lost = team_state("treasury", "153.12.32.33");
    let ctx = apikey_task::TaskContext::new(&lost, &credentials, &Redact);
    let error = executor
        .execute_template(&template, &ctx)
        .await
        .expect_err("answer lost");
    assert!(error.is_outcome_unknown(), "{error}");
    let reconcile = error.reconcile().expect("reconcile");
    assert_eq!(reconcile.matches["description"], "CI key for treasury");
    assert_eq!(emulator.created(), 4);

    // A private address: refused in parts as the whole check refuses it.
    let refused = team_state("ops", "10.0.0.1");
    let ctx = apikey_task::TaskContext::new(&refused, &credentials, &Redact);
    let from_template = executor
        .execute_template(&template, &ctx)
        .await
        .expect_err("refused");
    let from_step = executor
        .execute_in(&endpoint, parameters, &ctx)
        .await
        .expect_err("refused");
    assert_eq!(from_template.kind(), ErrorKind::InvalidStep);
    assert_eq!(from_template.message(), from_step.message());
    assert_eq!(from_template.problems(), from_step.problems());
    assert_eq!(
        from_template
            .problems()
            .iter()
            .map(|problem| problem.path.as_str())
            .collect::<Vec<_>>(),
        ["/body/allowedIps/0"]
    );
    assert_eq!(emulator.created(), 4);
}

/// An attempt polled outside the runtime's tasks while another request of the executor is on
/// the wire sends and reads in a task of its own: every answer ends as it does for the same
/// step sent alone, in its execution's own future (kind, message, status, outcome, output).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_in_a_task_of_its_own_ends_as_one_sent_alone() {
    use crate::support::http_answer;
    use apikey_task::{RetryPolicy, TaskContext, TaskOutput};
    use tokio_util::sync::CancellationToken;

    // Reads the request and never answers: the request on the wire beside the one under test.
    let holding = raw_server(b"", true).await;
    let json = [("Content-Type", "application/json")];
    let mut servers = Vec::new();
    for answer in [
        http_answer(
            "201 Created",
            &json,
            r#"{"id": "k1", "secretKey": "sk_returned"}"#,
        ),
        http_answer("201 Created", &json, r#"{"id": "k1", "#),
        http_answer("201 Created", &json, &"x".repeat(4096)),
        http_answer("400 Bad Request", &json, &"y".repeat(4096)),
        http_answer(
            "422 Unprocessable Entity",
            &[("Content-Type", "application/problem+json")],
            r#"{"title": "Invalid", "status": 422, "invalidFields": [{"field": "description", "message": "no"}]}"#,
        ),
        http_answer("503 Service Unavailable", &json, "{}"),
    ] {
        servers.push(answer_server(answer).await.0);
    }
    // The connection lost halfway through a success's body.
    servers.push(
        raw_server(
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"id\": \"api_",
            false,
        )
        .await,
    );
    let executor = Executor::builder()
        .retry(RetryPolicy::never())
        .max_response_bytes(1024)
        .build()
        .expect("executor");
    let (endpoint, credentials) = (endpoint(), credentials());
    let ended = |done: Result<TaskOutput, TaskError>| match done {
        Ok(output) => json!({
            "status": output.response.status_code,
            "body": output.response.body,
            "secretObtained": output.secret_obtained,
        }),
        Err(error) => json!({
            "kind": error.kind().as_str(),
            "message": error.message(),
            "status": error.status(),
            "outcomeUnknown": error.is_outcome_unknown(),
            "retryable": error.is_retryable(),
        }),
    };
    for server in &servers {
        let send = || executor.execute(&endpoint, minimal(server), &credentials, &Redact);
        let alone = ended(send().await);
        let (stop, held) = (CancellationToken::new(), minimal(&holding));
        let ctx =
            TaskContext::new(&held.context, &credentials, &Redact).with_cancellation(stop.clone());
        // Polled first, the holding request takes its place on the wire before the other.
        let hold = executor.execute_in(&endpoint, held.parameters.clone(), &ctx);
        let beside = async {
            let done = send().await;
            stop.cancel();
            done
        };
        let (held, beside) = tokio::join!(hold, beside);
        let held = held.expect_err("cancelled");
        assert!(held.is_cancelled(), "{held}");
        assert_eq!(ended(beside), alone, "{server}");
    }
}
