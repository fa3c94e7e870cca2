//! The emulator itself, spoken to with a bare HTTP client: it must answer like the API.

use crate::support::emulator;
use apikey_task::emulator::Emulator;
use serde_json::{Value, json};

async fn post(
    url: &str,
    key: Option<&str>,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = crate::support::http()
        .post(format!("{url}/api-keys"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        request = request.header("REB-APIKEY", key);
    }
    let response = request.send().await.expect("response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn answers_like_the_api() {
    let running = emulator(Emulator::builder()).await;
    let url = running.url();

    let (status, _, body) = post(&url, None, json!({ "description": "x" })).await;
    assert_eq!(status, 401);
    assert_eq!(body["status"], 401);
    assert!(body["title"].is_string() && body["detail"].is_string());

    let (status, _, body) = post(
        &url,
        Some("any"),
        json!({ "type": "secert", "acl": [{ "scope": {}, "permissions": ["GetCustomer", "Nope"] }],
                "allowedIps": ["10.0.0.1"] }),
    )
    .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = body["invalidFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["type", "description", "acl.0.permissions.1", "allowedIps.0"],
        "{body}"
    );

    // Read-only and unknown fields are ignored, as the API ignores them.
    let (status, headers, key) = post(
        &url,
        Some("any"),
        json!({ "description": "ok", "id": "mine", "allowedIPs": ["10.0.0.1"] }),
    )
    .await;
    assert_eq!(status, 201);
    let id = key["id"].as_str().expect("id");
    assert!(id.starts_with("api_key_") && id != "mine");
    assert!(
        key["secretKey"]
            .as_str()
            .is_some_and(|s| s.starts_with("sk_sandbox_"))
    );
    assert!(key.get("allowedIPs").is_none());
    assert_eq!(key["type"], "secret");
    assert!(headers["location"].to_str().is_ok_and(|l| l.ends_with(id)));
    assert_eq!(headers["x-ratelimit-limit"], "3000");
    // Every POST counts against the window, the rejected one included.
    assert_eq!(headers["x-ratelimit-remaining"], "2998");

    let bytes = crate::support::http()
        .get(format!("{url}/organizations/org-1/api-keys/{id}"))
        .header("REB-APIKEY", "any")
        .send()
        .await
        .expect("GET")
        .bytes()
        .await
        .expect("body");
    let read: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(read["id"], id);
    assert!(
        read.get("secretKey").is_none(),
        "GET never returns the secret"
    );
    assert_eq!(running.created(), 1);
}

/// A POST with this raw body and content type, answered as (status, body).
async fn post_raw(url: &str, content_type: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = crate::support::http()
        .post(format!("{url}/api-keys"))
        .header("REB-APIKEY", "any")
        .body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("response");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Each answer's body against the schema the definition documents for its status.
fn documented(status: u16, body: &Value) -> Result<(), String> {
    let definition = apikey_task::Definition::embedded();
    let document = definition.document();
    let endpoint = crate::support::endpoint();
    let response = endpoint
        .operation()
        .responses()
        .get(&status.to_string())
        .ok_or_else(|| format!("{status} is not documented for PostApiKey"))?;
    let mut schema = response
        .pointer("/content/application~1json/schema")
        .cloned()
        .ok_or_else(|| format!("{status} has no JSON schema"))?;
    // Resolve against the document: its `$ref`s are already inlined by the loader, but keep
    // `components` reachable for any that are not.
    if let Value::Object(fields) = &mut schema {
        fields.insert("components".into(), document["components"].clone());
    }
    let validator = jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{status} {body}: {errors:?}"))
    }
}

#[tokio::test]
async fn every_answer_is_one_the_reference_documents() {
    let running =
        emulator(Emulator::builder().rate_limit(6, std::time::Duration::from_secs(600))).await;
    let url = running.url();
    let valid = r#"{"description": "ok"}"#;
    let mut seen = Vec::new();
    for (content_type, body, expected) in [
        // Valid JSON the API takes: a lone surrogate escape, a number beyond f64, a read-only
        // field with a value of the wrong type (ignored, as the API ignores read-only fields).
        (
            Some("application/json"),
            r#"{"description": "a\ud800b", "id": 5, "x": 1e400}"#,
            201,
        ),
        // What the reference's validating mock answers 422 for.
        (None, valid, 422),
        (Some("text/plain"), valid, 422),
        (Some("application/json"), "{not json", 422),
        (Some("application/json"), r#"{"type": "nope"}"#, 422),
        (Some("application/json"), valid, 201),
        // Past the rate limit of 6 POSTs (every POST counts, the refused ones too).
        (Some("application/json"), valid, 429),
    ] {
        let (status, answer) = post_raw(&url, content_type, body).await;
        assert_eq!(status, expected, "{content_type:?} {body}: {answer}");
        documented(status, &answer).expect("a documented answer");
        seen.push(status);
    }
    assert_eq!(running.created(), 2, "{seen:?}");
    let unauthorized = crate::support::http()
        .post(format!("{url}/api-keys"))
        .header("content-type", "application/json")
        .body(valid)
        .send()
        .await
        .expect("response");
    assert_eq!(unauthorized.status().as_u16(), 401);
    let body: Value =
        serde_json::from_slice(&unauthorized.bytes().await.expect("body")).expect("JSON");
    documented(401, &body).expect("a documented 401");
}
