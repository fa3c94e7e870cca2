//! Misbehaviour on demand, for tests and demos of exactly-once creation: creates whose answer
//! is lost after the key was stored, and creates and updates answered late.

use super::lock;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

pub(super) struct Faults {
    /// Creates still to lose.
    lose: AtomicU32,
    /// How long a create or update waits, stored, before it is answered.
    slow: Mutex<Option<Duration>>,
    /// POSTs and PUTs that stored a key, answered or not.
    committed: AtomicUsize,
}

impl Faults {
    pub(super) fn new(lose: u32, slow: Option<Duration>) -> Faults {
        Faults {
            lose: AtomicU32::new(lose),
            slow: Mutex::new(slow),
            committed: AtomicUsize::new(0),
        }
    }

    pub(super) fn lose_next(&self, creates: u32) {
        self.lose.store(creates, Ordering::SeqCst);
    }

    pub(super) fn set_slow(&self, delay: Option<Duration>) {
        *lock(&self.slow) = delay;
    }

    pub(super) fn committed(&self) -> usize {
        self.committed.load(Ordering::SeqCst)
    }

    /// Counts a stored create or update and decides its fate: waits as configured, then
    /// answers `Err(LostAnswer)` if it is a create and creates are still to be lost. The
    /// decision is taken before the wait, so concurrent creates each take one of the count.
    pub(super) async fn after_commit(&self, created: bool) -> Result<(), LostAnswer> {
        self.committed.fetch_add(1, Ordering::SeqCst);
        let lost = created
            && self
                .lose
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        let delay = *lock(&self.slow);
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if lost { Err(LostAnswer) } else { Ok(()) }
    }
}

/// A service error: hyper drops the connection without writing any answer, as when a
/// response is lost on the way back.
#[derive(Debug)]
pub(crate) struct LostAnswer;

impl std::fmt::Display for LostAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the emulator lost this answer on purpose")
    }
}

impl std::error::Error for LostAnswer {}
