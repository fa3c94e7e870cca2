//! What the test modules share: paths, the binary as a user runs it, the endpoint and
//! credentials, steps, executors with short timeouts, and servers on loopback (the emulator,
//! raw TCP servers that misbehave on purpose, an address that refuses connections).

use apikey_task::emulator::{EmulatorBuilder, RunningEmulator};
use apikey_task::{Credentials, Endpoint, Executor, RetryPolicy, Secret, Step};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
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
    run_bytes(command, stdin.unwrap_or_default().as_bytes())
}

/// [`run`] with stdin as bytes, which need not be UTF-8.
pub fn run_bytes(command: &mut Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut pipe = child.stdin.take().expect("stdin");
    let input = stdin.to_owned();
    let writer = std::thread::spawn(move || pipe.write_all(&input));
    let output = child.wait_with_output().expect("binary finishes");
    writer.join().expect("stdin writer").expect("stdin written");
    output
}

/// [`run_bytes`], but the process must finish within `limit`: past it, it is killed and the
/// test fails.
pub fn run_within(command: &mut Command, stdin: &[u8], limit: Duration) -> Output {
    let mut child = KillOnDrop(
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts"),
    );
    let mut pipe = child.0.stdin.take().expect("stdin");
    let input = stdin.to_owned();
    let writer = std::thread::spawn(move || pipe.write_all(&input));
    let drain = |stream: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut stream) = stream {
                let _ = stream.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .0
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .0
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let tick = Duration::from_millis(20);
    let mut status = None;
    for _ in 0..=(limit.as_millis() / tick.as_millis()) {
        status = child.0.try_wait().expect("wait");
        if status.is_some() {
            break;
        }
        std::thread::sleep(tick);
    }
    let Some(status) = status else {
        drop(child);
        panic!("{command:?} did not finish within {limit:?}; killed");
    };
    writer.join().expect("stdin writer").expect("stdin written");
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// A child process killed (and reaped) when dropped, so a failing test leaves none behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `apikey-task` started through `sh` with `ulimit -n files` applied first; add its arguments.
/// No credentials in its environment unless a test adds them.
pub fn under_ulimit(files: u32) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_apikey-task"))
        .env_remove("REBILLY_API_KEY")
        .env_remove("REBILLY_JWT");
    command
}

/// Starts `command` and waits up to 30 s for its first line on stdout, which it returns with
/// the process. The rest of stdout is drained for as long as the process runs; stderr is
/// piped, for the caller to take.
pub fn started(command: &mut Command) -> (KillOnDrop, String) {
    use std::io::BufRead;
    let mut child = KillOnDrop(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let (first_line, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = first_line.send(line);
        // Keep the pipe open (and drained) for as long as the process runs.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = received
        .recv_timeout(Duration::from_secs(30))
        .expect("a first line within 30 s");
    (child, line)
}

/// `apikey-task serve` (or anything printing `serving on URL` first), running until dropped.
pub struct ServeProcess {
    /// The base URL it printed, with its trailing slash.
    pub base: String,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    _child: KillOnDrop,
}

impl ServeProcess {
    /// Starts `command` (e.g. `cli().args(["serve", "--port", "0"])`) and waits up to 30 s for
    /// its first line. Stderr is collected (see [`ServeProcess::stderr`]).
    pub fn start(command: &mut Command) -> ServeProcess {
        let (mut child, line) = started(command);
        let collected = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut stderr = child.0.stderr.take().expect("stderr");
        let sink = collected.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                if let Ok(mut all) = sink.lock() {
                    all.extend_from_slice(&chunk[..n]);
                }
            }
        });
        let base = line
            .trim()
            .strip_prefix("serving on ")
            .unwrap_or_default()
            .to_owned();
        assert!(
            base.starts_with("http://127.0.0.1:"),
            "first line: {line:?}"
        );
        ServeProcess {
            base,
            stderr: collected,
            _child: child,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .map(|bytes| text(&bytes))
            .unwrap_or_default()
    }
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

/// A step's parameters as a runner repeats them run after run: a key to `server` described
/// by `${workflow.input.team}`, allowing `${workflow.input.ip}`.
pub fn team_parameters(server: &str) -> serde_json::Map<String, Value> {
    serde_json::from_value(json!({
        "server": server,
        "body": {
            "description": "CI key for ${workflow.input.team}",
            "allowedIps": ["${workflow.input.ip}"]
        }
    }))
    .expect("parameters")
}

/// The workflow state of one run for [`team_parameters`].
pub fn team_state(team: &str, ip: &str) -> serde_json::Map<String, Value> {
    serde_json::from_value(json!({ "workflow": { "input": { "team": team, "ip": ip } } }))
        .expect("state")
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

    /// How many keys it holds.
    pub fn created(&self) -> usize {
        self.running.as_ref().map_or(0, RunningEmulator::created)
    }

    /// The running emulator: its keys, its counters and its misbehaviour switches.
    pub fn running(&self) -> &RunningEmulator {
        self.running.as_ref().expect("running until dropped")
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
    let behave = std::sync::Arc::new(behave);
    accept_loop(move |mut socket| {
        let behave = behave.clone();
        async move {
            let mut buffer = vec![0u8; 64 * 1024];
            let _ = socket.read(&mut buffer).await;
            behave(socket).await;
        }
    })
    .await
}

/// A raw TCP server on loopback: for each connection it reads one whole request (its head
/// and a `Content-Length` body, at most 64 KiB, waiting at most 5 s), then runs `behave` on
/// the socket with the request's bytes.
pub async fn request_server<F, Fut>(behave: F) -> String
where
    F: Fn(TcpStream, Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let behave = std::sync::Arc::new(behave);
    accept_loop(move |mut socket| {
        let behave = behave.clone();
        async move {
            let request = read_request(&mut socket).await;
            behave(socket, request).await;
        }
    })
    .await
}

/// Binds a free loopback port and hands every accepted connection to `handle`, in a task of
/// its own; returns the base URL.
async fn accept_loop<F, Fut>(handle: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(handle(socket));
        }
    });
    format!("http://{addr}")
}

/// One request's bytes: up to the end of its head and then its `Content-Length` body, or
/// whatever arrived when the connection closed, 64 KiB passed or 5 s passed.
async fn read_request(socket: &mut TcpStream) -> Vec<u8> {
    const MAX: usize = 64 * 1024;
    let mut request = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let reading = async {
        while request.len() < MAX {
            let complete = head_end(&request).is_some_and(|end| {
                let length = header(&request, "content-length")
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                request.len() >= end + length
            });
            if complete {
                break;
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), reading).await;
    request
}

/// Where a request's head ends (after its blank line), once it has arrived.
fn head_end(request: &[u8]) -> Option<usize> {
    request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// The value of header `name` (any case) in a request's head.
pub fn header(request: &[u8], name: &str) -> Option<String> {
    let head = &request[..head_end(request).unwrap_or(request.len())];
    String::from_utf8_lossy(head)
        .lines()
        .skip(1)
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
}

/// The path of a request's first line, `/created/api-keys`.
pub fn request_path(request: &[u8]) -> String {
    let head = String::from_utf8_lossy(&request[..request.len().min(8192)]).into_owned();
    head.split(' ').nth(1).unwrap_or_default().to_owned()
}

/// A whole HTTP/1.1 answer that closes the connection: status line, `headers`, a
/// `Content-Length` and `body`.
pub fn http_answer(status: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut answer = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        answer.push_str(&format!("{name}: {value}\r\n"));
    }
    answer.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    answer.into_bytes()
}

/// A server that reads each request whole, writes `answer` and closes; returns its URL and how
/// many requests it received.
pub async fn answer_server(
    answer: Vec<u8>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let answer: std::sync::Arc<[u8]> = answer.into();
    let received = std::sync::Arc::new(AtomicUsize::new(0));
    let count = received.clone();
    let url = request_server(move |mut socket, _request| {
        let answer = answer.clone();
        count.fetch_add(1, Ordering::SeqCst);
        async move {
            let _ = socket.write_all(&answer).await;
            let _ = socket.shutdown().await;
        }
    })
    .await;
    (url, received)
}

/// A 429 whose `X-RateLimit-Retry-After` is `u64::MAX` seconds since the epoch: a wait beyond
/// any clock.
pub fn rate_limited_forever() -> Vec<u8> {
    http_answer(
        "429 Too Many Requests",
        &[
            ("Content-Type", "application/json"),
            ("X-RateLimit-Retry-After", "18446744073709551615"),
        ],
        "{}",
    )
}

/// A JWT-shaped bearer token that stands in for configured credentials, like [`CANARY_KEY`].
pub const CANARY_JWT: &str = "eyJhbGciOiJIUzI1NiJ9.CANARY_jwt_payload.c2lnbmF0dXJl_5f4dcc3b";

/// What an echo server reflects, chosen by the first segment of the request's path (the step's
/// base URL is `{url}/{mode}`).
pub const ECHO_MODES: [&str; 5] = ["created", "problem", "text", "escaped", "escaped-created"];

/// A server that reflects the credential it receives (`REB-APIKEY`, or the token of
/// `Authorization: Bearer`) into its answer, as a careless or hostile API might:
///
/// - `/created/...`: 201, `{"id": "k1", "echo": V, "auth": <the whole header>, "secretKey":
///   "sk_new"}` and `Location: /api-keys/k1?key=V`;
/// - `/problem/...`: 422 problem details with V in `detail` and `invalidFields[0].message`;
/// - `/text/...`: 500 with a plain-text body holding V;
/// - `/escaped/...`: the 422 with V's first characters written as `\u00XX` escapes;
/// - `/escaped-created/...`: the 201 body with `echo` written that way.
pub async fn echo_server() -> String {
    request_server(|mut socket, request| async move {
        let whole = header(&request, "reb-apikey")
            .or_else(|| header(&request, "authorization"))
            .unwrap_or_default();
        let value = whole.strip_prefix("Bearer ").unwrap_or(&whole).to_owned();
        let plain = json_string(&value);
        let escaped = escaped_json_string(&value);
        let problem = |v: &str| {
            format!(
                r#"{{"type": "about:blank", "title": "Invalid data", "status": 422, "detail": "rejected key {v}", "invalidFields": [{{"field": "description", "message": "key {v} is not allowed"}}]}}"#
            )
        };
        let created = |v: &str| {
            format!(
                r#"{{"id": "k1", "echo": "{v}", "auth": "{}", "secretKey": "sk_new"}}"#,
                json_string(&whole)
            )
        };
        let location = format!("/api-keys/k1?key={value}");
        let json = ("Content-Type", "application/json");
        let answer = match request_path(&request).split('/').nth(1).unwrap_or_default() {
            "created" => http_answer(
                "201 Created",
                &[json, ("Location", location.as_str())],
                &created(&plain),
            ),
            "problem" => http_answer("422 Unprocessable Entity", &[json], &problem(&plain)),
            "text" => http_answer(
                "500 Internal Server Error",
                &[("Content-Type", "text/plain")],
                &format!("internal error while handling key {value}"),
            ),
            "escaped" => http_answer("422 Unprocessable Entity", &[json], &problem(&escaped)),
            "escaped-created" => http_answer("201 Created", &[json], &created(&escaped)),
            other => http_answer("404 Not Found", &[], other),
        };
        let _ = socket.write_all(&answer).await;
        let _ = socket.shutdown().await;
    })
    .await
}

/// `text` as the inside of a JSON string literal.
fn json_string(text: &str) -> String {
    let quoted = Value::String(text.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// `text` as the inside of a JSON string literal, its first two characters as `\u00XX`
/// escapes: the same string once parsed, other bytes on the wire.
fn escaped_json_string(text: &str) -> String {
    let mut chars = text.chars();
    let mut out = String::new();
    for c in chars.by_ref().take(2) {
        out.push_str(&format!("\\u{:04x}", u32::from(c)));
    }
    out.push_str(&json_string(chars.as_str()));
    out
}

/// An HTTP-date (IMF-fixdate, RFC 9110), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(at: std::time::SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let seconds = at
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_secs();
    let days = seconds / 86_400;
    let of_day = seconds % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// A fresh, empty directory under the system's temporary directory for this test process,
/// removed with what it holds when the value is dropped.
pub fn scratch_dir(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("apikey-task-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    Scratch(dir)
}

/// A directory of [`scratch_dir`]'s, gone when this is.
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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

/// A fixed-seed generator (SplitMix64): the same generated inputs on every run.
pub struct Seed(pub u64);

impl Seed {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One of `from`.
    pub fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// A server that answers every request with `answer` and keeps the last request it read (head
/// and body), to check what was sent.
pub async fn recording_server(
    answer: Vec<u8>,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let answer: std::sync::Arc<[u8]> = answer.into();
    let url = request_server(move |mut socket, request| {
        let recorded = recorded.clone();
        let answer = answer.clone();
        async move {
            if let Ok(mut bytes) = recorded.lock() {
                *bytes = request;
            }
            let _ = socket.write_all(&answer).await;
        }
    })
    .await;
    (url, seen)
}
