//! Hostile servers on loopback: every misbehaviour ends in a classified error, within the
//! configured time and without reading more than the configured bytes.

use crate::support::{credentials, endpoint, step, tcp_server};
use apikey_task::secrets::Redact;
use apikey_task::{ErrorKind, Executor, RetryPolicy, TaskError};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const TIMEOUT: Duration = Duration::from_millis(1500);

/// Short timeouts, a 64 KiB response limit and no retries.
fn executor() -> Executor {
    Executor::builder()
        .connect_timeout(Duration::from_millis(500))
        .timeout(TIMEOUT)
        .max_response_bytes(64 * 1024)
        .retry(RetryPolicy::never())
        .build()
        .expect("executor")
}

async fn run(server: &str) -> (TaskError, Duration) {
    let started = Instant::now();
    let error = executor()
        .execute(
            &endpoint(),
            step(server, json!({ "description": "hostile" })),
            &credentials(),
            &Redact,
        )
        .await
        .expect_err("a hostile server never yields output");
    (error, started.elapsed())
}

/// Runs against `url`: it must fail as `kind`, within the configured timeout.
async fn fails_as(url: &str, kind: ErrorKind) -> TaskError {
    let (error, elapsed) = run(url).await;
    assert_eq!(error.kind(), kind, "{error}");
    assert!(
        elapsed < TIMEOUT + Duration::from_secs(1),
        "took {elapsed:?}"
    );
    error
}

#[tokio::test]
async fn a_wrong_content_type_with_a_non_json_body() {
    let url = tcp_server(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 201 Created\r\ncontent-type: text/html\r\ncontent-length: 13\r\n\r\n<html></html>")
            .await;
    })
    .await;
    let error = fails_as(&url, ErrorKind::MalformedResponse).await;
    assert!(error.is_outcome_unknown());
}

#[tokio::test]
async fn invalid_utf8_in_the_body() {
    let url = tcp_server(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 4\r\n\r\n\"\xff\xfe\"")
            .await;
    })
    .await;
    fails_as(&url, ErrorKind::MalformedResponse).await;
}

#[tokio::test]
async fn a_gzip_bomb_is_not_inflated() {
    // The client has no gzip decoder (reqwest's `gzip` feature is off), so a body labelled
    // `content-encoding: gzip` is read as the bytes on the wire, never inflated: a gzip header
    // and 10 KB are enough to show it, and are reported as unreadable.
    let compressed: Vec<u8> = {
        let mut bytes = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03];
        bytes.extend(std::iter::repeat_n(0u8, 10_000));
        bytes
    };
    let url = tcp_server(move |mut s| {
        let compressed = compressed.clone();
        async move {
            let head = format!(
                "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\r\n",
                compressed.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&compressed).await;
        }
    })
    .await;
    fails_as(&url, ErrorKind::MalformedResponse).await;
}

#[tokio::test]
async fn a_ten_megabyte_body() {
    let url = tcp_server(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 10485760\r\n\r\n")
            .await;
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..160 {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
        }
    })
    .await;
    fails_as(&url, ErrorKind::ResponseTooLarge).await;
}

#[tokio::test]
async fn an_endless_chunked_body() {
    let url = tcp_server(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("{:x}\r\n{}\r\n", 8192, " ".repeat(8192));
        loop {
            if s.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    fails_as(&url, ErrorKind::ResponseTooLarge).await;
}

#[tokio::test]
async fn a_slow_drip_response_times_out() {
    let url = tcp_server(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n")
            .await;
        for _ in 0..1000 {
            if s.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let error = fails_as(&url, ErrorKind::Timeout).await;
    assert!(error.is_outcome_unknown());
}

#[tokio::test]
async fn a_flood_of_headers() {
    let url = tcp_server(|mut s| async move {
        let _ = s.write_all(b"HTTP/1.1 201 Created\r\n").await;
        for i in 0..100_000 {
            let line = format!("x-flood-{i}: {}\r\n", "v".repeat(64));
            if s.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = s.write_all(b"content-length: 2\r\n\r\n{}").await;
    })
    .await;
    let error = fails_as(&url, ErrorKind::ConnectionLost).await;
    assert!(error.is_outcome_unknown());
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed() {
    let url = tcp_server(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 308 Permanent Redirect\r\nlocation: https://attacker.invalid/steal\r\ncontent-length: 0\r\n\r\n")
            .await;
    })
    .await;
    let error = fails_as(&url, ErrorKind::Redirected).await;
    assert!(error.message().contains("attacker.invalid"));
}

#[tokio::test]
async fn a_tls_failure_is_reported_before_anything_is_sent() {
    // A plain-text server where TLS is expected: the handshake fails, nothing is sent.
    let url = tcp_server(|mut s| async move {
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    })
    .await;
    let https = url.replacen("http://", "https://", 1);
    let error = fails_as(&https, ErrorKind::Unreachable).await;
    assert!(!error.is_outcome_unknown());
}
