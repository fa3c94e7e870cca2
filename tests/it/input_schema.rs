//! The published parameters schema agrees with the validator: editors can trust it.

use crate::support::{endpoint, fixture_files};
use serde_json::Value;

/// Each fixture's file name and parameters, sorted by name.
fn fixture_parameters(dir: &str) -> Vec<(String, Value)> {
    fixture_files(dir)
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("fixture");
            let step: Value = serde_json::from_str(&text).expect("fixture JSON");
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            (name.into_owned(), step["parameters"].clone())
        })
        .collect()
}

#[test]
fn every_valid_fixture_satisfies_the_parameters_schema() {
    let endpoint = endpoint();
    let validator = jsonschema::validator_for(endpoint.input_schema()).expect("schema compiles");
    for (name, parameters) in fixture_parameters("valid") {
        let errors: Vec<String> = validator
            .iter_errors(&parameters)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
}

#[test]
fn the_schema_rejects_what_the_validator_rejects_structurally() {
    let endpoint = endpoint();
    let validator = jsonschema::validator_for(endpoint.input_schema()).expect("schema compiles");
    for name in [
        "read-only-fields.json",
        "unknown-fields.json",
        "description-missing-type-wrong.json",
        "acl-structure.json",
        "body-missing.json",
    ] {
        let parameters = fixture_parameters("invalid")
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p)
            .expect("fixture exists");
        assert!(!validator.is_valid(&parameters), "{name} passed the schema");
    }
}

#[test]
fn the_schema_describes_the_form_an_editor_builds() {
    let endpoint = endpoint();
    let schema = endpoint.input_schema();
    // Every non-string value may also be written as one expression: `anyOf: [value, expression]`.
    let body = &schema["properties"]["body"]["anyOf"][0];
    assert_eq!(
        schema["properties"]["body"]["anyOf"][1]["$ref"],
        "#/$defs/expression"
    );
    assert_eq!(body["required"], serde_json::json!(["description"]));
    assert_eq!(
        body["properties"]["type"]["enum"],
        serde_json::json!(["secret", "publishable"])
    );
    assert_eq!(body["properties"]["type"]["default"], "secret");
    for read_only in [
        "id",
        "apiUser",
        "secretKey",
        "createdTime",
        "updatedTime",
        "_links",
    ] {
        assert!(body["properties"].get(read_only).is_none(), "{read_only}");
    }
    assert_eq!(schema["properties"]["server"]["default"], "sandbox");
    assert_eq!(
        schema["properties"]["organizationId"]["title"],
        "Organization ID"
    );
    // Labels and help sit on the field itself, above the value/expression choice, so a form
    // generator finds them without looking into `anyOf`.
    let allowed_ips = &body["properties"]["allowedIps"];
    assert_eq!(allowed_ips["title"], "Allowed IPs");
    assert!(
        allowed_ips["description"]
            .as_str()
            .is_some_and(|d| d.contains("Private subnets are prohibited")),
        "{allowed_ips}"
    );
    assert_eq!(
        allowed_ips["anyOf"][0]["type"],
        serde_json::json!(["array", "null"])
    );
    assert!(allowed_ips["anyOf"][0].get("title").is_none());
    assert_eq!(body["properties"]["description"]["title"], "Description");
    assert_eq!(schema["properties"]["body"]["title"], "Request body");
}
