//! Executions through the plugin against the same POSTs from a bare reqwest client, all
//! against the same loopback emulator, in one run, at concurrency 1 and 64, in interleaved
//! rounds. The plugin's sides: a step each time, with the same parameters (which the endpoint
//! keeps a template of) or new ones each time (checked whole); a `Task` given the same
//! parameters with each run's workflow state, as a runner gives them; a step template. A
//! second bare client is the control: bare against bare shows the ratio two identical sides
//! reach in the same run. A third bare client busy-waits a few microseconds after each answer
//! (`APIKEY_BENCH_BUSY_NS`, 3,000 by default, about what a template adds at concurrency 64):
//! what any wrapper doing that much work per request would cost. Then the memory held per
//! in-flight execution, against a server that answers slowly.
//!
//! `cargo bench --bench execute`, with, from the environment:
//! - APIKEY_BENCH_SCALE=4 for four times as many requests;
//! - APIKEY_BENCH_SIDE=plugin, fresh, task, template, bare, control or busy for one side
//!   alone, under a profiler, or a comma-separated list of them (template,bare: those sides,
//!   and their ratios to bare reqwest when it is one of them), to compare two builds sooner;
//! - APIKEY_BENCH_CONCURRENCY=1 or 64 for one concurrency alone;
//! - APIKEY_BENCH_RUNTIME=worker to run the clients in a task on the runtime's workers instead
//!   of on the thread blocking on it, tasks to spawn every execution as a task of its own, or
//!   current for a current-thread runtime;
//! - APIKEY_BENCH_SERVER, the emulator's binary (by default the `apikey-task` this build
//!   made), to compare builds against the same server.
//!
//! A value it does not know is refused, naming it. `cargo test --benches` runs it once, small.

mod support;
use support::{ChildServer, Cpu};

use apikey_task::secrets::Redact;
use apikey_task::task::{HttpTask, Task};
use apikey_task::{Credentials, Endpoint, Executor, Secret, Step, StepTemplate, TaskContext};
use futures_util::future::Either;
use futures_util::{FutureExt, StreamExt};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

fn main() {
    // Read and checked before anything starts: a value the bench does not know is refused,
    // naming it, rather than measuring something else unseen.
    let runtime = Runtime::chosen();
    let settings = Settings {
        sides: Side::chosen(),
        only_at: env("APIKEY_BENCH_CONCURRENCY").map(|value| {
            value
                .parse()
                .ok()
                .filter(|only| CONCURRENCIES.contains(only))
                .unwrap_or_else(|| panic!("APIKEY_BENCH_CONCURRENCY is 1 or 64, not {value:?}"))
        }),
        scale: env_parsed("APIKEY_BENCH_SCALE", 1),
        busy_for: Duration::from_nanos(env_parsed("APIKEY_BENCH_BUSY_NS", 3_000)),
    };
    let mut builder = match runtime {
        Runtime::Current => tokio::runtime::Builder::new_current_thread(),
        Runtime::Main | Runtime::Worker | Runtime::Tasks => {
            tokio::runtime::Builder::new_multi_thread()
        }
    };
    let rt = builder.enable_all().build().expect("runtime");
    match runtime {
        // As a runner's task: polled by the runtime's workers.
        Runtime::Worker => {
            rt.block_on(async { tokio::spawn(bench(settings)).await.expect("bench") })
        }
        Runtime::Main | Runtime::Tasks | Runtime::Current => rt.block_on(bench(settings)),
    }
}

/// The concurrencies every run measures, each in rounds of its own.
const CONCURRENCIES: [usize; 2] = [1, 64];

/// What the environment asks of a run (see the top of this file).
struct Settings {
    /// `APIKEY_BENCH_SIDE`: the sides to run, in [`Side::ALL`]'s order.
    sides: Vec<Side>,
    /// `APIKEY_BENCH_CONCURRENCY`: one concurrency alone.
    only_at: Option<usize>,
    /// `APIKEY_BENCH_SCALE`: how many times the default number of requests.
    scale: usize,
    /// `APIKEY_BENCH_BUSY_NS`: the calibration's extra work per request.
    busy_for: Duration,
}

/// The variable `name`, if it is set; a value that is not UTF-8 is refused.
fn env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(value)) => panic!("{name} is not UTF-8: {value:?}"),
    }
}

/// The variable `name` as a number, `default` when it is not set.
fn env_parsed<T: std::str::FromStr>(name: &str, default: T) -> T {
    env(name).map_or(default, |value| {
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} is a whole number, not {value:?}"))
    })
}

/// Where the clients run (`APIKEY_BENCH_RUNTIME`). A runner's runtime and tasks are its own
/// choice, and one request at a time they decide how often a thread parks and is woken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Runtime {
    /// The default: a multi-threaded runtime (a worker per core), the clients polled by the
    /// thread that blocks on it (as under `#[tokio::main]`), so that every request and answer
    /// crosses between it and a worker.
    Main,
    /// `worker`: the same runtime, the clients in a task its workers poll, as a runner's
    /// spawned tasks are.
    Worker,
    /// `tasks`: the same runtime, every execution spawned as a task of its own, as a runner
    /// runs each (a Temporal activity, for example).
    Tasks,
    /// `current`: a current-thread runtime, where no thread waits for another.
    Current,
}

impl Runtime {
    /// Read once: every round asks, inside its clock.
    fn chosen() -> Runtime {
        static CHOSEN: OnceLock<Runtime> = OnceLock::new();
        *CHOSEN.get_or_init(|| match env("APIKEY_BENCH_RUNTIME").as_deref() {
            None | Some("main") => Runtime::Main,
            Some("worker") => Runtime::Worker,
            Some("tasks") => Runtime::Tasks,
            Some("current") => Runtime::Current,
            Some(other) => {
                panic!("APIKEY_BENCH_RUNTIME is main, worker, tasks or current, not {other:?}")
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            Runtime::Main => "multi-threaded runtime, the clients on the thread blocking on it",
            Runtime::Worker => "multi-threaded runtime, the clients in a task on its workers",
            Runtime::Tasks => "multi-threaded runtime, every execution a task of its own",
            Runtime::Current => "current-thread runtime",
        }
    }
}

fn step(server: &str, i: usize) -> Step {
    step_described(server, i, "Bench key ${workflow.input.n}")
}

/// A step whose parameters are new each time: a literal number in its description.
fn fresh_step(server: &str, i: usize) -> Step {
    step_described(server, i, &format!("Bench key {i} ${{workflow.input.n}}"))
}

fn step_described(server: &str, i: usize, description: &str) -> Step {
    serde_json::from_value(json!({
        "parameters": {
            "server": server,
            "body": {
                "description": description,
                "acl": [{ "scope": { "planId": ["plan-1"] }, "permissions": ["GetCustomer"] }],
                "allowedIps": ["153.12.32.33"]
            }
        },
        "context": { "workflow": { "input": { "n": i } } }
    }))
    .expect("step")
}

/// Wall-clock seconds and CPU time of one side's round.
type Timed = (f64, Cpu);

/// The sides of a round: the plugin given a step each time, with the same parameters (the
/// endpoint keeps a template of them once an execution of them has succeeded) or new ones; a
/// `Task` as a runner holds it, given the same parameters and new workflow state each time;
/// the plugin given the step's template once and the workflow state each time; bare reqwest;
/// a second bare client as the control; and a third that does a fixed amount of work more per
/// request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Plugin = 0,
    Fresh = 1,
    Task = 2,
    Template = 3,
    Bare = 4,
    Control = 5,
    Busy = 6,
}

impl Side {
    const ALL: [Side; 7] = [
        Side::Plugin,
        Side::Fresh,
        Side::Task,
        Side::Template,
        Side::Bare,
        Side::Control,
        Side::Busy,
    ];

    /// The word `APIKEY_BENCH_SIDE` names it by.
    fn word(self) -> &'static str {
        match self {
            Side::Plugin => "plugin",
            Side::Fresh => "fresh",
            Side::Task => "task",
            Side::Template => "template",
            Side::Bare => "bare",
            Side::Control => "control",
            Side::Busy => "busy",
        }
    }

    /// The sides `APIKEY_BENCH_SIDE` names (a comma-separated list), or all of them, in
    /// [`Side::ALL`]'s order.
    fn chosen() -> Vec<Side> {
        let Some(list) = env("APIKEY_BENCH_SIDE") else {
            return Side::ALL.to_vec();
        };
        let mut chosen = [false; Side::ALL.len()];
        for word in list.split(',').map(str::trim) {
            let side = Side::ALL
                .into_iter()
                .find(|side| side.word() == word)
                .unwrap_or_else(|| {
                    let words: Vec<&str> = Side::ALL.iter().map(|side| side.word()).collect();
                    panic!(
                        "APIKEY_BENCH_SIDE names {word:?}, which is no side (in {list:?}): a comma-separated list of {}",
                        words.join(", ")
                    )
                });
            chosen[side as usize] = true;
        }
        Side::ALL
            .into_iter()
            .filter(|side| chosen[*side as usize])
            .collect()
    }

    fn name(self) -> &'static str {
        match self {
            Side::Plugin => "plugin, a step each time, the same parameters",
            Side::Fresh => "plugin, a step each time, new parameters",
            Side::Task => "Task::execute, the same parameters each time",
            Side::Template => "step template",
            Side::Bare => "bare reqwest",
            Side::Control => "control: a second bare reqwest",
            Side::Busy => "calibration: bare reqwest, busy a few µs more per request",
        }
    }
}

/// `cargo bench` passes `--bench`; without it (`cargo test --benches`, as CI runs it) every
/// part runs once, small, to show that it works.
fn test_mode() -> bool {
    !std::env::args().any(|arg| arg == "--bench")
}

async fn bench(settings: Settings) {
    let Settings {
        sides,
        only_at,
        scale,
        busy_for,
    } = settings;
    // The emulator runs as its own process, as a real server would: the client's work must
    // not slow the server down, or the benchmark measures contention instead of the client.
    let emulator = ChildServer::start(&["emulator", "--port", "0", "--rate-limit", "0"]);
    let url = emulator.url.clone();
    let endpoint = forever(Arc::new(Endpoint::builder().build().expect("endpoint")));
    // First, while the heap has no freed memory to reuse, so that what they take shows in RSS.
    let templates_rss = memory_per_template(endpoint, &url);
    let executor = forever(Executor::builder().build().expect("executor"));
    let credentials = forever(Credentials::ApiKey(Secret::new("sk_bench")));
    // The same TLS stack as the executor's: built after it, so the crypto provider it installs
    // (ring) is the process default here too.
    let bare_client = || {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
    };
    let bare = forever(bare_client());
    // The control: a second bare client doing the same work in the same rounds. Its ratio to
    // the first shows how far two identical sides drift apart in one run on this machine,
    // which a difference between the plugin and bare reqwest has to exceed to mean anything.
    let control = forever(bare_client());
    // The calibration: how much a few microseconds more work per request (a busy wait, after
    // each answer is read and before the next request) costs in throughput and CPU on this
    // machine in this run. At concurrency 1 it is more than the time itself: the next request
    // comes after the runtime's idle workers have parked, and waking one is a context switch.
    let busy = forever(bare_client());
    let task = forever(HttpTask::create_api_key(executor.clone()).expect("task"));
    let template = forever(endpoint.template(step(&url, 0).parameters));
    let target: &'static str = forever(format!("{url}/api-keys"));
    // Executions per round and side, at each of `CONCURRENCIES`.
    let (rounds, per_rounds) = if test_mode() {
        (3, [10, 64])
    } else {
        (9, [200 * scale, 1000 * scale])
    };
    println!(
        "execute: the plugin (a step each time, with the same parameters or new ones; a Task given the same parameters each time; a step template) vs bare reqwest, a second bare client as the control and a third busy {} ns more per request, same loopback emulator ({url}, a separate process), {rounds} interleaved rounds, on a {}",
        busy_for.as_nanos(),
        Runtime::chosen().name()
    );
    println!(
        "| concurrency | requests | side | req/s | throughput against bare reqwest: median of rounds (range) | CPU µs/req, total (user) | CPU against bare reqwest | context switches/req |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (concurrency, per_round) in CONCURRENCIES.into_iter().zip(per_rounds) {
        if only_at.is_some_and(|only| only != concurrency) {
            continue;
        }
        // One side's round of `n` executions.
        let run = async |side: Side, n: usize| -> Timed {
            match side {
                Side::Plugin | Side::Fresh => {
                    run_plugin(endpoint, executor, credentials, &url, side, concurrency, n).await
                }
                Side::Task => run_task(task, credentials, &url, concurrency, n).await,
                Side::Template => {
                    run_template(template, executor, credentials, concurrency, n).await
                }
                Side::Bare => run_bare(bare, target, concurrency, n, Duration::ZERO).await,
                Side::Control => run_bare(control, target, concurrency, n, Duration::ZERO).await,
                Side::Busy => run_bare(busy, target, concurrency, n, busy_for).await,
            }
        };
        // Warm the connection pools (and the templates kept) before timing; a side left out
        // is not warmed either, so that a profile of one side holds that side alone.
        for &side in &sides {
            run(side, 64).await;
        }
        let mut rounds_seen: Vec<[Timed; Side::ALL.len()]> = Vec::with_capacity(rounds);
        for round in 0..rounds {
            // Drift within a round favours no side: each goes first in about as many rounds
            // as the others, and, the order reversed every other round, of any two each goes
            // before the other in about half the rounds.
            let mut order = sides.clone();
            order.rotate_left(round / 2 % sides.len());
            if round % 2 == 1 {
                order.reverse();
            }
            let mut timed = [(0.0, Cpu::default()); Side::ALL.len()];
            for side in order {
                timed[side as usize] = run(side, per_round).await;
            }
            rounds_seen.push(timed);
        }
        let total = (per_round * rounds) as f64;
        let sum = |side: Side, pick: fn(&Timed) -> f64| -> f64 {
            rounds_seen.iter().map(|r| pick(&r[side as usize])).sum()
        };
        let secs = |side| sum(side, |t| t.0);
        let cpu_total = |side| sum(side, |t| t.1.total());
        let cpu_user = |side| sum(side, |t| t.1.user);
        let switches = |side| sum(side, |t| t.1.switches);
        // A side left out (APIKEY_BENCH_SIDE) has no row; without bare reqwest, no ratio.
        let against_bare_too = sides.contains(&Side::Bare);
        for &side in &sides {
            // Throughput ratio per round (bare reqwest's time / this side's), sorted.
            let against_bare = if against_bare_too && side != Side::Bare {
                let mut ratios: Vec<f64> = rounds_seen
                    .iter()
                    .map(|r| r[Side::Bare as usize].0 / r[side as usize].0)
                    .collect();
                ratios.sort_by(f64::total_cmp);
                format!(
                    "{:.1}% ({:.1}-{:.1}%)",
                    100.0 * ratios[ratios.len() / 2],
                    100.0 * ratios[0],
                    100.0 * ratios[ratios.len() - 1]
                )
            } else {
                "-".to_owned()
            };
            let cpu_ratio = if against_bare_too && side != Side::Bare {
                format!(
                    "{:.2}x",
                    cpu_total(side) / cpu_total(Side::Bare).max(f64::MIN_POSITIVE)
                )
            } else {
                "-".to_owned()
            };
            println!(
                "| {concurrency} | {} | {} | {:.0} | {against_bare} | {:.1} ({:.1}) | {cpu_ratio} | {:.2} |",
                per_round * rounds,
                side.name(),
                total / secs(side),
                cpu_total(side) * 1e6 / total,
                cpu_user(side) * 1e6 / total,
                switches(side) / total,
            );
        }
    }
    memory_per_in_flight(endpoint, executor, credentials, bare).await;
    println!("{templates_rss}");
    drop(emulator);
}

/// The plugin given a step each time: with the same parameters ([`Side::Plugin`]), or with
/// new ones ([`Side::Fresh`]), which leave nothing to keep a template of, so that every step
/// is checked whole.
async fn run_plugin(
    endpoint: &'static Endpoint,
    executor: &'static Executor,
    credentials: &'static Credentials,
    url: &str,
    side: Side,
    concurrency: usize,
    n: usize,
) -> Timed {
    // A number no earlier round used, so that no new parameters come twice.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // Inputs are built before the clocks start, for every side.
    let steps: Vec<Step> = if side == Side::Fresh {
        let from = NEXT.fetch_add(n as u64, Ordering::Relaxed) as usize;
        (from..from + n).map(|i| fresh_step(url, i)).collect()
    } else {
        (0..n).map(|i| step(url, i)).collect()
    };
    timed(steps, concurrency, side.name(), |step| {
        executor.execute(endpoint, step, credentials, &Redact)
    })
    .await
}

/// Runs `execute` on each input, `concurrency` at a time, in the clock; every one must
/// succeed.
async fn timed<T, F, O, E>(
    inputs: Vec<T>,
    concurrency: usize,
    side: &str,
    execute: impl Fn(T) -> F,
) -> Timed
where
    F: Future<Output = Result<O, E>> + Send + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    let cpu = Cpu::of_self();
    let started = Instant::now();
    // Combinators, as in `one`: an `async` block awaiting a future made before it would hold
    // it twice, and every side's future would be copied at twice its size.
    let failures = all(
        inputs
            .into_iter()
            .map(|input| execute(input).map(|outcome| outcome.is_ok())),
        concurrency,
    )
    .await;
    assert_eq!(failures, 0, "{side} executions failed");
    (started.elapsed().as_secs_f64(), Cpu::of_self() - cpu)
}

/// Runs `executions`, `concurrency` at a time, where the clients run; with
/// `APIKEY_BENCH_RUNTIME=tasks`, each spawned as a task of its own. How many failed.
async fn all<F>(executions: impl Iterator<Item = F>, concurrency: usize) -> usize
where
    F: Future<Output = bool> + Send + 'static,
{
    let spawn = Runtime::chosen() == Runtime::Tasks;
    futures_util::stream::iter(executions.map(|execution| one(execution, spawn)))
        .buffer_unordered(concurrency)
        .filter(|ok| std::future::ready(!ok))
        .count()
        .await
}

/// The same executions through a `Task`, as a runner holds it: the same parameters each
/// time with each run's workflow state, both built before the clock.
async fn run_task(
    task: &'static HttpTask,
    credentials: &'static Credentials,
    url: &str,
    concurrency: usize,
    n: usize,
) -> Timed {
    let runs: Vec<Step> = (0..n).map(|i| step(url, i)).collect();
    timed(runs, concurrency, "task", |run| async move {
        let ctx = TaskContext::new(&run.context, credentials, &Redact);
        task.execute(run.parameters, &ctx).await
    })
    .await
}

/// The same executions from the step's template: the workflow state of each run (what
/// differs from run to run) is built before the clock, as the steps are for `run_plugin`.
async fn run_template(
    template: &'static StepTemplate<'static>,
    executor: &'static Executor,
    credentials: &'static Credentials,
    concurrency: usize,
    n: usize,
) -> Timed {
    let states: Vec<serde_json::Map<String, serde_json::Value>> = (0..n)
        .map(|i| {
            serde_json::from_value(json!({ "workflow": { "input": { "n": i } } })).expect("state")
        })
        .collect();
    timed(states, concurrency, "template", |state| async move {
        let ctx = TaskContext::new(&state, credentials, &Redact);
        executor.execute_template(template, &ctx).await
    })
    .await
}

/// Bare reqwest's POSTs to `target`, with `busy` of busy waiting after each answer (none for
/// bare reqwest and the control).
async fn run_bare(
    client: &'static reqwest::Client,
    target: &'static str,
    concurrency: usize,
    n: usize,
    busy: Duration,
) -> Timed {
    // The same input form as the plugin's steps: JSON values, built before the clock starts
    // and written as JSON inside it, as a user of the bare client would (what reqwest's `.json()`
    // does).
    let bodies: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            json!({
                "description": format!("Bench key {i}"),
                "acl": [{ "scope": { "planId": ["plan-1"] }, "permissions": ["GetCustomer"] }],
                "allowedIps": ["153.12.32.33"]
            })
        })
        .collect();
    let cpu = Cpu::of_self();
    let started = Instant::now();
    let requests = bodies
        .into_iter()
        .map(|body| post(client, target, body, busy));
    assert_eq!(all(requests, concurrency).await, 0);
    (started.elapsed().as_secs_f64(), Cpu::of_self() - cpu)
}

/// One bare POST of `body`, its answer read as a user of the bare client reads it, then
/// `busy` of busy waiting.
async fn post(
    client: &'static reqwest::Client,
    target: &'static str,
    body: serde_json::Value,
    busy: Duration,
) -> bool {
    let response = client
        .post(target)
        .header("content-type", "application/json")
        .header("reb-apikey", "sk_bench")
        .body(serde_json::to_vec(&body).expect("bare body"))
        .send()
        .await
        .expect("bare POST");
    assert_eq!(response.status().as_u16(), 201);
    // What a user of the bare client does with the answer: read the key from it.
    let bytes = response.bytes().await.expect("bare body");
    let key: serde_json::Value = serde_json::from_slice(&bytes).expect("bare JSON");
    assert!(key["id"].is_string());
    // Spinning, not sleeping: work that holds the thread, as a wrapper's would.
    let started = Instant::now();
    while started.elapsed() < busy {
        std::hint::spin_loop();
    }
    true
}

/// A value kept for the whole run, so that an execution borrowing it can be spawned as a task
/// of its own (`APIKEY_BENCH_RUNTIME=tasks`).
fn forever<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// An execution, spawned as a task of its own when `spawn`. Functions, not closures, make the
/// futures of a round: it is polled inside a spawned task (`worker`), where a closure's
/// future would not be `Send` for every lifetime. Not an `async fn`, which would hold
/// `execution` twice (as its argument and as the future it awaits): a runner's set of
/// futures copies each whole, so a wrapper twice the size would cost the larger side more.
fn one<F: Future<Output = bool> + Send + 'static>(
    execution: F,
    spawn: bool,
) -> impl Future<Output = bool> {
    if spawn {
        Either::Left(tokio::spawn(execution).map(|joined| joined.expect("an execution panicked")))
    } else {
        Either::Right(execution)
    }
}

/// Resident memory of this process, in bytes (Linux).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// Peak RSS growth while `n` executions wait on a server that answers after 500 ms, per
/// execution; the same for bare reqwest.
async fn memory_per_in_flight(
    endpoint: &'static Endpoint,
    executor: &'static Executor,
    credentials: &'static Credentials,
    bare: &'static reqwest::Client,
) {
    // Our emulator, told to answer creates late, in its own process: wiremock's server, dropped
    // at the end, once spun for minutes in its own verification.
    let slow = ChildServer::start(&[
        "emulator",
        "--port",
        "0",
        "--rate-limit",
        "0",
        "--slow-creates-ms",
        "500",
    ]);
    let url = slow.url.clone();
    let n = if test_mode() { 16 } else { 256 };
    println!("\nmemory: {n} executions in flight against a server answering after 500 ms");
    for label in ["plugin", "bare reqwest"] {
        let base = rss();
        let peak = Arc::new(AtomicU64::new(base));
        let sampler = {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    peak.fetch_max(rss(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        if label == "plugin" {
            let _ = run_plugin_lenient(endpoint, executor, credentials, &url, n).await;
        } else {
            let target = format!("{url}/api-keys");
            futures_util::stream::iter(0..n)
                .map(|_| {
                    let target = &target;
                    async move {
                        let _ = bare
                            .post(target.as_str())
                            .header("content-type", "application/json")
                            .header("reb-apikey", "sk_bench")
                            .body(
                                r#"{"description":"d","acl":[{"scope":{"planId":["plan-1"]},"permissions":["GetCustomer"]}],"allowedIps":["153.12.32.33"]}"#,
                            )
                            .send()
                            .await;
                    }
                })
                .buffer_unordered(n)
                .collect::<Vec<()>>()
                .await;
        }
        sampler.abort();
        let growth = peak.load(Ordering::Relaxed).saturating_sub(base);
        println!(
            "  {label:<13} peak RSS growth {:>8.1} KiB, {:>6.1} KiB per in-flight execution",
            growth as f64 / 1024.0,
            growth as f64 / 1024.0 / n as f64
        );
    }
}

/// Resident memory held by templates of the bench's step, as an endpoint keeps them (at most
/// 256), each with its own description so that none is shared: the line to print.
fn memory_per_template(endpoint: &Arc<Endpoint>, url: &str) -> String {
    let n = if test_mode() { 16 } else { 256 };
    let base = rss();
    let kept: Vec<StepTemplate<'static>> = (0..n)
        .map(|i| {
            let mut parameters = step(url, 0).parameters;
            parameters["body"]["description"] =
                json!(format!("Bench key {i} ${{workflow.input.n}}"));
            StepTemplate::shared(Arc::clone(endpoint), parameters)
        })
        .collect();
    assert!(kept.iter().all(StepTemplate::checks_in_parts));
    let growth = rss().saturating_sub(base);
    format!(
        "\nmemory: {n} step templates, made first, hold {:.0} KiB of RSS, {:.1} KiB each",
        growth as f64 / 1024.0,
        growth as f64 / 1024.0 / n as f64
    )
}

async fn run_plugin_lenient(
    endpoint: &Endpoint,
    executor: &Executor,
    credentials: &Credentials,
    url: &str,
    n: usize,
) -> usize {
    futures_util::stream::iter(0..n)
        .map(|i| async move {
            executor
                .execute(endpoint, step(url, i), credentials, &Redact)
                .await
                .is_ok()
        })
        .buffer_unordered(n)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await
}
