//! The process's open-file limit, which bounds sockets: a server's connections, a batch's
//! requests in flight. Read from `/proc/self/limits` (Linux); elsewhere unknown.

/// The soft limit on open file descriptors (`ulimit -n`), when it can be read.
pub(crate) fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    soft_limit(&limits)
}

/// `Max open files  1024  1048576  files` -> 1024; "unlimited" is no limit.
fn soft_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How many sockets of one kind fit under the limit: half of what is left after `reserve`
/// descriptors for everything else (files, logs, the runtime), at least 1; `fallback` when the
/// limit is unknown.
pub(crate) fn socket_budget(reserve: u64, fallback: usize) -> usize {
    match open_file_limit() {
        Some(limit) => usize::try_from(limit.saturating_sub(reserve) / 2)
            .unwrap_or(usize::MAX)
            .max(1),
        None => fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_read() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
                    Max processes             63671                63671                processes\n\
                    Max open files            256                  1048576              files\n";
        assert_eq!(soft_limit(text), Some(256));
        assert_eq!(soft_limit("Max open files unlimited unlimited files"), None);
        assert_eq!(soft_limit(""), None);
    }
}
