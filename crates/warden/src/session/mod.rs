//! A run from its prepared selection to its end (SPEC §6, §7): the state dir's lock, the
//! resume plan, the run's directory, checkpoint and history row, containment, the runner, and
//! what is cleaned up and kept after it. The binary parses the command line, renders what the
//! session says ([`Notice`]s and the run's events) and picks the exit code.
//!
//! In order: [`Session::begin`] (lock, run id, resume plan: nothing written yet),
//! [`Session::open_records`] (run dir, checkpoint, history), [`Session::contain`] (sweep,
//! cgroups, registry, watchdog), then [`Session::run`], which tears everything down again.

mod cargo_image;
mod containment;
mod error;
mod finish;
mod notice;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::{LeakPolicy, Settings};
use crate::container::Engine;
use crate::coverage::Coverage;
use crate::events::{Event, EventKind, ShardInfo, TestResult};
use crate::exit_code::ExitCode;
use crate::monitor::GuardConfig;
use crate::runner::{self, RunOutcome, RunPlan, StopRequest};
use crate::state::journal::{self, Fingerprint, Header, Journal};
use crate::state::{
    new_run_id, plan_resume_from, Checkpoint, History, Invocation, Persistence, RunDir, StateLock,
};
use crate::supervise::os::controllers::ControllerRun;
use crate::supervise::os::no_cgroup::NoCgroup;
use crate::supervise::Limits;
use crate::test_case::TestCase;
pub use cargo_image::cargo_binaries_start;
use containment::Containment;
pub use error::SessionError;
pub use notice::Notice;

/// What a session runs, and with what.
pub struct SessionSpec {
    pub settings: Settings,
    /// The selected tests, in run order (before `--resume` takes out what is done).
    pub tests: Vec<TestCase>,
    /// `None` when the history database is not used.
    pub history: Option<History>,
    /// With `--partition`: the cut and the whole selection.
    pub shard_info: Option<ShardInfo>,
    /// The container engine, checked, when the tests run in containers.
    pub engine: Option<Engine>,
    pub resume: Option<ResumeFrom>,
    /// Kept in this run's checkpoint, so that `--resume` alone repeats it.
    pub invocation: Invocation,
    /// warden's arguments, for `run-started` (and the HTML page).
    pub argv: Vec<String>,
    /// Keep a checkpoint of the run (`WARDEN_NO_STATE` unset).
    pub keep_state: bool,
    /// The program that serves as the run's watchdog (`warden __watchdog`, see
    /// [`crate::watchdog::serve`]): the `warden` binary itself. Without one a SIGKILLed warden
    /// leaves its tests to `warden clean` (a warning says so).
    pub watchdog_exe: Option<PathBuf>,
}

/// `--resume`: the interrupted run, and how to take it up.
pub struct ResumeFrom {
    pub checkpoint: Checkpoint,
    /// `--resume=force`: a different selection resumes the tests both have in common.
    pub force: bool,
    /// Differences in the selection options, found from the saved invocation.
    pub selection_changes: Vec<String>,
}

/// What resuming did, for the binary to tell.
#[derive(Debug, Clone)]
pub struct Resumed {
    pub from_run: String,
    /// Results of the interrupted run reported again, never rerun.
    pub carried: usize,
    /// Selected tests the interrupted run did not ask for (`--resume=force`): left out.
    pub dropped: usize,
    /// Tests that run alone: the host guard stopped the interrupted run while they ran.
    pub alone: Vec<String>,
    /// Torn records and the like, read past.
    pub warnings: Vec<String>,
}

/// How a session ended, beyond the run's own events.
pub struct Finished {
    pub outcome: RunOutcome,
    /// What the clean-up after the run found (strays, leftover containers): before the summary.
    pub notices: Vec<Notice>,
    /// Problems keeping the results (history, journal): after the summary.
    pub warnings: Vec<String>,
    /// What could not be kept (checkpoint records, logs): the run must not exit 0.
    pub lost: Vec<String>,
}

pub struct Session {
    settings: Settings,
    tests: Vec<TestCase>,
    shard_info: Option<ShardInfo>,
    engine: Option<Engine>,
    argv: Vec<String>,
    keep_state: bool,
    watchdog_exe: Option<PathBuf>,
    run_id: String,
    header: Header,
    carried: Vec<TestResult>,
    /// The interrupted run's id and directory.
    resumed_from: Option<(String, PathBuf)>,
    resumed: Option<Resumed>,
    alone: HashSet<String>,
    /// Each test case's file, from before `--resume` took tests out.
    classes: Vec<(String, String)>,
    history: Option<History>,
    records: Option<Records>,
    containment: Option<Containment>,
    _lock: StateLock,
}

/// What [`Session::open_records`] made.
struct Records {
    run_dir: RunDir,
    coverage: Option<Coverage>,
    persist: Persistence,
    checkpoint: bool,
}

impl Session {
    /// Lock the state dir, name the run and plan the resume. Nothing is written yet.
    pub fn begin(spec: SessionSpec) -> Result<Session, SessionError> {
        let SessionSpec {
            settings,
            mut tests,
            history,
            shard_info,
            engine,
            resume,
            invocation,
            argv,
            keep_state,
            watchdog_exe,
        } = spec;
        let lock = StateLock::acquire(&settings.run.state_dir)?;
        let run_id = new_run_id();
        let mut fingerprint = Fingerprint::of_selection(&settings, &tests);
        // Before `--resume` narrows the tests: carried results are cases of files too.
        let classes = tests
            .iter()
            .filter(|t| t.case.is_some())
            .map(|t| (t.id.clone(), t.file_id().to_string()))
            .collect();
        let mut carried = Vec::new();
        let mut resumed_from = None;
        let mut resumed = None;
        let mut alone = HashSet::new();
        if let Some(r) = resume {
            let plan = plan_resume_from(r.checkpoint, &fingerprint, r.force, r.selection_changes)?;
            tests.retain(|t| plan.should_run(&t.id));
            fingerprint = plan.fingerprint.clone();
            resumed_from = Some((plan.from_run.clone(), plan.from_dir.clone()));
            alone = plan.alone.iter().cloned().collect();
            resumed = Some(Resumed {
                from_run: plan.from_run,
                carried: plan.carried.len(),
                dropped: plan.dropped.len(),
                alone: plan.alone,
                warnings: plan.warnings,
            });
            carried = plan.carried;
        }
        let header = Header::new(
            &run_id,
            resumed_from.as_ref().map(|(id, _)| id.as_str()),
            fingerprint,
        )
        .with_invocation(invocation);
        Ok(Session {
            settings,
            tests,
            shard_info,
            engine,
            argv,
            keep_state,
            watchdog_exe,
            run_id,
            header,
            carried,
            resumed_from,
            resumed,
            alone,
            classes,
            history,
            records: None,
            containment: None,
            _lock: lock,
        })
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The tests still to run, in order.
    pub fn tests(&self) -> &[TestCase] {
        &self.tests
    }

    /// Results carried over from the interrupted run.
    pub fn carried(&self) -> &[TestResult] {
        &self.carried
    }

    /// Each test case's file (its JUnit class), for every selected case.
    pub fn classes(&self) -> &[(String, String)] {
        &self.classes
    }

    pub fn resumed(&self) -> Option<&Resumed> {
        self.resumed.as_ref()
    }

    /// Whether the run keeps a checkpoint (after [`Session::open_records`]): only then can it
    /// be resumed.
    pub fn has_checkpoint(&self) -> bool {
        self.records.as_ref().is_some_and(|r| r.checkpoint)
    }

    /// Why there is no cgroup v2 for tracking, and the controllers the run has (after
    /// [`Session::contain`]): what the binary's degraded-containment warning is made of.
    pub fn containment(&self) -> Option<(Option<&NoCgroup>, &ControllerRun)> {
        self.containment
            .as_ref()
            .map(|c| (c.no_cgroup.as_ref(), c.controllers.as_ref()))
    }

    /// Create the run's directory, its checkpoint (with the results carried over) and its row
    /// in history. A checkpoint or history that cannot be written is a warning: the run goes on
    /// without it.
    pub fn open_records(&mut self) -> Result<Vec<Notice>, SessionError> {
        let mut notices = Vec::new();
        let run_dir = RunDir::create(&self.settings.run.state_dir, &self.run_id)?;
        let coverage = self.settings.run.coverage.then(|| {
            let mut c = Coverage::new(&run_dir.dir, &self.settings.root);
            // A container's user may not be warden's: its directory must be open to it.
            c.open_dirs = self.engine.is_some();
            c
        });
        if let (Some(c), Some((_, old_dir))) = (&coverage, &self.resumed_from) {
            let warnings = crate::coverage::carry_over(old_dir, c, &mut self.carried);
            notices.extend(warnings.into_iter().map(Notice::Warning));
        }
        let alone: Vec<String> = self.alone.iter().cloned().collect();
        let journal = if self.keep_state {
            match Journal::create_resumed(&run_dir.dir, &self.header, &self.carried, &alone) {
                Ok(j) => {
                    // The new journal holds everything the old one did: the old run is done.
                    if let Some((_, old_dir)) = &self.resumed_from {
                        let _ = journal::complete(old_dir);
                    }
                    Some(j)
                }
                Err(e) => {
                    notices.push(Notice::Warning(format!("no checkpoint for this run: {e}")));
                    None
                }
            }
        } else {
            None
        };
        let mut history = self.history.take();
        if let Some(h) = &history {
            let from = self.resumed_from.as_ref().map(|(id, _)| id.as_str());
            let begun = h
                .begin_run(&self.run_id, from)
                .and_then(|()| match &self.shard_info {
                    Some(s) => h.mark_shard(&self.run_id, &s.spec),
                    None => Ok(()),
                });
            if let Err(e) = begun {
                notices.push(Notice::Warning(format!("running without history: {e}")));
                history = None;
            }
        }
        let checkpoint = journal.is_some();
        let persist = Persistence::new(&self.run_id, run_dir.dir.clone(), journal, history);
        self.records = Some(Records {
            run_dir,
            coverage,
            persist,
            checkpoint,
        });
        Ok(notices)
    }

    /// Sweep dead runs, create the run's private temp dir and cgroups, register the run and
    /// start its watchdog. `stop` says a signal arrived: the sweep ends early.
    pub fn contain(&mut self, stop: &dyn Fn() -> bool) -> Result<Vec<Notice>, SessionError> {
        let mut notices = Vec::new();
        let run_dir = self.records.as_ref().map(|r| r.run_dir.dir.clone());
        let containment = Containment::set_up(
            &self.run_id,
            &self.temp_root(),
            run_dir.as_deref(),
            self.engine.as_ref(),
            self.watchdog_exe.as_deref(),
            stop,
            &mut notices,
        )?;
        self.containment = Some(containment);
        Ok(notices)
    }

    /// The parent of the tests' private temp dirs.
    fn temp_root(&self) -> PathBuf {
        std::env::temp_dir().join(format!("warden-{}", self.run_id))
    }

    /// Run the tests, feeding `sink` every event after the checkpoint has it, then clean up:
    /// strays, leftover containers, containment, the interrupted marker, history and old
    /// runs. `exit_when_empty`: the exit code when nothing was selected at all.
    pub async fn run(
        mut self,
        exit_when_empty: ExitCode,
        stop: watch::Receiver<Option<StopRequest>>,
        mut sink: impl FnMut(&Event),
    ) -> Finished {
        let records = self.records.take();
        let containment = self.containment.take();
        let plan = self.plan(exit_when_empty, records.as_ref(), containment.as_ref());
        let (run_dir, mut persist) = match records {
            Some(r) => (Some(r.run_dir), Some(r.persist)),
            None => (None, None),
        };
        let keeps_logs = run_dir.is_some();
        let mut lost_logs: Vec<String> = Vec::new();
        let outcome = runner::run(plan, stop, |event: Event| {
            // The checkpoint first: whatever a report shows as finished is never run again.
            if let Some(p) = &mut persist {
                p.on_event(&event);
            }
            sink(&event);
            if let EventKind::TestFinished(r) = &event.kind {
                // Output without a log file: the log could not be written (a full disk).
                if keeps_logs && !r.carried_over && r.output.total_bytes > 0 && r.log.is_none() {
                    lost_logs.push(r.id.clone());
                }
            }
        })
        .await;
        finish::after_run(
            &self,
            outcome,
            containment,
            run_dir.as_ref(),
            persist,
            lost_logs,
        )
    }

    fn plan(
        &mut self,
        exit_when_empty: ExitCode,
        records: Option<&Records>,
        containment: Option<&Containment>,
    ) -> RunPlan {
        let settings = &self.settings;
        let temp_root = self.temp_root();
        let coverage = records.and_then(|r| r.coverage.clone());
        let container = self.engine.as_ref().map(|engine| {
            Arc::new(cargo_image::container_run(
                engine,
                settings,
                &self.run_id,
                temp_root.join("containers"),
                coverage.as_ref().map(|c| c.root.clone()),
            ))
        });
        RunPlan {
            run_id: self.run_id.clone(),
            tests: std::mem::take(&mut self.tests),
            workers: settings.run.workers,
            default_timeout: settings.run.timeout,
            grace: settings.run.grace,
            max_fail: settings.run.max_fail,
            fail_fast: settings.run.fail_fast,
            retries: settings.run.retries,
            capture: !settings.run.no_capture,
            run_skipped: settings.run.run_skipped,
            leak_fails: settings.run.leak == LeakPolicy::Fail,
            root: settings.root.clone(),
            run_dir: records.map(|r| r.run_dir.clone()),
            carried: std::mem::take(&mut self.carried),
            resumed_from: self.resumed_from.as_ref().map(|(id, _)| id.clone()),
            cgroup: containment.and_then(|c| c.cgroup.clone()),
            controllers: containment.map(|c| c.controllers.clone()),
            limits: Limits {
                mem_bytes: settings.run.test_limits.mem_bytes,
                pids: settings.run.test_limits.pids,
                safe_mode: settings.run.test_limits.safe_mode,
            },
            guard: settings.run.host_guard.map(|g| {
                GuardConfig::new(
                    settings.run.workers,
                    g.cpu_threshold,
                    g.mem_threshold,
                    settings.run.grace,
                )
            }),
            temp_root,
            container,
            // The page draws the host's CPU and memory: sample them even without the guard.
            sample_host: settings.output.html.is_some(),
            argv: std::mem::take(&mut self.argv),
            exit_when_empty,
            slow_after: Some(settings.run.slow_after),
            alone: std::mem::take(&mut self.alone),
            partition: self.shard_info.clone().map(Arc::new),
            coverage: coverage.map(Arc::new),
        }
    }
}
