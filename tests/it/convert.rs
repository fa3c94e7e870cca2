//! Import and export: curl lines and Conductor HTTP tasks to steps and back, through the
//! library, `apikey-task convert` and `POST /v1/convert`.

use crate::support::{cli, fixture, fixture_files, run, stdout_json, text};
use apikey_task::convert::{self, ConvertErrorKind};
use apikey_task::serve::EditorApi;
use apikey_task::{Definition, Endpoint, HttpRequest, Step};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

/// Every valid fixture with the operationId of its task type (the folder it is in, else
/// CreateApiKey's PostApiKey).
fn valid_fixtures() -> Vec<(PathBuf, String)> {
    let definition = Definition::embedded();
    let mut out: Vec<(PathBuf, String)> = fixture_files("valid")
        .into_iter()
        .map(|path| (path, "PostApiKey".to_owned()))
        .collect();
    for (task_type, id) in definition.task_types() {
        let dir = fixture("valid").join(task_type);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            out.push((entry.path(), id.to_owned()));
        }
    }
    out.sort();
    out
}

fn endpoint_for(operation_id: &str) -> Endpoint {
    Endpoint::builder()
        .operation_id(operation_id)
        .build()
        .unwrap_or_else(|e| panic!("{operation_id}: {e}"))
}

fn read_step(path: &std::path::Path) -> Step {
    let text = std::fs::read_to_string(path).expect("fixture");
    Step::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What two requests must share to be the same request.
fn sent(request: &HttpRequest) -> Value {
    json!({
        "method": request.method,
        "url": request.url,
        "headers": request.headers,
        "body": request.body,
    })
}

#[test]
fn every_fixtures_curl_line_converts_back_to_an_equivalent_step() {
    let definition = Definition::embedded();
    let fixtures = valid_fixtures();
    assert!(fixtures.len() > 25, "{}", fixtures.len());
    let mut task_types = std::collections::BTreeSet::new();
    for (path, operation_id) in fixtures {
        let report = endpoint_for(&operation_id).test_request(read_step(&path), None);
        assert!(report.valid, "{}: {:?}", path.display(), report.errors);
        let converted = convert::from_curl(&report.curl, &definition)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), report.curl));
        let id = converted.operation_id.clone().expect("an operationId");
        task_types.insert(converted.task_type.clone().expect("a task type"));
        assert!(
            converted
                .warnings
                .iter()
                .all(|w| w.contains("REB-APIKEY") || w.contains("$${")),
            "{}: {:?}",
            path.display(),
            converted.warnings
        );
        let again = endpoint_for(&id).test_request(converted.step.clone(), None);
        assert!(again.valid, "{}: {:?}", path.display(), again.errors);
        assert_eq!(
            sent(&again.request),
            sent(&report.request),
            "{}: {}",
            path.display(),
            serde_json::to_string(&converted.step).unwrap_or_default()
        );
        assert_eq!(again.curl, report.curl, "{}", path.display());
    }
    // Every task type of the definition came back, UpsertApiKey also from `keyId` creates.
    assert_eq!(
        task_types.len(),
        Definition::embedded().task_types().len(),
        "{task_types:?}"
    );
}

#[test]
fn every_fixture_exported_to_conductor_and_back_renders_the_same_request() {
    let definition = Definition::embedded();
    for (path, operation_id) in valid_fixtures() {
        let step = read_step(&path);
        if step
            .parameters
            .get("server")
            .and_then(Value::as_str)
            .is_some_and(|s| s.contains("${"))
        {
            // A server chosen by an expression has no URL until rendered: see docs/cli.md.
            continue;
        }
        let endpoint = endpoint_for(&operation_id);
        let original = endpoint.test_request(step.clone(), None);
        let task = convert::to_conductor(step.clone(), &endpoint, "create_key").expect("valid");
        assert_eq!(task["type"], "HTTP");
        assert_eq!(task["taskReferenceName"], "create_key");
        let request = &task["inputParameters"]["http_request"];
        assert_eq!(
            request["headers"]["REB-APIKEY"],
            "${workflow.secrets.REBILLY_API_KEY}"
        );
        let converted = convert::from_conductor(&task, &definition)
            .unwrap_or_else(|e| panic!("{}: {e}\n{task:#}", path.display()));
        // The expressions came back as written: rendered with the step's own context, the
        // request is the original one.
        let mut back = converted.step.clone();
        back.context = step.context.clone();
        let id = converted.operation_id.clone().expect("an operationId");
        let again = endpoint_for(&id).test_request(back, None);
        assert_eq!(
            sent(&again.request),
            sent(&original.request),
            "{}: {task:#}",
            path.display()
        );
    }
}

#[test]
fn conductor_documentation_examples_convert() {
    let definition = Definition::embedded();
    // The classic shape, as in Conductor's HTTP task documentation.
    let classic = json!({
        "name": "create_api_key",
        "taskReferenceName": "create_api_key_ref",
        "inputParameters": {
            "http_request": {
                "uri": "https://api-sandbox.rebilly.com/organizations/${workflow.input.organizationId}/api-keys",
                "method": "POST",
                "accept": "application/json",
                "contentType": "application/json",
                "headers": { "REB-APIKEY": "${workflow.secrets.rebilly_key}", "X-Request-Source": "conductor" },
                "body": { "description": "Key for ${workflow.input.customer.name}", "allowedIps": "${workflow.input.ips}" },
                "connectionTimeOut": 1600,
                "readTimeOut": 1600
            }
        },
        "type": "HTTP"
    });
    let converted = convert::from_conductor(&classic, &definition).expect("classic");
    assert_eq!(converted.task_type.as_deref(), Some("CreateApiKey"));
    assert_eq!(
        Value::Object(converted.step.parameters.clone()),
        json!({
            "server": "sandbox",
            "organizationId": "${workflow.input.organizationId}",
            "headers": { "X-Request-Source": "conductor" },
            "body": { "description": "Key for ${workflow.input.customer.name}", "allowedIps": "${workflow.input.ips}" }
        })
    );
    // The credential is left out (by name, never by value), as are the timeouts.
    assert_eq!(converted.warnings.len(), 3, "{:?}", converted.warnings);
    assert!(!format!("{:?}", converted.warnings).contains("rebilly_key"));

    // The newer shape: the request's fields directly under inputParameters.
    let newer = json!({
        "name": "list_keys", "taskReferenceName": "list_keys", "type": "HTTP",
        "inputParameters": {
            "uri": "https://api.rebilly.com/organizations/org-1/api-keys?filter=description:CI&sort=-createdTime&limit=${workflow.input.limit}",
            "method": "GET"
        }
    });
    let converted = convert::from_conductor(&newer, &definition).expect("newer");
    assert_eq!(converted.task_type.as_deref(), Some("ListApiKeys"));
    assert_eq!(
        Value::Object(converted.step.parameters),
        json!({
            "server": "live", "organizationId": "org-1", "filter": "description:CI",
            "sort": ["-createdTime"], "limit": "${workflow.input.limit}"
        })
    );

    // Without a method, Conductor sends GET.
    let get =
        json!({"type": "HTTP", "inputParameters": {"uri": "http://127.0.0.1:4010/api-keys/k-1"}});
    let converted = convert::from_conductor(&get, &definition).expect("get");
    assert_eq!(converted.operation_id.as_deref(), Some("GetApiKey"));
    assert_eq!(converted.step.parameters["server"], "http://127.0.0.1:4010");
}

#[test]
fn real_curl_lines_convert() {
    let definition = Definition::embedded();
    let cases = [
        // As the API reference shows it, with continuations and double quotes.
        (
            "curl --request POST \\\n  --url https://api-sandbox.rebilly.com/organizations/org-1/api-keys \\\n  --header 'Content-Type: application/json' \\\n  --header \"REB-APIKEY: $REBILLY_API_KEY\" \\\n  --data '{\"description\": \"CI\", \"type\": \"secret\"}'",
            "CreateApiKey",
            json!({"server": "sandbox", "organizationId": "org-1", "body": {"description": "CI", "type": "secret"}}),
        ),
        // --json implies POST and the JSON content type.
        (
            "curl -sS --json '{\"description\": \"x\"}' https://api.rebilly.com/organizations/o/api-keys",
            "CreateApiKey",
            json!({"server": "live", "organizationId": "o", "body": {"description": "x"}}),
        ),
        // An option that could change the request is refused by name.
        (
            "curl -G https://api.rebilly.com/organizations/o/api-keys --negotiate",
            "",
            Value::Null,
        ),
        // -G moves the data to the query.
        (
            "curl -G https://api.rebilly.com/organizations/o/api-keys -d limit=10 -d offset=20 -d sort=-createdTime,description",
            "ListApiKeys",
            json!({"server": "live", "organizationId": "o", "sort": ["-createdTime", "description"], "limit": 10, "offset": 20}),
        ),
        // What a browser's "Copy as cURL" gives: $'...' quoting and headers of its own.
        (
            "curl 'https://api-sandbox.rebilly.com/organizations/org-1/api-keys/abc' -X PUT -H 'accept: application/json' -H 'authorization: Bearer eyJ.secret' -H 'content-type: application/json' --data-raw $'{\"description\":\"it\\'s\"}' --compressed",
            "UpsertApiKey",
            json!({"server": "sandbox", "organizationId": "org-1", "id": "abc", "headers": {"accept": "application/json"}, "body": {"description": "it's"}}),
        ),
    ];
    for (line, task_type, parameters) in cases {
        let converted = convert::from_curl(line, &definition);
        if task_type.is_empty() {
            assert_eq!(
                converted.err().map(|e| e.kind()),
                Some(ConvertErrorKind::Unsupported),
                "{line}"
            );
            continue;
        }
        let converted = converted.unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(converted.task_type.as_deref(), Some(task_type), "{line}");
        assert_eq!(
            Value::Object(converted.step.parameters),
            parameters,
            "{line}"
        );
        assert!(!format!("{:?}", converted.warnings).contains("eyJ.secret"));
    }
}

#[test]
fn the_cli_converts_in_every_direction() {
    let line = "curl -X DELETE 'https://api.rebilly.com/organizations/org-1/api-keys/old' -H 'REB-APIKEY: sk_live_CANARY_not_copied'";
    let output = run(
        cli().args(["convert", "--from", "curl", "--to", "step", "-"]),
        Some(line),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        stdout_json(&output),
        json!({"parameters": {"server": "live", "organizationId": "org-1", "id": "old"}, "context": {}})
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("REB-APIKEY"),
        "{stderr}"
    );
    assert!(!stderr.contains("CANARY") && !text(&output.stdout).contains("CANARY"));

    let output = run(
        cli().args([
            "convert",
            "--from",
            "curl",
            "--to",
            "conductor",
            "--name",
            "drop_old",
        ]),
        Some(line),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let task = stdout_json(&output);
    assert_eq!(task["name"], "drop_old");
    assert_eq!(task["inputParameters"]["http_request"]["method"], "DELETE");
    assert_eq!(
        task["inputParameters"]["http_request"]["uri"],
        "https://api.rebilly.com/organizations/org-1/api-keys/old"
    );

    let step = fixture("valid/minimal.json");
    let step = step.to_str().expect("path");
    let output = run(
        cli().args(["convert", "--from", "step", "--to", "curl", step]),
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let curl = text(&output.stdout);
    assert!(
        curl.starts_with("curl -X POST 'https://api-sandbox.rebilly.com/"),
        "{curl}"
    );
    assert_eq!(curl.lines().count(), 1);

    // A step of another task type, chosen with --task.
    let get = fixture("valid/GetApiKey/by-id.json");
    let output = run(
        cli().args([
            "--task",
            "GetApiKey",
            "convert",
            "--from",
            "step",
            "--to",
            "conductor",
        ]),
        Some(&std::fs::read_to_string(get).expect("fixture")),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        stdout_json(&output)["inputParameters"]["http_request"]["method"],
        "GET"
    );

    // 1: nothing in the definition has that method and path; 2: not a curl line at all.
    let output = run(
        cli().args(["convert", "--from", "curl", "--to", "step"]),
        Some("curl -X PATCH https://h/api-keys/x"),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("no operation"));
    let output = run(
        cli().args(["convert", "--from", "curl", "--to", "step"]),
        Some("curl 'unclosed"),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).starts_with("apikey-task: stdin: unclosed"),
        "{}",
        text(&output.stderr)
    );
    let output = run(
        cli().args(["convert", "--from", "conductor", "--to", "step"]),
        Some(r#"{"type": "SIMPLE"}"#),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("\"/type\""),
        "{}",
        text(&output.stderr)
    );
}

async fn server(body_limit: usize) -> String {
    let endpoint = Arc::new(Endpoint::builder().build().expect("endpoint"));
    let api = EditorApi::builder(endpoint)
        .body_limit(body_limit)
        .build()
        .expect("api");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, api.into_router()).await });
    format!("http://{addr}/v1/convert")
}

async fn post(url: &str, body: &Value) -> (StatusCode, Value) {
    let response = crate::support::http()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    let status = response.status();
    let body = response.text().await.expect("answer");
    let value: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, value)
}

#[tokio::test]
async fn the_editor_api_converts_and_locates_what_it_cannot() {
    let url = server(64 * 1024).await;
    let line = "curl -X PUT https://api-sandbox.rebilly.com/organizations/org-1/api-keys/k1 -H 'REB-APIKEY: sk_CANARY' -d '{\"description\": \"d\"}'";
    let (status, answer) = post(&url, &json!({"from": "curl", "to": "step", "input": line})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["operationId"], "PutApiKey");
    assert_eq!(answer["taskType"], "UpsertApiKey");
    assert_eq!(answer["step"]["parameters"]["id"], "k1");
    assert_eq!(answer["step"]["context"], json!({}));
    assert_eq!(answer["warnings"].as_array().map(Vec::len), Some(1));
    assert!(!answer.to_string().contains("CANARY"));

    let (status, answer) = post(
        &url,
        &json!({"from": "curl", "to": "conductor", "input": line, "name": "upsert"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["conductor"]["name"], "upsert");
    assert_eq!(
        answer["conductor"]["inputParameters"]["http_request"]["method"],
        "PUT"
    );

    let step = json!({"parameters": {"organizationId": "o", "body": {"description": "d"}}});
    let (status, answer) = post(&url, &json!({"from": "step", "to": "curl", "input": step})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["operationId"], "PostApiKey");
    assert!(
        answer["curl"]
            .as_str()
            .is_some_and(|c| c.starts_with("curl -X POST")),
        "{answer}"
    );

    let task = json!({"type": "HTTP", "inputParameters": {"uri": "https://api.rebilly.com/organizations/o/api-keys/k", "method": "DELETE"}});
    let (status, answer) = post(
        &url,
        &json!({"from": "conductor", "to": "curl", "input": task}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["taskType"], "DeleteApiKey");

    for (body, kind, pointer) in [
        (
            json!({"from": "curl", "to": "step", "input": "curl 'x"}),
            "not_convertible",
            "/input",
        ),
        (
            json!({"from": "curl", "to": "step", "input": "curl -X PATCH https://h/api-keys"}),
            "no_operation",
            "/input",
        ),
        (
            json!({"from": "conductor", "to": "step", "input": {"type": "HTTP", "inputParameters": {"uri": 7}}}),
            "not_convertible",
            "/input/inputParameters/uri",
        ),
        (
            json!({"from": "step", "to": "curl", "input": {"parameters": []}}),
            "invalid_step",
            "/input/parameters",
        ),
        (
            json!({"from": "yaml", "to": "step", "input": ""}),
            "invalid_request",
            "/from",
        ),
        (json!({"from": "curl", "to": "step"}), "invalid_request", ""),
        (
            json!({"from": "curl", "to": "step", "input": 1}),
            "invalid_request",
            "/input",
        ),
        (
            json!({"from": "curl", "to": "step", "input": "", "extra": 1}),
            "invalid_request",
            "/extra",
        ),
    ] {
        let (status, answer) = post(&url, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["kind"], kind, "{body}: {answer}");
        assert_eq!(answer["error"]["pointer"], pointer, "{body}: {answer}");
    }

    // Bounded as the other routes are.
    let url = server(100).await;
    let long = "x".repeat(200);
    let (status, answer) = post(&url, &json!({"from": "curl", "to": "step", "input": long})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"]["kind"], "body_too_large");
}

/// What an outside review found: a credential is never echoed or kept, an invalid step is not
/// exported as if it were valid, and a step's operation is never silently another.
#[test]
fn credentials_stay_out_and_invalid_steps_are_not_exported() {
    let definition = Definition::embedded();
    // A header written without its colon: the error names the header, not the value.
    let error = convert::from_curl(
        "curl https://api-sandbox.rebilly.com/organizations/o/api-keys/k -H 'REB-APIKEY sk_live_LEAK'",
        &definition,
    )
    .expect_err("malformed header");
    assert!(!error.to_string().contains("sk_live_LEAK"), "{error}");
    // User info in the URL is left out, with a warning that shows no password.
    let converted = convert::from_curl(
        "curl https://admin:hunter2@api-sandbox.rebilly.com/organizations/o/api-keys/k",
        &definition,
    )
    .expect("converts");
    assert!(
        !serde_json::to_string(&converted.step)
            .expect("json")
            .contains("hunter2")
    );
    assert!(
        converted
            .warnings
            .iter()
            .any(|w| w.contains("user name and password"))
    );
    assert!(converted.warnings.iter().all(|w| !w.contains("hunter2")));
    // A step the test request rejects is not exported.
    let step: Step =
        serde_json::from_value(json!({ "parameters": { "organizationId": "o" } })).expect("step");
    let endpoint = endpoint_for("PostApiKey");
    let error = convert::to_curl(step.clone(), &endpoint).expect_err("no body");
    assert_eq!(error.kind(), ConvertErrorKind::InvalidStep);
    assert!(error.to_string().contains("body"), "{error}");
    assert!(convert::to_conductor(step, &endpoint, "k").is_err());
    // Expressions in an object do not excuse what is wrong with the object itself: a
    // required field missing, a member name too long to render.
    let long = "k".repeat(300);
    for body in [
        json!({ "acl": "${workflow.acl}" }),
        json!({ "description": "${workflow.d}", long.clone(): 1 }),
    ] {
        let step: Step = serde_json::from_value(json!({
            "parameters": { "organizationId": "o", "body": body },
            "context": { "workflow": { "d": "d", "acl": [] } }
        }))
        .expect("step");
        let report = endpoint.test_request(step.clone(), None);
        assert!(!report.valid);
        // A long name is reported once, at its object, never spelled in a pointer.
        assert!(
            report.errors.iter().all(|e| e.path.len() < 100),
            "{:?}",
            report.errors
        );
        assert!(
            convert::to_conductor(step.clone(), &endpoint, "k").is_err(),
            "{body}"
        );
        assert!(convert::to_curl(step, &endpoint).is_err(), "{body}");
    }
    // Where the credentials go is never excused by an expression, and `$${` is no expression.
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/invalid/server-host-from-expression.json"),
    )
    .expect("fixture");
    let mut steps = vec![Step::from_json(&fixture).expect("fixture step")];
    for parameters in [
        json!({ "server": "https://evil.example.com/${workflow.workflowId}", "organizationId": "o",
                "body": { "description": "d" } }),
        json!({ "server": "https://evil.example.com/$${", "organizationId": "o",
                "body": { "description": "d" } }),
        json!({ "organizationId": "o", "body": { "description": "d", "allowedIps": ["$${x}"] } }),
    ] {
        steps.push(
            serde_json::from_value(json!({
                "parameters": parameters,
                "context": { "workflow": { "workflowId": "wf-1" } }
            }))
            .expect("step"),
        );
    }
    for step in steps {
        let shown = serde_json::to_string(&step.parameters).expect("json");
        assert!(!endpoint.test_request(step.clone(), None).valid, "{shown}");
        assert!(
            convert::to_curl(step.clone(), &endpoint).is_err(),
            "{shown}"
        );
        assert!(
            convert::to_conductor(step, &endpoint, "k").is_err(),
            "{shown}"
        );
    }
    let foreign: Step = serde_json::from_value(json!({ "parameters": {
        "server": "https://evil.example.com", "id": "k" } }))
    .expect("step");
    assert!(convert::to_curl(foreign, &endpoint_for("DeleteApiKey")).is_err());

    // The command line: a step says its operation, and --task must be the request's.
    let delete = "curl -X DELETE https://api-sandbox.rebilly.com/organizations/o/api-keys/k1";
    let output = run(
        cli().args(["convert", "--from", "curl", "--to", "step", "-"]),
        Some(delete),
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(
        text(&output.stderr).contains("use it with --task DeleteApiKey"),
        "{}",
        text(&output.stderr)
    );
    let output = run(
        cli().args([
            "--task",
            "GetApiKey",
            "convert",
            "--from",
            "curl",
            "--to",
            "step",
            "-",
        ]),
        Some(delete),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let output = run(
        cli().args(["convert", "--from", "step", "--to", "curl", "-"]),
        Some(r#"{"parameters": {"organizationId": "o"}}"#),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(output.stdout.is_empty());
}
