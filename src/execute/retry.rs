//! The retry policy: bounded, and only for what is safe to repeat.

use std::time::Duration;

/// Retries only what is safe to repeat: a failure before the request was sent (connection
/// refused, a name that does not resolve), 429 after the server's time, and, for an idempotent
/// method (GET, PUT, DELETE), a 5xx, a timeout or a lost connection. The same failures of a
/// non-idempotent request (a POST) leave its outcome unknown, and are never retried by it.
///
/// Start from [`RetryPolicy::default`] and change what you need:
/// `RetryPolicy::default().with_max_attempts(5)`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Most attempts in all, the first included. 1 disables retries.
    pub max_attempts: u32,
    /// Most time from the first attempt to the start of the last; a retry that would start
    /// later is not made.
    pub max_elapsed: Duration,
    /// The first backoff; doubled for each further attempt.
    pub base_delay: Duration,
    /// The longest backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            max_elapsed: Duration::from_secs(60),
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn never() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Most attempts in all, the first included; 1 disables retries.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Most time from the first attempt to the start of the last.
    pub fn with_max_elapsed(mut self, elapsed: Duration) -> Self {
        self.max_elapsed = elapsed;
        self
    }

    /// The first backoff, doubled for each further attempt.
    pub fn with_base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The longest backoff.
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The wait before attempt `attempt + 1`, or `None` when the policy says stop.
    /// `server_says` is the server's own time (429); otherwise exponential backoff with full
    /// jitter.
    pub(crate) fn next_delay(
        &self,
        attempt: u32,
        elapsed: Duration,
        server_says: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let delay = match server_says {
            // A little jitter after the server's time, so a burst of steps does not return at
            // the same instant.
            Some(after) => after.saturating_add(Duration::from_millis(
                (crate::util::noise::unit() * 100.0) as u64,
            )),
            None => {
                let exponent = attempt.saturating_sub(1).min(16);
                let ceiling = self
                    .base_delay
                    .saturating_mul(1 << exponent)
                    .min(self.max_delay);
                ceiling.mul_f64(crate::util::noise::unit())
            }
        };
        // Saturating: a server may ask for any wait, up to "forever"; one longer than the
        // policy allows ends the attempts instead of overflowing or sleeping for years.
        (elapsed.saturating_add(delay) <= self.max_elapsed).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_attempts_and_time() {
        let policy = RetryPolicy::default();
        assert!(policy.next_delay(1, Duration::ZERO, None).is_some());
        assert!(policy.next_delay(3, Duration::ZERO, None).is_none());
        assert!(
            policy
                .next_delay(1, Duration::from_secs(59), Some(Duration::from_secs(5)))
                .is_none()
        );
        assert!(
            RetryPolicy::never()
                .next_delay(1, Duration::ZERO, None)
                .is_none()
        );
    }

    #[test]
    fn backoff_grows_within_its_ceiling_and_server_time_is_honoured() {
        let policy = RetryPolicy {
            max_attempts: 10,
            ..RetryPolicy::default()
        };
        for attempt in 1..10 {
            let delay = policy
                .next_delay(attempt, Duration::ZERO, None)
                .unwrap_or_default();
            assert!(delay <= policy.max_delay);
        }
        let after = policy
            .next_delay(1, Duration::ZERO, Some(Duration::from_secs(2)))
            .unwrap_or_default();
        assert!(after >= Duration::from_secs(2) && after < Duration::from_millis(2100));
    }

    #[test]
    fn a_server_wait_beyond_the_policy_ends_the_attempts_without_overflow() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.next_delay(1, Duration::ZERO, Some(Duration::MAX)),
            None
        );
        let years = Duration::from_secs(31 * 365 * 86_400);
        assert_eq!(
            policy.next_delay(1, Duration::from_secs(1), Some(years)),
            None
        );
    }
}
