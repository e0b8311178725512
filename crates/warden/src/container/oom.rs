//! A second witness for OOM kills. The engines learn of them through a watcher they register
//! after the container has started, so a test that blows its memory limit in its first moments
//! can end with `OOMKilled: false` (seen on docker 20.10 with cgroup v1 in about one quick OOM in
//! ten). The kernel logs every memory-cgroup OOM kill with the cgroup path, which contains the
//! container's full id: when the kernel log is readable, it settles the question.

use crate::supervise::os::kmsg;

/// `Some(true)` when the kernel log records an OOM kill in the cgroup of `container_id` (the
/// full 64-digit id), `Some(false)` when it records none, `None` when the log cannot be read
/// (not Linux, or `dmesg_restrict` without the privilege).
pub(crate) fn kernel_logged_oom_kill(container_id: &str) -> Option<bool> {
    // A short id or a name could match the wrong line.
    if container_id.len() < 32 || !container_id.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    kmsg::any_record(|line| line.contains("oom-kill:") && line.contains(container_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_ids_are_looked_up() {
        assert_eq!(kernel_logged_oom_kill("warden-run-test-1"), None);
        assert_eq!(kernel_logged_oom_kill("abc123"), None);
    }

    #[test]
    fn an_id_that_never_ran_has_no_oom_kill() {
        // Readable log: no record names a made-up id. Unreadable: None, never a false yes.
        let id = "f".repeat(64);
        assert_ne!(kernel_logged_oom_kill(&id), Some(true));
    }
}
