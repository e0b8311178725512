//! Everything that belongs to one test, however it tried to leave: its process group, its
//! cgroup when the host has one (and the cgroups it made below it), the processes carrying its
//! environment token or its rlimit mark, its orphans (re-parented to warden, the child
//! subreaper, whatever session, group or cgroup they moved to), and everything below those.

use std::collections::BTreeSet;
use std::sync::Arc;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::child;
use super::os;
use super::os::cgroup::TestCgroup;
use crate::events::Leak;

#[derive(Clone)]
pub struct Tree {
    pub pgid: i32,
    pub cgroup: Option<Arc<TestCgroup>>,
    /// `K=V` entries every process of the test carries: how its orphans are told from other
    /// tests', and, without a cgroup, how escaped processes are found.
    pub token: Vec<String>,
    /// The test's rlimit mark ([`os::mark`]), for processes whose environment is gone.
    pub mark: Option<u64>,
}

/// Where the processes of a tree were found.
struct Found {
    group: BTreeSet<i32>,
    cgroup: BTreeSet<i32>,
    /// Outside both: by token, by mark, or below one found.
    other: BTreeSet<i32>,
}

impl Tree {
    fn find(&self) -> Found {
        let group: BTreeSet<i32> = os::group_members(self.pgid)
            .into_iter()
            .map(|l| l.pid)
            .collect();
        let cgroup: BTreeSet<i32> = match &self.cgroup {
            Some(cg) => cg.pids().into_iter().collect(),
            None => BTreeSet::new(),
        };
        let mut roots: BTreeSet<i32> = group.union(&cgroup).copied().collect();
        if self.cgroup.is_none() && !self.token.is_empty() {
            roots.extend(
                os::processes_with_env(&self.token)
                    .into_iter()
                    .map(|l| l.pid),
            );
        }
        roots.extend(self.own_orphans());
        let other = if roots.is_empty() {
            BTreeSet::new()
        } else {
            os::with_descendants(roots)
                .into_iter()
                .filter(|p| !group.contains(p) && !cgroup.contains(p))
                .collect()
        };
        Found {
            group,
            cgroup,
            other,
        }
    }

    /// Children of warden that no one waits for (orphans of tests) and that carry this test's
    /// mark or token: a `setsid` daemon with a scrubbed environment, a non-dumpable process
    /// whose environment cannot be read, one that moved itself out of its cgroup.
    fn own_orphans(&self) -> Vec<i32> {
        os::adopted_children()
            .into_iter()
            .filter(|&pid| !child::is_waited_for(pid) && self.owns(pid))
            .collect()
    }

    fn owns(&self, pid: i32) -> bool {
        owned_by(pid, self.mark.map(|m| m..=m), &self.token)
    }

    /// Live processes of the tree, deduplicated, sorted by pid.
    pub fn members(&self) -> Vec<Leak> {
        let f = self.find();
        let mut pids: Vec<i32> = f.group.into_iter().chain(f.cgroup).chain(f.other).collect();
        pids.sort_unstable();
        pids.dedup();
        pids.into_iter()
            .map(|pid| Leak {
                pid,
                cmd: os::cmdline(pid),
            })
            .collect()
    }

    /// Each process gets `sig` once: through the cgroup when there is one (it holds the
    /// group too), else through the group; then whatever lives outside both.
    pub fn signal(&self, sig: Signal) {
        let f = self.find();
        match &self.cgroup {
            Some(cg) if sig == Signal::SIGKILL => cg.kill(),
            Some(cg) => cg.signal(sig),
            None => {
                os::signal_group(self.pgid, sig);
            }
        }
        let done = |p: &i32| match &self.cgroup {
            Some(_) => f.cgroup.contains(p),
            None => f.group.contains(p),
        };
        let rest = f.group.iter().chain(&f.cgroup).chain(&f.other);
        for pid in rest.filter(|p| !done(p)).collect::<BTreeSet<_>>() {
            let _ = kill(Pid::from_raw(*pid), sig);
        }
    }

    /// True when nothing of the test is alive any more.
    pub fn is_empty(&self) -> bool {
        let cgroup_empty = self.cgroup.as_ref().is_none_or(|cg| !cg.populated());
        cgroup_empty && self.members().is_empty()
    }
}

/// Kill what no test was charged with: children of warden that nothing waits for and that
/// `select` picks (orphans of a run whose test could not be told, or had already ended), and
/// everything below them. Run once every test has ended; returns what it killed.
pub fn kill_unclaimed(select: impl Fn(i32) -> bool) -> Vec<Leak> {
    let mut killed: Vec<Leak> = Vec::new();
    for _ in 0..20 {
        let orphans: Vec<i32> = os::own_children()
            .into_iter()
            .filter(|&pid| !child::is_waited_for(pid) && os::is_live(pid) && select(pid))
            .collect();
        let live = os::with_descendants(orphans);
        if live.is_empty() {
            break;
        }
        for pid in live {
            if !killed.iter().any(|l| l.pid == pid) {
                killed.push(Leak {
                    pid,
                    cmd: os::cmdline(pid),
                });
            }
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        os::reap_orphans(child::is_waited_for);
    }
    killed
}

/// Whether `pid` carries a mark in `marks` or every `K=V` of `token` in its environment.
pub fn owned_by(pid: i32, marks: Option<std::ops::RangeInclusive<u64>>, token: &[String]) -> bool {
    if let (Some(marks), Some(m)) = (marks, os::mark::read(pid)) {
        if marks.contains(&m) {
            return true;
        }
    }
    match os::environ(pid) {
        os::Environ::Vars(env) => !token.is_empty() && os::env_has_all(&env, token),
        _ => false,
    }
}
