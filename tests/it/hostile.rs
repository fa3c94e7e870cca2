//! Hostile servers on loopback: every misbehaviour ends in a classified error, within the
//! configured time and without reading more than the configured bytes.

use crate::support::{
    CANARY_JWT, CANARY_KEY, ECHO_MODES, answer_server, credentials, echo_server, endpoint,
    http_answer, http_date, rate_limited_forever, request_server, step, tcp_server,
};
use apikey_task::secrets::Redact;
use apikey_task::{Credentials, ErrorKind, Executor, RetryPolicy, Secret, TaskError, TaskOutput};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
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

/// The default retry policy (60 s at most), short timeouts: a 429 whose wait is longer ends
/// the attempts at once.
fn default_policy_executor() -> Executor {
    Executor::builder()
        .connect_timeout(Duration::from_millis(500))
        .timeout(TIMEOUT)
        .build()
        .expect("executor")
}

/// Executes the hostile step against `url` with `executor`; it must fail within 10 s (a
/// liveness bound: nothing may sleep for the server's wait).
async fn rate_limited(executor: &Executor, url: &str) -> TaskError {
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        executor.execute(
            &endpoint(),
            step(url, json!({ "description": "hostile" })),
            &credentials(),
            &Redact,
        ),
    )
    .await
    .expect("no sleeping for the server's wait")
    .expect_err("a 429 yields no output");
    assert_eq!(error.kind(), ErrorKind::RateLimited, "{error}");
    assert!(error.is_retryable());
    assert_eq!(
        error.attempts(),
        1,
        "a wait beyond the policy is not waited"
    );
    error
}

#[tokio::test]
async fn a_rate_limit_wait_beyond_any_clock_saturates_instead_of_panicking() {
    let (url, received) = answer_server(rate_limited_forever()).await;
    let error = rate_limited(&default_policy_executor(), &url).await;
    assert_eq!(error.retry_after(), Some(Duration::MAX));
    assert_eq!(
        error.to_json()["error"]["retryAfterMs"],
        json!(18_446_744_073_709_551_615_u64),
        "saturated, not wrapped"
    );
    assert_eq!(received.load(Ordering::SeqCst), 1);

    // The same number as `Retry-After` seconds.
    let (url, received) = answer_server(http_answer(
        "429 Too Many Requests",
        &[("Retry-After", "18446744073709551615")],
        "",
    ))
    .await;
    let error = rate_limited(&default_policy_executor(), &url).await;
    let wait = error.retry_after().expect("the server said when");
    assert!(wait >= Duration::from_secs(u64::MAX), "{wait:?}");
    assert_eq!(
        error.to_json()["error"]["retryAfterMs"],
        json!(u64::MAX),
        "saturated, not wrapped"
    );
    assert_eq!(received.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_rate_limit_reopening_in_31_years_ends_the_attempts() {
    let thirty_one_years = 31 * 365 * 86_400;
    let reopens = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + thirty_one_years;
    let (url, received) = answer_server(http_answer(
        "429 Too Many Requests",
        &[("X-RateLimit-Retry-After", &reopens.to_string())],
        "{}",
    ))
    .await;
    let error = rate_limited(&default_policy_executor(), &url).await;
    let wait = error.retry_after().expect("the server said when");
    assert!(
        wait > Duration::from_secs(thirty_one_years - 60)
            && wait <= Duration::from_secs(thirty_one_years),
        "{wait:?}"
    );
    let millis = error.to_json()["error"]["retryAfterMs"].as_u64();
    assert!(
        millis.is_some_and(|ms| ms > (thirty_one_years - 60) * 1000),
        "{millis:?}"
    );
    assert_eq!(received.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    assert_eq!(
        http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)),
        "Sun, 06 Nov 1994 08:49:37 GMT"
    );
    // The first request gets 429 with a date two seconds ahead; any request before that date
    // gets the 429 again, and one at or after it gets 201.
    let reopens: Arc<Mutex<Option<SystemTime>>> = Arc::default();
    let attempts = Arc::new(AtomicUsize::new(0));
    let (shared, count) = (reopens.clone(), attempts.clone());
    let url = request_server(move |mut socket, _request| {
        count.fetch_add(1, Ordering::SeqCst);
        let now = SystemTime::now();
        let answer = {
            let mut reopens = shared.lock().expect("lock");
            let at = *reopens.get_or_insert_with(|| {
                let seconds = now.duration_since(UNIX_EPOCH).expect("clock").as_secs() + 2;
                UNIX_EPOCH + Duration::from_secs(seconds)
            });
            if now >= at {
                http_answer(
                    "201 Created",
                    &[("Content-Type", "application/json")],
                    r#"{"id": "k1", "secretKey": "sk_new"}"#,
                )
            } else {
                http_answer(
                    "429 Too Many Requests",
                    &[("Retry-After", &http_date(at))],
                    "",
                )
            }
        };
        async move {
            let _ = socket.write_all(&answer).await;
            let _ = socket.shutdown().await;
        }
    })
    .await;
    let executor = Executor::builder()
        .connect_timeout(Duration::from_millis(500))
        .timeout(TIMEOUT)
        .retry(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_base_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_millis(50)),
        )
        .build()
        .expect("executor");
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        executor.execute(
            &endpoint(),
            step(&url, json!({ "description": "later" })),
            &credentials(),
            &Redact,
        ),
    )
    .await
    .expect("within the liveness bound")
    .expect("created once the date has passed");
    assert_eq!(output.response.status_code, 201);
    assert_eq!(output.request.attempts, 2);
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

/// Everything an outcome can be shown as: the output's JSON and `Debug`, or the error's JSON,
/// `Debug`, `Display` and message.
fn shown(outcome: &Result<TaskOutput, TaskError>) -> Vec<String> {
    match outcome {
        Ok(output) => vec![
            serde_json::to_string(output).expect("output JSON"),
            format!("{output:?}"),
        ],
        Err(error) => vec![
            error.to_json().to_string(),
            format!("{error:?}"),
            error.to_string(),
            error.message().to_owned(),
        ],
    }
}

#[tokio::test]
async fn a_credential_the_server_echoes_is_scrubbed_from_everything() {
    let url = echo_server().await;
    for credentials in [
        Credentials::ApiKey(Secret::new(CANARY_KEY)),
        Credentials::Bearer(Secret::new(CANARY_JWT)),
    ] {
        for mode in ECHO_MODES {
            let outcome = executor()
                .execute(
                    &endpoint(),
                    step(&format!("{url}/{mode}"), json!({ "description": "echo" })),
                    &credentials,
                    &Redact,
                )
                .await;
            for text in shown(&outcome) {
                assert!(!text.contains("CANARY"), "{mode}: {text}");
            }
            // The echo is still there, as `<redacted>`: the server did reflect the credential.
            match (mode, &outcome) {
                ("created" | "escaped-created", Ok(output)) => {
                    let body = &output.response.body;
                    assert_eq!(body["echo"], "<redacted>", "{mode}: {body}");
                    assert_eq!(body["auth"], "<redacted>", "{mode}: {body}");
                    assert_eq!(body["secretKey"], "<redacted>", "{mode}: {body}");
                    if mode == "created" {
                        assert_eq!(
                            output.response.headers.get("location").as_deref(),
                            Some("/api-keys/k1?key=<redacted>")
                        );
                    }
                }
                ("problem" | "escaped", Err(error)) => {
                    assert_eq!(error.kind(), ErrorKind::Unprocessable, "{error}");
                    assert!(
                        error.message().contains("rejected key <redacted>"),
                        "{mode}: {error}"
                    );
                    assert_eq!(
                        error.invalid_fields()[0].message,
                        "key <redacted> is not allowed"
                    );
                }
                ("text", Err(error)) => {
                    assert_eq!(error.kind(), ErrorKind::ServerError, "{error}");
                    assert_eq!(
                        error.response().map(|r| r.body.clone()),
                        Some(json!("internal error while handling key <redacted>"))
                    );
                }
                _ => panic!("{mode}: unexpected {outcome:?}"),
            }
        }
    }
}

/// A body that arrives in pieces is read whole, and a credential it echoes is scrubbed even
/// when the pieces cut through it: the scrub reads the joined body, not each piece.
#[tokio::test]
async fn a_body_in_pieces_is_read_whole_and_scrubbed_across_them() {
    let (cut, rest) = CANARY_KEY.split_at(CANARY_KEY.len() / 2);
    let pieces = [
        r#"{"id": "k1", "echo": ""#.to_owned(),
        cut.to_owned(),
        format!(r#"{rest}", "secretKey": "sk_new"}}"#),
    ];
    let url = tcp_server(move |mut socket| {
        let pieces = pieces.clone();
        async move {
            let _ = socket
                .write_all(b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            for piece in pieces {
                let frame = format!("{:x}\r\n{piece}\r\n", piece.len());
                if socket.write_all(frame.as_bytes()).await.is_err() {
                    return;
                }
                // Each piece its own read, so that the client gets it as a chunk of its own.
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            let _ = socket.write_all(b"0\r\n\r\n").await;
        }
    })
    .await;
    let outcome = Executor::builder()
        .retry(RetryPolicy::never())
        .build()
        .expect("executor")
        .execute(
            &endpoint(),
            step(&url, json!({ "description": "pieces" })),
            &credentials(),
            &Redact,
        )
        .await;
    for text in shown(&outcome) {
        assert!(!text.contains("CANARY"), "{text}");
    }
    let output = outcome.expect("created");
    assert_eq!(
        output.response.body,
        json!({ "id": "k1", "echo": "<redacted>", "secretKey": "<redacted>" })
    );
    assert_eq!(output.secret_obtained, Some(true));
}
