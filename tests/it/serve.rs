//! The editor API over real loopback HTTP: `axum::serve` on an ephemeral port, reqwest as the
//! client, and the project's emulator as the API for `/v1/run`.

use crate::support::{
    CANARY_JWT, CANARY_KEY, ECHO_MODES, ServeProcess, answer_server, cli, credentials, echo_server,
    emulator, endpoint, fixture, fixture_files, http_answer, root, run, stdout_json,
};
use apikey_task::emulator::Emulator;
use apikey_task::serve::EditorApi;
use apikey_task::{Credentials, CredentialsSource, Endpoint, Executor, RetryPolicy, Secret, Step};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The embedded endpoint, shared as the server holds it.
fn shared() -> Arc<Endpoint> {
    Arc::new(endpoint())
}

/// Serves on 127.0.0.1:0 in the background; returns the base URL with a trailing slash.
async fn start(api: EditorApi) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, api.into_router()).await });
    format!("http://{addr}/")
}

async fn default_server() -> String {
    start(
        EditorApi::builder(shared())
            .credentials(credentials())
            .build()
            .expect("server"),
    )
    .await
}

/// Status and JSON body of an answer, after checking it is JSON and holds no credential.
async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body");
    assert!(!text.contains("CANARY"), "credential in an answer: {text}");
    assert_eq!(content_type, "application/json", "{status}: {text}");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, value)
}

async fn post_json(base: &str, route: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    let response = crate::support::http()
        .post(format!("{base}{route}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    answer(response).await
}

/// Every fixture, valid and invalid.
fn fixtures() -> Vec<PathBuf> {
    let mut out = fixture_files("valid");
    out.extend(fixture_files("invalid"));
    out.sort();
    out
}

#[tokio::test]
async fn test_request_answers_the_report_the_library_gives() {
    // Four checks at once allow three in place; with one, none is: every step goes to a
    // blocking thread, whatever its size and whatever the machine's CPUs.
    let server = |checks: usize| {
        EditorApi::builder(shared())
            .credentials(credentials())
            .parallel_checks(checks)
            .build()
            .expect("server")
    };
    let bases = [start(server(4)).await, start(server(1)).await];
    let endpoint = endpoint();
    let paths = fixtures();
    assert!(paths.len() >= 40, "{}", paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("fixture");
        let step = Step::from_json(&text).expect("fixture is a step");
        let expected =
            serde_json::to_value(endpoint.test_request(step, Some(&credentials()))).expect("json");
        // A small body is checked where it was read, a larger one on a blocking thread: the
        // same step padded with white space past 4 KiB, or sent to the server that checks
        // nothing in place, takes the other way, to the same answer.
        assert!(text.len() < 4096, "{}", path.display());
        let padded = format!("{text}{}", " ".repeat(5000));
        for base in &bases {
            for body in [text.clone(), padded.clone()] {
                let (status, report) = post_json(base, "v1/test-request", body).await;
                assert_eq!(status, StatusCode::OK, "{}: {report}", path.display());
                assert_eq!(report, expected, "{}", path.display());
            }
        }
        let valid = path.parent().and_then(Path::file_name) == Some("valid".as_ref());
        assert_eq!(expected["valid"], valid, "{}", path.display());
    }
}

/// A curl line longer than an answer carries (128 KiB) is left out, with its length; the rest
/// of the report is the library's, the body whole.
#[tokio::test]
async fn a_curl_line_too_long_for_an_answer_is_left_out() {
    let base = default_server().await;
    let step = json!({
        "parameters": { "organizationId": "org-1",
                        "body": { "description": "it's ".repeat(30_000) } }
    });
    let (status, report) = post_json(&base, "v1/test-request", step.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let step = Step::from_json(&step.to_string()).expect("step");
    let mut expected = shared().test_request(step, Some(&credentials()));
    assert!(expected.curl.len() > 128 << 10);
    expected.curl = format!(
        "(omitted: {} bytes; send request.body with curl --data-binary @FILE)",
        expected.curl.len()
    );
    assert_eq!(report, serde_json::to_value(&expected).expect("json"));
}

#[tokio::test]
async fn the_report_for_a_private_ip_names_the_field() {
    let base = default_server().await;
    let step = json!({
        "parameters": { "organizationId": "${workflow.input.org}",
                        "body": { "description": "CI", "allowedIps": ["10.0.0.8", "153.12.32.33"] } },
        "context": { "workflow": { "input": { "org": "org-1" } } }
    });
    let (status, report) = post_json(&base, "v1/test-request", step.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"][0]["path"], "/body/allowedIps/0");
    assert_eq!(
        report["request"]["url"],
        "https://api-sandbox.rebilly.com/organizations/org-1/api-keys"
    );
    assert_eq!(report["request"]["headers"]["REB-APIKEY"], "<redacted>");
    assert!(
        report["curl"]
            .as_str()
            .is_some_and(|c| c.contains("$REBILLY_API_KEY")),
        "{report}"
    );
}

#[tokio::test]
async fn the_schema_routes_serve_the_published_files() {
    let base = default_server().await;
    for (route, file) in [
        ("v1/schemas/input", "schemas/step-parameters.schema.json"),
        ("v1/schemas/output", "schemas/task-output.schema.json"),
        ("v1/schemas/report", "schemas/test-report.schema.json"),
    ] {
        let response = crate::support::http()
            .get(format!("{base}{route}"))
            .send()
            .await
            .expect("get");
        let (status, schema) = answer(response).await;
        assert_eq!(status, StatusCode::OK, "{route}");
        let published: Value =
            serde_json::from_str(&std::fs::read_to_string(root().join(file)).expect("schema file"))
                .expect("schema JSON");
        assert_eq!(schema, published, "{route}");
    }
}

#[tokio::test]
async fn healthz_says_what_is_served() {
    let base = default_server().await;
    let (status, health) = answer(
        crate::support::http()
            .get(format!("{base}healthz"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["operation"], "PostApiKey");
    assert_eq!(health["runAllowed"], false);
}

#[tokio::test]
async fn bad_input_gets_a_json_4xx_never_a_500() {
    let server = EditorApi::builder(shared())
        .credentials(credentials())
        .body_limit(4096)
        .build()
        .expect("server");
    let base = start(server).await;
    let client = crate::support::http();

    // A byte that is not UTF-8 is named as such, not as an escape further on.
    let (status, error) = post_json(
        &base,
        "v1/test-request",
        b"{\"parameters\": {\"a\": \"x\xff\",\"b\":\"\\udc00\"}}".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["error"]["message"],
        "the body is not UTF-8: invalid byte at offset 23"
    );

    let (status, error) = post_json(&base, "v1/test-request", "{\"parameters\": {").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["kind"], "malformed_json");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("line 1")),
        "{error}"
    );

    for (body, pointer) in [
        (json!([]), ""),
        (json!({ "context": {} }), ""),
        (json!({ "parameters": "x" }), "/parameters"),
        (json!({ "parameters": {}, "context": [] }), "/context"),
        (json!({ "parameters": {}, "extra": 1 }), "/extra"),
    ] {
        let (status, error) = post_json(&base, "v1/test-request", body.to_string()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(error["error"]["kind"], "invalid_step");
        assert_eq!(error["error"]["pointer"], pointer, "{body}");
    }

    let wrong_type = client
        .post(format!("{base}v1/test-request"))
        .header("content-type", "text/plain")
        .body("{\"parameters\": {}}")
        .send()
        .await
        .expect("send");
    let (status, error) = answer(wrong_type).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error["error"]["kind"], "unsupported_media_type");

    // Too large, declared up front and streamed without a length.
    let big = format!(
        "{{\"parameters\": {{\"body\": {{\"description\": \"{}\"}}}}}}",
        "x".repeat(5000)
    );
    let (status, error) = post_json(&base, "v1/test-request", big.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error["error"]["kind"], "body_too_large");
    let raw = chunked_post(&base, "/v1/test-request", big.as_bytes()).await;
    assert!(raw.starts_with("HTTP/1.1 413 "), "{raw}");
    assert!(raw.contains("\"body_too_large\""), "{raw}");

    let (status, error) = answer(
        crate::support::http()
            .get(format!("{base}v2/nothing"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(
        (status, &error["error"]["kind"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
    let (status, error) = answer(
        client
            .get(format!("{base}v1/test-request"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error["error"]["kind"], "method_not_allowed");
}

/// POSTs `body` with `Transfer-Encoding: chunked` (no length up front) over a raw connection;
/// returns the whole answer.
async fn chunked_post(base: &str, route: &str, body: &[u8]) -> String {
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut request = format!(
        "POST {route} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(1000) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    raw_exchange(base, &request).await
}

/// Writes `request` as is on a new connection and reads the answer until the server closes.
async fn raw_exchange(base: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // The server may answer and close before reading everything; that is fine.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

async fn get_json(base: &str, route: &str) -> (StatusCode, Value) {
    let response = crate::support::http()
        .get(format!("{base}{route}"))
        .send()
        .await
        .expect("send");
    answer(response).await
}

/// The operation a listing names `id`.
fn listed<'a>(listing: &'a Value, id: &str) -> &'a Value {
    listing["operations"]
        .as_array()
        .and_then(|ops| ops.iter().find(|op| op["operationId"] == id))
        .unwrap_or_else(|| panic!("{id} is not listed: {listing}"))
}

#[tokio::test]
async fn operations_lists_every_operation_with_its_reference() {
    let base = default_server().await;
    let (status, listing) = get_json(&base, "v1/operations").await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    assert_eq!(listing["default"], "PostApiKey");
    let definition = endpoint().definition().clone();
    let ids: Vec<&str> = listing["operations"]
        .as_array()
        .map(|ops| {
            ops.iter()
                .filter_map(|op| op["operationId"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let expected: Vec<&str> = definition
        .operations()
        .iter()
        .filter_map(|(id, _, _)| *id)
        .collect();
    assert_eq!(ids, expected);
    for op in listing["operations"].as_array().into_iter().flatten() {
        for key in ["taskType", "method", "path", "summary", "description"] {
            assert!(op[key].is_string(), "{key} of {}", op["operationId"]);
        }
        assert!(
            op["inputSchema"]["properties"].is_object(),
            "{}",
            op["operationId"]
        );
        let responses = op["responses"].as_array().expect("responses");
        assert!(!responses.is_empty());
        assert!(
            responses
                .iter()
                .all(|r| r["status"].is_string() && r["description"].is_string())
        );
        assert_eq!(op["default"], op["operationId"] == "PostApiKey");
    }

    // The body's fields, with their types, constraints, enums and defaults.
    let create = listed(&listing, "PostApiKey");
    assert_eq!(create["taskType"], "CreateApiKey");
    assert_eq!(create["idempotentParameter"], "keyId");
    let fields = create["requestBody"]["fields"].as_array().expect("fields");
    let field = |pointer: &str| {
        fields
            .iter()
            .find(|f| f["pointer"] == pointer)
            .unwrap_or_else(|| panic!("no {pointer} in {fields:?}"))
    };
    assert_eq!(field("/description")["type"], "string");
    assert_eq!(field("/description")["required"], true);
    assert!(field("/description")["description"].is_string());
    assert_eq!(field("/type")["enum"], json!(["secret", "publishable"]));
    assert!(field("/acl/0/permissions/0")["constraints"]["format"] == "operationId");
    assert!(create["requestBody"]["schema"]["properties"].is_object());
    assert_eq!(create["exampleResponse"]["status"], "201");
    assert!(create["exampleResponse"]["body"]["id"].is_string());

    // Parameters as documented, and an example built from the response schema.
    let list = listed(&listing, "GetApiKeyCollection");
    let limit = list["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "limit"))
        .expect("limit");
    assert_eq!(limit["in"], "query");
    assert!(limit["description"].is_string());
    assert!(limit["schema"].is_object());
    assert_eq!(list["requestBody"], Value::Null);
    assert!(
        list["exampleResponse"]["body"].is_array(),
        "{}",
        list["exampleResponse"]
    );
    let delete = listed(&listing, "DeleteApiKey");
    assert_eq!(delete["exampleResponse"]["status"], "204");
}

#[tokio::test]
async fn operation_ids_are_served_sorted_for_the_permission_picker() {
    let base = default_server().await;
    let (status, answer) = get_json(&base, "v1/operation-ids").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["wildcard"], "*");
    let ids: Vec<&str> = answer["operationIds"]
        .as_array()
        .map(|ids| ids.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(answer["count"], ids.len());
    assert!(ids.len() > 500, "{}", ids.len());
    assert!(ids.contains(&"PostCustomer"));
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
}

#[tokio::test]
async fn test_request_takes_the_operation_a_step_names() {
    let base = default_server().await;
    let endpoint = endpoint();
    let parameters = json!({ "organizationId": "org-1", "id": "${workflow.input.key}" });
    let context = json!({ "workflow": { "input": { "key": "key-7" } } });
    for (field, name, operation, method) in [
        ("operationId", "GetApiKey", "GetApiKey", "GET"),
        ("taskType", "DeleteApiKey", "DeleteApiKey", "DELETE"),
        ("taskType", "GetApiKey", "GetApiKey", "GET"),
    ] {
        let body = json!({ field: name, "parameters": parameters, "context": context });
        let (status, report) = post_json(&base, "v1/test-request", body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["valid"], true, "{report}");
        assert_eq!(report["request"]["method"], method);
        assert_eq!(
            report["request"]["url"],
            "https://api-sandbox.rebilly.com/organizations/org-1/api-keys/key-7"
        );
        // The same report the library gives for that operation.
        let step: Step =
            serde_json::from_value(json!({ "parameters": parameters, "context": context }))
                .expect("step");
        let sibling = endpoint.sibling(operation).expect("sibling");
        let expected =
            serde_json::to_value(sibling.test_request(step, Some(&credentials()))).expect("json");
        assert_eq!(report, expected, "{name}");
    }
    // A listing with a query parameter.
    let body = json!({ "operationId": "GetApiKeyCollection",
                       "parameters": { "organizationId": "org-1", "limit": 5 } });
    let (status, report) = post_json(&base, "v1/test-request", body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["request"]["method"], "GET");
    assert!(
        report["request"]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/api-keys?limit=5")),
        "{report}"
    );
    // Without a name: the configured operation, as before.
    let body = json!({ "parameters": { "body": { "description": "x" } } });
    let (_, report) = post_json(&base, "v1/test-request", body.to_string()).await;
    assert_eq!(report["request"]["method"], "POST");
}

#[tokio::test]
async fn an_unknown_operation_is_a_422_naming_the_known_ones() {
    let base = default_server().await;
    let cases = [
        (
            json!({ "operationId": "GetApiKeys", "parameters": {} }),
            "/operationId",
            "GetApiKeyCollection",
        ),
        (
            json!({ "taskType": "CreateKey", "parameters": {} }),
            "/taskType",
            "CreateApiKey",
        ),
        (
            json!({ "operationId": 7, "parameters": {} }),
            "/operationId",
            "must be a string",
        ),
        (
            json!({ "operationId": "GetApiKey", "taskType": "GetApiKey", "parameters": {} }),
            "/taskType",
            "not both",
        ),
    ];
    for route in ["v1/test-request", "v1/run"] {
        for (body, pointer, mentions) in &cases {
            let (status, error) = post_json(&base, route, body.to_string()).await;
            if route == "v1/run" {
                // Refused before the body is read: this server does not run.
                assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
                continue;
            }
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
            assert_eq!(error["error"]["pointer"], *pointer, "{error}");
            let message = error["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(mentions), "{message}");
        }
    }
    let (_, error) = post_json(&base, "v1/test-request", cases[0].0.to_string()).await;
    assert_eq!(error["error"]["kind"], "unknown_operation");
    let message = error["error"]["message"].as_str().unwrap_or_default();
    for known in [
        "GetApiKeyCollection",
        "PostApiKey",
        "GetApiKey",
        "PutApiKey",
        "DeleteApiKey",
    ] {
        assert!(message.contains(known), "{message}");
    }
}

#[tokio::test]
async fn run_sends_the_operation_a_step_names() {
    let emulator = emulator(Emulator::builder().accept(CANARY_KEY)).await;
    let server = EditorApi::builder(shared())
        .credentials(credentials())
        .allow_run(Executor::builder().build().expect("executor"))
        .allow_run_to(emulator.url())
        .build()
        .expect("server");
    let base = start(server).await;
    let create =
        json!({ "parameters": { "server": emulator.url(), "body": { "description": "x" } } });
    let (status, created) = post_json(&base, "v1/run", create.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["response"]["body"]["id"].clone();
    let read = json!({ "operationId": "GetApiKey",
                       "parameters": { "server": emulator.url(), "id": id } });
    let (status, output) = post_json(&base, "v1/run", read.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{output}");
    assert_eq!(output["request"]["method"], "GET");
    assert_eq!(output["response"]["body"]["id"], id);
    assert_eq!(output["response"]["body"]["description"], "x");
    let (status, error) = post_json(
        &base,
        "v1/run",
        json!({ "taskType": "ReadKey", "parameters": {} }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["error"]["kind"], "unknown_operation");
}

#[tokio::test]
async fn run_is_refused_unless_allowed() {
    let base = default_server().await;
    let (status, error) = post_json(
        &base,
        "v1/run",
        json!({ "parameters": { "body": { "description": "x" } } }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error["error"]["kind"], "run_disabled");
}

#[tokio::test]
async fn run_executes_against_the_api_and_redacts_the_secret() {
    let refusing = emulator(Emulator::builder().accept("some-other-key")).await;
    let elsewhere = emulator(Emulator::builder()).await;
    let emulator = emulator(Emulator::builder().accept(CANARY_KEY)).await;
    let server = EditorApi::builder(shared())
        .credentials(credentials())
        .allow_run(Executor::builder().build().expect("executor"))
        .allow_run_to(emulator.url())
        .allow_run_to(refusing.url())
        .build()
        .expect("server");
    let base = start(server).await;
    let step = |body: Value| {
        json!({
            "parameters": { "server": emulator.url(), "body": body },
            "context": { "workflow": { "input": { "team": "payments" } } }
        })
        .to_string()
    };

    let (status, output) = post_json(
        &base,
        "v1/run",
        step(json!({ "description": "Key for ${workflow.input.team}" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{output}");
    assert_eq!(output["response"]["statusCode"], 201);
    assert_eq!(
        output["response"]["body"]["description"],
        "Key for payments"
    );
    assert_eq!(output["response"]["body"]["secretKey"], "<redacted>");
    assert_eq!(emulator.created(), 1);

    // Invalid: nothing is sent.
    let (status, error) = post_json(
        &base,
        "v1/run",
        step(json!({ "description": "x", "allowedIps": ["10.0.0.8"] })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["error"]["kind"], "invalid_step");
    assert_eq!(error["error"]["errors"][0]["path"], "/body/allowedIps/0");
    assert_eq!(emulator.created(), 1);

    // A server that was not allowed never sees the credentials: 403, nothing sent.
    let elsewhere_step = json!({
        "parameters": { "server": elsewhere.url(), "body": { "description": "x" } }
    });
    let (status, error) = post_json(&base, "v1/run", elsewhere_step.to_string()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    assert_eq!(error["error"]["kind"], "server_not_allowed");
    assert_eq!(error["error"]["pointer"], "/parameters/server");
    assert_eq!(elsewhere.created(), 0);

    // Nor can workflow data name the host: the step is invalid (422), nothing sent.
    let redirected = json!({
        "parameters": { "server": "${workflow.input.where}", "body": { "description": "x" } },
        "context": { "workflow": { "input": { "where": elsewhere.url() } } }
    });
    let (status, error) = post_json(&base, "v1/run", redirected.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["error"]["kind"], "invalid_step");
    assert_eq!(error["error"]["errors"][0]["path"], "/server");
    assert_eq!(elsewhere.created(), 0);

    // The API refuses: 502, with whether a retry is safe.
    let other = json!({
        "parameters": { "server": refusing.url(), "body": { "description": "x" } }
    });
    let (status, error) = post_json(&base, "v1/run", other.to_string()).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{error}");
    assert_eq!(error["error"]["kind"], "unauthorized");
    assert_eq!(error["error"]["retryable"], false);
    assert_eq!(error["response"]["statusCode"], 401);
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    let preflight = |base: String, origin: &'static str| async move {
        crate::support::http()
            .request(reqwest::Method::OPTIONS, format!("{base}v1/test-request"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .expect("preflight")
    };
    let allow_origin = |response: &reqwest::Response| {
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    };

    let configured = start(
        EditorApi::builder(shared())
            .cors_origin("http://editor.test:5173")
            .build()
            .expect("server"),
    )
    .await;
    let allowed = preflight(configured.clone(), "http://editor.test:5173").await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allow_origin(&allowed).as_deref(),
        Some("http://editor.test:5173")
    );
    let methods = allowed
        .headers()
        .get("access-control-allow-methods")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    assert_eq!(
        allow_origin(&preflight(configured.clone(), "http://evil.test").await),
        None
    );
    // A real cross-origin POST carries the header too.
    let response = crate::support::http()
        .post(format!("{configured}v1/test-request"))
        .header("origin", "http://editor.test:5173")
        .header("content-type", "application/json")
        .body(r#"{"parameters": {"body": {"description": "x"}}}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(
        allow_origin(&response).as_deref(),
        Some("http://editor.test:5173")
    );

    let any = start(
        EditorApi::builder(shared())
            .cors_origin("*")
            .build()
            .expect("server"),
    )
    .await;
    assert_eq!(
        allow_origin(&preflight(any, "http://anything.test").await).as_deref(),
        Some("*")
    );

    let none = default_server().await;
    assert_eq!(
        allow_origin(&preflight(none, "http://editor.test:5173").await),
        None
    );

    let bad = EditorApi::builder(shared())
        .cors_origin("editor.test")
        .build();
    assert!(bad.is_err());
    // Browsers send the serialized origin; a configured one is compared in that form.
    let normalized = start(
        EditorApi::builder(shared())
            .cors_origin("http://Editor.Test:80")
            .build()
            .expect("server"),
    )
    .await;
    assert_eq!(
        allow_origin(&preflight(normalized, "http://editor.test").await).as_deref(),
        Some("http://editor.test")
    );
    // Every origin may not call a server that runs steps with the credentials.
    let unsafe_mix = EditorApi::builder(shared())
        .allow_run(Executor::builder().build().expect("executor"))
        .cors_origin("*")
        .build();
    assert!(
        unsafe_mix
            .err()
            .is_some_and(|e| e.to_string().contains("cannot let every origin"))
    );
}

/// Status of `GET /healthz` with this `Host` header (or none), over a raw connection so the
/// header is exactly as given.
async fn status_for_host(base: &str, host: Option<&str>) -> String {
    let host_line = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
    let request = format!("GET /healthz HTTP/1.1\r\n{host_line}Connection: close\r\n\r\n");
    let answer = raw_exchange(base, request.as_bytes()).await;
    answer.split(' ').nth(1).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn by_default_only_loopback_host_names_are_answered() {
    let base = default_server().await;
    let port = base
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    for (host, expected) in [
        (Some(format!("127.0.0.1:{port}")), "200"),
        (Some(format!("LOCALHOST:{port}")), "200"),
        (Some(format!("[::1]:{port}")), "200"),
        (Some("localhost".to_owned()), "200"),
        (Some("rebind.evil.test".to_owned()), "421"),
        (Some(format!("rebind.evil.test:{port}")), "421"),
        (Some("127.0.0.1.evil.test".to_owned()), "421"),
        (None, "421"),
    ] {
        assert_eq!(
            status_for_host(&base, host.as_deref()).await,
            expected,
            "{host:?}"
        );
    }

    let named = start(
        EditorApi::builder(shared())
            .allowed_host("Editor.Internal")
            .build()
            .expect("server"),
    )
    .await;
    assert_eq!(
        status_for_host(&named, Some("editor.internal:80")).await,
        "200"
    );
    assert_eq!(status_for_host(&named, Some("localhost")).await, "200");
    assert_eq!(status_for_host(&named, Some("other.internal")).await, "421");

    let any = start(
        EditorApi::builder(shared())
            .any_host()
            .build()
            .expect("server"),
    )
    .await;
    assert_eq!(status_for_host(&any, Some("whatever.test")).await, "200");

    assert!(
        EditorApi::builder(shared())
            .allowed_host("localhost:8080")
            .build()
            .is_err()
    );
}

/// The binary as the README starts it: `serve --port 0` on loopback, the URL on its first line,
/// the Host guard on, and the same report as `apikey-task test-request` prints.
#[tokio::test]
async fn the_cli_serves_what_the_cli_prints() {
    let server = ServeProcess::start(
        cli()
            .args(["serve", "--port", "0"])
            .env("REBILLY_API_KEY", CANARY_KEY),
    );
    let base = server.base.clone();

    let fixture = fixture("invalid/allowed-ips-private-v4.json");
    let (status, report) = post_json(
        &base,
        "v1/test-request",
        std::fs::read_to_string(&fixture).expect("fixture"),
    )
    .await;
    let printed = run(
        cli()
            .arg("test-request")
            .arg(&fixture)
            .env("REBILLY_API_KEY", CANARY_KEY),
        None,
    );
    let printed = stdout_json(&printed);
    assert_eq!((status, &report), (StatusCode::OK, &printed));
    assert_eq!(
        status_for_host(&base, Some("rebind.evil.test")).await,
        "421"
    );
}

#[tokio::test]
async fn the_panel_is_one_self_contained_page() {
    let base = default_server().await;
    let response = crate::support::http()
        .get(&base)
        .send()
        .await
        .expect("get /");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"]
        .to_str()
        .unwrap_or_default();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let page = response.text().await.expect("page");
    assert!(page.contains("id=\"test-request\""));
    // No external asset: nothing is loaded from another address.
    for needle in ["src=\"http", "href=\"http", "@import", "url(http", "<link"] {
        assert!(!page.contains(needle), "the page loads {needle}...");
    }
    // The routes its script calls exist.
    for route in [
        "v1/operations",
        "v1/operation-ids",
        "v1/schemas/output",
        "v1/test-request",
        "healthz",
    ] {
        assert!(page.contains(&format!("\"{route}\"")), "{route}");
        let status = crate::support::http()
            .request(
                if route == "v1/test-request" {
                    reqwest::Method::POST
                } else {
                    reqwest::Method::GET
                },
                format!("{base}{route}"),
            )
            .header("content-type", "application/json")
            .body(r#"{"parameters": {}}"#)
            .send()
            .await
            .expect("route")
            .status();
        assert_eq!(status, StatusCode::OK, "{route}");
    }
}

/// Whatever bytes arrive, the answer is JSON with 200 or a 4xx: never a 500, never a dropped
/// connection. Arbitrary bytes, and JSON shaped more or less like a step.
#[test]
fn arbitrary_bodies_never_get_a_5xx() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let base = runtime.block_on(default_server());
    let check = |body: Vec<u8>| -> Result<(), TestCaseError> {
        let (status, answer) = runtime.block_on(post_json(&base, "v1/test-request", body.clone()));
        let allowed = [200, 400, 413, 415, 422];
        prop_assert!(
            allowed.contains(&status.as_u16()),
            "{status} for {:?}: {answer}",
            String::from_utf8_lossy(&body)
        );
        if status != StatusCode::OK {
            prop_assert!(answer["error"]["kind"].is_string(), "{answer}");
        }
        Ok(())
    };

    let config = Config {
        cases: 128,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new(config.clone())
        .run(&proptest::collection::vec(any::<u8>(), 0..300), |bytes| {
            check(bytes)
        })
        .expect("arbitrary bytes");

    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "(\\$\\{|\\}|[a-z.\\[\\]0-9]){0,12}".prop_map(Value::String),
    ];
    let value = leaf.prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just("body".to_owned()),
                        Just("organizationId".to_owned()),
                        Just("server".to_owned()),
                        Just("headers".to_owned()),
                        Just("allowedIps".to_owned()),
                        Just("acl".to_owned()),
                        "[a-z]{1,5}",
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    });
    let step = (value.clone(), value, any::<bool>()).prop_map(|(parameters, context, extra)| {
        let mut step = json!({ "parameters": parameters, "context": context });
        if extra {
            step["parameters"] = json!({ "body": step["parameters"].clone() });
        }
        step
    });
    // A runner counts cases over its lifetime: a second property needs its own.
    TestRunner::new(config)
        .run(&step, |step| check(step.to_string().into_bytes()))
        .expect("arbitrary steps");
}

/// A credentials store that fails the worst way: it panics.
struct Panicking;

impl CredentialsSource for Panicking {
    fn credentials(&self) -> Option<Credentials> {
        panic!("the credential store broke (a test's deliberate panic)")
    }
}

#[tokio::test]
async fn a_panicking_handler_answers_a_json_500_and_the_server_lives_on() {
    let (target, received) = answer_server(http_answer(
        "201 Created",
        &[("Content-Type", "application/json")],
        r#"{"id": "k1"}"#,
    ))
    .await;
    let server = EditorApi::builder(shared())
        .credentials(Panicking)
        .allow_run(Executor::builder().build().expect("executor"))
        .allow_run_to(target.clone())
        .build()
        .expect("server");
    let base = start(server).await;
    let step = json!({
        "parameters": { "server": target, "body": { "description": "x" } }
    })
    .to_string();
    for route in ["v1/test-request", "v1/run"] {
        let (status, error) = post_json(&base, route, step.clone()).await;
        assert_eq!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{route}: {error}"
        );
        assert_eq!(error["error"]["kind"], "internal", "{route}: {error}");
        assert!(error["error"]["message"].is_string(), "{route}: {error}");
    }
    assert_eq!(received.load(Ordering::SeqCst), 0, "the panic came first");
    let (status, health) = answer(
        crate::support::http()
            .get(format!("{base}healthz"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!((status, &health["status"]), (StatusCode::OK, &json!("ok")));
}

#[tokio::test]
async fn run_answers_never_hold_a_credential_the_server_echoes() {
    let echo = echo_server().await;
    for credentials in [
        Credentials::ApiKey(Secret::new(CANARY_KEY)),
        Credentials::Bearer(Secret::new(CANARY_JWT)),
    ] {
        let server = EditorApi::builder(shared())
            .credentials(credentials)
            .allow_run(
                Executor::builder()
                    .retry(RetryPolicy::never())
                    .build()
                    .expect("executor"),
            )
            .allow_run_to(echo.clone())
            .build()
            .expect("server");
        let base = start(server).await;
        for mode in ECHO_MODES {
            let step = json!({
                "parameters": { "server": format!("{echo}/{mode}"),
                                "body": { "description": "echo" } }
            });
            // `answer` fails on any CANARY in the text.
            let (status, answer) = post_json(&base, "v1/run", step.to_string()).await;
            match mode {
                "created" | "escaped-created" => {
                    assert_eq!(status, StatusCode::OK, "{mode}: {answer}");
                    assert_eq!(answer["response"]["body"]["echo"], "<redacted>", "{answer}");
                }
                "problem" | "escaped" => {
                    assert_eq!(status, StatusCode::BAD_GATEWAY, "{mode}: {answer}");
                    assert_eq!(answer["error"]["kind"], "unprocessable", "{answer}");
                    assert!(
                        answer["error"]["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("rejected key <redacted>")),
                        "{answer}"
                    );
                }
                _ => {
                    assert_eq!(status, StatusCode::BAD_GATEWAY, "{mode}: {answer}");
                    assert_eq!(answer["error"]["kind"], "server_error", "{answer}");
                    assert_eq!(
                        answer["response"]["body"],
                        "internal error while handling key <redacted>"
                    );
                }
            }
        }
    }
}

/// `GetCustomerr0`, `GetCustomerr1`, ...: near an operationId, never one.
fn misspelt_permissions(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("GetCustomerr{i}")).collect()
}

/// A step of one ACL entry with `count` misspelt permissions.
fn many_permissions(count: usize) -> Value {
    json!({
        "parameters": {
            "organizationId": "org-1",
            "body": { "description": "many", "acl": [
                { "scope": {}, "permissions": misspelt_permissions(count) }
            ] }
        }
    })
}

/// The most errors a report lists (100 and one that counts the rest), and the longest message
/// (1 KiB and a note of the full length).
const MAX_LISTED: usize = 101;
const MAX_MESSAGE: usize = 1100;

fn assert_bounded(report: &Value) {
    let errors = report["errors"].as_array().expect("errors");
    assert!(errors.len() <= MAX_LISTED, "{} errors", errors.len());
    for problem in errors
        .iter()
        .chain(report["warnings"].as_array().expect("warnings"))
    {
        let message = problem["message"].as_str().unwrap_or_default();
        assert!(
            message.len() <= MAX_MESSAGE,
            "{} bytes: {message}",
            message.len()
        );
    }
}

#[tokio::test]
async fn answers_stay_bounded_whatever_the_step_quotes() {
    let base = default_server().await;
    // Ten context keys of 20 KB each (their names), and 1,000 expressions naming a key that is
    // not there: each message would list every key name.
    let context: serde_json::Map<String, Value> = (0..10)
        .map(|i| (format!("k{i}{}", "x".repeat(20_000)), json!("v")))
        .collect();
    let step = json!({
        "parameters": {
            "organizationId": "org-1",
            "body": { "description": vec!["${c.q}"; 1000].join(" ") }
        },
        "context": context
    })
    .to_string();
    assert!(
        (200_000..apikey_task::serve::DEFAULT_BODY_LIMIT).contains(&step.len()),
        "{}",
        step.len()
    );
    let response = crate::support::http()
        .post(format!("{base}v1/test-request"))
        .header("content-type", "application/json")
        .body(step)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("body");
    eprintln!("bounded answer: {} bytes", text.len());
    assert!(text.len() < 1_000_000, "{} bytes", text.len());
    let report: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"][0]["path"], "/body/description");
    assert_bounded(&report);

    // 15,500 misspelt permissions do not fit the default body limit...
    let (status, error) = post_json(
        &base,
        "v1/test-request",
        many_permissions(15_500).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error["error"]["kind"], "body_too_large");
}

#[test]
fn a_report_lists_a_hundred_errors_and_counts_the_rest() {
    let step: Step = serde_json::from_value(many_permissions(15_500)).expect("step");
    let started = std::time::Instant::now();
    let report = endpoint().test_request(step, Some(&credentials()));
    eprintln!(
        "15,500 misspelt permissions: test request in {:?} (library)",
        started.elapsed()
    );
    let report = serde_json::to_value(&report).expect("JSON");
    assert_eq!(report["valid"], false);
    assert_bounded(&report);
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), MAX_LISTED);
    assert_eq!(errors[0]["path"], "/body/acl/0/permissions/0");
    let last = &errors[MAX_LISTED - 1];
    assert_eq!(last["path"], "");
    assert!(
        last["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("15400 more errors not listed")),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_costly_checks_run() {
    let server = EditorApi::builder(shared())
        .credentials(credentials())
        .body_limit(1 << 20)
        .build()
        .expect("server");
    let base = start(server).await;
    // The 15,500 permissions, referenced four times through `${p}`.
    let costly = json!({
        "parameters": {
            "organizationId": "org-1",
            "body": { "description": "many", "acl": vec![
                json!({ "scope": {}, "permissions": "${p}" }); 4
            ] }
        },
        "context": { "p": misspelt_permissions(15_500) }
    })
    .to_string();
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let (base, costly) = (base.clone(), costly.clone());
            tokio::spawn(async move { post_json(&base, "v1/test-request", costly).await })
        })
        .collect();
    // Let both reach the server before asking for health.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let health = crate::support::http()
        .get(format!("{base}healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("healthz answers within 5 s");
    let took = started.elapsed();
    let pending = calls.iter().filter(|call| !call.is_finished()).count();
    eprintln!("healthz under 2 costly checks: {took:?} ({pending} of them still running)");
    assert_eq!(health.status(), StatusCode::OK);
    for call in calls {
        let (status, report) = call.await.expect("costly call");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(report["valid"], false);
        assert_bounded(&report);
    }
}
