//! Ending what a dead run left behind: its processes (by the run's environment token), its
//! containers (by label), its cgroups, its temp dirs; and marking the run interrupted so it can be resumed. Shared by the
//! watchdog (the moment warden dies) and `warden clean` (any time later).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::Serialize;

use crate::container::{remove_run_containers, ContainerInfo};
use crate::events::Leak;
use crate::state::registry::RunEntry;
use crate::state::remove_tree_within;
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
    /// Paths the entry named that warden did not make (not `warden-<run-id>`), or an engine
    /// program that is not `docker`/`podman`: left alone.
    pub refused: Vec<PathBuf>,
    /// Containers of the run, found by their `warden.run` label.
    pub containers: Vec<ContainerInfo>,
    /// What could not be done (the container engine did not answer, say).
    pub problems: Vec<String>,
    /// Directories of the run not fully removed in the time given: the registry entry stays,
    /// so that the next `warden clean` (or run) goes on with them.
    pub left: Vec<PathBuf>,
}

impl Reaped {
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
            && self.cgroups.is_empty()
            && self.dirs.is_empty()
            && self.refused.is_empty()
            && self.containers.is_empty()
    }
}

/// Whether `path` is one warden made for this run: its cgroup and temp root are both named
/// `warden-<run-id>`. Anything else in an entry is not removed, whoever wrote it: killing a
/// cgroup tree or deleting a directory on the word of a JSON file needs that much proof.
fn made_for_run(path: &Path, run_id: &str) -> bool {
    path.is_absolute()
        && path.file_name().and_then(|n| n.to_str()) == Some(format!("warden-{run_id}").as_str())
}

/// Kill and remove everything of the run in `entry`: processes first (an engine CLI among them
/// cannot start another container then), then its containers, then its directories — those
/// until `deadline`, or until `stop` says so (a signal): whatever is left is in `left`. With
/// `dry_run`, only list it.
pub fn reap_run(
    entry: &RunEntry,
    why: &str,
    dry_run: bool,
    deadline: Instant,
    stop: &dyn Fn() -> bool,
) -> Reaped {
    let mut reaped = Reaped {
        run_id: entry.run_id.clone(),
        ..Reaped::default()
    };
    let token = [crate::run_token::run_entry(&entry.run_id)];
    let mut cgroup_dirs = Vec::new();
    let candidates = entry.cgroup_dir.iter().chain(&entry.extra_cgroup_dirs);
    for dir in candidates.filter(|d| d.is_dir()) {
        if made_for_run(dir, &entry.run_id) {
            reaped.cgroups.push(dir.clone());
            cgroup_dirs.push(dir);
        } else {
            reaped.refused.push(dir.clone());
        }
    }
    let base = os::mark::run_base(&entry.run_id);
    let scan = || os::run_processes(&token, |m| os::mark::of_run(m, base));
    reaped.processes = scan().0;
    let temp_root_ours = made_for_run(&entry.temp_root, &entry.run_id);
    if entry.temp_root.exists() {
        if temp_root_ours {
            reaped.dirs.push(entry.temp_root.clone());
        } else {
            reaped.refused.push(entry.temp_root.clone());
        }
    }
    if dry_run {
        reap_containers(entry, &mut reaped, true);
        return reaped;
    }
    for dir in cgroup_dirs {
        cgroup::remove_tree(dir);
    }
    // A process may fork while we kill: scan again until nothing carries the token or the
    // mark, and no process read as empty (caught mid-exec) could still be one.
    for _ in 0..20 {
        let (left, uncertain) = scan();
        if left.is_empty() && !uncertain {
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
    if temp_root_ours {
        if let Err(e) = remove_tree_within(&entry.temp_root, deadline, stop) {
            reaped.problems.push(format!(
                "{} is not fully removed ({e}); `warden clean` goes on with it",
                entry.temp_root.display()
            ));
            reaped.left.push(entry.temp_root.clone());
        }
    }
    let run_dir = entry.run_dir.as_ref().filter(|d| {
        d.is_dir() && d.file_name().and_then(|n| n.to_str()) == Some(entry.run_id.as_str())
    });
    if let Some(run_dir) = run_dir {
        let _ = std::fs::write(run_dir.join(INTERRUPTED_FILE), format!("{why}\n"));
    }
    reaped
}

/// Remove the run's containers with the engine the entry names. The program is run on the
/// entry's word only when it is an absolute path to a file named `docker` or `podman`, as the
/// kind says.
fn reap_containers(entry: &RunEntry, reaped: &mut Reaped, dry_run: bool) {
    let Some(engine) = &entry.container_engine else {
        return;
    };
    let trusted = engine.program.is_absolute()
        && engine.program.file_name().and_then(|n| n.to_str()) == Some(engine.kind.name());
    if !trusted {
        reaped.refused.push(engine.program.clone());
        return;
    }
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

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    fn entry(run_id: &str, temp_root: PathBuf) -> RunEntry {
        RunEntry {
            run_id: run_id.into(),
            pid: i32::MAX,
            start_time: None,
            cgroup_dir: None,
            extra_cgroup_dirs: Vec::new(),
            cgroup_undo: None,
            temp_root,
            run_dir: None,
            container_engine: None,
        }
    }

    /// The run's v1 cgroup directories (hybrid hosts) are removed like its v2 one, and only
    /// when they are named for the run. Plain directories stand in for cgroups here: empty
    /// ones are removed the same way.
    #[test]
    fn removes_the_v1_cgroup_dirs_of_the_run_only() {
        let tmp = tempfile::tempdir().unwrap();
        let ours = tmp.path().join("memory/warden-r1");
        let other = tmp.path().join("pids/not-warden");
        std::fs::create_dir_all(ours.join("w0")).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        let mut e = entry("r1", tmp.path().join("warden-r1"));
        e.extra_cgroup_dirs = vec![ours.clone(), other.clone()];
        let r = reap_run(&e, "test", true, far(), &|| false);
        assert_eq!(
            (r.cgroups.clone(), r.refused.clone()),
            (vec![ours.clone()], vec![other.clone()])
        );
        assert!(ours.exists(), "a dry run removes nothing");
        let r = reap_run(&e, "test", false, far(), &|| false);
        assert_eq!(r.cgroups, vec![ours.clone()]);
        assert!(!ours.exists());
        assert!(other.exists());
    }

    #[test]
    fn removes_the_temp_root_warden_made() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("warden-r1");
        std::fs::create_dir_all(root.join("w0")).unwrap();
        let r = reap_run(&entry("r1", root.clone()), "test", false, far(), &|| false);
        assert_eq!(r.dirs, vec![root.clone()]);
        assert!(r.refused.is_empty());
        assert!(!root.exists());
    }

    #[test]
    fn leaves_alone_a_directory_warden_did_not_make() {
        let tmp = tempfile::tempdir().unwrap();
        for path in [tmp.path().to_path_buf(), tmp.path().join("warden-other")] {
            std::fs::create_dir_all(&path).unwrap();
            std::fs::write(path.join("precious"), "keep").unwrap();
            for dry_run in [true, false] {
                let r = reap_run(&entry("r1", path.clone()), "test", dry_run, far(), &|| {
                    false
                });
                assert_eq!(r.refused, vec![path.clone()]);
                assert!(r.dirs.is_empty());
                assert!(path.join("precious").exists());
            }
        }
    }

    crate::container::testing::per_engine!(sync reaping_a_dead_run_removes_its_containers);

    fn reaping_a_dead_run_removes_its_containers(engine: crate::container::Engine) {
        use crate::container::testing::{bare_run_args, test_image, variant_name};
        use crate::container::{list_containers, Engine, RUN_LABEL};
        let image = test_image();
        let tmp = tempfile::tempdir().unwrap();
        let run_id = format!("reap-test-{}-{}", std::process::id(), variant_name(&engine));
        let label = format!("{RUN_LABEL}={run_id}");
        for i in 0..2 {
            let name = format!("{run_id}-{i}");
            let mut args = vec!["run", "--detach"];
            let bare = bare_run_args(&engine);
            args.extend(bare.iter().map(String::as_str));
            args.extend([
                "--name",
                &name,
                "--label",
                &label,
                "--network",
                "none",
                &image,
                "sleep",
                "300",
            ]);
            let out = engine.output(&args, Duration::from_secs(60)).unwrap();
            assert!(out.success, "{}", out.first_error_line());
        }
        let mut e = entry(&run_id, tmp.path().join(format!("warden-{run_id}")));
        // An engine program that is not docker or podman is never run on an entry's word.
        e.container_engine = Some(Engine {
            program: "/bin/true".into(),
            ..engine.clone()
        });
        let refused = reap_run(&e, "test", true, far(), &|| false);
        assert_eq!(refused.refused, vec![PathBuf::from("/bin/true")]);
        assert!(refused.containers.is_empty());

        e.container_engine = Some(engine.clone());
        let listed = reap_run(&e, "test", true, far(), &|| false);
        assert_eq!(listed.containers.len(), 2, "{listed:?}");
        assert_eq!(list_containers(&engine, Some(&run_id)).unwrap().len(), 2);

        let reaped = reap_run(&e, "test", false, far(), &|| false);
        assert_eq!(reaped.containers.len(), 2, "{reaped:?}");
        assert!(reaped.problems.is_empty(), "{:?}", reaped.problems);
        assert!(!reaped.is_empty());
        assert!(list_containers(&engine, Some(&run_id)).unwrap().is_empty());
    }
}
