//! Latency of `POST /v1/test-request` on loopback, as an editor's "Test request" button sees
//! it: the server is `apikey-task serve` in its own process, the client one keep-alive
//! connection per user. The baseline, measured in the same interleaved rounds, is
//! `GET /healthz` on the same server: an HTTP round trip that does no work.
//!
//! `cargo bench --bench serve`  (APIKEY_BENCH_SCALE=4 for four times as many requests;
//! APIKEY_BENCH_SERVER=PATH to measure another build of `apikey-task`);
//! `cargo test --benches` runs it once, small.

mod support;
use support::ChildServer;

use std::time::{Duration, Instant};

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

const TYPICAL: &str = include_str!("steps/typical.json");
const LARGE: &str = include_str!("steps/large.json");

enum Call {
    Health,
    TestRequest(&'static str),
}

async fn call(client: &reqwest::Client, base: &str, call: &Call) -> Duration {
    let start = Instant::now();
    let response = match call {
        Call::Health => client.get(format!("{base}healthz")).send().await,
        Call::TestRequest(step) => {
            client
                .post(format!("{base}v1/test-request"))
                .header("content-type", "application/json")
                .body(*step)
                .send()
                .await
        }
    }
    .expect("answer");
    assert!(response.status().is_success(), "{}", response.status());
    let body = response.bytes().await.expect("body");
    std::hint::black_box(body);
    start.elapsed()
}

/// One client per user, each with its own connection, kept for the whole run so that no
/// sample includes connecting.
fn clients(users: usize) -> Vec<reqwest::Client> {
    // reqwest is built without a crypto provider of its own; install the one the library uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    (0..users)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client")
        })
        .collect()
}

/// Each client sends `per_user` calls in turn, all clients at once.
async fn measure(
    clients: &[reqwest::Client],
    base: &str,
    what: &Call,
    per_user: usize,
) -> Vec<Duration> {
    let runs = clients.iter().map(|client| async move {
        let mut samples = Vec::with_capacity(per_user);
        for _ in 0..per_user {
            samples.push(call(client, base, what).await);
        }
        samples
    });
    futures_util::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1e6
}

async fn bench() {
    let scale: usize = std::env::var("APIKEY_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let server = ChildServer::start(&["serve", "--port", "0"]);
    let base = server.url.clone();
    println!(
        "serve: request latency on loopback ({base}, a separate process), µs, interleaved rounds"
    );
    println!(
        "{:<34} {:>7} {:>8} {:>8} {:>8} {:>8} {:>11}",
        "route", "samples", "p50", "p90", "p99", "max", "p99/healthz"
    );
    let rows: [(&str, Call, usize, usize); 4] = [
        ("GET /healthz (baseline)", Call::Health, 1, 2000),
        (
            "POST /v1/test-request typical",
            Call::TestRequest(TYPICAL),
            1,
            2000,
        ),
        (
            "POST /v1/test-request 200-entry ACL",
            Call::TestRequest(LARGE),
            1,
            // Enough that the 99th percentile is not the single slowest call.
            500,
        ),
        (
            "POST /v1/test-request typical, 8 users",
            Call::TestRequest(TYPICAL),
            8,
            250,
        ),
    ];
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`), once and small.
    let test_mode = !std::env::args().any(|arg| arg == "--bench");
    let (warm_up, rounds, scale) = if test_mode { (1, 1, 0) } else { (50, 5, scale) };
    let users: Vec<Vec<reqwest::Client>> = rows.iter().map(|row| clients(row.2)).collect();
    // Warm up the server and open the connections.
    for ((_, what, ..), clients) in rows.iter().zip(&users) {
        measure(clients, &base, what, warm_up).await;
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); rows.len()];
    for _ in 0..rounds {
        for (index, ((_, what, _, per_user), clients)) in rows.iter().zip(&users).enumerate() {
            let per_round = (per_user * scale).div_ceil(rounds).max(1);
            samples[index].extend(measure(clients, &base, what, per_round).await);
        }
    }
    let mut baseline_p99 = f64::NAN;
    for ((name, ..), mut row) in rows.iter().zip(samples) {
        row.sort();
        let p99 = percentile(&row, 99.0);
        if baseline_p99.is_nan() {
            baseline_p99 = p99;
        }
        println!(
            "{name:<34} {:>7} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>10.2}x",
            row.len(),
            percentile(&row, 50.0),
            percentile(&row, 90.0),
            p99,
            percentile(&row, 100.0),
            p99 / baseline_p99
        );
    }
}
