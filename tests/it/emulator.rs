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
