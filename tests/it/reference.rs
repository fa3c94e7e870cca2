//! The validator against Rebilly's own definition: generated bodies (fixed seed), each
//! checked by the test request and by the reference checker, `../shared/tools/conformance`
//! (openapi-core over Rebilly's OpenAPI document). The project must never accept a body the
//! reference rejects, and may reject one the reference accepts only for its documented extra
//! rules (the `allowedIps` ranges, unknown permissions, unknown fields).
//!
//! Needs `../shared` (CI has it); skipped, saying why, without it. Size:
//! `APIKEY_REFERENCE_SAMPLE` bodies (default 300; the figures in docs/testing.md are from 1,000).

use crate::support::{Seed, root};
use apikey_task::{Credentials, Endpoint, Secret, Step};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

fn text(seed: &mut Seed, longest: usize) -> String {
    let len = seed.below(longest + 1);
    (0..len)
        .map(|i| char::from(b'a' + ((seed.next() as usize + i) % 26) as u8))
        .collect()
}

/// A value of some other JSON type, for type errors.
fn wrong_type(seed: &mut Seed) -> Value {
    match seed.below(5) {
        0 => json!(5),
        1 => json!(true),
        2 => Value::Null,
        3 => json!({"a": 1}),
        _ => json!(["x"]),
    }
}

fn scope(seed: &mut Seed) -> Value {
    let mut scope = Map::new();
    for (name, longest) in [
        ("organizationId", 60),
        ("productId", 60),
        ("planId", 60),
        ("customFieldName", 70),
    ] {
        if seed.chance(40) {
            let items: Vec<Value> = (0..seed.below(3))
                .map(|_| {
                    if seed.chance(10) {
                        return wrong_type(seed);
                    }
                    let mut item = text(seed, longest);
                    if name == "customFieldName" && seed.chance(20) {
                        item.push_str(seed.pick(&[" x", "!", "é", "-ok_1"]));
                    }
                    Value::String(item)
                })
                .collect();
            scope.insert(name.into(), Value::Array(items));
        }
    }
    if seed.chance(5) {
        scope.insert("tenantId".into(), json!(["t-1"]));
    }
    Value::Object(scope)
}

fn acl_entry(seed: &mut Seed) -> Value {
    let mut entry = Map::new();
    if !seed.chance(8) {
        entry.insert(
            "scope".into(),
            if seed.chance(5) {
                wrong_type(seed)
            } else {
                scope(seed)
            },
        );
    }
    if !seed.chance(8) {
        let permissions: Vec<Value> = (0..seed.below(4))
            .map(|_| {
                if seed.chance(5) {
                    wrong_type(seed)
                } else {
                    json!(seed.pick(&[
                        "*",
                        "GetCustomer",
                        "PostApiKey",
                        "GetCustomerCollection",
                        "GetCustomerr",
                        "NotAnOperation",
                    ]))
                }
            })
            .collect();
        entry.insert("permissions".into(), Value::Array(permissions));
    }
    Value::Object(entry)
}

fn ip(seed: &mut Seed) -> Value {
    if seed.chance(5) {
        return wrong_type(seed);
    }
    json!(seed.pick(&[
        "153.12.32.33",
        "201.54.122.0/24",
        "2001:0db8:abcd:0012:0000:0000:0000:ffff",
        "2001:db8:abcd:12::0/64",
        "8.8.8.8",
        "2606:4700::/32",
        "10.0.0.8",
        "192.168.1.0/24",
        "127.0.0.1",
        "fd00::1",
        "198.18.0.1",
        "0.0.0.0/0",
        "not an ip",
        "1.2.3.4/33",
        "1.2.3.4/08",
        "::ffff:8.8.8.8",
    ]))
}

fn body(seed: &mut Seed) -> Value {
    let mut body = Map::new();
    if !seed.chance(5) {
        let description = if seed.chance(5) {
            wrong_type(seed)
        } else {
            Value::String(text(seed, 40))
        };
        body.insert("description".into(), description);
    }
    if seed.chance(50) {
        let kind = if seed.chance(10) {
            wrong_type(seed)
        } else {
            json!(seed.pick(&["secret", "publishable", "Secret", "public"]))
        };
        body.insert("type".into(), kind);
    }
    if seed.chance(50) {
        let acl = if seed.chance(5) {
            wrong_type(seed)
        } else {
            Value::Array((0..seed.below(3)).map(|_| acl_entry(seed)).collect())
        };
        body.insert("acl".into(), acl);
    }
    if seed.chance(40) {
        let ips = match seed.below(10) {
            0 => Value::Null,
            1 => wrong_type(seed),
            _ => Value::Array((0..seed.below(3)).map(|_| ip(seed)).collect()),
        };
        body.insert("allowedIps".into(), ips);
    }
    if seed.chance(5) {
        body.insert("allowedIPs".into(), json!(["8.8.8.8"]));
    }
    if seed.chance(5) {
        body.insert("id".into(), json!("api_key_chosen"));
    }
    if seed.chance(3) {
        return wrong_type(seed);
    }
    Value::Object(body)
}

/// Why the project may be stricter than the reference: the rules the reference document does
/// not state (README, "What is checked"), and one difference of dialect: JSON Schema patterns
/// are ECMA-262 regular expressions, where `\w` is ASCII; the Python checker reads it as any
/// Unicode letter.
fn documented_extra_rule(error: &apikey_task::Problem) -> bool {
    error.path.starts_with("/body/allowedIps")
        || error.message.contains("unknown permission")
        || error.message.contains("unknown field")
        || error.message.contains("unknown property")
        || (error
            .message
            .contains("does not match the pattern ^[\\w-]+$")
            && !error.message.is_ascii())
}

/// The reference checker's verdict on each report, in order: `ok` or `violation: ...`.
fn verdicts(checker: &std::path::Path, reports: &[apikey_task::TestReport]) -> Vec<String> {
    let input: String = reports
        .iter()
        .map(|r| serde_json::to_string(r).expect("report JSON") + "\n")
        .collect();
    let mut child = Command::new(checker)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the reference checker starts");
    let mut pipe = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || pipe.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("the checker finishes");
    writer.join().expect("writer").expect("stdin written");
    let verdicts: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        verdicts.len(),
        reports.len(),
        "one verdict per report; stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    verdicts
}

/// Every operation's path and query parameters, generated (fixed seed): ids of the API's
/// alphabet and others, of every length around its 50, limits and offsets around 0..1000,
/// and a body for the upsert. What the reference rejects, the test request rejects too; what
/// only the test request rejects is a `limit` or `offset` outside the documented range.
#[test]
fn no_parameter_the_reference_rejects_is_accepted() {
    let checker = root().join("../shared/tools/conformance");
    if !checker.exists() {
        eprintln!("skipped: ../shared/tools/conformance is not here (CI has it)");
        return;
    }
    let credentials = Credentials::ApiKey(Secret::new("sk_reference_check"));
    let mut seed = Seed(20_261_127);
    let mut reports = Vec::new();
    let definition = apikey_task::Definition::embedded();
    for (task, operation) in definition.task_types() {
        let endpoint = Endpoint::builder()
            .operation_id(operation)
            .build()
            .expect("endpoint");
        for _ in 0..60 {
            let mut parameters = Map::new();
            parameters.insert("organizationId".into(), json!("org-1"));
            let id = {
                let len = seed.below(56) + 1;
                (0..len)
                    .map(|_| {
                        seed.pick(&[
                            "a", "Z", "7", "_", "-", ".", "@", "~", " ", "/", "%", "é", "+",
                        ])
                    })
                    .collect::<String>()
            };
            match task {
                "CreateApiKey" => {
                    parameters.insert("keyId".into(), json!(id));
                    parameters.insert("body".into(), json!({ "description": "k" }));
                }
                "UpsertApiKey" => {
                    parameters.insert("id".into(), json!(id));
                    parameters.insert("body".into(), json!({ "description": "k" }));
                }
                "GetApiKey" | "DeleteApiKey" => {
                    parameters.insert("id".into(), json!(id));
                }
                _ => {
                    for name in ["limit", "offset"] {
                        if seed.chance(70) {
                            let value = seed.below(1100) as i64 - 50;
                            parameters.insert(name.into(), json!(value));
                        }
                    }
                    if seed.chance(50) {
                        parameters.insert("filter".into(), json!(format!("description:{id}")));
                    }
                    if seed.chance(50) {
                        parameters.insert("sort".into(), json!(["-createdTime", "id"]));
                    }
                }
            }
            let step: Step =
                serde_json::from_value(json!({ "parameters": parameters })).expect("step");
            reports.push((task, endpoint.test_request(step, Some(&credentials))));
        }
    }
    let only: Vec<_> = reports.iter().map(|(_, r)| r.clone()).collect();
    let verdicts = verdicts(&checker, &only);
    let mut agreed = 0;
    let mut wrongly_accepted = Vec::new();
    for ((task, report), verdict) in reports.iter().zip(&verdicts) {
        match (report.valid, verdict == "ok") {
            (true, false) => {
                wrongly_accepted.push(format!("{task} {}: {verdict}", report.request.url))
            }
            (valid, reference) if valid == reference => agreed += 1,
            // The reference's checker does not apply its own documented 0..1000 range to
            // `limit` and `offset`; the test request does.
            _ => assert!(
                report
                    .errors
                    .iter()
                    .all(|e| ["/limit", "/offset"].contains(&e.path.as_str())),
                "{task}: stricter than the reference without a documented reason: {:?}",
                report.errors
            ),
        }
    }
    eprintln!(
        "parameters: {agreed} of {} verdicts agree with the reference",
        reports.len()
    );
    assert!(wrongly_accepted.is_empty(), "{wrongly_accepted:#?}");
}

#[test]
fn nothing_the_reference_rejects_is_accepted() {
    let checker = root().join("../shared/tools/conformance");
    if !checker.exists() {
        eprintln!("skipped: ../shared/tools/conformance is not here (CI has it)");
        return;
    }
    let size: usize = std::env::var("APIKEY_REFERENCE_SAMPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let endpoint = Endpoint::builder().build().expect("endpoint");
    // With credentials configured, the report shows the header the reference requires.
    let credentials = Credentials::ApiKey(Secret::new("sk_reference_check"));
    let mut seed = Seed(20_261_126);
    let reports: Vec<_> = (0..size)
        .map(|_| {
            let step: Step = serde_json::from_value(json!({
                "parameters": { "organizationId": "org-1", "body": body(&mut seed) }
            }))
            .expect("step");
            endpoint.test_request(step, Some(&credentials))
        })
        .collect();
    let verdicts = verdicts(&checker, &reports);
    let (mut both_accept, mut both_reject, mut stricter) = (0, 0, 0);
    let mut accepted_but_rejected_by_reference = Vec::new();
    let mut stricter_without_reason = Vec::new();
    for (report, verdict) in reports.iter().zip(&verdicts) {
        let reference_ok = verdict == "ok";
        match (report.valid, reference_ok) {
            (true, true) => both_accept += 1,
            (false, false) => both_reject += 1,
            (true, false) => accepted_but_rejected_by_reference.push(format!(
                "{}: {verdict}",
                serde_json::to_string(&report.request.body).unwrap_or_default()
            )),
            (false, true) => {
                stricter += 1;
                if !report.errors.iter().all(documented_extra_rule) {
                    stricter_without_reason.push(format!(
                        "{}: {:?}",
                        serde_json::to_string(&report.request.body).unwrap_or_default(),
                        report.errors
                    ));
                }
            }
        }
    }
    eprintln!(
        "{} bodies: {both_accept} accepted by both, {both_reject} rejected by both, {stricter} rejected only by the project's documented extra rules",
        reports.len()
    );
    assert!(
        both_accept > size / 10 && both_reject > size / 10,
        "a sample that tests both sides"
    );
    assert!(
        accepted_but_rejected_by_reference.is_empty(),
        "accepted, though the reference rejects: {accepted_but_rejected_by_reference:#?}"
    );
    assert!(
        stricter_without_reason.is_empty(),
        "rejected for no documented rule: {stricter_without_reason:#?}"
    );
}

/// The emulator's problem answers (401, 422, 429) against the reference document's own
/// response schemas: the definition's problem details and the emulator agree with Rebilly's.
#[tokio::test]
async fn the_emulators_problem_answers_satisfy_the_reference() {
    let path = root().join("../shared/reference/rebilly-api-keys.openapi.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipped: the reference document is not here (CI has it)");
        return;
    };
    let reference: Value = serde_json::from_str(&text).expect("the reference is JSON");
    let running = crate::support::emulator(
        apikey_task::emulator::Emulator::builder()
            .rate_limit(1, std::time::Duration::from_secs(600)),
    )
    .await;
    let post = |key: Option<&'static str>, body: &'static str| {
        let mut request = crate::support::http()
            .post(format!("{}/api-keys", running.url()))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            request = request.header("REB-APIKEY", key);
        }
        async move {
            let response = request.send().await.expect("answer");
            let status = response.status().as_u16();
            let body: Value =
                serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON");
            (status, body)
        }
    };
    let answers = [
        post(None, r#"{"description": "x"}"#).await,
        post(Some("any"), r#"{"type": "nope"}"#).await,
        post(Some("any"), r#"{"description": "x"}"#).await,
    ];
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [401, 422, 429]);
    for (status, body) in answers {
        let component = reference
            .pointer(&format!("/paths/~1api-keys/post/responses/{status}/$ref"))
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/responses/"))
            .expect("the reference documents this status");
        let schema = reference
            .pointer(&format!(
                "/components/responses/{component}/content/application~1json/schema/$ref"
            ))
            .and_then(Value::as_str)
            .expect("a schema reference");
        // The whole document as the root, so that its `$ref`s resolve.
        let mut root_schema = reference.clone();
        root_schema["$ref"] = json!(schema);
        let validator = jsonschema::validator_for(&root_schema).expect("compiles");
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{status} {body}: {errors:?}");
    }
}
