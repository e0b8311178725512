//! Worker slots, made when a test first needs one: never more than the tests that can run at
//! once, whatever `-j` says (a huge `-j` once made millions of temp dirs and cgroups up front).
//! A slot is a private `TMPDIR`, a tracking cgroup and the controllers' cgroups, reused by the
//! slot's tests. A slot that cannot be made (out of file descriptors, say) is never run
//! without its cgroups: the run goes on with the slots it has, and says so.

use std::collections::BTreeSet;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::scheduler::RunPlan;
use crate::events::{Event, EventKind};
use crate::supervise::os::cgroup::TestCgroup;
use crate::supervise::os::controllers::ControllerSlot;

pub(super) struct Slot {
    pub tmp: PathBuf,
    pub cgroup: Option<Arc<TestCgroup>>,
    pub controllers: Option<Arc<ControllerSlot>>,
}

/// Why a worker slot could not be made.
#[derive(Debug, thiserror::Error)]
pub(super) enum SlotError {
    #[error(
        "too few open files left ({left} of the limit of {limit}; a slot needs {FDS_PER_SLOT})"
    )]
    TooFewFiles { left: u64, limit: u64 },
    #[error("cannot create its temp dir {}: {source}", dir.display())]
    TempDir { dir: PathBuf, source: io::Error },
    #[error("cannot create its cgroup under {}: {source}", parent.display())]
    Cgroup { parent: PathBuf, source: io::Error },
    #[error("cannot create its memory/pids cgroups: {0}")]
    Controllers(#[source] io::Error),
}

pub(super) struct Slots {
    made: Vec<Slot>,
    free: BTreeSet<usize>,
    /// How many may exist: the worker count, lowered when one cannot be made.
    limit: usize,
    /// Why the last slot could not be made.
    pub failure: Option<SlotError>,
}

impl Slots {
    pub fn new(limit: usize) -> Slots {
        Slots {
            made: Vec::new(),
            free: BTreeSet::new(),
            limit,
            failure: None,
        }
    }

    /// How many tests can run at once now.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A free slot: the lowest one made, else a new one while the limit allows.
    pub fn take(&mut self, plan: &RunPlan, on_event: &mut impl FnMut(Event)) -> Option<usize> {
        if let Some(w) = self.free.pop_first() {
            return Some(w);
        }
        let w = self.made.len();
        if w >= self.limit {
            return None;
        }
        match make(plan, w) {
            Ok(slot) => {
                self.made.push(slot);
                Some(w)
            }
            Err(why) => {
                let at_once = if w == 0 {
                    "no test can run".to_string()
                } else {
                    format!("running at most {w} test{} at once", plural(w))
                };
                on_event(Event::now(EventKind::Warning(format!(
                    "cannot set up worker slot {w}: {why}; {at_once}"
                ))));
                self.limit = w;
                self.failure = Some(why);
                None
            }
        }
    }

    pub fn give_back(&mut self, w: usize) {
        self.free.insert(w);
    }

    pub fn get(&self, w: usize) -> &Slot {
        &self.made[w]
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The private `TMPDIR` of a worker slot. Reusing one directory per slot (emptied between
/// tests) instead of one per test saves an inode allocation and removal per test.
pub(super) fn worker_tmp(plan: &RunPlan, worker: usize) -> PathBuf {
    plan.temp_root.join(format!("w{worker}"))
}

/// File descriptors one more slot needs, with what its running test holds (the output pipe,
/// a pidfd, the log file, cgroup files while caps are written): a slot is only made with
/// this many left, or its test would fail half-way.
const FDS_PER_SLOT: u64 = 24;

fn make(plan: &RunPlan, w: usize) -> Result<Slot, SlotError> {
    if let Some((left, limit)) =
        crate::supervise::os::rlimit::fds_left().filter(|(left, _)| *left < FDS_PER_SLOT)
    {
        return Err(SlotError::TooFewFiles { left, limit });
    }
    let tmp = worker_tmp(plan, w);
    std::fs::create_dir_all(&tmp).map_err(|source| SlotError::TempDir {
        dir: tmp.clone(),
        source,
    })?;
    let name = format!("w{w}");
    let cgroup = match plan.cgroup.as_deref() {
        Some(run) => Some(Arc::new(run.test(&name).map_err(|source| {
            SlotError::Cgroup {
                parent: run.dir().to_path_buf(),
                source,
            }
        })?)),
        None => None,
    };
    let controllers = match plan.controllers.as_deref() {
        Some(run) => Some(Arc::new(
            run.slot(&name, cgroup.as_deref())
                .map_err(SlotError::Controllers)?,
        )),
        None => None,
    };
    Ok(Slot {
        tmp,
        cgroup,
        controllers,
    })
}
