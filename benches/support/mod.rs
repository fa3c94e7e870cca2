//! What the benches share: `apikey-task` (the release binary cargo built for the bench) run as
//! a separate process, so the server's work does not count as the client's, and CPU times.

// Each bench uses a part of this.
#![allow(dead_code)]

use std::io::BufRead;

/// A child `apikey-task` server on a free port, killed on drop.
pub struct ChildServer {
    child: std::process::Child,
    /// The URL it printed on its first line of stdout.
    pub url: String,
}

impl ChildServer {
    /// Runs `apikey-task ARGS` without credentials in its environment and waits for the line
    /// that ends with its URL. `APIKEY_BENCH_SERVER=PATH` runs another build instead (the
    /// editor API of the build before a change, in the same run of the same bench).
    pub fn start(args: &[&str]) -> ChildServer {
        let binary = std::env::var_os("APIKEY_BENCH_SERVER")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_apikey-task").into());
        let mut child = std::process::Command::new(binary)
            .args(args)
            .env_remove("REBILLY_API_KEY")
            .env_remove("REBILLY_JWT")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("server process");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut first)
            .expect("the server says where it listens");
        let url = first
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        ChildServer { child, url }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fields of this process's `/proc/self/stat` (Linux) that count clock ticks, summed, in
/// seconds: `after_name` indexes the fields after the command name (which is in parentheses
/// and may contain spaces), so utime is 11, stime 12, and the waited-for children's cutime 13
/// and cstime 14. Ticks are 10 ms, so runs must be long.
pub fn stat_seconds(after_name: &[usize]) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    after_name.iter().map(|&i| ticks(i)).sum::<f64>() / 100.0
}
