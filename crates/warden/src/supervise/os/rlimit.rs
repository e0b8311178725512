//! Resource limits set in the child between fork and exec: `--safe-mode` (no core files,
//! files ≤ 1 GiB, ≤ 4096 open files) and the address-space cap used when no memory cgroup
//! exists. Values are computed before the fork (never above the current hard limit, which an
//! unprivileged process cannot raise), so the child only calls `setrlimit`.

use std::io;
use std::sync::OnceLock;

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// `--safe-mode` largest file a test may write.
pub const SAFE_FSIZE: u64 = 1 << 30;
/// `--safe-mode` most open files.
pub const SAFE_NOFILE: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

impl Rlimit {
    /// `value` as both limits, lowered to the current hard limit.
    fn capped(resource: Resource, value: u64) -> Rlimit {
        let hard = getrlimit(resource).map_or(value, |(_, hard)| hard.min(value));
        Rlimit {
            resource,
            soft: hard,
            hard,
        }
    }
}

/// The `--safe-mode` limits.
pub fn safe_mode() -> Vec<Rlimit> {
    vec![
        Rlimit::capped(Resource::RLIMIT_CORE, 0),
        Rlimit::capped(Resource::RLIMIT_FSIZE, SAFE_FSIZE),
        Rlimit::capped(Resource::RLIMIT_NOFILE, SAFE_NOFILE),
    ]
}

/// A memory cap without a memory cgroup: the address space, which counts reservations as well
/// as memory in use (a runtime that reserves a large heap up front fails under it).
pub fn address_space(bytes: u64) -> Rlimit {
    Rlimit::capped(Resource::RLIMIT_AS, bytes)
}

/// The open-files limit warden was started with, when [`raise_nofile`] raised it.
static STARTED_NOFILE: OnceLock<(u64, u64)> = OnceLock::new();

/// Raise warden's own soft open-files limit to the hard one: every worker slot holds a few
/// descriptors (cgroup files, the output pipe, a pidfd), and the usual soft limit of 1024 runs
/// out near `-j 200`. Tests still start with the limit warden was given
/// ([`inherited_nofile`]). Returns the new soft limit.
pub fn raise_nofile() -> io::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    if soft >= hard {
        return Ok(soft);
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(io::Error::from)?;
    let _ = STARTED_NOFILE.set((soft, hard));
    Ok(hard)
}

/// The open-files limit to give tests back, when warden raised its own.
pub fn inherited_nofile() -> Option<Rlimit> {
    STARTED_NOFILE.get().map(|&(soft, hard)| Rlimit {
        resource: Resource::RLIMIT_NOFILE,
        soft,
        hard,
    })
}

/// In the child, between fork and exec: only `setrlimit`, which is async-signal-safe.
pub fn apply(limits: &[Rlimit]) -> io::Result<()> {
    for l in limits {
        setrlimit(l.resource, l.soft, l.hard).map_err(io::Error::from)?;
    }
    Ok(())
}

/// How many more files this process may open, with its limit, when it can be told.
#[cfg(target_os = "linux")]
pub fn fds_left() -> Option<(u64, u64)> {
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let open = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some((soft.saturating_sub(open), soft))
}

#[cfg(not(target_os = "linux"))]
pub fn fds_left() -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_mode_values_never_exceed_the_current_hard_limits() {
        let limits = safe_mode();
        assert_eq!(limits.len(), 3);
        for l in &limits {
            let (_, hard) = getrlimit(l.resource).unwrap();
            assert!(l.hard <= hard, "{l:?}");
            assert_eq!(l.soft, l.hard);
        }
        assert_eq!(limits[0].hard, 0);
        let (_, nofile_hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(limits[2].hard, nofile_hard.min(SAFE_NOFILE));
    }

    /// The limits reach a real child (checked through the shell's own `ulimit`).
    #[test]
    fn applied_in_a_real_child() {
        use std::os::unix::process::CommandExt;
        let limits = safe_mode();
        let mut cmd = std::process::Command::new("sh");
        cmd.args([
            "-c",
            "ulimit -c; ulimit -n; grep 'Max file size' /proc/self/limits",
        ]);
        // SAFETY: `apply` only calls setrlimit on values computed before the fork.
        unsafe {
            cmd.pre_exec(move || apply(&limits));
        }
        let out = cmd.output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "0");
        let (_, nofile_hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(lines[1], nofile_hard.min(SAFE_NOFILE).to_string());
        let fsize: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            fsize[3..5],
            [SAFE_FSIZE.to_string(), SAFE_FSIZE.to_string()]
        );
    }
}
