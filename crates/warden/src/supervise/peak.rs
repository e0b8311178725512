//! A test's peak memory when no memory cgroup measures it (a normal user, `WARDEN_NO_CGROUP`,
//! v2 kernels that cannot reset `memory.peak`).
//!
//! `wait4`'s `ru_maxrss` is not the test's own there: the main process is cloned with warden's
//! address space (`CLONE_VM | CLONE_VFORK`, as `fork` would copy it), and the kernel records
//! the high-water mark of the address space a process leaves at `execve` into the process's
//! maxrss for good. So the figure is at least warden's own peak at the spawn, whatever the test
//! used. When it is *above* that, it can only be the test's (its own address space after exec,
//! or a descendant it waited for, which was forked from it and not from warden): exact. When it
//! is not, the test stayed below warden's size, and the high-water marks of its main process
//! and descendants are read from `/proc/PID/status` (`VmHWM`) while it runs: right after the
//! exec, then at 1, 2, 4 ms ... and once a second at most. A test that ends between two looks
//! reads low, and one that is gone before the first look has no figure.

use std::time::{Duration, Instant};

use super::os;

const FIRST_LOOK: Duration = Duration::from_millis(1);
const MAX_INTERVAL: Duration = Duration::from_secs(1);
/// Most processes of one test looked at per sample: a fork bomb must not make sampling slow.
const MAX_LOOKED_AT: usize = 64;

/// Samples of one main process's high-water mark, from its spawn on.
#[derive(Debug)]
pub(crate) struct PeakSampler {
    pid: i32,
    /// warden's own peak RSS right after the spawn: at least what the exec recorded.
    warden_at_spawn: Option<u64>,
    sampled: Option<u64>,
    interval: Duration,
    next: Instant,
}

impl PeakSampler {
    /// Call right after the spawn returned (the child has exec'd by then).
    pub(crate) fn start(pid: i32) -> PeakSampler {
        let mut s = PeakSampler {
            pid,
            warden_at_spawn: None,
            sampled: None,
            interval: FIRST_LOOK,
            next: Instant::now(),
        };
        // The test first: a short one is gone a moment later. warden's own peak only grows,
        // so reading it after the exec still bounds what the exec recorded.
        s.sample();
        s.warden_at_spawn = os::own_peak_rss();
        s
    }

    /// When the next look is due.
    pub(crate) fn due(&self) -> Instant {
        self.next
    }

    /// Look at the high-water marks now (nothing once the process has exited).
    pub(crate) fn sample(&mut self) {
        if let Some(hwm) = tree_peak(self.pid) {
            self.sampled = Some(self.sampled.map_or(hwm, |s| s.max(hwm)));
        }
        self.next = Instant::now() + self.interval;
        self.interval = (self.interval * 2).min(MAX_INTERVAL);
    }

    /// The test's peak, given `wait4`'s figure for it; `None` when it stayed below warden's
    /// size and ended before it could be looked at even once.
    pub(crate) fn peak(&self, waited: u64) -> Option<u64> {
        own_peak(waited, self.warden_at_spawn, self.sampled)
    }
}

/// The largest high-water mark of `pid` and its descendants (as wait4 counts the children a
/// process waited for: the largest one, not a sum), found through `/proc/PID/task/*/children`;
/// at most [`MAX_LOOKED_AT`] processes. `None` when `pid` itself shows none (it has exited).
fn tree_peak(pid: i32) -> Option<u64> {
    let mut peak = os::peak_rss_of(pid)?;
    let mut queue = os::children_of(pid);
    let mut looked_at = 1;
    while let Some(child) = queue.pop() {
        if looked_at >= MAX_LOOKED_AT {
            break;
        }
        looked_at += 1;
        if let Some(hwm) = os::peak_rss_of(child) {
            peak = peak.max(hwm);
        }
        queue.extend(os::children_of(child));
    }
    Some(peak)
}

/// `waited` when it must be the test's own (above warden's peak at the spawn, or warden's is
/// unknown); else the highest sample, which cannot exceed it.
fn own_peak(waited: u64, warden_at_spawn: Option<u64>, sampled: Option<u64>) -> Option<u64> {
    match warden_at_spawn {
        Some(warden) if waited <= warden => sampled.map(|s| s.min(waited)),
        _ => Some(waited),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn above_wardens_peak_wait4_is_exact_else_the_samples_count() {
        const MIB: u64 = 1 << 20;
        // A 200 MiB test under a 9 MiB warden.
        assert_eq!(
            own_peak(200 * MIB, Some(9 * MIB), Some(150 * MIB)),
            Some(200 * MIB)
        );
        // A 1.5 MiB shell test: wait4 says warden's 9 MiB.
        assert_eq!(
            own_peak(9 * MIB, Some(9 * MIB), Some(3 * MIB / 2)),
            Some(3 * MIB / 2)
        );
        // Gone before the first look: not known, and certainly not warden's 9 MiB.
        assert_eq!(own_peak(9 * MIB, Some(9 * MIB), None), None);
        // Off Linux nothing is sampled: wait4's figure is all there is.
        assert_eq!(own_peak(9 * MIB, None, None), Some(9 * MIB));
    }

    #[test]
    fn looks_come_at_growing_intervals() {
        let mut s = PeakSampler::start(std::process::id() as i32);
        assert!(s.sampled.is_some_and(|v| v > 0));
        let mut intervals = vec![s.interval];
        for _ in 0..11 {
            s.sample();
            intervals.push(s.interval);
        }
        let ms: Vec<u128> = intervals.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000, 1000]);
    }

    /// A child's high-water mark counts, as wait4 counts the children a process waited for.
    #[test]
    fn descendants_are_looked_at_too() {
        // A small shell whose child (python) holds 60 MiB.
        let script =
            "python3 -c 'b = bytearray(b\"x\") * (60 << 20); import time; time.sleep(5)'; :";
        let mut sh = std::process::Command::new("sh")
            .args(["-c", script])
            .spawn()
            .unwrap();
        let pid = sh.id() as i32;
        let started = Instant::now();
        let mut found = 0;
        while found < 60 << 20 && started.elapsed() < Duration::from_secs(4) {
            std::thread::sleep(Duration::from_millis(50));
            found = tree_peak(pid).unwrap_or_default();
        }
        let own = os::peak_rss_of(pid).unwrap_or_default();
        for child in os::children_of(pid) {
            // SAFETY: kill(2) of the python this test started (the shell's child).
            unsafe { libc::kill(child, libc::SIGKILL) };
        }
        let _ = sh.kill();
        let _ = sh.wait();
        assert!(found >= 60 << 20, "{found}");
        assert!(own < 20 << 20, "the shell itself is small: {own}");
    }
}
