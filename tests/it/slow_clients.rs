//! Slow and idle clients cannot hold the editor's server: a connection must send its request
//! headers within a time limit, a body must arrive within its own, and a crowd of half-open
//! connections beyond the open-file limit does not keep a fresh client out.

use crate::support::{ServeProcess, credentials, endpoint, http, under_ulimit};
use apikey_task::serve::{ConnectionLimits, EditorApi, serve};
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Serves `api` with `limits` on 127.0.0.1:0 in the background; returns `127.0.0.1:PORT`.
async fn start(api: EditorApi, limits: ConnectionLimits) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve(listener, api, limits, std::future::pending()));
    addr.to_string()
}

fn api() -> EditorApi {
    EditorApi::builder(Arc::new(endpoint()))
        .credentials(credentials())
        .build()
        .expect("server")
}

/// Reads until the server closes the connection, for at most `limit`; returns what arrived and
/// whether the connection was closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(limit, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&received).into_owned(), closed)
}

async fn healthz(addr: &str) -> (StatusCode, Duration) {
    let client = http();
    let started = Instant::now();
    let response = client
        .get(format!("http://{addr}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("healthz answers within 5 s");
    (response.status(), started.elapsed())
}

/// Two connections: one that sends nothing, one that stops in the middle of its headers.
async fn idle_and_half_sent(addr: &str) -> (TcpStream, TcpStream) {
    let idle = TcpStream::connect(addr).await.expect("connect");
    let mut partial = TcpStream::connect(addr).await.expect("connect");
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ")
        .await
        .expect("write");
    (idle, partial)
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_header_timeout() {
    let limits = ConnectionLimits::default().with_header_read_timeout(Duration::from_millis(300));
    let addr = start(api(), limits).await;
    let (mut idle, mut partial) = idle_and_half_sent(&addr).await;
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(closed, "an idle connection is still open after 5 s");
    let (_, closed) = read_until_closed(&mut partial, Duration::from_secs(5)).await;
    assert!(
        closed,
        "a connection with half a request is still open after 5 s"
    );
    // The server itself is fine: a whole request is answered.
    assert_eq!(healthz(&addr).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_body_that_never_completes_gets_408() {
    let api = EditorApi::builder(Arc::new(endpoint()))
        .credentials(credentials())
        .body_timeout(Duration::from_millis(300))
        .build()
        .expect("server");
    let addr = start(api, ConnectionLimits::default()).await;
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    stream
        .write_all(
            b"POST /v1/test-request HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"paramet",
        )
        .await
        .expect("write");
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
    assert!(answer.contains("\"body_timeout\""), "{answer}");
    assert!(closed, "the connection is closed after the 408");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_half_open_connections_do_not_keep_healthz_out() {
    // 256 descriptors: room for about 96 connections (see ConnectionLimits), fewer than the
    // 300 half-open ones below.
    let server = ServeProcess::start(under_ulimit(256).args(["serve", "--port", "0"]));
    let addr = server.addr();
    let mut held = Vec::with_capacity(300);
    for _ in 0..300 {
        let Ok(mut stream) = TcpStream::connect(&addr).await else {
            continue;
        };
        if stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ")
            .await
            .is_ok()
        {
            held.push(stream);
        }
    }
    assert!(held.len() >= 250, "only {} connections opened", held.len());
    let (status, took) = healthz(&addr).await;
    eprintln!(
        "healthz with {} half-open connections: {took:?}; server stderr: {} bytes",
        held.len(),
        server.stderr().len()
    );
    assert_eq!(status, StatusCode::OK);
    drop(held);
}

/// A connection evicted by the connection cap is closed at once when it has no request being
/// answered: one that has sent only part of a request head must not keep its descriptor for the
/// whole grace period, or a crowd of them exhausts the open-file limit (see
/// `hundreds_of_half_open_connections_do_not_keep_healthz_out`).
#[tokio::test]
async fn an_evicted_half_open_connection_is_closed_at_once() {
    let limits = ConnectionLimits::default().with_max_connections(2);
    let addr = start(api(), limits).await;
    let (mut idle, mut partial) = idle_and_half_sent(&addr).await;
    // Both are accepted (a whole request on a third connection proves the server got that far),
    // then two more connections evict them, oldest first.
    assert_eq!(healthz(&addr).await.0, StatusCode::OK);
    let _newer = (
        TcpStream::connect(&addr).await.expect("connect"),
        TcpStream::connect(&addr).await.expect("connect"),
    );
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(1)).await;
    assert!(
        closed,
        "the evicted idle connection is still open after 1 s"
    );
    let (_, closed) = read_until_closed(&mut partial, Duration::from_secs(1)).await;
    assert!(
        closed,
        "the evicted half-open connection is still open after 1 s"
    );
}
