//! Load: many executions at high concurrency against the local emulator (no result lost or
//! duplicated, memory bounded), and many test requests through `--jsonl`.
//!
//! CI runs reduced sizes. The full sizes of the reliability issue:
//! `APIKEY_LOAD_EXECUTIONS=10000 APIKEY_LOAD_TEST_REQUESTS=100000 cargo test --release --test it load:: -- --nocapture`

use crate::support::{cli, credentials, emulator, endpoint, run, step, text};
use apikey_task::Executor;
use apikey_task::emulator::Emulator;
use apikey_task::secrets::Redact;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Instant;

fn size(variable: &str, default: usize) -> usize {
    std::env::var(variable)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory of this process so far (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_at_concurrency_256_lose_and_duplicate_nothing() {
    let n = size("APIKEY_LOAD_EXECUTIONS", 2_000);
    let concurrency = 256;
    let emulator = emulator(Emulator::builder().unlimited()).await;
    let endpoint = endpoint();
    let executor = Executor::builder().build().expect("executor");
    let credentials = credentials();
    let url = emulator.url();
    let before = peak_rss_kib();
    let started = Instant::now();
    let outcomes: Vec<(usize, Result<String, String>)> = futures_util::stream::iter(0..n)
        .map(|i| {
            let (endpoint, executor, credentials, url) = (&endpoint, &executor, &credentials, &url);
            async move {
                let step = step(url, json!({ "description": format!("load {i}") }));
                let outcome = executor
                    .execute(endpoint, step, credentials, &Redact)
                    .await
                    .map(|output| {
                        output.response.body["description"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned()
                    })
                    .map_err(|error| error.to_string());
                (i, outcome)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();

    let failures: Vec<&(usize, Result<String, String>)> =
        outcomes.iter().filter(|(_, o)| o.is_err()).collect();
    assert!(
        failures.is_empty(),
        "{} failed, e.g. {:?}",
        failures.len(),
        failures.first()
    );
    let descriptions: BTreeSet<String> = outcomes
        .iter()
        .filter_map(|(i, o)| {
            let description = o.as_ref().ok()?;
            assert_eq!(
                description,
                &format!("load {i}"),
                "a result reached the wrong step"
            );
            Some(description.clone())
        })
        .collect();
    assert_eq!(descriptions.len(), n, "results lost or duplicated");
    assert_eq!(emulator.created(), n, "keys created once each");
    let peak = peak_rss_kib();
    println!(
        "load: {n} executions at concurrency {concurrency} in {:.2} s = {:.0}/s; peak RSS {} MiB (+{} MiB during the run)",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        peak / 1024,
        peak.saturating_sub(before) / 1024
    );
    assert!(peak < 512 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn test_requests_through_jsonl_keep_up_and_keep_order() {
    let n = size("APIKEY_LOAD_TEST_REQUESTS", 10_000);
    let mut input = String::with_capacity(n * 200);
    for i in 0..n {
        let step = json!({
            "parameters": {
                "organizationId": "org-1",
                "body": {
                    "description": "Key ${workflow.input.i} of ${workflow.workflowId}",
                    "allowedIps": if i % 10 == 0 { json!(["10.0.0.1"]) } else { json!(["153.12.32.33"]) }
                }
            },
            "context": { "workflow": { "workflowId": "load", "input": { "i": i } } }
        });
        input.push_str(&step.to_string());
        input.push('\n');
    }
    let started = Instant::now();
    let output = run(cli().args(["test-request", "--jsonl", "-"]), Some(&input));
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "every tenth step is invalid");
    let stdout = text(&output.stdout);
    let mut lines = 0;
    for (i, line) in stdout.lines().enumerate() {
        let report: Value = serde_json::from_str(line).expect("a report per line");
        assert_eq!(report["valid"], i % 10 != 0, "line {i}");
        assert_eq!(
            report["request"]["body"]["description"],
            format!("Key {i} of load"),
            "reports keep input order"
        );
        lines += 1;
    }
    assert_eq!(lines, n);
    println!(
        "jsonl: {n} test requests in {:.2} s = {:.0}/s",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
}
