//! The secret canary suite: a canary credential in the environment and a canary `secretKey`
//! from the server, through every CLI command and error path with trace-level logs, the `Debug`
//! output of every public type, and the reviewed snapshots. The canaries appear nowhere except
//! in the output of `run --reveal-secret`.

use crate::support::{cli, endpoint, no_retry_executor, root, run, scratch_dir, step, text};
use apikey_task::emulator::Emulator;
use apikey_task::secrets::Redact;
use apikey_task::task::{HttpTask, TaskRegistry};
use apikey_task::{
    Credentials, Definition, FromEnv, OperationIds, Secret, TaskContext, WorkflowState,
};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CANARY_CREDENTIAL: &str = "sk_live_CANARYCREDENTIAL_ab12";
const CANARY_SECRET: &str = "sk_live_CANARYSECRETKEY_cd34";

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains("CANARYCREDENTIAL"),
        "{what} shows the credential: {text}"
    );
    assert!(
        !text.contains("CANARYSECRETKEY"),
        "{what} shows the secretKey: {text}"
    );
}

/// A server that creates keys with the canary secret, and fails in every other way on demand.
async fn server() -> MockServer {
    let server = MockServer::start().await;
    let created = json!({
        "id": "api_key_CANARY0000000000000000000", "description": "canary",
        "type": "secret", "secretKey": CANARY_SECRET,
        "createdTime": "2026-01-01T00:00:00Z", "updatedTime": "2026-01-01T00:00:00Z"
    });
    Mock::given(method("POST"))
        .and(path("/ok/api-keys"))
        .respond_with(ResponseTemplate::new(201).set_body_json(created.clone()))
        .mount(&server)
        .await;
    // An error response that (wrongly) echoes the secret must not leak it either.
    Mock::given(method("POST"))
        .and(path("/echo-422/api-keys"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "title": "Invalid", "secretKey": CANARY_SECRET,
            "invalidFields": [{ "field": "description", "message": "no" }] })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/500/api-keys"))
        .respond_with(ResponseTemplate::new(500).set_body_json(created))
        .mount(&server)
        .await;
    server
}

fn step_file(dir: &Path, name: &str, server: &str, body: Value) -> String {
    let path = dir.join(name);
    let step = json!({ "parameters": { "server": server, "body": body } });
    std::fs::write(&path, step.to_string()).expect("write step");
    path.display().to_string()
}

/// The binary with the canary credential and trace-level logs.
fn traced(args: &[&str], stdin: Option<&str>) -> Output {
    run(
        cli()
            .args(args)
            .env("REBILLY_API_KEY", CANARY_CREDENTIAL)
            .env("RUST_LOG", "trace"),
        stdin,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_appear_in_no_cli_output_or_log() {
    let server = server().await;
    let dir = scratch_dir("canary");
    let base = server.uri();
    let ok = step_file(
        &dir,
        "ok.json",
        &format!("{base}/ok"),
        json!({ "description": "canary" }),
    );
    let echo = step_file(
        &dir,
        "echo.json",
        &format!("{base}/echo-422"),
        json!({ "description": "x" }),
    );
    let failing = step_file(
        &dir,
        "500.json",
        &format!("{base}/500"),
        json!({ "description": "x" }),
    );
    let invalid = step_file(
        &dir,
        "invalid.json",
        &format!("{base}/ok"),
        json!({ "description": "x", "allowedIps": ["10.0.0.1"] }),
    );
    let in_headers = dir.join("in-headers.json");
    std::fs::write(
        &in_headers,
        json!({ "parameters": { "server": format!("{base}/ok"), "body": { "description": "x" },
            "headers": { "REB-APIKEY": CANARY_CREDENTIAL, "Authorization": format!("Bearer {CANARY_CREDENTIAL}") } } })
        .to_string(),
    )
    .expect("write");
    let in_headers = in_headers.display().to_string();
    let jsonl = [&ok, &echo, &failing, &invalid]
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("step"))
        .collect::<Vec<_>>()
        .join("\n");

    let runs: Vec<(String, Output)> = vec![
        (
            "test-request ok".into(),
            traced(&["test-request", &ok], None),
        ),
        (
            "test-request invalid".into(),
            traced(&["test-request", &invalid], None),
        ),
        (
            "test-request credentials in headers".into(),
            traced(&["test-request", &in_headers], None),
        ),
        (
            "test-request --jsonl".into(),
            traced(&["test-request", "--jsonl", "-"], Some(&jsonl)),
        ),
        ("run ok".into(), traced(&["run", &ok], None)),
        (
            "run 422 echoing the secret".into(),
            traced(&["run", &echo], None),
        ),
        (
            "run 500 echoing the secret".into(),
            traced(&["run", &failing], None),
        ),
        ("run invalid".into(), traced(&["run", &invalid], None)),
        (
            "run credentials in headers".into(),
            traced(&["run", &in_headers], None),
        ),
        (
            "run --jsonl".into(),
            traced(&["run", "--jsonl", "-", "--concurrency", "2"], Some(&jsonl)),
        ),
        ("schema output".into(), traced(&["schema", "output"], None)),
    ];
    for (what, output) in &runs {
        assert_clean(&format!("{what} (stdout)"), &text(&output.stdout));
        assert_clean(&format!("{what} (stderr)"), &text(&output.stderr));
    }
    let logged = runs.iter().any(|(_, o)| text(&o.stderr).contains("TRACE"));
    assert!(logged, "trace-level logs were written");

    // The one exception: an explicit --reveal-secret.
    let revealed = traced(&["run", &ok, "--reveal-secret"], None);
    let stdout = text(&revealed.stdout);
    assert!(stdout.contains(CANARY_SECRET), "{stdout}");
    assert!(!stdout.contains("CANARYCREDENTIAL"));
}

#[tokio::test]
async fn debug_of_every_public_type_hides_the_canaries() {
    let server = server().await;
    let credentials = Credentials::ApiKey(Secret::new(CANARY_CREDENTIAL));
    let endpoint = endpoint();
    let executor = no_retry_executor();
    let at = |path: &str| {
        step(
            &format!("{}{path}", server.uri()),
            json!({ "description": "canary" }),
        )
    };
    let output = executor
        .execute(&endpoint, at("/ok"), &credentials, &Redact)
        .await
        .expect("created");
    let errors = [
        executor
            .execute(&endpoint, at("/echo-422"), &credentials, &Redact)
            .await
            .expect_err("422"),
        executor
            .execute(&endpoint, at("/500"), &credentials, &Redact)
            .await
            .expect_err("500"),
    ];
    let report = endpoint.test_request(at("/ok"), Some(&credentials));
    let state = serde_json::Map::new();
    let context = TaskContext::new(&state, &credentials, &Redact);
    let mut workflow = WorkflowState::new("wf-canary", json!({ "team": "canary" }));
    workflow.record("createKey", &output);
    let workflow_context = workflow.context(&credentials, &Redact);
    let mut registry = TaskRegistry::new();
    registry.register(Arc::new(
        HttpTask::create_api_key(executor.clone()).expect("task"),
    ));
    let emulator = Emulator::builder().accept(CANARY_CREDENTIAL).build();

    let debug = [
        format!("{credentials:?}"),
        format!("{:?}", Secret::new(CANARY_SECRET)),
        format!("{}", Secret::new(CANARY_SECRET)),
        format!("{endpoint:?}"),
        format!("{executor:?}"),
        format!("{output:?}"),
        format!("{errors:?}"),
        format!("{}", errors[0]),
        errors[1].to_json().to_string(),
        serde_json::to_string(&errors).expect("errors"),
        format!("{report:?}"),
        serde_json::to_string(&report).expect("report"),
        format!("{context:?}"),
        format!("{workflow:?}"),
        format!("{workflow_context:?}"),
        format!("{registry:?}"),
        format!("{emulator:?}"),
        format!("{:?}", Definition::embedded()),
        format!("{:?}", OperationIds::embedded()),
        format!("{FromEnv:?}"),
    ];
    for (i, text) in debug.iter().enumerate() {
        assert_clean(&format!("Debug #{i}"), text);
    }
}

#[test]
fn reviewed_snapshots_hold_no_canary() {
    let dir = root().join("tests/it/snapshots");
    for entry in std::fs::read_dir(dir).expect("snapshots") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("snapshot");
        assert!(
            !text.contains("CANARY"),
            "{} holds a canary",
            path.display()
        );
        assert!(
            !text.contains("sk_sandbox_"),
            "{} holds a secret",
            path.display()
        );
    }
}
