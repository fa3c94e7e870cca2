//! An embedder's own HTTP client (`ExecutorBuilder::client`): it is the one that sends, the
//! per-attempt timeout still applies, and a redirect it follows is reported, not trusted.

use crate::support::{credentials, endpoint, raw_server, recording_server, step};
use apikey_task::secrets::Redact;
use apikey_task::{ErrorKind, Executor, RetryPolicy, TaskError, TaskOutput};
use serde_json::json;
use std::time::Duration;

const CREATED: &str = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"id\":\"k1\"}";

fn embedder_client(follow_redirects: bool) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-embedder",
        reqwest::header::HeaderValue::from_static("yes"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(if follow_redirects {
            reqwest::redirect::Policy::limited(3)
        } else {
            reqwest::redirect::Policy::none()
        })
        .build()
        .expect("client")
}

/// An executor sending with `client`, never retrying, with `timeout` per attempt if given.
fn never_retrying(client: reqwest::Client, timeout: Option<Duration>) -> Executor {
    let builder = Executor::builder()
        .client(client)
        .retry(RetryPolicy::never());
    match timeout {
        Some(timeout) => builder.timeout(timeout),
        None => builder,
    }
    .build()
    .expect("executor")
}

/// One `PostApiKey` step to `server`, with the canary credential.
async fn execute(executor: &Executor, server: &str) -> Result<TaskOutput, TaskError> {
    executor
        .execute(
            &endpoint(),
            step(server, json!({"description": "x"})),
            &credentials(),
            &Redact,
        )
        .await
}

#[tokio::test]
async fn the_embedders_client_sends_the_request() {
    let (url, seen) = recording_server(CREATED.as_bytes().to_vec()).await;
    let executor = Executor::builder()
        .client(embedder_client(false))
        .build()
        .expect("executor");
    let output = execute(&executor, &url).await.expect("created");
    assert_eq!(output.response.status_code, 201);
    let request = seen
        .lock()
        .map(|b| String::from_utf8_lossy(&b).to_lowercase())
        .unwrap_or_default();
    assert!(request.contains("x-embedder: yes"), "{request}");
    assert!(request.contains("reb-apikey:"), "{request}");
}

#[tokio::test]
async fn the_per_attempt_timeout_applies_to_the_embedders_client() {
    // Reads the request and never answers.
    let silent = raw_server(b"", true).await;
    let executor = never_retrying(embedder_client(false), Some(Duration::from_millis(300)));
    let error = execute(&executor, &silent).await.expect_err("times out");
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
}

#[tokio::test]
async fn a_redirect_the_embedders_client_followed_is_reported() {
    let landing = raw_server(CREATED, false).await;
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {landing}/organizations/org-1/api-keys\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let first = raw_server(redirect, false).await;
    let executor = never_retrying(embedder_client(true), None);
    let error = execute(&executor, &first)
        .await
        .expect_err("a followed redirect is not a success");
    assert_eq!(error.kind(), ErrorKind::Redirected, "{error}");
    assert!(error.message().contains(&landing), "{error}");
    assert!(error.message().contains("Policy::none()"), "{error}");
}

/// A followed redirect is reported as soon as the answer's head is in: nothing is read from,
/// or waited for at, the origin it led to, here one that sends a head and stalls its body.
#[tokio::test]
async fn a_followed_redirect_is_reported_without_reading_where_it_led() {
    let stalling = raw_server(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        true,
    )
    .await;
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {stalling}/x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let first = raw_server(redirect, false).await;
    let executor = never_retrying(embedder_client(true), Some(Duration::from_secs(20)));
    let started = std::time::Instant::now();
    let error = execute(&executor, &first)
        .await
        .expect_err("a followed redirect is not a success");
    assert_eq!(error.kind(), ErrorKind::Redirected, "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "reported after {:?}",
        started.elapsed()
    );
}
