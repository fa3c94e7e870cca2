//! Numbers reach the wire as written in the context and the step (cargo feature
//! `exact-numbers`, on by default): not rounded through f64, `-0` kept, `1e400` a number.
#![cfg(feature = "exact-numbers")]

use crate::support::{
    cli, credentials, endpoint, http_answer, recording_server, run, scratch_dir, stdout_json,
};
use apikey_task::Step;
use apikey_task::secrets::Redact;

/// Context numbers that f64 would change, and a body number beyond 64 bits.
const STEP: &str = r#"{
  "parameters": {
    "organizationId": "org-1",
    "body": {
      "description": "p-${workflow.input.n} ${workflow.input.e} ${workflow.input.z} ${workflow.input.pi} ${workflow.input.huge}",
      "acl": [{"scope": {"planId": ["plan-${workflow.input.n}"]}, "permissions": ["*"]}]
    }
  },
  "context": {"workflow": {"input": {
    "n": 12345678901234567890123, "e": 1e2, "z": -0, "pi": 3.14159265358979323846, "huge": 1e400
  }}}
}"#;

const RENDERED: &str = "p-12345678901234567890123 1e+2 -0 3.14159265358979323846 1e+400";

#[test]
fn numbers_substituted_into_text_keep_their_digits() {
    let step = Step::from_json(STEP).expect("valid JSON, 1e400 included");
    let report = endpoint().test_request(step, None);
    assert!(report.valid, "{:?}", report.errors);
    let body = report.request.body.expect("body");
    assert_eq!(body["description"], RENDERED);
    assert_eq!(
        body["acl"][0]["scope"]["planId"][0],
        "plan-12345678901234567890123"
    );
    assert!(report.curl.contains(RENDERED), "{}", report.curl);
}

#[test]
fn the_cli_accepts_1e400_and_big_integers() {
    let dir = scratch_dir("numbers");
    let path = dir.join("step.json");
    std::fs::write(&path, STEP).expect("step file");
    let output = run(cli().arg("test-request").arg(&path), None);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout_json(&output)["request"]["body"]["description"],
        RENDERED
    );
    // Unknown fields are reported, but their numbers are shown as written, not as floats.
    let unknown = STEP.replace(
        r#""acl":"#,
        r#""extra": 123456789012345678901234567890, "acl":"#,
    );
    std::fs::write(&path, unknown).expect("step file");
    let output = run(cli().arg("test-request").arg(&path), None);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("\"extra\": 123456789012345678901234567890"),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_bytes_sent_hold_the_numbers_as_written() {
    let (url, seen) = recording_server(http_answer(
        "201 Created",
        &[("Content-Type", "application/json")],
        r#"{"id":"k1"}"#,
    ))
    .await;
    let mut step = Step::from_json(STEP).expect("step");
    step.parameters
        .insert("server".into(), serde_json::Value::String(url));
    let executor = apikey_task::Executor::builder().build().expect("executor");
    executor
        .execute(&endpoint(), step, &credentials(), &Redact)
        .await
        .expect("created");
    let sent = seen
        .lock()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    assert!(sent.contains(RENDERED), "{sent}");
    assert!(sent.contains("\"plan-12345678901234567890123\""), "{sent}");
}
