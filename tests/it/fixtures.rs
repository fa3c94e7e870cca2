//! Every fixture's test-request report, as a reviewed JSON snapshot.
//!
//! `fixtures/valid/*.json` must produce valid reports and `fixtures/invalid/*.json` invalid
//! ones; the snapshots pin down every error, warning, default, URL, header and curl line.
//! Steps of the task type `CreateApiKey` sit in those folders; other task types' steps sit in
//! a subfolder named after the type, e.g. `fixtures/valid/ListApiKeys/`.

use crate::support::{CANARY_KEY, credentials, fixture_files};
use apikey_task::{Endpoint, Step, TestReport};
use std::path::Path;

/// The endpoint of the task type a fixture's folder names.
fn endpoint_for(path: &Path) -> Endpoint {
    let folder = path
        .parent()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    let task = match folder {
        "valid" | "invalid" => "CreateApiKey",
        other => other,
    };
    let definition = apikey_task::Definition::embedded();
    let (_, operation) = definition
        .task_types()
        .into_iter()
        .find(|(name, _)| *name == task)
        .unwrap_or_else(|| panic!("{}: no task type {task}", path.display()));
    Endpoint::builder()
        .operation_id(operation)
        .build()
        .expect("a shipped operation compiles")
}

fn report_for(path: &Path) -> (bool, String) {
    let text = std::fs::read_to_string(path).expect("fixture is readable");
    let step = Step::from_json(&text).expect("fixture is a step");
    let endpoint = endpoint_for(path);
    let report = endpoint.test_request(step.clone(), Some(&credentials()));
    let json = serde_json::to_string_pretty(&report).expect("report serializes");
    let mut written = Vec::new();
    report.write_json(&mut written);
    let serde = serde_json::to_string(&report).expect("report serializes");
    assert_eq!(
        String::from_utf8_lossy(&written),
        serde,
        "{}: write_json is not serde's",
        path.display()
    );
    // The editor API's and `--jsonl`'s way: the same report, the same bytes.
    let mut answered = b"[".to_vec();
    let same = endpoint.test_request_json(step, Some(&credentials()), &mut answered);
    assert_eq!(same, report, "{}", path.display());
    assert_eq!(
        String::from_utf8_lossy(&answered),
        format!("[{serde}"),
        "{}: test_request_json is not serde's",
        path.display()
    );
    let schema = TestReport::schema();
    let errors: Vec<String> = jsonschema::validator_for(&schema)
        .expect("report schema compiles")
        .iter_errors(&serde_json::to_value(&report).expect("report value"))
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    insta::assert_snapshot!("report", json);
    (report.valid, json)
}

#[test]
fn every_fixture_report_matches_its_snapshot() {
    insta::glob!("../../fixtures", "{valid,invalid}/**/*.json", |path| {
        let (valid, json) = report_for(path);
        let expected_valid = path
            .ancestors()
            .any(|dir| dir.file_name().is_some_and(|name| name == "valid"));
        assert_eq!(valid, expected_valid, "{}: valid={valid}", path.display());
        assert!(
            !json.contains(CANARY_KEY),
            "{}: credential leaked",
            path.display()
        );
        // Credentials written into a fixture's parameters are never echoed either.
        assert!(
            !json.contains("CANARY"),
            "{}: canary leaked",
            path.display()
        );
    });
}

#[test]
fn there_are_enough_fixtures_of_both_kinds() {
    let count = |dir: &str| fixture_files(dir).len();
    assert!(count("valid") >= 10, "valid fixtures: {}", count("valid"));
    assert!(
        count("invalid") >= 15,
        "invalid fixtures: {}",
        count("invalid")
    );
    // Every task type the definition names has a valid step.
    for (task, _) in apikey_task::Definition::embedded().task_types() {
        let folder = if task == "CreateApiKey" {
            "valid".to_owned()
        } else {
            format!("valid/{task}")
        };
        assert!(!fixture_files(&folder).is_empty(), "no fixture of {task}");
    }
}
