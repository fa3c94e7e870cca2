//! Every fixture's test-request report, as a reviewed JSON snapshot.
//!
//! `fixtures/valid/*.json` must produce valid reports and `fixtures/invalid/*.json` invalid
//! ones; the snapshots pin down every error, warning, default, URL, header and curl line.

use apikey_task::{Credentials, Endpoint, Secret, Step, TestReport};
use std::path::Path;

/// Stands in for a real key: it must never appear in a report.
const CANARY_KEY: &str = "sk_sandbox_CANARY_d41d8cd98f00";

fn report_for(path: &Path) -> (bool, String) {
    let text = std::fs::read_to_string(path).expect("fixture is readable");
    let step = Step::from_json(&text).expect("fixture is a step");
    let endpoint = Endpoint::builder().build().expect("embedded endpoint");
    let credentials = Credentials::ApiKey(Secret::new(CANARY_KEY));
    let report = endpoint.test_request(step, Some(&credentials));
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
    insta::glob!("../fixtures", "{valid,invalid}/*.json", |path| {
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
    let count = |dir: &str| {
        std::fs::read_dir(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures")
                .join(dir),
        )
        .expect("fixture dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
        })
        .count()
    };
    assert!(count("valid") >= 10, "valid fixtures: {}", count("valid"));
    assert!(
        count("invalid") >= 15,
        "invalid fixtures: {}",
        count("invalid")
    );
}
