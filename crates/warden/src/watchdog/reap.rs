//! Ending what a dead run left behind: its processes (by the run's environment token), its
//! cgroups, its temp dirs; and marking the run interrupted so it can be resumed. Shared by the
//! watchdog (the moment warden dies) and `warden clean` (any time later).

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::Serialize;

use crate::events::Leak;
use crate::state::registry::RunEntry;
use crate::supervise::os;
use crate::supervise::os::cgroup;

/// Marker file in a run directory: the run did not finish (SPEC §7 reads it for `--resume`).
pub const INTERRUPTED_FILE: &str = "interrupted";

/// What was (or, in a dry run, would be) removed.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Reaped {
    pub run_id: String,
    pub processes: Vec<Leak>,
    pub cgroups: Vec<PathBuf>,
    pub dirs: Vec<PathBuf>,
}

impl Reaped {
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty() && self.cgroups.is_empty() && self.dirs.is_empty()
    }
}

/// The token every process of the run carries.
pub fn run_token(run_id: &str) -> String {
    format!("WARDEN_RUN_ID={run_id}")
}

/// Kill and remove everything of the run in `entry`. With `dry_run`, only list it.
pub fn reap_run(entry: &RunEntry, why: &str, dry_run: bool) -> Reaped {
    let mut reaped = Reaped {
        run_id: entry.run_id.clone(),
        ..Reaped::default()
    };
    let token = [run_token(&entry.run_id)];
    let cgroup_dirs = || entry.cgroup_dir.iter().chain(&entry.extra_cgroup_dirs);
    reaped.cgroups = cgroup_dirs().filter(|d| d.is_dir()).cloned().collect();
    reaped.processes = os::processes_with_env(&token);
    if entry.temp_root.exists() {
        reaped.dirs.push(entry.temp_root.clone());
    }
    if dry_run {
        return reaped;
    }
    for dir in cgroup_dirs() {
        cgroup::remove_tree(dir);
    }
    // A process may fork while we kill: scan again until nothing carries the token.
    for _ in 0..20 {
        let left = os::processes_with_env(&token);
        if left.is_empty() {
            break;
        }
        for l in &left {
            let _ = kill(Pid::from_raw(l.pid), Signal::SIGKILL);
            if !reaped.processes.iter().any(|p| p.pid == l.pid) {
                reaped.processes.push(l.clone());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
        os::reap_orphans(|_| false);
    }
    let _ = std::fs::remove_dir_all(&entry.temp_root);
    if let Some(run_dir) = entry.run_dir.as_ref().filter(|d| d.is_dir()) {
        let _ = std::fs::write(run_dir.join(INTERRUPTED_FILE), format!("{why}\n"));
    }
    reaped
}
