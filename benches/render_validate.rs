//! Render + validate cost per step, against the floor of merely parsing the step and
//! serializing its body with serde_json, measured in the same run.
//!
//! `cargo bench --bench render_validate`

use apikey_task::{Endpoint, Step};
use divan::{Bencher, black_box};

fn main() {
    divan::main();
    interleaved_ratios();
}

/// Shared machines drift between one benchmark and the next, so divan's separate timings can
/// disagree about a ratio. Here each round times a batch of the floor and then a batch of
/// test requests back to back, and the median of the per-round ratios is reported.
fn interleaved_ratios() {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) once, to show it runs.
    let test_mode = !std::env::args().any(|arg| arg == "--bench");
    let rounds = if test_mode { 1 } else { 41 };
    let endpoint = Endpoint::builder().build().expect("endpoint");
    println!("\ninterleaved ({rounds} rounds): test_request / floor, median per-round ratio");
    for size in SIZES {
        let text = input(size);
        let batch = match (test_mode, size) {
            (true, _) => 1,
            (false, "typical") => 2_000,
            (false, _) => 20,
        };
        let time = |work: &dyn Fn()| {
            let start = std::time::Instant::now();
            for _ in 0..batch {
                work();
            }
            start.elapsed().as_secs_f64() / f64::from(batch)
        };
        let floor_work = || {
            let step = Step::from_json(black_box(&text)).expect("step");
            black_box(serde_json::to_vec(&step.parameters["body"]).expect("body"));
        };
        let plugin_work = || {
            let step = Step::from_json(black_box(&text)).expect("step");
            let mut bytes = Vec::new();
            black_box(endpoint.test_request_json(step, None, &mut bytes));
            black_box(bytes);
        };
        let mut timed: Vec<(f64, f64)> = (0..rounds)
            .map(|_| (time(&floor_work), time(&plugin_work)))
            .collect();
        timed.sort_by(|a, b| (a.1 / a.0).total_cmp(&(b.1 / b.0)));
        let (floor, plugin) = timed[rounds / 2];
        println!(
            "  {size:<8} floor {:>9.1} µs   test_request {:>9.1} µs   ratio {:.2}x",
            floor * 1e6,
            plugin * 1e6,
            plugin / floor
        );
    }
}

/// The example step: expressions of several kinds, an ACL entry, an allowed IP.
/// Shared with the `serve` bench.
fn typical() -> String {
    include_str!("steps/typical.json").trim_end().to_owned()
}

/// An ACL of 200 entries, each with every scope kind, several permissions and expressions.
/// Shared with the `serve` bench.
fn large() -> String {
    include_str!("steps/large.json").trim_end().to_owned()
}

fn input(size: &str) -> String {
    if size == "typical" {
        typical()
    } else {
        large()
    }
}

const SIZES: [&str; 2] = ["typical", "large"];

/// What the plugin does per step: parse it, render and validate it, serialize the report.
#[divan::bench(args = SIZES, sample_count = 400)]
fn test_request(bencher: Bencher, size: &str) {
    let endpoint = Endpoint::builder().build().expect("endpoint");
    let text = input(size);
    bencher.bench_local(|| {
        let step = Step::from_json(black_box(&text)).expect("step");
        let mut bytes = Vec::new();
        endpoint.test_request_json(step, None, &mut bytes);
        bytes
    });
}

/// The floor: parse the same step and serialize its body, nothing else.
#[divan::bench(args = SIZES, sample_count = 400)]
fn floor_parse_and_serialize(bencher: Bencher, size: &str) {
    let text = input(size);
    bencher.bench_local(|| {
        let step = Step::from_json(black_box(&text)).expect("step");
        serde_json::to_vec(&step.parameters["body"]).expect("body")
    });
}

/// Loading the embedded definition and compiling its validator (once per process).
#[divan::bench]
fn load_and_compile_definition() -> Endpoint {
    Endpoint::builder().build().expect("endpoint")
}
