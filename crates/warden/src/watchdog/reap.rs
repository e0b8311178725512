//! Ending what a dead run left behind: its processes (by the run's environment token), its
//! cgroups, its temp dirs; and marking the run interrupted so it can be resumed. Shared by the
//! watchdog (the moment warden dies) and `warden clean` (any time later).

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::Serialize;

use crate::container::{remove_run_containers, ContainerInfo};
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
    /// Containers of the run, found by their `warden.run` label.
    pub containers: Vec<ContainerInfo>,
    /// What could not be done (the container engine did not answer, say).
    pub problems: Vec<String>,
}

impl Reaped {
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
            && self.cgroups.is_empty()
            && self.dirs.is_empty()
            && self.containers.is_empty()
    }
}

/// The token every process of the run carries.
pub fn run_token(run_id: &str) -> String {
    format!("WARDEN_RUN_ID={run_id}")
}

/// Kill and remove everything of the run in `entry`: processes first (an engine CLI among them
/// cannot start another container then), then its containers. With `dry_run`, only list it.
pub fn reap_run(entry: &RunEntry, why: &str, dry_run: bool) -> Reaped {
    let mut reaped = Reaped {
        run_id: entry.run_id.clone(),
        ..Reaped::default()
    };
    let token = [run_token(&entry.run_id)];
    if let Some(dir) = entry.cgroup_dir.as_ref().filter(|d| d.is_dir()) {
        reaped.cgroups.push(dir.clone());
    }
    reaped.processes = os::processes_with_env(&token);
    if entry.temp_root.exists() {
        reaped.dirs.push(entry.temp_root.clone());
    }
    if dry_run {
        reap_containers(entry, &mut reaped, true);
        return reaped;
    }
    if let Some(dir) = &entry.cgroup_dir {
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
    reap_containers(entry, &mut reaped, false);
    let _ = std::fs::remove_dir_all(&entry.temp_root);
    if let Some(run_dir) = entry.run_dir.as_ref().filter(|d| d.is_dir()) {
        let _ = std::fs::write(run_dir.join(INTERRUPTED_FILE), format!("{why}\n"));
    }
    reaped
}

fn reap_containers(entry: &RunEntry, reaped: &mut Reaped, dry_run: bool) {
    let Some(engine) = &entry.container_engine else {
        return;
    };
    match remove_run_containers(engine, &entry.run_id, dry_run) {
        Ok(found) => reaped.containers = found,
        Err(e) => reaped.problems.push(format!(
            "cannot remove the containers of run {}: {e}",
            entry.run_id
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::testing::{docker, test_image};
    use crate::container::{list_containers, RUN_LABEL};

    #[test]
    fn reaping_a_dead_run_removes_its_containers() {
        let engine = docker();
        let image = test_image();
        let tmp = tempfile::tempdir().unwrap();
        let run_id = format!("reap-test-{}", std::process::id());
        let label = format!("{RUN_LABEL}={run_id}");
        for i in 0..2 {
            let name = format!("{run_id}-{i}");
            let out = engine
                .output(
                    [
                        "run",
                        "--detach",
                        "--name",
                        &name,
                        "--label",
                        &label,
                        "--network",
                        "none",
                        &image,
                        "sleep",
                        "300",
                    ],
                    Duration::from_secs(60),
                )
                .unwrap();
            assert!(out.success, "{}", out.first_error_line());
        }
        let mut entry = RunEntry::for_this_process(&run_id, None, &tmp.path().join("t"), None);
        entry.container_engine = Some(engine.clone());

        let listed = reap_run(&entry, "test", true);
        assert_eq!(listed.containers.len(), 2, "{listed:?}");
        assert_eq!(list_containers(&engine, Some(&run_id)).unwrap().len(), 2);

        let reaped = reap_run(&entry, "test", false);
        assert_eq!(reaped.containers.len(), 2, "{reaped:?}");
        assert!(reaped.problems.is_empty(), "{:?}", reaped.problems);
        assert!(!reaped.is_empty());
        assert!(list_containers(&engine, Some(&run_id)).unwrap().is_empty());
    }
}
