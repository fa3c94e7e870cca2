//! `apikey-task test-request --jsonl FILE` as a user runs it, a whole process over a file of
//! steps, against a floor program that only reads the same lines, parses each with
//! serde_json and writes its `parameters.body` back, one per line. Both are separate
//! processes of the same build profile and allocator (the floor is this bench binary run
//! again), both write to a pipe that this process drains, and they take turns in interleaved
//! rounds.
//!
//! `cargo bench --bench jsonl`  (20,000 steps, 7 rounds; run without `--bench`, as
//! `cargo test --benches` does, it is a quick check: 200 steps, one round).
//! `APIKEY_JSONL_BINARY=PATH` measures another build of `apikey-task` instead.

mod support;

use serde_json::Value;
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The binary's allocator (the `mimalloc` feature), so that the floor differs from it in work
/// only.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Set to a file name, the bench binary is the floor program instead.
const FLOOR_ENV: &str = "APIKEY_JSONL_FLOOR";

const TYPICAL: &str = include_str!("steps/typical.json");
const LARGE: &str = include_str!("steps/large.json");

fn main() {
    if let Some(path) = std::env::var_os(FLOOR_ENV) {
        floor(Path::new(&path));
        return;
    }
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) this is a test run,
    // as divan's benches treat it.
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let (steps, rounds) = if full { (20_000, 7) } else { (200, 1) };
    bench(steps, rounds);
}

/// The floor: read, parse, write the body. Nothing else.
fn floor(path: &Path) {
    let file = std::fs::File::open(path).expect("input");
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in std::io::BufReader::new(file).lines() {
        let line = line.expect("line");
        let step: Value = serde_json::from_str(&line).expect("step");
        serde_json::to_writer(&mut out, &step["parameters"]["body"]).expect("write");
        out.write_all(b"\n").expect("write");
    }
    out.flush().expect("flush");
}

/// `n` steps, one per line: the typical step with varied values, and every 200th line (from
/// line 101) the step with a 200-entry ACL. The same text for the same `n`.
fn input(n: usize) -> String {
    let typical: Value = serde_json::from_str(TYPICAL).expect("typical step");
    let large = LARGE.trim_end();
    let mut text = String::new();
    for i in 0..n {
        if i % 200 == 100 {
            text.push_str(large);
        } else {
            let mut step = typical.clone();
            let context = &mut step["context"];
            context["workflow"]["workflowId"] = format!("wf-{i}").into();
            context["workflow"]["input"]["customer"]["name"] = format!("Customer {i}").into();
            context["lookup"]["output"]["response"]["body"]["planIds"] =
                serde_json::json!([format!("plan-{i}"), format!("plan-{}", i + 1)]);
            step["parameters"]["organizationId"] = format!("org-{}", i % 17).into();
            text.push_str(&step.to_string());
        }
        text.push('\n');
    }
    text
}

/// What one run took: wall time from spawn to exit, the child's CPU time (user + system),
/// both in seconds, and the lines it wrote.
struct Run {
    wall: f64,
    cpu: f64,
    lines: usize,
}

/// Runs `command` with stdout into a pipe this process reads to the end.
fn timed(mut command: Command) -> Run {
    let cpu = children_cpu_seconds();
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("process");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut buffer = vec![0; 1 << 16];
    let mut lines = 0;
    loop {
        let read = stdout.read(&mut buffer).expect("read output");
        if read == 0 {
            break;
        }
        lines += count_lines(&buffer[..read]);
    }
    let status = child.wait().expect("wait");
    let wall = start.elapsed().as_secs_f64();
    // test-request exits 1 when a step is invalid; none of these is.
    assert!(status.success(), "{status}");
    Run {
        wall,
        cpu: children_cpu_seconds() - cpu,
        lines,
    }
}

/// CPU time (user + system) of the children this process has waited for, in seconds: on a
/// shared machine it moves less than wall time, since waiting for a core does not count.
fn children_cpu_seconds() -> f64 {
    support::Cpu::of_children().total()
}

/// Newlines in `bytes`: records, one per line.
fn count_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| **b == b'\n').count()
}

fn bench(steps: usize, rounds: usize) {
    let dir = std::env::temp_dir().join(format!("apikey-jsonl-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("steps.jsonl");
    let text = input(steps);
    std::fs::write(&path, &text).expect("input file");
    // Another build of the binary to measure instead, e.g. the one before a change.
    let binary = std::env::var_os("APIKEY_JSONL_BINARY")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_apikey-task").into());
    let floor_command = || {
        let mut command = Command::new(std::env::current_exe().expect("bench binary"));
        command.env(FLOOR_ENV, &path);
        command
    };
    let plugin_command = || {
        let mut command = Command::new(&binary);
        command
            .args(["test-request", "--jsonl"])
            .arg(&path)
            .env_remove("REBILLY_API_KEY")
            .env_remove("REBILLY_JWT");
        command
    };
    println!(
        "jsonl: {steps} steps ({} KB, {} with a 200-entry ACL), whole processes, {rounds} interleaved round{}",
        text.len() / 1024,
        steps.saturating_sub(100).div_ceil(200),
        if rounds == 1 { "" } else { "s" }
    );
    // One untimed run of each, so that both start from a warm page cache.
    let _ = timed(floor_command());
    let _ = timed(plugin_command());
    let mut results = Vec::new();
    for round in 0..rounds {
        // Alternating which goes first, so neither always follows the other.
        let (floor, plugin) = if round % 2 == 0 {
            let floor = timed(floor_command());
            (floor, timed(plugin_command()))
        } else {
            let plugin = timed(plugin_command());
            (timed(floor_command()), plugin)
        };
        assert_eq!(floor.lines, steps, "the floor writes one line per step");
        assert_eq!(
            plugin.lines, steps,
            "test-request writes one record per step"
        );
        results.push((floor, plugin));
    }
    let per_step = |seconds: f64| seconds * 1e6 / steps as f64;
    println!(
        "{:>5} {:>14} {:>21} {:>7} {:>15} {:>22} {:>9}",
        "round",
        "floor µs/step",
        "test-request µs/step",
        "ratio",
        "floor CPU µs",
        "test-request CPU µs",
        "CPU ratio"
    );
    for (round, (floor, plugin)) in results.iter().enumerate() {
        println!(
            "{:>5} {:>14.2} {:>21.2} {:>6.2}x {:>15.2} {:>22.2} {:>8.2}x",
            round + 1,
            per_step(floor.wall),
            per_step(plugin.wall),
            plugin.wall / floor.wall,
            per_step(floor.cpu),
            per_step(plugin.cpu),
            // No CPU time for the floor (no `getrusage` on this platform): no ratio.
            if floor.cpu > 0.0 {
                plugin.cpu / floor.cpu
            } else {
                f64::NAN
            }
        );
    }
    let median = |ratio: &dyn Fn(&(Run, Run)) -> f64| {
        let mut ratios: Vec<f64> = results.iter().map(ratio).collect();
        ratios.sort_by(f64::total_cmp);
        ratios[ratios.len() / 2]
    };
    println!(
        "median per-round ratio: wall {:.2}x, CPU {:.2}x",
        median(&|(floor, plugin)| plugin.wall / floor.wall),
        median(&|(floor, plugin)| plugin.cpu / floor.cpu)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
