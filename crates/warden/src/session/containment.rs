//! Setting up what makes a run unable to leave anything behind (SPEC §6): the sweep of dead
//! runs (and, for a container run, the containers of dead wardens), warden as child subreaper,
//! the run's cgroups (v2 for tracking; memory, pids and CPU wherever the host has them), its
//! registry entry and its watchdog; and taking it down again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Notice, SessionError};
use crate::container::Engine;
use crate::state::registry::{self, RunEntry};
use crate::supervise::os::controllers::ControllerRun;
use crate::supervise::os::no_cgroup::NoCgroup;
use crate::supervise::os::placement;
use crate::supervise::os::{self, cgroup::CgroupRun};
use crate::watchdog::{note_containers_used, sweep, Watchdog};

/// How long the sweep of dead runs at the start of a run may spend removing their directories.
const SWEEP_BUDGET: Duration = Duration::from_secs(2);

pub(super) struct Containment {
    pub cgroup: Option<Arc<CgroupRun>>,
    /// Why there is no v2 cgroup for tracking, when there is none.
    pub no_cgroup: Option<NoCgroup>,
    /// Memory, pids and CPU accounting for per-test caps and measurements (v1 hierarchies on
    /// hybrid hosts).
    pub controllers: Arc<ControllerRun>,
    registry_dir: PathBuf,
    run_id: String,
    watchdog: Option<Watchdog>,
}

impl Containment {
    /// `stop`: a signal arrived; the sweep of dead runs ends early.
    pub fn set_up(
        run_id: &str,
        temp_root: &Path,
        run_dir: Option<&Path>,
        container_engine: Option<&Engine>,
        watchdog_exe: Option<&Path>,
        stop: &dyn Fn() -> bool,
        notices: &mut Vec<Notice>,
    ) -> Result<Containment, SessionError> {
        // Bounded, and cut short by a signal: a dead run's huge temp dir must not hold up
        // this one (what is left stays registered for the next sweep or `warden clean`).
        let swept = sweep(
            false,
            container_engine
                .map(std::slice::from_ref)
                .unwrap_or_default(),
            Instant::now() + SWEEP_BUDGET,
            stop,
        );
        notices.extend(
            swept
                .reaped
                .into_iter()
                .filter(|r| !r.is_empty())
                .map(Notice::Reaped),
        );
        notices.extend(swept.problems.into_iter().map(Notice::Warning));
        create_private_dir(temp_root)?;
        // Registered before anything else of the run exists, so that a warden dying during
        // the set-up leaves an entry that `warden clean` can act on.
        let registry_dir = registry::registry_dir();
        let mut entry = RunEntry::for_this_process(run_id, None, temp_root, run_dir);
        if let Err(e) = registry::register(&registry_dir, &entry) {
            notices.push(Notice::Warning(format!(
                "cannot register the run in {}: {e}",
                registry_dir.display()
            )));
        }
        if let Err(e) = os::become_subreaper() {
            notices.push(Notice::Note(format!(
                "note: not a child subreaper ({e}): orphans of tests go to init"
            )));
        }
        // Worker slots hold descriptors; tests still get the limit warden was started with.
        if let Err(e) = os::rlimit::raise_nofile() {
            notices.push(Notice::Note(format!(
                "note: cannot raise the open-files limit: {e}"
            )));
        }
        let (cgroup, no_cgroup) = match CgroupRun::create(run_id) {
            Ok(cg) => (Some(Arc::new(cg)), None),
            Err(why) => (None, Some(why)),
        };
        let controllers = ControllerRun::create(run_id, cgroup.as_deref());
        match (&cgroup, &no_cgroup) {
            (Some(cg), _) => notices.push(Notice::Detail(format!(
                "note: cgroup v2: {} ({})",
                cg.dir().display(),
                placement::describe(&cg.placement().how)
            ))),
            (None, Some(why)) => notices.push(Notice::Detail(format!(
                "no cgroup ({why}): tracking by process group and environment"
            ))),
            (None, None) => {}
        }
        for n in controllers.notes() {
            notices.push(Notice::Detail(format!("note: {n}")));
        }
        entry.cgroup_dir = cgroup.as_ref().map(|c| c.dir().to_path_buf());
        entry.cgroup_undo = cgroup.as_ref().map(|c| c.placement().undo.clone());
        entry.extra_cgroup_dirs = controllers.v1_dirs();
        // The watchdog and `warden clean` remove the run's containers with it.
        entry.container_engine = container_engine.cloned();
        if container_engine.is_some() {
            note_containers_used(&registry_dir);
        }
        if let Err(e) = registry::register(&registry_dir, &entry) {
            notices.push(Notice::Warning(format!(
                "cannot register the run in {}: {e}",
                registry_dir.display()
            )));
        }
        let watchdog = match watchdog_exe
            .ok_or_else(|| std::io::Error::other("no watchdog program"))
            .and_then(|exe| Watchdog::spawn(exe, &entry, &registry_dir))
        {
            Ok(w) => Some(w),
            Err(e) => {
                notices.push(Notice::Warning(format!(
                    "cannot start the watchdog: {e}; if warden is killed, run `warden clean`"
                )));
                None
            }
        };
        Ok(Containment {
            cgroup,
            no_cgroup,
            controllers: Arc::new(controllers),
            registry_dir,
            run_id: run_id.to_string(),
            watchdog,
        })
    }

    /// The run ended (the runner already removed its cgroups and temp dirs). `temp_left`: the
    /// temp root could not be removed in time; the registry entry stays for `warden clean`.
    pub fn tear_down(self, temp_left: bool) {
        if let Some(w) = self.watchdog {
            w.finish();
        }
        // After the watchdog exited: it may share the leaf warden moved itself into.
        if let Some(cg) = &self.cgroup {
            cg.leave();
        }
        if !temp_left {
            registry::unregister(&self.registry_dir, &self.run_id);
        }
    }
}

/// The parent of the tests' private `TMPDIR`s: created fresh, mode 0700. A directory already
/// there (someone else's, perhaps) is never adopted.
fn create_private_dir(dir: &Path) -> Result<(), SessionError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(|source| SessionError::TempDir {
            path: dir.to_path_buf(),
            source,
        })
}
