//! Everything that belongs to one test, however it tried to leave: its process group, its
//! cgroup when the host has one, and — without a cgroup — an environment token that survives
//! `setsid` and double forks.

use std::sync::Arc;

use nix::sys::signal::Signal;

use super::os;
use super::os::cgroup::TestCgroup;
use crate::events::Leak;

#[derive(Clone)]
pub struct Tree {
    pub pgid: i32,
    pub cgroup: Option<Arc<TestCgroup>>,
    /// `K=V` entries every process of the test carries; used only without a cgroup.
    pub token: Vec<String>,
}

impl Tree {
    /// Live processes of the tree, deduplicated, sorted by pid.
    pub fn members(&self) -> Vec<Leak> {
        let mut out = os::group_members(self.pgid);
        match &self.cgroup {
            Some(cg) => {
                for pid in cg.pids() {
                    if !out.iter().any(|l| l.pid == pid) {
                        out.push(Leak {
                            pid,
                            cmd: os::cmdline(pid),
                        });
                    }
                }
            }
            None if !self.token.is_empty() => {
                for l in os::processes_with_env(&self.token) {
                    if !out.iter().any(|o| o.pid == l.pid) {
                        out.push(l);
                    }
                }
            }
            None => {}
        }
        out.sort_by_key(|l| l.pid);
        out
    }

    /// Each process gets `sig` once: through the cgroup when there is one (it holds the whole
    /// group too), else through the group and the environment token.
    pub fn signal(&self, sig: Signal) {
        if self.cgroup.is_none() {
            os::signal_group(self.pgid, sig);
        }
        match &self.cgroup {
            Some(cg) if sig == Signal::SIGKILL => cg.kill(),
            Some(cg) => cg.signal(sig),
            None => {
                if !self.token.is_empty() {
                    for l in os::processes_with_env(&self.token) {
                        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(l.pid), sig);
                    }
                }
            }
        }
    }

    /// True when nothing of the test is alive any more.
    pub fn is_empty(&self) -> bool {
        let cgroup_empty = self.cgroup.as_ref().is_none_or(|cg| !cg.populated());
        cgroup_empty && self.members().is_empty()
    }
}
