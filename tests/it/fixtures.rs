//! Every fixture's test-request report, as a reviewed JSON snapshot.
//!
//! `fixtures/valid/*.json` must produce valid reports and `fixtures/invalid/*.json` invalid
//! ones; the snapshots pin down every error, warning, default, URL, header and curl line.

use crate::support::{CANARY_KEY, credentials, endpoint, fixture_files};
use apikey_task::{Step, TestReport};
use std::path::Path;

fn report_for(path: &Path) -> (bool, String) {
    let text = std::fs::read_to_string(path).expect("fixture is readable");
    let step = Step::from_json(&text).expect("fixture is a step");
    let report = endpoint().test_request(step, Some(&credentials()));
    let json = serde_json::to_string_pretty(&report).expect("report serializes");
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
    insta::glob!("../../fixtures", "{valid,invalid}/*.json", |path| {
        let (valid, json) = report_for(path);
        let expected_valid = path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|dir| dir == "valid");
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
}
