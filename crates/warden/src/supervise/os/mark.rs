//! A mark on every process of a test that `env -i`, `setsid`, `setpgid`, an exec chain and
//! `PR_SET_DUMPABLE=0` all keep: the soft `RLIMIT_RTTIME` (CPU time a realtime-scheduled
//! process may use without blocking) set to a value no one uses, `2^62 µs` (146,000 years, so
//! no limit in practice) plus the run and the test. rlimits are inherited by every child and
//! kept across exec, and `/proc/PID/limits` is readable by anyone, even where
//! `/proc/PID/environ` is not (another user, a non-dumpable process) or reads empty (mid-exec).
//!
//! The environment token stays the first way a process is recognised; the mark answers for
//! the processes whose environment is gone or unreadable. A test that changes its own
//! `RLIMIT_RTTIME` loses the mark; its process tree and session are still followed.

use super::rlimit::Rlimit;

/// Every mark has this bit, far above any limit a person would set.
const FLAG: u64 = 1 << 62;
/// Low bits: the test within its run (a counter).
const TEST_BITS: u32 = 24;
const TEST_MASK: u64 = (1 << TEST_BITS) - 1;
/// Middle bits: the run, from a hash of its id.
const RUN_MASK: u64 = ((1 << 22) - 1) << TEST_BITS;

/// The part of every mark of run `run_id`.
pub fn run_base(run_id: &str) -> u64 {
    // FNV-1a: stable across builds and platforms, which the watchdog of another build of
    // warden relies on.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in run_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    FLAG | ((h << TEST_BITS) & RUN_MASK)
}

/// The mark of the `n`th test started in the run.
pub fn test_mark(run_base: u64, n: u64) -> u64 {
    run_base | (n & TEST_MASK)
}

/// Every mark of run `run_base`.
pub fn run_marks(run_base: u64) -> std::ops::RangeInclusive<u64> {
    run_base..=run_base | TEST_MASK
}

/// Whether `mark` is one of run `run_base`'s.
pub fn of_run(mark: u64, run_base: u64) -> bool {
    mark & !TEST_MASK == run_base
}

/// The rlimit that puts `mark` on a test's processes, or `None` where the hard limit is not
/// unlimited (a process cannot raise it, and a lower soft limit could bite).
#[cfg(target_os = "linux")]
pub fn rlimit(mark: u64) -> Option<Rlimit> {
    use nix::sys::resource::Resource;
    // Looked up once: it is asked for every test.
    static UNLIMITED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let unlimited = *UNLIMITED.get_or_init(|| {
        nix::sys::resource::getrlimit(Resource::RLIMIT_RTTIME)
            .is_ok_and(|(_, hard)| hard == nix::sys::resource::RLIM_INFINITY)
    });
    unlimited.then_some(Rlimit {
        resource: Resource::RLIMIT_RTTIME,
        soft: mark,
        hard: nix::sys::resource::RLIM_INFINITY,
    })
}

/// No `RLIMIT_RTTIME` off Linux: no mark.
#[cfg(not(target_os = "linux"))]
pub fn rlimit(_mark: u64) -> Option<Rlimit> {
    None
}

/// The mark of `pid`, read from `/proc/<pid>/limits`: `None` when it has none (or is gone).
pub fn read(pid: i32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max realtime timeout"))?;
    let soft: u64 = line
        .trim_start_matches("Max realtime timeout")
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    (soft & FLAG != 0 && soft & !(FLAG | RUN_MASK | TEST_MASK) == 0).then_some(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_tell_runs_and_tests_apart() {
        let a = run_base("20260101T000000Z-aaaaaa");
        let b = run_base("20260101T000000Z-aaaaab");
        assert_ne!(a, b);
        let m = test_mark(a, 7);
        assert!(of_run(m, a));
        assert!(!of_run(m, b));
        assert_ne!(m, test_mark(a, 8));
        // The counter wraps inside its bits, never into the run's.
        assert!(of_run(test_mark(a, TEST_MASK + 3), a));
    }

    /// A real child carries the mark through `env -i` and an exec, read back from /proc.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_child_carries_the_mark_through_env_i() {
        use std::os::unix::process::CommandExt;
        let mark = test_mark(run_base("unit-mark"), 42);
        let Some(limit) = rlimit(mark) else {
            eprintln!("skipping: RLIMIT_RTTIME has a hard limit here");
            return;
        };
        let mut cmd = std::process::Command::new("env");
        cmd.args(["-i", "sleep", "30"]);
        // SAFETY: `apply` only calls setrlimit on a value computed before the fork.
        unsafe {
            cmd.pre_exec(move || super::super::rlimit::apply(&[limit]));
        }
        let mut child = cmd.spawn().unwrap();
        let pid = child.id() as i32;
        let mut seen = None;
        for _ in 0..200 {
            if super::super::cmdline(pid) == "sleep 30" {
                seen = read(pid);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(seen, Some(mark));
    }
}
