//! Per-organization rate windows, as the API counts them.

use super::{State, lock};
use crate::util::clock;
use std::time::{Instant, SystemTime};

/// Counts a non-GET request against the organization's window: `Ok((limit, remaining))`, or
/// `Err(unix seconds when the window reopens)`.
pub(super) fn admit(state: &State, organization: &str) -> Result<(u32, u32), u64> {
    let Some((limit, window)) = state.config.rate_limit else {
        return Ok((u32::MAX, u32::MAX));
    };
    let mut windows = lock(&state.windows);
    let now = Instant::now();
    let entry = windows
        .entry(organization.to_owned())
        .or_insert((now, SystemTime::now(), 0));
    if now.duration_since(entry.0) >= window {
        *entry = (now, SystemTime::now(), 0);
    }
    if entry.2 >= limit {
        let reopens = entry.1 + window;
        // Rounded up: a client that waits until this second is let in.
        return Err(clock::unix_seconds(reopens) + 1);
    }
    entry.2 += 1;
    Ok((limit, limit - entry.2))
}
