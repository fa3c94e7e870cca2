//! The `Task` trait as a runner uses it: a registry of `Arc<dyn Task>`, contexts with
//! cancellation and deadlines, against real loopback servers.

use crate::support::{credentials, refused_url, team_parameters, team_state};
use apikey_task::secrets::Redact;
// `TaskContext` lives at the crate root; `task` still re-exports it.
use apikey_task::task::{HttpTask, Task, TaskContext, TaskRegistry};
use apikey_task::{ErrorKind, Executor, RetryPolicy};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn registry() -> TaskRegistry {
    let executor = Executor::builder()
        .retry(
            RetryPolicy::default()
                .with_max_attempts(5)
                .with_max_elapsed(Duration::from_secs(60))
                .with_base_delay(Duration::from_secs(5))
                .with_max_delay(Duration::from_secs(5)),
        )
        .build()
        .expect("executor");
    let mut registry = TaskRegistry::new();
    registry
        .register(Arc::new(
            HttpTask::create_api_key(executor.clone()).expect("create"),
        ))
        .register(Arc::new(HttpTask::get_api_key(executor).expect("get")));
    registry
}

fn create() -> Arc<dyn Task> {
    registry().get("CreateApiKey").expect("registered")
}

fn parameters(server: &str) -> Map<String, Value> {
    serde_json::from_value(json!({
        "server": server,
        "body": { "description": "Key for ${workflow.input.team}" }
    }))
    .expect("parameters")
}

fn state() -> Map<String, Value> {
    serde_json::from_value(json!({ "workflow": { "input": { "team": "payments" } } }))
        .expect("state")
}

async fn slow_server(expected: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(5)))
        .expect(expected)
        .mount(&server)
        .await;
    server
}

#[test]
fn the_registry_holds_task_types_by_name() {
    let registry = registry();
    assert_eq!(
        registry.task_types().collect::<Vec<_>>(),
        ["CreateApiKey", "GetApiKey"]
    );
    assert!(registry.get("DeleteEverything").is_none());
    let get = registry.get("GetApiKey").expect("get");
    assert_eq!(get.input_schema()["required"], json!(["id"]));
    assert!(get.output_schema()["$defs"]["ResponseOutput"].is_object());
}

#[test]
fn test_request_reads_the_state_from_the_context() {
    let state = state();
    let credentials = credentials();
    let ctx = TaskContext::new(&state, &credentials, &Redact);
    let report = create().test_request(parameters("http://127.0.0.1:9"), &ctx);
    assert!(report.valid, "{:?}", report.errors);
    assert_eq!(
        report.request.body.expect("body")["description"],
        "Key for payments"
    );
    assert_eq!(
        report.request.headers.last().map(|h| h.1.as_str()),
        Some("<redacted>")
    );
}

#[tokio::test]
async fn cancelling_an_execution_in_flight_stops_it_promptly_and_says_the_key_may_exist() {
    let server = slow_server(1).await;
    let state = state();
    let credentials = credentials();
    let token = CancellationToken::new();
    let ctx = TaskContext::new(&state, &credentials, &Redact).with_cancellation(token.clone());
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        token.cancel();
    });
    let started = Instant::now();
    let error = create()
        .execute(parameters(&server.uri()), &ctx)
        .await
        .expect_err("cancelled");
    canceller.await.expect("canceller");
    assert!(error.is_cancelled(), "{error}");
    assert_eq!(error.kind(), ErrorKind::Cancelled);
    assert!(error.is_outcome_unknown(), "a request was on the wire");
    assert!(
        error.message().contains(
            r#"cancelled while a request was in flight; "Create an API key" (PostApiKey) may have taken effect"#
        ),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_cancelled_context_sends_nothing() {
    let server = slow_server(0).await;
    let state = state();
    let credentials = credentials();
    let token = CancellationToken::new();
    token.cancel();
    let ctx = TaskContext::new(&state, &credentials, &Redact).with_cancellation(token);
    let error = create()
        .execute(parameters(&server.uri()), &ctx)
        .await
        .expect_err("cancelled");
    assert!(error.is_cancelled() && !error.is_outcome_unknown());
}

#[tokio::test]
async fn the_deadline_bounds_a_slow_server() {
    let server = slow_server(1).await;
    let state = state();
    let credentials = credentials();
    let ctx = TaskContext::new(&state, &credentials, &Redact)
        .with_deadline(Instant::now() + Duration::from_millis(300));
    let started = Instant::now();
    let error = create()
        .execute(parameters(&server.uri()), &ctx)
        .await
        .expect_err("deadline");
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded);
    assert!(error.is_outcome_unknown());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_deadline_bounds_retries_too() {
    let url = refused_url();
    let state = state();
    let credentials = credentials();
    let ctx = TaskContext::new(&state, &credentials, &Redact)
        .with_deadline(Instant::now() + Duration::from_millis(500))
        .with_attempt(2);
    let started = Instant::now();
    let error = create()
        .execute(parameters(&url), &ctx)
        .await
        .expect_err("refused");
    // The policy would wait up to 5 s; the deadline leaves no room, so it stops at once.
    assert_eq!(error.kind(), ErrorKind::Unreachable);
    assert!(error.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

/// A runner executes the same step in run after run: from the second time, the task's
/// endpoint keeps a template of its parameters. Each run still creates its own key from its
/// own state, and input that the whole check refuses is refused the same way.
#[tokio::test]
async fn the_same_step_run_after_run_creates_a_key_each_time() {
    let emulator = crate::support::emulator(apikey_task::emulator::Emulator::builder()).await;
    let task = HttpTask::create_api_key(crate::support::fast_executor()).expect("task");
    let credentials = credentials();
    let parameters = team_parameters(&emulator.url());
    let teams = ["payments", "billing", "support", "treasury"];
    for (run, team) in teams.into_iter().enumerate() {
        let state = team_state(team, "153.12.32.33");
        let ctx = TaskContext::new(&state, &credentials, &Redact);
        let output = task
            .execute(parameters.clone(), &ctx)
            .await
            .expect("created");
        assert_eq!(
            output.response.body["description"],
            format!("CI key for {team}")
        );
        assert_eq!(emulator.created(), run + 1);
    }
    let refused = team_state("ops", "10.0.0.1");
    let ctx = TaskContext::new(&refused, &credentials, &Redact);
    let error = task
        .execute(parameters.clone(), &ctx)
        .await
        .expect_err("refused");
    let fresh = HttpTask::create_api_key(crate::support::fast_executor()).expect("task");
    let first_time = fresh.execute(parameters, &ctx).await.expect_err("refused");
    assert_eq!(error.kind(), ErrorKind::InvalidStep);
    assert_eq!(error.message(), first_time.message());
    assert_eq!(error.problems(), first_time.problems());
    assert_eq!(emulator.created(), teams.len());
    assert_eq!(task.endpoint().templates_kept(), 1);
    let descriptions: Vec<Value> = emulator
        .keys()
        .iter()
        .map(|key| key["description"].clone())
        .collect();
    for team in teams {
        assert!(
            descriptions.contains(&json!(format!("CI key for {team}"))),
            "{descriptions:?}"
        );
    }
}

/// Polled on the thread blocking on a multi-threaded runtime (as under `#[tokio::main]`, and
/// as this test's body is), an attempt made while another request is on the wire is sent and
/// read by a task on the runtime's workers; cancelling its execution aborts that task, and
/// its connection closes at once. The resolver notes where each request's connection was
/// made: the first request's on this thread, the second's on a worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowded_attempt_runs_on_the_workers_and_stops_with_its_execution() {
    use std::io::Read;

    // A server that reads each request, says whose it is, and never answers; it says so
    // again when the client closes the connection. On threads of its own, outside the runtime.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (events, mut seen) = tokio::sync::mpsc::unbounded_channel::<(String, &'static str)>();
    std::thread::spawn(move || {
        for connection in listener.incoming() {
            let (Ok(mut connection), events) = (connection, events.clone()) else {
                return;
            };
            std::thread::spawn(move || {
                let (mut read, mut buffer, mut whose) = (Vec::new(), [0u8; 4096], None);
                while let Ok(n @ 1..) = connection.read(&mut buffer) {
                    read.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&read);
                    if whose.is_none()
                        && let Some(name) = ["first", "second"]
                            .into_iter()
                            .find(|name| text.contains(&format!("{name} key")))
                    {
                        whose = Some(name.to_owned());
                        let _ = events.send((name.to_owned(), "received"));
                    }
                }
                let _ = events.send((whose.unwrap_or_default(), "closed"));
            });
        }
    });

    /// Resolves every name to loopback, noting the thread that asked.
    struct Noting(std::sync::Mutex<Vec<(String, std::thread::ThreadId)>>);
    impl reqwest::dns::Resolve for Noting {
        fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
            let thread = std::thread::current().id();
            if let Ok(mut noted) = self.0.lock() {
                noted.push((name.as_str().to_owned(), thread));
            }
            let loopback: reqwest::dns::Addrs = Box::new(std::iter::once(
                std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            ));
            Box::pin(std::future::ready(Ok(loopback)))
        }
    }
    let resolver = Arc::new(Noting(std::sync::Mutex::new(Vec::new())));
    // As `support::http` does: reqwest has no crypto provider of its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .dns_resolver(resolver.clone())
        .build()
        .expect("client");
    let executor = Executor::builder()
        .client(client)
        .build()
        .expect("executor");
    let [first, second] = ["first", "second"].map(|name| format!("http://{name}.test:{port}"));
    let endpoint = apikey_task::Endpoint::builder()
        .allow_server(&first)
        .allow_server(&second)
        .build()
        .expect("endpoint");
    let parameters = |server: &str, name: &str| -> Map<String, Value> {
        serde_json::from_value(json!({
            "server": server,
            "body": { "description": format!("{name} key") }
        }))
        .expect("parameters")
    };
    let (credentials, state) = (credentials(), Map::new());
    let (stop_first, stop_second) = (CancellationToken::new(), CancellationToken::new());
    let ctx_first =
        TaskContext::new(&state, &credentials, &Redact).with_cancellation(stop_first.clone());
    let ctx_second =
        TaskContext::new(&state, &credentials, &Redact).with_cancellation(stop_second.clone());
    // Polled together, the first takes its place on the wire before the second is made.
    let run_first = executor.execute_in(&endpoint, parameters(&first, "first"), &ctx_first);
    let run_second = executor.execute_in(&endpoint, parameters(&second, "second"), &ctx_second);
    let mut next = async move |what: &str| {
        tokio::time::timeout(Duration::from_secs(5), seen.recv())
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no event in 5 s, waiting for {what}"))
    };
    let steer = async {
        let mut received = vec![next("a request").await.0, next("a request").await.0];
        received.sort();
        assert_eq!(received, ["first", "second"]);
        stop_second.cancel();
        // Nothing else is closed first: the next event is the second's connection closing.
        assert_eq!(
            next("the second closed").await,
            ("second".to_owned(), "closed")
        );
        stop_first.cancel();
        assert_eq!(
            next("the first closed").await,
            ("first".to_owned(), "closed")
        );
    };
    let (first_done, second_done, ()) = tokio::join!(run_first, run_second, steer);
    for (done, name) in [(first_done, "first"), (second_done, "second")] {
        let error = done.expect_err("cancelled");
        assert!(error.is_cancelled(), "{name}: {error}");
        assert!(
            error.is_outcome_unknown(),
            "{name}: a request was on the wire"
        );
    }
    let noted = resolver.0.lock().expect("noted").clone();
    let thread_of = |name: &str| {
        noted
            .iter()
            .find(|(host, _)| *host == format!("{name}.test"))
            .map(|(_, thread)| *thread)
            .unwrap_or_else(|| panic!("{name}.test was never resolved: {noted:?}"))
    };
    let here = std::thread::current().id();
    assert_eq!(thread_of("first"), here, "{noted:?}");
    assert_ne!(thread_of("second"), here, "{noted:?}");
}
