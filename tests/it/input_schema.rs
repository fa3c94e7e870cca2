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
    // A constrained string may also hold text with expressions, whose rendering the test
    // request checks: `anyOf: [value, template]`, annotations above the choice.
    let kind = &body["properties"]["type"];
    assert_eq!(
        kind["anyOf"][0]["enum"],
        serde_json::json!(["secret", "publishable"])
    );
    assert_eq!(kind["anyOf"][1]["$ref"], "#/$defs/template");
    assert_eq!(kind["default"], "secret");
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

/// Every value's JSON Pointer below `value` (containers and leaves), without the root.
fn pointers(value: &Value, at: &str, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(fields) => fields
            .iter()
            .map(|(k, v)| (k.replace('~', "~0").replace('/', "~1"), v))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => Vec::new(),
    };
    for (token, child) in children {
        let here = format!("{at}/{token}");
        out.push(here.clone());
        pointers(child, &here, out);
    }
}

/// Steps whose values are written as expressions instead: each value of each valid fixture
/// (and of a `GetApiKey` step) in turn, as one whole `${...}` and, for strings, as text made
/// of two expressions. Values that already hold a `$` are left alone.
fn steps_with_expressions() -> Vec<(String, Option<&'static str>, Value)> {
    let mut steps: Vec<(String, Option<&'static str>, Value)> = fixture_files("valid")
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("fixture");
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (
                name,
                None,
                serde_json::from_str(&text).expect("fixture JSON"),
            )
        })
        .collect();
    steps.push((
        "GetApiKey".into(),
        Some("GetApiKey"),
        serde_json::json!({"parameters": {"organizationId": "org-1", "id": "api_key_@~-.1"}}),
    ));
    let mut out = Vec::new();
    for (name, operation, step) in steps {
        let mut at = Vec::new();
        pointers(&step["parameters"], "", &mut at);
        for pointer in at {
            let Some(original) = step["parameters"].pointer(&pointer).cloned() else {
                continue;
            };
            if original.to_string().contains('$') {
                continue;
            }
            let mut forms = vec![(
                "whole",
                Value::String("${workflow.input.generated}".into()),
                original.clone(),
                Value::Null,
            )];
            if let Value::String(text) = &original
                && text.len() >= 2
                && text.is_char_boundary(1)
            {
                forms.push((
                    "text",
                    Value::String("${workflow.input.generated}${workflow.input.rest}".into()),
                    Value::String(text[..1].to_owned()),
                    Value::String(text[1..].to_owned()),
                ));
            }
            for (form, written, first, rest) in forms {
                let mut variant = step.clone();
                if let Some(slot) = variant["parameters"].pointer_mut(&pointer) {
                    *slot = written;
                }
                if !variant["context"].is_object() {
                    variant["context"] = serde_json::json!({});
                }
                if !variant["context"]["workflow"]["input"].is_object() {
                    variant["context"]["workflow"] = serde_json::json!({"input": {}});
                }
                variant["context"]["workflow"]["input"]["generated"] = first;
                variant["context"]["workflow"]["input"]["rest"] = rest;
                out.push((format!("{name} {pointer} as {form}"), operation, variant));
            }
        }
    }
    out
}

#[test]
fn the_schema_accepts_every_step_the_test_request_accepts_with_expressions_anywhere() {
    let post = endpoint();
    let get = apikey_task::Endpoint::builder()
        .operation_id("GetApiKey")
        .build()
        .expect("GetApiKey");
    let post_schema = jsonschema::validator_for(post.input_schema()).expect("schema compiles");
    let get_schema = jsonschema::validator_for(get.input_schema()).expect("schema compiles");
    let mut checked = 0;
    let mut refused = Vec::new();
    for (name, operation, step) in steps_with_expressions() {
        let (endpoint, schema) = match operation {
            Some(_) => (&get, &get_schema),
            None => (&post, &post_schema),
        };
        let parameters = step["parameters"].clone();
        let step: apikey_task::Step = serde_json::from_value(step).expect("a step");
        let report = endpoint.test_request(step, None);
        if !report.valid {
            continue;
        }
        checked += 1;
        if let Some(error) = schema.iter_errors(&parameters).next() {
            refused.push(format!("{name}: {} {error}", error.instance_path()));
        }
    }
    assert!(
        checked > 150,
        "only {checked} steps were valid with expressions"
    );
    assert!(
        refused.is_empty(),
        "{} refused: {refused:#?}",
        refused.len()
    );
}

#[test]
fn path_parameters_are_validated_like_body_fields() {
    let get = apikey_task::Endpoint::builder()
        .operation_id("GetApiKey")
        .build()
        .expect("GetApiKey");
    let schema = jsonschema::validator_for(get.input_schema()).expect("schema compiles");
    let report = |id: &str| {
        let step: apikey_task::Step = serde_json::from_value(serde_json::json!({
            "parameters": { "organizationId": "org-1", "id": id }
        }))
        .expect("step");
        get.test_request(step, None)
    };
    for ok in [
        "api_key_0YV7JQMY6ED2FBE58BMFHBWBZH",
        "a@b~c-d.e_f",
        &"x".repeat(50),
    ] {
        assert!(report(ok).valid, "{ok}: {:?}", report(ok).errors);
        assert!(schema.is_valid(&serde_json::json!({"organizationId": "o", "id": ok})));
    }
    for (bad, says) in [
        (
            &"x".repeat(51) as &str,
            "51 characters long; the limit is 50",
        ),
        ("a/b", "does not match the pattern"),
        ("é", "does not match the pattern"),
        ("a b", "does not match the pattern"),
    ] {
        let errors = report(bad).errors;
        assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
        assert_eq!(errors[0].path, "/id");
        assert!(
            errors[0].message.contains(says),
            "{bad}: {}",
            errors[0].message
        );
        // The published schema agrees.
        assert!(!schema.is_valid(&serde_json::json!({"organizationId": "o", "id": bad})));
    }
}
