//! Small helpers with no knowledge of endpoints or requests.

pub(crate) mod clock;
pub(crate) mod fd;
pub(crate) mod json;
pub(crate) mod noise;
pub(crate) mod pointer;
pub(crate) mod suggest;
pub(crate) mod user_info;

/// Locks a mutex whose data stays consistent even if a holder panicked (counters, lists of
/// handles, caches), so one panic does not poison every later request.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
