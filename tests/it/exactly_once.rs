//! Exactly one key per step, whatever fails: a create whose answer is lost after the key was
//! made, through the command line and the library, against the emulator and a server that
//! answers a repeated create without the secret.

use crate::support::{
    CANARY_KEY, LiveEmulator, cli, credentials, emulator, fast_executor, run, scratch_dir,
    stdout_json, text,
};
use apikey_task::emulator::Emulator;
use apikey_task::secrets::{ReturnedSecret, SecretSink, SecretSinkError};
use apikey_task::task::TaskRegistry;
use apikey_task::{Endpoint, Step, TaskContext};
use serde_json::{Map, Value, json};
use std::sync::Mutex;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn step_file(dir: &std::path::Path, name: &str, step: &Value) -> std::path::PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, step.to_string()).expect("step file");
    file
}

/// `apikey-task COMMAND FILE` with the canary credential.
fn with_credentials(command: &str, file: &std::path::Path) -> std::process::Output {
    run(
        cli()
            .arg(command)
            .arg(file)
            .env("REBILLY_API_KEY", CANARY_KEY),
        None,
    )
}

#[test]
fn a_lost_answer_with_key_id_is_retried_into_exactly_one_key() {
    let emulator = LiveEmulator::start(Emulator::builder().lose_answers(1));
    let dir = scratch_dir("lost-answer-key-id");
    let step = json!({
        "parameters": {
            "server": format!("{}/organizations/{{organizationId}}", emulator.url()),
            "organizationId": "org-1",
            "keyId": "${workflow.workflowId}-storefront",
            "body": { "description": "Storefront key" }
        },
        "context": { "workflow": { "workflowId": "rotate-7" } }
    });
    let file = step_file(&dir, "step.json", &step);

    let first = with_credentials("run", &file);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let output = stdout_json(&first);
    // The first PUT made the key and its answer was lost; the repeat found it.
    assert_eq!(output["request"]["method"], "PUT");
    assert_eq!(output["request"]["attempts"], 2, "{output}");
    assert_eq!(output["response"]["statusCode"], 200, "{output}");
    assert_eq!(output["response"]["body"]["id"], "rotate-7-storefront");
    assert_eq!(output["response"]["body"]["secretKey"], "<redacted>");
    assert_eq!(output["secretObtained"], true);
    assert_eq!(emulator.created(), 1);
    assert_eq!(emulator.running().create_requests(), 2);

    // The same step again (a workflow replayed): it finds its key and writes nothing.
    let again = with_credentials("run", &file);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let found = stdout_json(&again);
    assert_eq!(found["request"]["method"], "GET", "{found}");
    assert_eq!(found["response"]["body"]["id"], "rotate-7-storefront");
    assert_eq!(found["secretObtained"], true);
    assert_eq!(emulator.created(), 1);
    assert_eq!(emulator.running().create_requests(), 2, "nothing written");

    // Another step with the same keyId but other values: a conflict, nothing written.
    let mut other = step.clone();
    other["parameters"]["body"]["description"] = json!("Someone else's key");
    let other_file = step_file(&dir, "other.json", &other);
    let conflict = with_credentials("run", &other_file);
    assert_eq!(conflict.status.code(), Some(1));
    let error = stdout_json(&conflict);
    assert_eq!(error["error"]["kind"], "conflict", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("(description)")),
        "{error}"
    );
    assert_eq!(error["response"]["body"]["secretKey"], "<redacted>");
    assert_eq!(emulator.running().create_requests(), 2, "nothing written");
    for output in [&first, &again] {
        assert!(!text(&output.stdout).contains("sk_sandbox_"));
        assert!(!text(&output.stdout).contains(CANARY_KEY));
    }
}

#[test]
fn a_lost_answer_without_key_id_is_never_resent_and_reconcile_finds_the_key() {
    let emulator = LiveEmulator::start(Emulator::builder().lose_answers(1));
    let dir = scratch_dir("lost-answer-post");
    let step = json!({
        "parameters": {
            "server": format!("{}/organizations/{{organizationId}}", emulator.url()),
            "organizationId": "org-1",
            "body": { "description": "Back office key" }
        }
    });
    // Another key of the organization is not a candidate: its description differs.
    emulator
        .running()
        .insert_key("org-1", "older-key", "Back office key (2025)");
    let file = step_file(&dir, "step.json", &step);
    let failed = with_credentials("run", &file);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed.stderr));
    let error = stdout_json(&failed);
    assert_eq!(error["error"]["kind"], "connection_lost", "{error}");
    assert_eq!(error["error"]["outcomeUnknown"], true);
    assert_eq!(error["error"]["retryable"], false);
    assert_eq!(error["error"]["attempts"], 1);
    assert_eq!(emulator.running().create_requests(), 1, "no second POST");
    assert_eq!(emulator.created(), 2);
    let list = &error["error"]["reconcile"]["list"];
    assert_eq!(list["operationId"], "GetApiKeyCollection");
    assert!(
        list["step"]["parameters"]["filter"]
            .as_str()
            .is_some_and(
                |f| f.starts_with("createdTime:") && f.ends_with(";description:Back office key")
            ),
        "{list}"
    );

    let error_file = dir.join("error.json");
    std::fs::write(&error_file, &failed.stdout).expect("error file");
    let found = with_credentials("reconcile", &error_file);
    assert_eq!(found.status.code(), Some(0), "{}", text(&found.stderr));
    let report = stdout_json(&found);
    let made: Vec<Value> = emulator
        .running()
        .keys()
        .into_iter()
        .filter(|key| key["id"] != "older-key")
        .collect();
    let candidates = report["candidates"].as_array().expect("candidates");
    assert_eq!(candidates.len(), 1, "{report}");
    assert_eq!(candidates[0]["id"], made[0]["id"], "{report}");
    assert_eq!(candidates[0]["secretKey"], "<redacted>");
    assert_eq!(
        report["listed"], 1,
        "the server-side filter left out the other key"
    );
    assert_eq!(
        report["requestedAt"],
        error["error"]["reconcile"]["requestedAt"]
    );
    assert!(text(&found.stderr).contains("1 candidate among 1 listed"));
}

#[test]
fn reconcile_refuses_an_error_whose_outcome_was_known() {
    let dir = scratch_dir("reconcile-known");
    let file = dir.join("error.json");
    std::fs::write(
        &file,
        json!({"error": {"kind": "unprocessable", "outcomeUnknown": false}}).to_string(),
    )
    .expect("file");
    let output = run(cli().arg("reconcile").arg(&file), None);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("did not leave an unknown outcome"),
        "{}",
        text(&output.stderr)
    );
}

/// A sink that keeps what it is given, to see which secrets reached it.
#[derive(Debug, Default)]
struct Keep(Mutex<Vec<String>>);

#[async_trait::async_trait]
impl SecretSink for Keep {
    async fn store(&self, secret: ReturnedSecret) -> Result<String, SecretSinkError> {
        self.0
            .lock()
            .expect("sink")
            .push(secret.value.expose().to_owned());
        Ok("vault:kept".into())
    }
}

fn put_step(server: &str) -> Map<String, Value> {
    json!({ "server": server, "keyId": "ci-key", "body": { "description": "CI key" } })
        .as_object()
        .cloned()
        .expect("object")
}

#[tokio::test]
async fn a_repeat_answered_without_the_secret_reads_it_back() {
    let server = MockServer::start().await;
    let key =
        json!({ "id": "ci-key", "description": "CI key", "createdTime": "2026-11-26T00:00:00Z" });
    Mock::given(method("PUT"))
        .and(path("/api-keys/ci-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&key))
        .expect(1)
        .mount(&server)
        .await;
    // Not there when the step looks first; there, with its secret, when it reads back.
    Mock::given(method("GET"))
        .and(path("/api-keys/ci-key"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "title": "Not Found" })))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let mut with_secret = key.clone();
    with_secret["secretKey"] = json!("sk_read_back_SECRET");
    Mock::given(method("GET"))
        .and(path("/api-keys/ci-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&with_secret))
        .expect(1)
        .mount(&server)
        .await;
    let registry =
        TaskRegistry::from_definition(Endpoint::builder(), fast_executor()).expect("registry");
    let task = registry.get("CreateApiKey").expect("task");
    let sink = Keep::default();
    let state = Map::new();
    let creds = credentials();
    let ctx = TaskContext::new(&state, &creds, &sink);
    let output = task
        .execute(put_step(&server.uri()), &ctx)
        .await
        .expect("created");
    assert_eq!(output.response.status_code, 200);
    assert_eq!(output.response.body["secretKey"], "vault:kept");
    assert_eq!(output.secret_obtained, Some(true));
    assert_eq!(*sink.0.lock().expect("sink"), ["sk_read_back_SECRET"]);
    assert!(
        !serde_json::to_string(&output)
            .expect("json")
            .contains("sk_read_back")
    );
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_back_is_said_to_be_missing() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "id": "ci-key", "description": "CI key" })),
        )
        .mount(&server)
        .await;
    // Neither when the step looks first nor when it reads back.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "title": "Not Found" })))
        .expect(2)
        .mount(&server)
        .await;
    let registry =
        TaskRegistry::from_definition(Endpoint::builder(), fast_executor()).expect("registry");
    let task = registry.get("CreateApiKey").expect("task");
    let state = Map::new();
    let creds = credentials();
    let sink = Keep::default();
    let ctx = TaskContext::new(&state, &creds, &sink);
    // The key exists either way: the step succeeds and says the secret is not in hand.
    let output = task
        .execute(put_step(&server.uri()), &ctx)
        .await
        .expect("the key is there");
    assert_eq!(output.secret_obtained, Some(false));
    assert!(output.response.body.get("secretKey").is_none());
    assert!(sink.0.lock().expect("sink").is_empty());
}

#[test]
fn the_test_request_says_which_request_and_why() {
    let endpoint = Endpoint::builder().build().expect("endpoint");
    let step = |parameters: Value| -> Step {
        serde_json::from_value(json!({ "parameters": parameters })).expect("step")
    };
    let put = endpoint.test_request(
        step(json!({ "organizationId": "org-1", "keyId": "ci-key", "body": { "description": "CI" } })),
        None,
    );
    assert!(put.valid, "{:?}", put.errors);
    assert_eq!(put.request.method, "PUT");
    assert!(
        put.request
            .url
            .ends_with("/organizations/org-1/api-keys/ci-key")
    );
    let chosen = put.operation.expect("a choice");
    assert_eq!(chosen.operation_id.as_deref(), Some("PutApiKey"));
    assert!(
        chosen.reason.starts_with("`keyId` is given"),
        "{}",
        chosen.reason
    );

    let post = endpoint.test_request(
        step(json!({ "organizationId": "org-1", "body": { "description": "CI" } })),
        None,
    );
    assert_eq!(post.request.method, "POST");
    let chosen = post.operation.expect("a choice");
    assert_eq!(chosen.operation_id.as_deref(), Some("PostApiKey"));
    assert!(chosen.reason.contains("Give `keyId`"), "{}", chosen.reason);

    // The id is the PUT's path parameter, checked as the definition says and named as written.
    let bad = endpoint.test_request(
        step(json!({ "organizationId": "org-1", "keyId": "a b", "id": "x", "body": { "description": "CI" } })),
        None,
    );
    let paths: Vec<&str> = bad.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["/id", "/keyId"], "{:?}", bad.errors);
}

#[tokio::test]
async fn every_task_type_works_against_the_emulator() {
    let running = emulator(Emulator::builder()).await;
    let registry =
        TaskRegistry::from_definition(Endpoint::builder(), fast_executor()).expect("registry");
    let types: Vec<&str> = registry.task_types().collect();
    assert_eq!(
        types,
        [
            "CreateApiKey",
            "DeleteApiKey",
            "GetApiKey",
            "ListApiKeys",
            "UpsertApiKey"
        ]
    );
    let creds = credentials();
    let sink = apikey_task::secrets::Redact;
    let state = Map::new();
    let ctx = TaskContext::new(&state, &creds, &sink);
    let server = running.url();
    let params = |value: Value| value.as_object().cloned().expect("object");
    let execute = |task: &str, parameters: Value| {
        let task = registry.get(task).expect("task type");
        let ctx = &ctx;
        async move { task.execute(params(parameters), ctx).await }
    };

    let created = execute(
        "CreateApiKey",
        json!({ "server": server, "body": { "description": "one" } }),
    )
    .await
    .expect("created");
    assert_eq!(created.response.status_code, 201);
    assert_eq!(created.secret_obtained, Some(true));
    let id = created.response.body["id"].as_str().expect("id").to_owned();
    let upserted = execute(
        "UpsertApiKey",
        json!({ "server": server, "id": "two", "body": { "description": "two" } }),
    )
    .await
    .expect("upserted");
    assert_eq!(upserted.response.status_code, 201);
    let listed = execute(
        "ListApiKeys",
        json!({ "server": server, "filter": "description:one,two", "sort": ["-id"], "limit": 1 }),
    )
    .await
    .expect("listed");
    assert_eq!(listed.response.body.as_array().map(Vec::len), Some(1));
    assert_eq!(listed.response.body[0]["id"], "two");
    assert_eq!(
        listed.response.headers.get("pagination-total").as_deref(),
        Some("2")
    );
    assert_eq!(listed.response.body[0]["secretKey"], "<redacted>");
    assert_eq!(listed.secret_obtained, None, "a list is not one key");
    let read = execute("GetApiKey", json!({ "server": server, "id": id }))
        .await
        .expect("read");
    assert_eq!(read.response.body["description"], "one");
    let deleted = execute("DeleteApiKey", json!({ "server": server, "id": id }))
        .await
        .expect("deleted");
    assert_eq!(deleted.response.status_code, 204);
    // A first attempt that finds nothing to delete may name the wrong key: an error.
    let missing = execute("DeleteApiKey", json!({ "server": server, "id": id }))
        .await
        .expect_err("not there");
    assert_eq!(missing.status(), Some(404));
    // The runner's second attempt finds it gone, which is what it asked for.
    let retried = registry
        .get("DeleteApiKey")
        .expect("task")
        .execute(
            params(json!({ "server": server, "id": id })),
            &TaskContext::new(&state, &creds, &sink).with_attempt(2),
        )
        .await
        .expect("already gone");
    assert_eq!(retried.response.status_code, 404);
    assert_eq!(running.created(), 1);
}

#[test]
fn reconcile_runs_only_the_listing_the_definition_names() {
    let emulator = LiveEmulator::start(Emulator::builder());
    emulator
        .running()
        .insert_key("org-1", "precious", "keep me");
    let dir = scratch_dir("reconcile-forged");
    // A forged error document asking to delete a key.
    let file = dir.join("forged.json");
    std::fs::write(
        &file,
        json!({"error": {"reconcile": {"matches": {}, "list": {
            "operationId": "DeleteApiKey", "createdField": "createdTime",
            "createdFrom": "2000-01-01T00:00:00Z",
            "step": {"parameters": {
                "server": format!("{}/organizations/org-1", emulator.url()), "id": "precious"}}
        }}}})
        .to_string(),
    )
    .expect("file");
    let output = with_credentials("reconcile", &file);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stdout));
    assert!(
        text(&output.stderr).contains("is reconciled with \"GetApiKeyCollection\""),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(emulator.created(), 1, "nothing was deleted");
}

#[tokio::test]
async fn a_description_too_long_for_a_url_is_matched_on_the_answer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let description = "ab ".repeat(2000);
    let endpoint = Endpoint::builder().build().expect("endpoint");
    let step: Step = serde_json::from_value(json!({
        "parameters": { "server": server.uri(), "body": { "description": description } }
    }))
    .expect("step");
    let error = fast_executor()
        .execute(
            &endpoint,
            step,
            &credentials(),
            &apikey_task::secrets::Redact,
        )
        .await
        .expect_err("outcome unknown");
    let reconcile = error.reconcile().expect("reconcile");
    assert_eq!(reconcile.matches["description"], description.as_str());
    let list = reconcile.list.as_ref().expect("a listing");
    let filter = list.step["parameters"]["filter"].as_str().expect("filter");
    assert!(!filter.contains("description"), "{filter}");
    // The step is one the listing accepts.
    let listing = Endpoint::builder()
        .operation_id(list.operation_id.as_str())
        .build()
        .expect("listing");
    let step: Step = serde_json::from_value(list.step.clone()).expect("step");
    let report = listing.test_request(step, Some(&credentials()));
    assert!(report.valid, "{:?}", report.errors);
}

/// The embedded definition with one change, for the build-time checks of the extensions.
fn definition_with(change: impl FnOnce(&mut Value)) -> apikey_task::Definition {
    let mut document = apikey_task::Definition::embedded().document().clone();
    change(&mut document);
    apikey_task::Definition::from_value(document, "changed").expect("loads")
}

/// A change to a definition document.
type Change = Box<dyn FnOnce(&mut Value)>;

#[test]
fn malformed_extensions_are_refused_when_the_definition_is_built() {
    let post = "/paths/~1api-keys/post";
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(move |d| {
                d.pointer_mut(post).expect("post")["x-reconcile"]["operationId"] =
                    json!("DeleteApiKey")
            }),
            "not a GET: reconciling must only read",
        ),
        (
            Box::new(move |d| {
                d.pointer_mut(post).expect("post")["x-reconcile"]["filterParameter"] = json!("q")
            }),
            "has no query parameter \"q\"",
        ),
        (
            Box::new(move |d| {
                d.pointer_mut(post).expect("post")["x-idempotent-variant"]["parameter"] =
                    json!("organizationId")
            }),
            "is already a parameter of the operation",
        ),
        (
            Box::new(move |d| {
                d.pointer_mut(post).expect("post")["x-idempotent-variant"]["read"] =
                    json!("DeleteApiKey")
            }),
            "must be a GET that takes exactly one path parameter",
        ),
        (
            Box::new(move |d| {
                d.pointer_mut(post).expect("post")["x-idempotent-variant"]["operationId"] =
                    json!("Nope")
            }),
            "x-idempotent-variant: ",
        ),
        (
            Box::new(move |d| d.pointer_mut(post).expect("post")["x-task-type"] = json!(5)),
            "x-task-type must be a non-empty string",
        ),
    ];
    for (change, expected) in cases {
        let error = Endpoint::builder()
            .definition(definition_with(change))
            .operation_id("PostApiKey")
            .build()
            .expect_err(expected);
        assert!(error.to_string().contains(expected), "{expected}: {error}");
    }
    // A task type the registry could not list is refused, not skipped.
    let unnamed = definition_with(|d| {
        d.pointer_mut("/paths/~1api-keys/get").expect("get")["x-task-type"] = json!(5);
    });
    let error =
        TaskRegistry::from_definition(Endpoint::builder().definition(unnamed), fast_executor())
            .expect_err("a task type that is not a string");
    assert!(
        error.to_string().contains("must be a non-empty string"),
        "{error}"
    );
    // Two operations of one task type: a registry cannot choose.
    let twice = definition_with(|d| {
        d.pointer_mut("/paths/~1api-keys/get").expect("get")["x-task-type"] = json!("CreateApiKey");
    });
    let error =
        TaskRegistry::from_definition(Endpoint::builder().definition(twice), fast_executor())
            .expect_err("duplicate task type");
    assert!(
        error
            .to_string()
            .contains("two operations name the task type"),
        "{error}"
    );
}
