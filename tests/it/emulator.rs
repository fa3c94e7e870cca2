//! The emulator itself, spoken to with a bare HTTP client: it must answer like the API.

use crate::support::emulator;
use apikey_task::emulator::Emulator;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn post(url: &str, key: Option<&str>, body: Value) -> (u16, HeaderMap, Value) {
    let mut request = crate::support::http()
        .post(format!("{url}/api-keys"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        request = request.header("REB-APIKEY", key);
    }
    answered(request.send().await.expect("response")).await
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

    let (status, _, read) = call(Method::GET, format!("{url}/api-keys/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(read["id"], id);
    assert_eq!(
        read["secretKey"], key["secretKey"],
        "GET returns the secret"
    );
    // The prefix-less path is organization `default`: no other organization sees the key.
    let (status, _, _) = call(
        Method::GET,
        format!("{url}/organizations/org-1/api-keys/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
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
    let (status, _, body) = answered(request.send().await.expect("response")).await;
    (status, body)
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

/// A request with a credential and, if given, a JSON body: (status, headers, body as JSON or
/// `Null`).
async fn call(method: Method, url: String, body: Option<Value>) -> (u16, HeaderMap, Value) {
    answered(request(method, url, body).send().await.expect("an answer")).await
}

/// An answer as (status, headers, body as JSON, or `null` when it is none).
async fn answered(response: reqwest::Response) -> (u16, HeaderMap, Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn request(method: Method, url: String, body: Option<Value>) -> reqwest::RequestBuilder {
    let mut request = crate::support::http()
        .request(method, url)
        .header("REB-APIKEY", "any");
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    request
}

/// `GET {url}/api-keys?{query}` (the query as given, already encoded): status, headers and
/// the descriptions listed (or the answer's `invalidFields` names on 422).
async fn list(url: &str, query: &str) -> (u16, HeaderMap, Vec<String>) {
    let (status, headers, body) = call(Method::GET, format!("{url}/api-keys?{query}"), None).await;
    let names = match status {
        422 => body["invalidFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["field"].as_str().map(str::to_owned))
            .collect(),
        _ => body
            .as_array()
            .unwrap_or_else(|| panic!("{query}: a list, not {body}"))
            .iter()
            .map(|key| {
                assert!(
                    key["secretKey"].is_string(),
                    "listed keys carry their secret"
                );
                key["description"].as_str().unwrap_or_default().to_owned()
            })
            .collect(),
    };
    (status, headers, names)
}

/// `filter=...` percent-encoded as a form does.
fn filter(text: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("filter", text)
        .finish()
}

#[tokio::test]
async fn lists_filter_sort_and_page() {
    let running = emulator(Emulator::builder()).await;
    let url = running.url();
    let post = |description: &str, kind: &str| {
        call(
            Method::POST,
            format!("{url}/api-keys"),
            Some(json!({ "description": description, "type": kind })),
        )
    };
    assert_eq!(post("alpha", "secret").await.0, 201);
    assert_eq!(post("beta", "publishable").await.0, 201);
    // The next second, so that gamma's createdTime is after the others'.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, _, gamma) = post("gamma", "secret").await;
    let since = gamma["createdTime"]
        .as_str()
        .expect("createdTime")
        .to_owned();

    let (status, headers, all) = list(&url, "").await;
    assert_eq!(status, 200);
    assert_eq!(all, ["alpha", "beta", "gamma"]);
    for (name, value) in [
        ("pagination-total", "3"),
        ("pagination-limit", "100"),
        ("pagination-offset", "0"),
    ] {
        assert_eq!(headers[name], value, "{name}");
    }

    for (query, expected) in [
        (filter("description:ALPHA"), &["alpha"][..]),
        (filter("description:alpha,gamma"), &["alpha", "gamma"]),
        (filter("description:!alpha"), &["beta", "gamma"]),
        (filter("description:!alpha,gamma"), &["beta"]),
        (filter("type:secret;description:!alpha"), &["gamma"]),
        (filter(&format!("createdTime:{since}..")), &["gamma"]),
        (
            filter(&format!("createdTime:..{since}")),
            &["alpha", "beta", "gamma"],
        ),
        (filter("description:alph"), &[]),
        // Encoded by hand: `%3A`, `%3B`, `%2C`, and `+` for a space.
        (
            "filter=description%3Agamma%2Cbeta%3Btype%3Apublishable".to_owned(),
            &["beta"],
        ),
        (
            format!(
                "filter=createdTime%3A{}.000%2B00%3A00..",
                since.trim_end_matches('Z')
            ),
            &["gamma"],
        ),
        ("filter=+description:beta".to_owned(), &["beta"]),
        ("sort=-description".to_owned(), &["gamma", "beta", "alpha"]),
        (
            "sort=type,-description".to_owned(),
            &["beta", "gamma", "alpha"],
        ),
    ] {
        let (status, _, names) = list(&url, &query).await;
        assert_eq!(status, 200, "{query}");
        assert_eq!(names, expected, "{query}");
    }
    let (_, _, newest_first) = list(&url, "sort=-createdTime").await;
    assert_eq!(newest_first.first().map(String::as_str), Some("gamma"));

    let (status, headers, page) = list(&url, "limit=1&offset=1").await;
    assert_eq!((status, page.as_slice()), (200, &["beta".to_owned()][..]));
    for (name, value) in [
        ("pagination-total", "3"),
        ("pagination-limit", "1"),
        ("pagination-offset", "1"),
    ] {
        assert_eq!(headers[name], value, "{name}");
    }
    let (_, headers, page) = list(&url, &format!("{}&offset=2", filter("type:secret"))).await;
    assert!(page.is_empty());
    assert_eq!(headers["pagination-total"], "2");
    let (_, _, page) = list(&url, "limit=0").await;
    assert!(page.is_empty());

    for (query, fields) in [
        (filter("descriptoin:alpha"), &["filter"][..]),
        (filter("description"), &["filter"]),
        (filter("createdTime:yesterday.."), &["filter"]),
        ("limit=1001".to_owned(), &["limit"]),
        ("limit=-1&offset=ten".to_owned(), &["limit", "offset"]),
        ("offset=1.5".to_owned(), &["offset"]),
        ("sort=secretKey".to_owned(), &["sort"]),
    ] {
        let (status, _, names) = list(&url, &query).await;
        assert_eq!(status, 422, "{query}");
        assert_eq!(names, fields, "{query}");
    }
    let (_, _, body) = call(
        Method::GET,
        format!("{url}/api-keys?{}", filter("nope:1")),
        None,
    )
    .await;
    assert!(
        body["invalidFields"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nope")),
        "{body}"
    );
}

#[tokio::test]
async fn put_creates_then_updates_at_the_chosen_id() {
    let running = emulator(Emulator::builder()).await;
    let url = running.url();
    let at = |id: &str| format!("{url}/organizations/org-1/api-keys/{id}");

    let (status, headers, created) = call(
        Method::PUT,
        at("my-key.1"),
        Some(json!({ "description": "one" })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], "my-key.1");
    assert_eq!(created["type"], "secret");
    let secret = created["secretKey"].as_str().expect("a secret").to_owned();
    assert!(
        headers["location"]
            .to_str()
            .is_ok_and(|l| l.ends_with("/organizations/org-1/api-keys/my-key.1"))
    );
    assert_eq!(headers["x-ratelimit-limit"], "3000");
    assert_eq!(headers["x-ratelimit-remaining"], "2999");

    let (status, headers, updated) = call(
        Method::PUT,
        at("my-key.1"),
        Some(json!({ "description": "two", "type": "publishable", "id": "ignored" })),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert!(headers.get("location").is_none());
    assert_eq!(
        updated["secretKey"],
        secret.as_str(),
        "an update keeps the secret"
    );
    assert_eq!(updated["id"], "my-key.1");
    assert_eq!(updated["description"], "two");
    assert_eq!(updated["type"], "publishable");
    assert_eq!(updated["createdTime"], created["createdTime"]);
    assert_eq!(updated["apiUser"], created["apiUser"]);

    let (status, _, read) = call(Method::GET, at("my-key.1"), None).await;
    assert_eq!(status, 200);
    assert_eq!(read["secretKey"], secret.as_str());
    assert_eq!(read["description"], "two");

    for id in ["bad%20id", "a!b", "%C3%A9", &"x".repeat(51)] {
        let (status, _, body) =
            call(Method::PUT, at(id), Some(json!({ "description": "x" }))).await;
        assert_eq!(status, 422, "{id}: {body}");
        assert_eq!(body["invalidFields"][0]["field"], "id", "{id}");
    }
    let (status, _, body) = call(Method::PUT, at("k2"), Some(json!({ "type": "nope" }))).await;
    assert_eq!(status, 422);
    assert_eq!(body["invalidFields"][0]["field"], "type", "{body}");
    assert_eq!(running.created(), 1);
    assert_eq!(running.create_requests(), 2);
}

#[tokio::test]
async fn delete_answers_204_then_404() {
    let running = emulator(Emulator::builder()).await;
    let url = running.url();
    running.insert_key("default", "doomed", "to delete");
    let (status, headers, body) =
        call(Method::DELETE, format!("{url}/api-keys/doomed"), None).await;
    assert_eq!(status, 204);
    assert_eq!(body, Value::Null, "no body");
    assert!(headers.contains_key("x-ratelimit-remaining"));
    let (status, _, body) = call(Method::DELETE, format!("{url}/api-keys/doomed"), None).await;
    assert_eq!(status, 404);
    assert_eq!(body["status"], 404);
    let (status, _, _) = call(Method::GET, format!("{url}/api-keys/doomed"), None).await;
    assert_eq!(status, 404);
    assert_eq!(running.created(), 0);
}

#[tokio::test]
async fn organizations_do_not_see_each_others_keys() {
    let running = emulator(Emulator::builder()).await;
    let url = running.url();
    running.insert_key("org-a", "shared", "a's");
    let in_org = |org: &str| format!("{url}/organizations/{org}/api-keys");

    let (status, _, a) = call(Method::GET, format!("{}/shared", in_org("org-a")), None).await;
    assert_eq!(status, 200);
    assert_eq!(a["description"], "a's");
    assert!(a["secretKey"].is_string());
    let (status, _, _) = call(Method::GET, format!("{}/shared", in_org("org-b")), None).await;
    assert_eq!(status, 404);
    let (status, _, _) = call(Method::DELETE, format!("{}/shared", in_org("org-b")), None).await;
    assert_eq!(status, 404);
    let (_, _, listed) = call(Method::GET, in_org("org-b"), None).await;
    assert_eq!(listed, json!([]));
    let (_, _, listed) = call(Method::GET, format!("{url}/api-keys"), None).await;
    assert_eq!(
        listed,
        json!([]),
        "the prefix-less path is organization default"
    );

    let (status, _, b) = call(
        Method::PUT,
        format!("{}/shared", in_org("org-b")),
        Some(json!({ "description": "b's" })),
    )
    .await;
    assert_eq!(status, 201, "the same id is free in another organization");
    assert_ne!(a["secretKey"], b["secretKey"]);
    assert_eq!(running.created(), 2);
    let keys = running.keys();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.get("secretKey").is_none()));
    assert_eq!(keys[0]["description"], "a's");
}

#[tokio::test]
async fn other_paths_and_methods_are_refused_with_what_it_serves() {
    let running = emulator(Emulator::builder()).await;
    let url = running.url();
    let (status, headers, body) = call(Method::PATCH, format!("{url}/api-keys/k"), None).await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET, PUT, DELETE");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("serves"))
    );
    let (status, headers, _) = call(Method::DELETE, format!("{url}/api-keys"), None).await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET, POST");
    for path in ["/customers", "/api-keys/a/b", "/organizations/o"] {
        let (status, _, body) = call(Method::GET, format!("{url}{path}"), None).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("serves"))
        );
    }
}

/// Sends a create whose answer is expected to be lost: the connection closes without any.
async fn lost(request: reqwest::RequestBuilder) {
    match request.send().await {
        Ok(response) => panic!("an answer came back: {}", response.status()),
        Err(error) => assert!(
            !error.is_timeout() && !error.is_connect(),
            "closed without an answer, not {error:?}"
        ),
    }
}

#[tokio::test]
async fn lost_answers_store_the_key_and_only_the_next_creates_are_lost() {
    let running = emulator(Emulator::builder().lose_answers(2)).await;
    let url = running.url();
    let body = || Some(json!({ "description": "lost" }));

    lost(request(Method::POST, format!("{url}/api-keys"), body())).await;
    assert_eq!(running.created(), 1, "stored before the answer was lost");
    // A request that does not create is answered and does not count.
    running.insert_key("default", "kept", "seeded");
    let (status, _, _) = call(Method::PUT, format!("{url}/api-keys/kept"), body()).await;
    assert_eq!(status, 200);
    let (status, _, _) = call(Method::GET, format!("{url}/api-keys"), None).await;
    assert_eq!(status, 200);
    lost(request(
        Method::PUT,
        format!("{url}/api-keys/chosen"),
        body(),
    ))
    .await;
    let (status, _, listed) = call(Method::GET, format!("{url}/api-keys/chosen"), None).await;
    assert_eq!(status, 200, "the lost PUT stored its key: {listed}");

    let (status, _, _) = call(Method::POST, format!("{url}/api-keys"), body()).await;
    assert_eq!(status, 201, "only the first two creates are lost");
    assert_eq!(running.created(), 4);
    assert_eq!(
        running.create_requests(),
        4,
        "both lost creates were received"
    );

    running.lose_next_creates(1);
    lost(request(Method::POST, format!("{url}/api-keys"), body())).await;
    let (status, _, _) = call(Method::POST, format!("{url}/api-keys"), body()).await;
    assert_eq!(status, 201);
    let (_, headers, _) = list(&url, "").await;
    assert_eq!(headers["pagination-total"], "6");
    assert_eq!(running.keys().len(), 6);
}

#[tokio::test]
async fn slow_creates_store_the_key_before_the_answer() {
    let running = emulator(Emulator::builder().slow_creates(Duration::from_secs(2))).await;
    let url = running.url();
    let started = Instant::now();
    let pending = tokio::spawn(call(
        Method::POST,
        format!("{url}/api-keys"),
        Some(json!({ "description": "slow" })),
    ));
    let deadline = Instant::now() + Duration::from_secs(1);
    while running.created() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, _, listed) = list(&url, "").await;
    assert_eq!(listed, ["slow"], "listed while the answer is held");
    assert!(!pending.is_finished(), "the answer is still held");
    let (status, _, key) = pending.await.expect("the POST task");
    assert_eq!(status, 201, "{key}");
    assert!(started.elapsed() >= Duration::from_secs(2));

    // A client that gives up does not undo the create.
    let gave_up = request(
        Method::PUT,
        format!("{url}/api-keys/impatient"),
        Some(json!({ "description": "impatient" })),
    )
    .timeout(Duration::from_millis(200))
    .send()
    .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()));
    let (status, _, _) = call(Method::GET, format!("{url}/api-keys/impatient"), None).await;
    assert_eq!(status, 200);

    running.set_slow_creates(None);
    let started = Instant::now();
    let (status, _, _) = call(
        Method::POST,
        format!("{url}/api-keys"),
        Some(json!({ "description": "quick" })),
    )
    .await;
    assert_eq!(status, 201);
    assert!(started.elapsed() < Duration::from_secs(1));
}
