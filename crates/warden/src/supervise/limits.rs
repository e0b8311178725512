//! The caps a test runs under and what it was measured to use.

use std::time::Duration;

use super::child::ChildUsage;
use super::os::controllers::CgroupUsage;
use super::process::Exit;

/// Per-test caps (SPEC §6): `--test-mem-limit`, `--test-pids-limit`, `--safe-mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub mem_bytes: Option<u64>,
    pub pids: Option<u64>,
    /// No core files, files ≤ 1 GiB, ≤ 4096 open files.
    pub safe_mode: bool,
}

/// How a memory cap was enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemCapBy {
    /// A memory cgroup: the test is killed when over it.
    Cgroup,
    /// `RLIMIT_AS`: allocations beyond it fail; nothing is killed.
    Rlimit,
}

/// What one test used, from its cgroups when it had them, else from `wait4` of its main
/// process (which covers the descendants that process waited for).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub peak_rss_bytes: Option<u64>,
    pub cpu_ms: Option<u64>,
    pub mem_limit: Option<(u64, MemCapBy)>,
    /// Killed by its memory cap.
    pub oom_killed: bool,
}

impl Usage {
    pub(crate) fn measure(
        limits: &Limits,
        mem_cap_by: Option<MemCapBy>,
        cgroup: Option<CgroupUsage>,
        child: Option<ChildUsage>,
        exit: &Exit,
    ) -> Usage {
        let cg = cgroup.unwrap_or_default();
        // Without an OOM counter (v1 before 4.13), a SIGKILL after the limit was hit is one.
        let sigkilled = matches!(exit, Exit::Signal(9) | Exit::Code(137));
        Usage {
            peak_rss_bytes: cg.peak_bytes.or(child.map(|c| c.max_rss_bytes)),
            cpu_ms: cg
                .cpu_ns
                .map(|ns| ns / 1_000_000)
                .or(child.map(|c| millis(c.cpu))),
            mem_limit: limits.mem_bytes.zip(mem_cap_by),
            oom_killed: mem_cap_by == Some(MemCapBy::Cgroup)
                && (cg.oom_kills > 0 || (cg.limit_hit && sigkilled)),
        }
    }
}

fn millis(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Limits = Limits {
        mem_bytes: Some(256 << 20),
        pids: None,
        safe_mode: false,
    };

    #[test]
    fn cgroup_figures_win_over_wait4() {
        let cg = CgroupUsage {
            peak_bytes: Some(300 << 20),
            cpu_ns: Some(1_500_000_000),
            oom_kills: 0,
            limit_hit: false,
        };
        let child = ChildUsage {
            max_rss_bytes: 100 << 20,
            cpu: Duration::from_millis(700),
        };
        let u = Usage::measure(&CAP, None, Some(cg), Some(child), &Exit::Code(0));
        assert_eq!(u.peak_rss_bytes, Some(300 << 20));
        assert_eq!(u.cpu_ms, Some(1500));
        assert_eq!(u.mem_limit, None);
        let u = Usage::measure(&Limits::default(), None, None, Some(child), &Exit::Code(0));
        assert_eq!((u.peak_rss_bytes, u.cpu_ms), (Some(100 << 20), Some(700)));
        assert_eq!(
            Usage::measure(&Limits::default(), None, None, None, &Exit::Code(0)),
            Usage::default()
        );
    }

    #[test]
    fn oom_only_under_a_cgroup_cap() {
        let killed = CgroupUsage {
            oom_kills: 1,
            ..CgroupUsage::default()
        };
        let by_cg = Some(MemCapBy::Cgroup);
        let u = Usage::measure(&CAP, by_cg, Some(killed), None, &Exit::Code(1));
        assert!(u.oom_killed);
        assert_eq!(u.mem_limit, Some((256 << 20, MemCapBy::Cgroup)));
        let hit = CgroupUsage {
            limit_hit: true,
            ..CgroupUsage::default()
        };
        assert!(Usage::measure(&CAP, by_cg, Some(hit), None, &Exit::Signal(9)).oom_killed);
        assert!(Usage::measure(&CAP, by_cg, Some(hit), None, &Exit::Code(137)).oom_killed);
        assert!(!Usage::measure(&CAP, by_cg, Some(hit), None, &Exit::Code(1)).oom_killed);
        let rl = Some(MemCapBy::Rlimit);
        assert!(!Usage::measure(&CAP, rl, Some(killed), None, &Exit::Signal(9)).oom_killed);
    }
}
