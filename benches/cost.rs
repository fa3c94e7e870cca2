//! Cost as the work grows: time and memory of one test request (parse the step, render,
//! validate, build the request and curl line, serialize the report) as its ACL, its number of
//! expressions and its workflow state grow, and what each limit does where it cuts in.
//!
//! `cargo bench --bench cost` runs divan over every point, then prints one markdown table per
//! dimension (median time over many samples; peak and total heap of one step, counted by the
//! allocator below), ready to paste into docs/performance.md.
//!
//! `cargo test --bench cost` (also part of `cargo test`: `test = true` in Cargo.toml), or
//! `cargo bench --bench cost -- --test`, runs every point once, unoptimised, and asserts its
//! outcome: that the valid points are valid and that each limit gives its error where it
//! should, so the figures in the docs cannot silently describe other behaviour.

use apikey_task::{Endpoint, Step};
use divan::{Bencher, black_box};
use serde_json::{Value, json};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The counting allocator: off (one relaxed load per call) except around a measured step.

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
/// Bytes live now, from when counting started (it may go below zero when older blocks are
/// freed).
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// The most bytes live at once since counting started.
static PEAK: AtomicIsize = AtomicIsize::new(0);
/// Bytes of every block handed out; a realloc counts as a new block of its new size.
static TOTAL: AtomicUsize = AtomicUsize::new(0);
/// Blocks handed out, reallocs included.
static BLOCKS: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize, fresh: usize) {
    let live = LIVE.fetch_add(by as isize, Relaxed) + by as isize;
    PEAK.fetch_max(live, Relaxed);
    TOTAL.fetch_add(fresh, Relaxed);
    BLOCKS.fetch_add(1, Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `System.alloc`, with the caller's layout.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() && COUNTING.load(Relaxed) {
            grew(layout.size(), layout.size());
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `System.alloc_zeroed`, with the caller's layout.
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() && COUNTING.load(Relaxed) {
            grew(layout.size(), layout.size());
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: as `System.dealloc`, with the caller's block and layout.
        unsafe { System.dealloc(block, layout) };
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Relaxed);
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `System.realloc`, with the caller's block, layout and size.
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() && COUNTING.load(Relaxed) {
            if new_size >= layout.size() {
                grew(new_size - layout.size(), new_size);
            } else {
                LIVE.fetch_sub((layout.size() - new_size) as isize, Relaxed);
                TOTAL.fetch_add(new_size, Relaxed);
                BLOCKS.fetch_add(1, Relaxed);
            }
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap use of one step.
#[derive(Clone, Copy)]
struct Heap {
    peak: usize,
    total: usize,
    blocks: usize,
}

fn counted<T>(work: impl FnOnce() -> T) -> (T, Heap) {
    LIVE.store(0, Relaxed);
    PEAK.store(0, Relaxed);
    TOTAL.store(0, Relaxed);
    BLOCKS.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    let out = work();
    COUNTING.store(false, Relaxed);
    let heap = Heap {
        peak: PEAK.load(Relaxed).max(0) as usize,
        total: TOTAL.load(Relaxed),
        blocks: BLOCKS.load(Relaxed),
    };
    (out, heap)
}

// ---------------------------------------------------------------------------------------------
// The measured work: what the editor's Test request button costs, from the step's text to the
// report's bytes.

/// What one step came to: its outcome, for the table and the test-mode checks.
#[derive(Debug)]
enum Outcome {
    Valid,
    /// The report's first error (pointer and message) and how many errors it has, the "N more
    /// not listed" line included.
    Invalid {
        pointer: String,
        message: String,
        errors: usize,
    },
    /// `Step::from_json` refused the text.
    NotAStep(String),
}

fn step(endpoint: &Endpoint, text: &str) -> (Vec<u8>, Outcome) {
    let step = match Step::from_json(black_box(text)) {
        Ok(step) => step,
        Err(error) => return (Vec::new(), Outcome::NotAStep(error.to_string())),
    };
    let mut bytes = Vec::new();
    let report = endpoint.test_request_json(step, None, &mut bytes);
    let outcome = match report.errors.first() {
        None => Outcome::Valid,
        Some(first) => Outcome::Invalid {
            pointer: first.path.clone(),
            message: first.message.clone(),
            errors: report.errors.len(),
        },
    };
    (bytes, outcome)
}

// ---------------------------------------------------------------------------------------------
// The steps, generated (deterministic).

/// One point of a dimension: a step, how much work it holds, and what it must come to.
struct Point {
    /// The row's first cell, e.g. `1,000`.
    label: String,
    /// How many units of the dimension (ACL entries, expressions, KiB of context).
    units: Units,
    /// Makes the step's text, only for the points that run.
    text: Box<dyn Fn() -> String>,
    expect: Expect,
    /// Run in test mode (unoptimised): false only for the largest contexts.
    in_test: bool,
}

enum Units {
    Count(f64),
    /// The size of the step's `context`, in KiB.
    ContextKib,
}

impl Units {
    fn of(&self, text: &str) -> f64 {
        match self {
            Units::Count(units) => *units,
            Units::ContextKib => {
                let step: Value = serde_json::from_str(text).expect("step");
                step["context"].to_string().len() as f64 / 1024.0
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    Valid,
    /// Invalid, with this text in the first error's message.
    Error(&'static str),
    /// `Step::from_json` fails with this text in its message.
    NotAStep(&'static str),
}

struct Dimension {
    title: &'static str,
    /// The first column's heading.
    heading: &'static str,
    /// What `units` counts, for the per-unit column: "ACL entry", "expression", "KiB".
    unit: &'static str,
    points: Vec<Point>,
}

fn step_text(parameters: Value, context: Value) -> String {
    serde_json::to_string(&json!({ "parameters": parameters, "context": context })).expect("step")
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The ACL entry of `benches/steps/large.json`: every scope kind, five permissions, and (with
/// `expressions`) two expressions, one substituting a string and one a whole array. Without
/// them the same values are written out.
fn acl_entry(i: usize, expressions: bool) -> Value {
    let (product, plans) = if expressions {
        (
            json!("${workflow.input.product}"),
            json!("${lookup.output.response.body.planIds}"),
        )
    } else {
        (json!("prod-x"), json!(["plan-1", "plan-2"]))
    };
    json!({
        "scope": {
            "organizationId": [format!("org-{i}")],
            "productId": [format!("prod-{i}"), product],
            "planId": plans,
            "customFieldName": [format!("field_{i}")]
        },
        "permissions": ["GetCustomer", "PostCustomer", "GetPlan", "GetProduct", "GetInvoice"]
    })
}

/// The context of `benches/steps/large.json`.
fn large_context() -> Value {
    json!({
        "workflow": { "workflowId": "wf-1", "input": { "product": "prod-x", "customer": { "name": "Ada" } } },
        "lookup": { "output": { "response": { "body": { "planIds": ["plan-1", "plan-2"] } } } }
    })
}

fn acl_step(entries: usize, expressions: bool) -> String {
    let description = if expressions {
        "Large key for ${workflow.input.customer.name}"
    } else {
        "Large key for Ada"
    };
    let acl: Vec<Value> = (0..entries).map(|i| acl_entry(i, expressions)).collect();
    step_text(
        json!({ "organizationId": "org-1", "body": { "description": description, "acl": acl } }),
        large_context(),
    )
}

/// A point of `units` units whose step asks for `expressions` expressions: valid up to the
/// limit of 1,000, and past it the limit's error.
fn count_point(units: usize, expressions: usize, text: impl Fn() -> String + 'static) -> Point {
    Point {
        label: thousands(units),
        units: Units::Count(units as f64),
        text: Box::new(text),
        expect: if expressions > 1_000 {
            Expect::Error(TOO_MANY)
        } else {
            Expect::Valid
        },
        in_test: true,
    }
}

const ACL_ENTRIES: [usize; 4] = [1, 10, 100, 1_000];

fn acl_dimension(expressions: bool) -> Dimension {
    let points = ACL_ENTRIES
        .into_iter()
        .map(|entries| {
            // Two expressions an entry and one in the description: 1,000 entries ask for 2,001.
            let asked = if expressions { 2 * entries + 1 } else { 0 };
            count_point(entries, asked, move || acl_step(entries, expressions))
        })
        .collect();
    Dimension {
        title: if expressions {
            "ACL entries as in benches/steps/large.json (every scope kind, 5 permissions, 2 \
             expressions an entry)"
        } else {
            "ACL entries written out (the same entries with the expressions' values in their place)"
        },
        heading: "ACL entries",
        unit: "entry",
        points,
    }
}

/// The first error of a step with more than 1,000 expressions.
const TOO_MANY: &str = "more than 1000 expressions in one step";

/// How many distinct values the expressions of [`expressions_step`] cycle through.
const VALUES: usize = 100;

/// One ACL entry whose scope holds `count` expressions, alternately a workflow input
/// (`${workflow.input.x7}`, into `productId`) and an earlier step's output
/// (`${lookup.output.response.body.plans[7].id}`, into `planId`), over a context of
/// [`VALUES`] of each.
fn expressions_step(count: usize) -> String {
    let products: Vec<String> = (0..count)
        .step_by(2)
        .map(|i| format!("${{workflow.input.x{}}}", (i / 2) % VALUES))
        .collect();
    let plans: Vec<String> = (1..count)
        .step_by(2)
        .map(|i| {
            format!(
                "${{lookup.output.response.body.plans[{}].id}}",
                (i / 2) % VALUES
            )
        })
        .collect();
    let inputs: serde_json::Map<String, Value> = (0..VALUES)
        .map(|k| (format!("x{k}"), json!(format!("prod-{k}"))))
        .collect();
    let listed: Vec<Value> = (0..VALUES)
        .map(|k| json!({ "id": format!("plan-{k}"), "name": format!("Plan {k}") }))
        .collect();
    step_text(
        json!({
            "organizationId": "org-1",
            "body": {
                "description": "Key with many expressions",
                "acl": [{
                    "scope": { "productId": products, "planId": plans },
                    "permissions": ["GetCustomer"]
                }]
            }
        }),
        json!({
            "workflow": { "workflowId": "wf-1", "input": inputs },
            "lookup": { "output": { "response": { "body": { "plans": listed } } } }
        }),
    )
}

const EXPRESSIONS: [usize; 5] = [1, 10, 100, 1_000, 10_000];

fn expressions_dimension() -> Dimension {
    let points = EXPRESSIONS
        .into_iter()
        .map(|count| count_point(count, count, move || expressions_step(count)))
        .collect();
    Dimension {
        title: "Expressions (in one ACL entry's scope arrays, alternately ${workflow.input.xN} and \
                ${lookup.output.response.body.plans[N].id}, over a context of 100 of each)",
        heading: "expressions",
        unit: "expression",
        points,
    }
}

/// The typical step's body with `count` headers of the step's own (`X-Trace-N: value-N`), and
/// with `repeated` one of them given again in upper case, which must be found.
fn headers_step(count: usize, repeated: bool) -> String {
    let mut headers: serde_json::Map<String, Value> = (0..count)
        .map(|i| (format!("X-Trace-{i}"), json!(format!("value-{i}"))))
        .collect();
    if repeated {
        headers.insert(format!("X-TRACE-{}", count / 2), json!("again"));
    }
    step_text(
        json!({
            "organizationId": "org-1",
            "headers": headers,
            "body": { "description": "Key with many headers", "acl": [] }
        }),
        json!({}),
    )
}

const HEADERS: [usize; 4] = [1, 100, 1_000, 10_000];

fn headers_dimension() -> Dimension {
    let mut points: Vec<Point> = HEADERS
        .into_iter()
        .map(|count| count_point(count, 0, move || headers_step(count, false)))
        .collect();
    // The repeat is found among many (names are compared without case, in linear time).
    points.push(Point {
        label: "10,000 with a repeat".to_owned(),
        units: Units::Count(10_001.0),
        text: Box::new(|| headers_step(10_000, true)),
        expect: Expect::Error("is given twice"),
        in_test: true,
    });
    Dimension {
        title: "The step's own headers (X-Trace-N: value-N; the last row gives one of them again \
                in upper case)",
        heading: "headers",
        unit: "header",
        points,
    }
}

/// A record of an earlier step's listing, about 200 bytes.
fn record(i: usize) -> Value {
    json!({
        "id": format!("cus-{i:08}"),
        "email": format!("customer{i}@example.com"),
        "name": format!("Customer {i}"),
        "createdTime": "2026-11-27T10:00:00Z",
        "balance": (i % 10_000) as f64 / 100.0,
        "tags": ["onboarding", "trial"],
        "active": !i.is_multiple_of(3)
    })
}

/// The typical step (`benches/steps/typical.json`) with one more expression, into the last
/// record of a listing that fills the context to about `bytes`.
fn context_step(bytes: usize) -> String {
    let mut context = json!({
        "workflow": { "workflowId": "wf-1", "input": { "customer": { "name": "Ada" } } },
        "lookup": { "output": { "response": { "body": { "planIds": ["plan-1", "plan-2"] } } } },
        "listing": { "output": { "response": { "status": 200, "body": { "data": [] } } } }
    });
    let mut size = context.to_string().len();
    let mut records = Vec::new();
    while size < bytes || records.is_empty() {
        let record = record(records.len());
        size += record.to_string().len() + usize::from(!records.is_empty());
        records.push(record);
    }
    context["listing"]["output"]["response"]["body"]["data"] = Value::Array(records);
    step_text(
        json!({
            "organizationId": "org-1",
            "server": "sandbox",
            "body": {
                "description": "Key for ${workflow.input.customer.name}, last customer ${listing.output.response.body.data[-1].id}",
                "type": "publishable",
                "acl": [{ "scope": { "planId": "${lookup.output.response.body.planIds}" }, "permissions": ["GetCustomer"] }],
                "allowedIps": ["153.12.32.33"]
            },
            "headers": { "X-Request-Source": "onboarding-${workflow.workflowId}" }
        }),
        context,
    )
}

const CONTEXT_KIB: [usize; 5] = [1, 10, 100, 1 << 10, 10 << 10];

fn context_dimension() -> Dimension {
    let points = CONTEXT_KIB
        .into_iter()
        .map(|kib| Point {
            label: if kib < 1024 {
                format!("{kib} KiB")
            } else {
                format!("{} MiB", kib >> 10)
            },
            units: Units::ContextKib,
            text: Box::new(move || context_step(kib << 10)),
            expect: Expect::Valid,
            in_test: kib <= 1 << 10,
        })
        .collect();
    Dimension {
        title: "Context size (the typical step, 4 expressions, one of them into the last record of \
                a listing of ~200-byte records that fills the context)",
        heading: "context",
        unit: "KiB",
        points,
    }
}

/// A step nested `depth` levels deep as rendering counts them: `body` is level 1, `acl` 2, and
/// arrays inside it the rest.
fn nested_step(depth: usize) -> String {
    let mut value = json!("x");
    for _ in 1..depth {
        value = json!([value]);
    }
    step_text(
        json!({ "organizationId": "org-1", "body": { "description": "deep", "acl": value } }),
        json!({}),
    )
}

/// One expression substituting a string of `len` bytes (it counts `len + 2`).
fn substituted_step(len: usize) -> String {
    step_text(
        json!({ "organizationId": "org-1", "body": { "description": "${big.text}" } }),
        json!({ "big": { "text": "a".repeat(len) } }),
    )
}

/// An ACL entry with `count` permissions that are no operationId.
fn unknown_permissions_step(count: usize) -> String {
    let permissions: Vec<String> = (0..count).map(|i| format!("GetCustomr{i}")).collect();
    step_text(
        json!({ "organizationId": "org-1", "body": { "description": "typos",
            "acl": [{ "scope": {}, "permissions": permissions }] } }),
        json!({}),
    )
}

/// A row of the limits table: its label, its step and the outcome it must have.
type Edge = (&'static str, fn() -> String, Expect);

fn limits_dimension() -> Dimension {
    const SUBSTITUTED: usize = 256 << 10;
    const TOO_LARGE: &str = "expressions substitute more than 262144 bytes";
    const TOO_DEEP: &str = "nested deeper than 64 levels";
    const UNKNOWN: &str = "unknown permission";
    fn point(label: &str, text: fn() -> String, expect: Expect) -> Point {
        Point {
            label: label.to_owned(),
            units: Units::Count(1.0),
            text: Box::new(text),
            expect,
            in_test: true,
        }
    }
    fn wildcard() -> String {
        // Every record of a 1 MiB listing, as text: about 1 MiB to substitute.
        let text = context_step(1 << 20).replace(
            "last customer ${listing.output.response.body.data[-1].id}",
            "all: ${listing.output.response.body.data[*]}",
        );
        assert!(text.contains("data[*]"), "the wildcard is in the step");
        text
    }
    // (row, step, outcome): each limit just under and just over its value.
    #[rustfmt::skip]
    let edges: [Edge; 12] = [
        ("1,000 expressions (max_expressions)", || expressions_step(1_000), Expect::Valid),
        ("1,001 expressions", || expressions_step(1_001), Expect::Error(TOO_MANY)),
        ("substitutes 262,144 bytes (max_substituted_bytes)", || substituted_step(SUBSTITUTED - 2), Expect::Valid),
        ("substitutes 262,145 bytes", || substituted_step(SUBSTITUTED - 1), Expect::Error(TOO_LARGE)),
        ("`data[*]` over a 1 MiB listing", wildcard, Expect::Error(TOO_LARGE)),
        ("nested 64 levels (max_depth)", || nested_step(64), Expect::Error("must be of type object")),
        ("nested 65 levels", || nested_step(65), Expect::Error(TOO_DEEP)),
        ("nested 125 levels (127 in the step's text)", || nested_step(125), Expect::Error(TOO_DEEP)),
        ("nested 126 levels (128 in the text: serde_json's limit)", || nested_step(126), Expect::NotAStep("recursion limit exceeded")),
        ("1 unknown permission (a \"did you mean\")", || unknown_permissions_step(1), Expect::Error("did you mean")),
        ("1,000 unknown permissions (100 errors listed, 20 suggestions)", || unknown_permissions_step(1_000), Expect::Error(UNKNOWN)),
        ("10,000 unknown permissions", || unknown_permissions_step(10_000), Expect::Error(UNKNOWN)),
    ];
    let points = edges
        .into_iter()
        .map(|(label, text, expect)| point(label, text, expect))
        .collect();
    Dimension {
        title: "Limits at their edge",
        heading: "step",
        unit: "step",
        points,
    }
}

fn dimensions() -> Vec<Dimension> {
    vec![
        acl_dimension(true),
        acl_dimension(false),
        expressions_dimension(),
        context_dimension(),
        headers_dimension(),
        limits_dimension(),
    ]
}

// ---------------------------------------------------------------------------------------------
// Test mode: every point once, its outcome checked.

fn check(endpoint: &Endpoint, dimension: &Dimension) {
    for point in dimension.points.iter().filter(|p| p.in_test) {
        let text = (point.text)();
        let start = Instant::now();
        let (_, outcome) = step(endpoint, &text);
        let took = start.elapsed();
        let ok = match (point.expect, &outcome) {
            (Expect::Valid, Outcome::Valid) => true,
            (Expect::Error(says), Outcome::Invalid { message, .. }) => message.contains(says),
            (Expect::NotAStep(says), Outcome::NotAStep(message)) => message.contains(says),
            _ => false,
        };
        assert!(
            ok,
            "{}: {}: expected {:?}, got {outcome:?}",
            dimension.heading, point.label, point.expect
        );
        println!(
            "ok  {} {} ({took:.1?}): {}",
            dimension.heading,
            point.label,
            result_cell(&outcome)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Bench mode: the tables.

/// The median time of one floor and of one step, timed in alternating batches (so that drift
/// on a shared machine hits both alike) of at least a millisecond, for at least 15 rounds and
/// about a second.
fn median_times(floor: &dyn Fn(), work: &dyn Fn()) -> (Duration, Duration) {
    let start = Instant::now();
    work();
    let once = start.elapsed().max(Duration::from_nanos(1));
    let batch = (Duration::from_millis(1).as_nanos() / once.as_nanos()).clamp(1, 10_000) as u32;
    let time = |work: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..batch {
            work();
        }
        start.elapsed() / batch
    };
    let (mut floors, mut works) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while works.len() < 15 || (started.elapsed() < Duration::from_secs(1) && works.len() < 501) {
        floors.push(time(floor));
        works.push(time(work));
    }
    floors.sort();
    works.sort();
    (floors[floors.len() / 2], works[works.len() / 2])
}

/// The floor of `benches/render_validate.rs`: parse the step and serialize its body, nothing
/// else.
fn floor(text: &str) -> Vec<u8> {
    match Step::from_json(black_box(text)) {
        Ok(step) => serde_json::to_vec(&step.parameters.get("body")).expect("body"),
        Err(_) => Vec::new(),
    }
}

fn bytes(n: usize) -> String {
    if n < 10 << 10 {
        format!("{} B", thousands(n))
    } else if n < 10 << 20 {
        format!("{} KiB", thousands(n >> 10))
    } else {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    }
}

fn micros(time: Duration) -> String {
    let us = time.as_secs_f64() * 1e6;
    if us < 100.0 {
        format!("{us:.1} µs")
    } else if us < 10_000.0 {
        format!("{} µs", thousands(us.round() as usize))
    } else {
        format!("{:.1} ms", us / 1e3)
    }
}

fn result_cell(outcome: &Outcome) -> String {
    fn short(text: &str, max: usize) -> String {
        match text.char_indices().nth(max) {
            Some((at, _)) => format!("{}…", &text[..at]),
            None => text.to_owned(),
        }
    }
    match outcome {
        Outcome::Valid => "valid".to_owned(),
        Outcome::Invalid {
            pointer,
            message,
            errors,
        } => format!(
            "{} error{}: `{}` {}",
            errors,
            if *errors == 1 { "" } else { "s" },
            short(pointer, 30),
            short(message, 60)
        ),
        Outcome::NotAStep(message) => format!("not a step: {}", short(message, 60)),
    }
}

fn table(endpoint: &Endpoint, dimension: &Dimension) {
    let per_unit = dimension.unit != "step";
    println!("\n{}\n", dimension.title);
    print!("| {} | input | floor | time | ratio |", dimension.heading);
    if per_unit {
        print!(" µs per {0} | marginal µs per {0} |", dimension.unit);
    }
    println!(" peak heap | allocated (blocks) | result | `serve` |");
    let columns = if per_unit { 11 } else { 9 };
    println!("|{}", " --- |".repeat(columns));
    let mut previous: Option<(f64, f64)> = None;
    for point in &dimension.points {
        let text = (point.text)();
        let units = point.units.of(&text);
        let (floor_time, time) = median_times(
            &|| {
                black_box(floor(&text));
            },
            &|| {
                black_box(step(endpoint, &text));
            },
        );
        let ((_, outcome), heap) = counted(|| step(endpoint, &text));
        let us = time.as_secs_f64() * 1e6;
        let input = text.len();
        print!(
            "| {} | {} | {} | {} | {:.2}x |",
            point.label,
            bytes(input),
            micros(floor_time),
            micros(time),
            time.as_secs_f64() / floor_time.as_secs_f64()
        );
        if per_unit {
            let marginal = match previous {
                Some((before_units, before)) if units > before_units => {
                    format!("{:.2}", (us - before) / (units - before_units))
                }
                _ => String::new(),
            };
            print!(" {:.2} | {marginal} |", us / units);
            previous = Some((units, us));
        }
        print!(
            " {} | {} ({}) |",
            bytes(heap.peak),
            bytes(heap.total),
            thousands(heap.blocks)
        );
        // The editor API's default body limit (`serve --max-body-bytes`).
        let serve = if input <= 256 << 10 { "fits" } else { "413" };
        println!(" {} | {serve} |", result_cell(&outcome));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let endpoint = Endpoint::builder().build().expect("endpoint");
    if !bench {
        let start = Instant::now();
        for dimension in dimensions() {
            check(&endpoint, &dimension);
        }
        println!("cost: every point as expected, in {:.1?}", start.elapsed());
        return;
    }
    divan::main();
    println!(
        "\ncost tables: time and memory of one step (Step::from_json, and test_request_json writing the \
         report); the floor parses the step and serializes its body"
    );
    for dimension in dimensions() {
        table(&endpoint, &dimension);
    }
}

// ---------------------------------------------------------------------------------------------
// divan: the same steps, one benchmark per dimension.

fn run(bencher: Bencher, text: String) {
    let endpoint = Endpoint::builder().build().expect("endpoint");
    bencher.bench_local(|| step(&endpoint, &text));
}

#[divan::bench(args = ACL_ENTRIES, sample_count = 100)]
fn acl_entries(bencher: Bencher, entries: usize) {
    run(bencher, acl_step(entries, true));
}

#[divan::bench(args = ACL_ENTRIES, sample_count = 100)]
fn acl_entries_written_out(bencher: Bencher, entries: usize) {
    run(bencher, acl_step(entries, false));
}

#[divan::bench(args = EXPRESSIONS, sample_count = 100)]
fn expressions(bencher: Bencher, count: usize) {
    run(bencher, expressions_step(count));
}

#[divan::bench(args = HEADERS, sample_count = 100)]
fn headers(bencher: Bencher, count: usize) {
    run(bencher, headers_step(count, false));
}

#[divan::bench(args = CONTEXT_KIB, sample_count = 40)]
fn context_kib(bencher: Bencher, kib: usize) {
    run(bencher, context_step(kib << 10));
}
