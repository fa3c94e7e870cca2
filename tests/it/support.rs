//! What the test modules share: paths, the binary as a user runs it, the endpoint and
//! credentials, steps, executors with short timeouts, and servers on loopback (the emulator,
//! raw TCP servers that misbehave on purpose, an address that refuses connections).

use apikey_task::emulator::{EmulatorBuilder, RunningEmulator};
use apikey_task::{Credentials, Endpoint, Executor, RetryPolicy, Secret, Step};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Stands in for the configured API key: no output, error, log or answer may contain it.
pub const CANARY_KEY: &str = "sk_live_CANARY_credential_5f4dcc3b";

/// The crate's root, where `fixtures/`, `schemas/` and `tests/data/` are.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A step file under `fixtures/`, e.g. `valid/minimal.json`.
pub fn fixture(name: &str) -> PathBuf {
    root().join("fixtures").join(name)
}

/// The step files of `fixtures/valid` or `fixtures/invalid`, sorted by name.
pub fn fixture_files(kind: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixture(kind))
        .expect("fixture dir")
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| path.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
}

/// The `apikey-task` binary with no credentials in its environment unless a test adds them.
pub fn cli() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_apikey-task"));
    command
        .env_remove("REBILLY_API_KEY")
        .env_remove("REBILLY_JWT");
    command
}

/// Runs `command` to the end with `stdin` (empty when `None`) and collects what it printed.
/// Stdin is written from another thread, so a large input cannot block against a full stdout.
pub fn run(command: &mut Command, stdin: Option<&str>) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut pipe = child.stdin.take().expect("stdin");
    let input = stdin.unwrap_or_default().to_owned();
    let writer = std::thread::spawn(move || pipe.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("binary finishes");
    writer.join().expect("stdin writer").expect("stdin written");
    output
}

/// A plain HTTP client for talking to servers under test. reqwest is built without a crypto
/// provider of its own (the library installs ring when it builds an executor); a test that
/// builds a client first installs it the same way.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Stdout as one JSON document.
pub fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

/// Bytes a process wrote, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The embedded definition's `PostApiKey`.
pub fn endpoint() -> Endpoint {
    Endpoint::builder().build().expect("embedded endpoint")
}

/// An API key holding [`CANARY_KEY`].
pub fn credentials() -> Credentials {
    Credentials::ApiKey(Secret::new(CANARY_KEY))
}

/// A `PostApiKey` step to `server` with this body, in a workflow whose input has
/// `team: payments` (`${workflow.input.team}`).
pub fn step(server: &str, body: Value) -> Step {
    serde_json::from_value(json!({
        "parameters": { "server": server, "body": body },
        "context": { "workflow": { "input": { "team": "payments" } } }
    }))
    .expect("step")
}

/// Short timeouts and three quick attempts, for servers on loopback.
pub fn fast_executor() -> Executor {
    Executor::builder()
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_millis(800))
        .retry(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_max_elapsed(Duration::from_secs(10))
                .with_base_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_millis(50)),
        )
        .build()
        .expect("executor")
}

/// The default executor, without retries.
pub fn no_retry_executor() -> Executor {
    Executor::builder()
        .retry(RetryPolicy::never())
        .build()
        .expect("executor")
}

/// A running emulator on a free loopback port.
pub async fn emulator(builder: EmulatorBuilder) -> RunningEmulator {
    builder
        .build()
        .start("127.0.0.1:0")
        .await
        .expect("emulator starts")
}

/// An emulator serving on loopback for the duration of a synchronous test, on its own runtime.
pub struct LiveEmulator {
    runtime: tokio::runtime::Runtime,
    running: Option<RunningEmulator>,
}

impl LiveEmulator {
    pub fn start(builder: EmulatorBuilder) -> LiveEmulator {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let running = runtime.block_on(emulator(builder));
        LiveEmulator {
            runtime,
            running: Some(running),
        }
    }

    pub fn url(&self) -> String {
        self.running.as_ref().map(|r| r.url()).unwrap_or_default()
    }

    /// How many keys it created.
    pub fn created(&self) -> usize {
        self.running.as_ref().map_or(0, RunningEmulator::created)
    }
}

impl Drop for LiveEmulator {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            self.runtime.block_on(running.shutdown());
        }
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A loopback URL where nothing listens: connections are refused.
pub fn refused_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// A raw TCP server on loopback: for each connection it reads the request (up to 64 KiB),
/// then runs `behave` on the socket.
pub async fn tcp_server<F, Fut>(behave: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let behave = std::sync::Arc::new(behave);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let behave = behave.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut buffer).await;
                behave(socket).await;
            });
        }
    });
    format!("http://{addr}")
}

/// A raw TCP server that writes `answer` as is after reading the request, then closes the
/// connection, or holds it open for 30 s when `hold`.
pub async fn raw_server(answer: impl Into<Vec<u8>>, hold: bool) -> String {
    let answer: std::sync::Arc<[u8]> = answer.into().into();
    tcp_server(move |mut socket| {
        let answer = answer.clone();
        async move {
            let _ = socket.write_all(&answer).await;
            if hold {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            drop(socket);
        }
    })
    .await
}
