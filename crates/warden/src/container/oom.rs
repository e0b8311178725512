//! A second witness for OOM kills. The engines learn of them through a watcher they register
//! after the container has started, so a test that blows its memory limit in its first moments
//! can end with `OOMKilled: false` (seen on docker 20.10 with cgroup v1 in about one quick OOM in
//! ten). The kernel logs every memory-cgroup OOM kill with the cgroup path, which contains the
//! container's full id: when the kernel log is readable, it settles the question.

/// `Some(true)` when the kernel log records an OOM kill in the cgroup of `container_id` (the
/// full 64-digit id), `Some(false)` when it records none, `None` when the log cannot be read
/// (not Linux, or `dmesg_restrict` without the privilege).
pub(crate) fn kernel_logged_oom_kill(container_id: &str) -> Option<bool> {
    // A short id or a name could match the wrong line.
    if container_id.len() < 32 || !container_id.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    imp::scan(|line| line.contains("oom-kill:") && line.contains(container_id))
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io::{ErrorKind, Read};
    use std::os::unix::fs::OpenOptionsExt;

    /// Upper bound on records read: the ring buffer holds far fewer.
    const MAX_RECORDS: usize = 1_000_000;

    /// Whether any record of `/dev/kmsg` satisfies `wanted`; `None` when it cannot be read.
    pub fn scan(wanted: impl Fn(&str) -> bool) -> Option<bool> {
        let mut kmsg = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ok()?;
        // Each read returns exactly one record.
        let mut buf = vec![0u8; 8192];
        for _ in 0..MAX_RECORDS {
            match kmsg.read(&mut buf) {
                Ok(0) => return Some(false),
                Ok(n) => {
                    if wanted(&String::from_utf8_lossy(&buf[..n])) {
                        return Some(true);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Some(false),
                // EPIPE: the record was overwritten while we read; go on with the next.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return None,
            }
        }
        Some(false)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub fn scan(_wanted: impl Fn(&str) -> bool) -> Option<bool> {
        None
    }
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
