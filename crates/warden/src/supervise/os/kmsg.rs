//! The kernel log (`/dev/kmsg`), read from its start: where the kernel records OOM kills.

/// Whether any record of the kernel log satisfies `wanted`; `None` when it cannot be read
/// (not Linux, or `dmesg_restrict` without the privilege).
pub fn any_record(wanted: impl Fn(&str) -> bool) -> Option<bool> {
    imp::scan(wanted)
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
