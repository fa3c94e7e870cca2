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

/// CPU time, user and system, in seconds, from `getrusage` (microseconds; `/proc/self/stat`
/// counts 10 ms ticks, too coarse for rounds of a few tens of milliseconds).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub user: f64,
    pub system: f64,
    /// Context switches, voluntary (a thread parked to wait) and not: a wake-up more per
    /// request costs more CPU than the instructions around it.
    pub switches: f64,
}

impl Cpu {
    /// This process, every thread (zero where there is no `getrusage`).
    pub fn of_self() -> Cpu {
        #[cfg(unix)]
        return rusage(libc::RUSAGE_SELF);
        #[cfg(not(unix))]
        return Cpu::default();
    }

    /// The children waited for so far (zero where there is no `getrusage`).
    pub fn of_children() -> Cpu {
        #[cfg(unix)]
        return rusage(libc::RUSAGE_CHILDREN);
        #[cfg(not(unix))]
        return Cpu::default();
    }

    pub fn total(self) -> f64 {
        self.user + self.system
    }
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
            switches: self.switches - earlier.switches,
        }
    }
}

#[cfg(unix)]
fn rusage(who: libc::c_int) -> Cpu {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: the pointer is valid for one `rusage`, which is all getrusage writes; the memory
    // is zeroed first and an all-zero `rusage` (plain integers) is a valid one, so it is
    // initialised whether or not the call writes it.
    let usage = unsafe {
        let failed = libc::getrusage(who, usage.as_mut_ptr());
        debug_assert_eq!(failed, 0, "getrusage");
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Cpu {
        user: seconds(usage.ru_utime),
        system: seconds(usage.ru_stime),
        switches: (usage.ru_nvcsw + usage.ru_nivcsw) as f64,
    }
}
