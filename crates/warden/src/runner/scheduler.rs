//! The scheduler loop: hands queued tests to free worker slots, retries failures, stops on
//! fail-fast or when told to, and reports everything as events.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
// The tokio clock: the scheduler's own tests run it paused.
use tokio::time::Instant;

use super::classify::classify;
use super::host_watch::{HostSource, HostWatch};
use super::launch::{self, Launcher};
use super::slots::{worker_tmp, Slots};
use crate::cases::{apply_junit, read_junit};
use crate::container::ContainerRun;
use crate::coverage::{self, Coverage};
use crate::events::{
    CapturedOutput, Event, EventKind, GuardAction, RunInfo, Status, StopReason, TestResult, Totals,
};
use crate::exit_code::ExitCode;
use crate::monitor::{Action, GuardConfig, RunningState, RunningTest};
use crate::run_token;
use crate::state::{remove_tree_within, RunDir};
use crate::supervise::os::cgroup::CgroupRun;
use crate::supervise::os::controllers::ControllerRun;
use crate::supervise::os::mark;
use crate::supervise::{
    kill_unclaimed, owned_by, pause, Cancel, CaptureSpec, Echo, Exit, Limits, Network,
    ProcessOutcome, SpawnSpec, TapMode,
};
use crate::test_case::{OutputFormat, TestCase};

/// Everything the runner needs, already validated.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub run_id: String,
    /// In the order to run them.
    pub tests: Vec<TestCase>,
    pub workers: usize,
    pub default_timeout: Duration,
    pub grace: Duration,
    /// Stop scheduling after this many failed tests (`--fail-fast` = 1).
    pub max_fail: Option<u32>,
    pub fail_fast: bool,
    pub retries: u32,
    /// `false` = `--no-capture`: output is also shown live on stderr.
    pub capture: bool,
    /// Run tests marked `@skip` instead of reporting them skipped (`--only-skipped`).
    pub run_skipped: bool,
    /// `leak = "fail"`: a passing test that leaves processes behind fails.
    pub leak_fails: bool,
    /// Results of an interrupted earlier run carried into this one (`--resume`): reported and
    /// counted first, never run again.
    pub carried: Vec<TestResult>,
    pub resumed_from: Option<String>,
    /// Relative command paths (`bin/tool`) are resolved against this directory.
    pub root: PathBuf,
    pub run_dir: Option<RunDir>,
    /// The run's cgroup, when the host has a writable cgroup2 tree: each worker slot gets a
    /// child cgroup that tracks and kills everything its tests start.
    pub cgroup: Option<Arc<CgroupRun>>,
    /// Memory, pids and CPU controllers of the run (v2 or v1), for per-test caps and
    /// measurements; each worker slot gets its cgroups there.
    pub controllers: Option<Arc<ControllerRun>>,
    /// Caps of every test (`--test-mem-limit`, `--test-pids-limit`, `--safe-mode`); a test's
    /// own memory limit (marker, suite) wins over the run's.
    pub limits: Limits,
    /// `--self-protect`: the guard's thresholds (its `max_workers` is set to `workers`).
    pub guard: Option<GuardConfig>,
    /// Parent of the private `TMPDIR`s, one per worker slot, emptied after every test and
    /// removed at the end.
    pub temp_root: PathBuf,
    /// Run every test in a container of this engine and image instead of as a process.
    pub container: Option<Arc<ContainerRun>>,
    /// Sample the host (`resource-sample` events) even without a guard: a report that draws
    /// the host's CPU and memory (`--html`) needs them.
    pub sample_host: bool,
    /// The command line after the program name, for `run-started` (what ran this).
    pub argv: Vec<String>,
    /// The run's exit code when nothing at all was selected (no test, nothing carried over):
    /// 4 with `--no-tests=fail`, else 0.
    pub exit_when_empty: ExitCode,
    /// `TestSlow` each time a running test passes another multiple of this; `None` = never.
    pub slow_after: Option<Duration>,
    /// Ids of tests that run alone, as `@serial` ones do: they were running when the host
    /// guard stopped the run this one resumes. The guard fails such a test, instead of
    /// requeueing it or shutting down, if it fills memory again.
    pub alone: HashSet<String>,
    /// With `--partition`: recorded in `run-started` for `warden merge`.
    pub partition: Option<Arc<crate::events::ShardInfo>>,
    /// `--coverage`: each test's directory and variables; the merge at the end.
    pub coverage: Option<Arc<Coverage>>,
}

/// A request to stop the run from outside (a signal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopRequest {
    pub reason: StopReason,
    /// Kill running tests at once instead of TERM → grace → KILL.
    pub immediate: bool,
    /// The run's exit code when it stops this way (130 for SIGINT, 42 for the guard, ...).
    pub exit_code: ExitCode,
}

/// How the run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub totals: Totals,
    /// 0 when every selected test passed or was skipped, 42 when the host guard stopped the
    /// run, else 1 (signals are the caller's).
    pub exit_code: ExitCode,
    pub stopped: Option<StopReason>,
    pub duration: Duration,
    /// Why the host guard stopped the run, with the readings (exit 42).
    pub guard_reason: Option<String>,
    /// The run's temp root, when it could not be removed in time: `warden clean` must.
    pub temp_left: Option<PathBuf>,
}

struct Finished {
    index: usize,
    attempt: u32,
    worker: usize,
    outcome: ProcessOutcome,
    timeout: Duration,
}

/// A `test-output` event for a chunk of live output from the test on `worker`.
fn output_event(
    plan: &RunPlan,
    on_slot: &BTreeMap<usize, Running>,
    worker: usize,
    chunk: Vec<u8>,
    on_event: &mut impl FnMut(Event),
) {
    let Some(r) = on_slot.get(&worker) else {
        return;
    };
    on_event(Event::now(EventKind::TestOutput {
        id: plan.tests[r.index].id.clone(),
        worker,
        attempt: r.attempt,
        chunk,
    }));
}

/// What a supervisor task was given, kept by the scheduler in case the task panics.
struct Launch {
    index: usize,
    attempt: u32,
    worker: usize,
    timeout: Duration,
    tmp: PathBuf,
    aside: PathBuf,
}

/// The outcome of a test whose supervisor task failed (a panic in warden): an error with the
/// panic's message. What the test had started is left to the run's final sweep.
fn supervisor_failed(e: tokio::task::JoinError, duration: Duration) -> ProcessOutcome {
    let why = match e.try_into_panic() {
        Ok(payload) => match payload.downcast::<String>() {
            Ok(s) => format!("panicked: {s}"),
            Err(payload) => match payload.downcast::<&str>() {
                Ok(s) => format!("panicked: {s}"),
                Err(_) => "panicked".to_string(),
            },
        },
        Err(e) => e.to_string(),
    };
    let mut outcome = crate::supervise::not_started(
        format!("warden's supervisor of this test failed ({why}); the run went on"),
        duration,
        None,
    );
    outcome
        .notes
        .push("processes it started are killed at the end of the run".to_string());
    outcome
}

/// A test on a worker slot.
struct Running {
    index: usize,
    attempt: u32,
    started: Instant,
    /// `pause::paused_total()` when it started: pauses (Ctrl-Z) do not count as running time.
    paused_at_start: Duration,
    /// `TestSlow` events sent for it so far.
    slow_reported: u32,
    cancel: watch::Sender<Cancel>,
    /// The guard asked for it to be terminated and run again later.
    requeue: bool,
    /// The guard terminated it for good, for this reason (it ran alone and filled memory).
    guard_failed: Option<String>,
}

impl Running {
    /// Time it has run, pauses left out.
    fn active(&self, now: Instant) -> Duration {
        let paused = pause::paused_total().saturating_sub(self.paused_at_start);
        now.saturating_duration_since(self.started)
            .saturating_sub(paused)
    }

    /// When it passes its next multiple of `every`, if no pause comes first.
    fn next_slow(&self, every: Duration, now: Instant) -> Instant {
        let due = every.saturating_mul(self.slow_reported + 1);
        now + due.saturating_sub(self.active(now))
    }
}

/// Run the plan to the end. `stop` turning `Some` (a signal, say) terminates running tests and
/// starts no more; a later request with `immediate` kills them at once. With a guard in the
/// plan, the host is sampled while tests run and the guard's decisions are applied (fewer tests
/// at once, requeue, shutdown). Events are delivered in order to `on_event`.
pub async fn run(
    plan: RunPlan,
    stop: watch::Receiver<Option<StopRequest>>,
    on_event: impl FnMut(Event),
) -> RunOutcome {
    let launcher = launch::for_container(plan.container.as_ref());
    run_with(plan, Seams::real(launcher), stop, on_event).await
}

/// What the scheduler runs tests with and reads the host through: the real ones in a run,
/// scripted ones in the scheduler's own tests.
pub struct Seams {
    pub launcher: Arc<dyn Launcher>,
    /// Makes the host reader when the plan samples the host.
    pub host: Box<dyn FnOnce() -> Box<dyn HostSource> + Send>,
}

impl Seams {
    pub fn real(launcher: Arc<dyn Launcher>) -> Seams {
        Seams {
            launcher,
            host: Box::new(|| Box::new(crate::monitor::HostSampler::new())),
        }
    }
}

/// [`run`] with the given seams.
pub async fn run_with(
    plan: RunPlan,
    seams: Seams,
    mut stop: watch::Receiver<Option<StopRequest>>,
    mut on_event: impl FnMut(Event),
) -> RunOutcome {
    let started = Instant::now();
    let plan = Arc::new(plan);
    let workers = plan.workers.max(1);
    on_event(Event::now(EventKind::RunStarted {
        run_id: plan.run_id.clone(),
        selected: plan.tests.len() + plan.carried.len(),
        workers,
        resumed_from: plan.resumed_from.clone(),
        log_dir: plan.run_dir.as_ref().map(|d| d.logs.clone()),
        info: Box::new(run_info(&plan)),
        partition: plan.partition.clone(),
    }));
    // Slots are made as tests need them: never more than can run at once.
    let mut slots = Slots::new(workers.min(plan.tests.len()).max(1));
    let mark_base = mark::run_base(&plan.run_id);
    let mut spawned: u64 = 0;
    if plan.coverage.is_some() {
        for w in coverage::user_value_warnings(&plan.tests, |k| user_sets(&plan, k)) {
            on_event(Event::now(EventKind::Warning(w)));
        }
    }
    let launcher = seams.launcher;
    let mut host = match plan.guard.clone() {
        Some(mut config) => {
            config.max_workers = workers;
            Some(HostWatch::new(config, (seams.host)()))
        }
        None if plan.sample_host => Some(HostWatch::observe(workers, (seams.host)())),
        None => None,
    };

    // The plan's order is the run order (`select::run_order` put `@serial` tests last).
    let mut queue: VecDeque<(usize, u32)> = (0..plan.tests.len()).map(|i| (i, 1)).collect();
    let mut running: JoinSet<Finished> = JoinSet::new();
    // What each supervisor task was running, for the one that panics instead of finishing.
    let mut tasks: HashMap<tokio::task::Id, Launch> = HashMap::new();
    // `--no-capture`: live output of running tests, made into events here.
    let (echo_tx, mut echo_rx) = mpsc::unbounded_channel::<(usize, Vec<u8>)>();
    let echo_tx = (!plan.capture).then_some(echo_tx);
    let mut on_slot: BTreeMap<usize, Running> = BTreeMap::new();
    let mut serial_running = false;
    let mut totals = Totals::default();
    let mut failures = 0u32;
    let mut failed_before: Vec<bool> = vec![false; plan.tests.len()];
    let mut requeued: Vec<bool> = vec![false; plan.tests.len()];
    let mut stopped: Option<StopReason> = None;
    let mut guard_reason: Option<String> = None;
    let mut any_failure = false;
    let mut stop_open = true;
    let cancel_all = |on_slot: &BTreeMap<usize, Running>, how: Cancel| {
        for r in on_slot.values() {
            let _ = r.cancel.send(how);
        }
    };
    let mut stop_exit: Option<ExitCode> = None;
    for r in &plan.carried {
        let mut r = r.clone();
        r.carried_over = true;
        totals.add(&r);
        if r.status.is_failure() {
            any_failure = true;
            failures += 1;
        }
        on_event(Event::now(EventKind::TestFinished(Box::new(r))));
    }

    // A stop asked for before the run began (a signal during the set-up): start nothing.
    if let Some(req) = *stop.borrow_and_update() {
        stopped = Some(req.reason);
        stop_exit = Some(req.exit_code);
    }
    loop {
        // Start what can start.
        let allowed = host.as_ref().map_or(workers, HostWatch::allowed);
        while stopped.is_none() {
            let Some(&(index, attempt)) = queue.front() else {
                break;
            };
            let test = &plan.tests[index];
            if test.skip.is_some() && !plan.run_skipped {
                queue.pop_front();
                let r = not_run_result(
                    test,
                    Status::Skip,
                    test.skip.clone().filter(|s| !s.is_empty()),
                );
                totals.add(&r);
                on_event(Event::now(EventKind::TestFinished(Box::new(r))));
                continue;
            }
            if let Err(msg) = &test.command {
                queue.pop_front();
                let r = not_run_result(test, Status::Error, Some(msg.clone()));
                totals.add(&r);
                any_failure = true;
                failures += 1;
                on_event(Event::now(EventKind::TestFinished(Box::new(r))));
                if let Some(reason) = should_stop(&plan, failures) {
                    stopped = Some(reason);
                }
                continue;
            }
            let alone = test.serial || plan.alone.contains(&test.id);
            if serial_running || (alone && !running.is_empty()) {
                break;
            }
            if on_slot.len() >= allowed {
                break;
            }
            let Some(worker) = slots.take(&plan, &mut on_event) else {
                if slots.limit() == 0 {
                    // Not one slot could be made: no test runs without its cgroups and caps.
                    queue.pop_front();
                    let why = slots
                        .failure
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    let r = not_run_result(
                        test,
                        Status::Error,
                        Some(format!("cannot set up a worker slot: {why}")),
                    );
                    totals.add(&r);
                    any_failure = true;
                    failures += 1;
                    on_event(Event::now(EventKind::TestFinished(Box::new(r))));
                    continue;
                }
                break;
            };
            queue.pop_front();
            serial_running = alone;
            on_event(Event::now(EventKind::TestStarted {
                id: test.id.clone(),
                worker,
                attempt,
                net: network_of(&plan, test),
            }));
            if let Some(Err(e)) = plan.coverage.as_ref().map(|c| c.prepare_dir(&test.id)) {
                on_event(Event::now(EventKind::Warning(format!("--coverage: {e}"))));
            }
            let echo = echo_tx.as_ref().map(|tx| Echo {
                worker,
                tx: tx.clone(),
            });
            let mut spec = spawn_spec(&plan, test, worker, attempt, echo);
            spec.mark = Some(mark::test_mark(mark_base, spawned));
            spawned += 1;
            let slot = slots.get(worker);
            spec.cgroup = slot.cgroup.clone();
            spec.controllers = slot.controllers.clone();
            let timeout = spec.timeout;
            let (cancel_tx, cancel) = watch::channel(Cancel::No);
            on_slot.insert(
                worker,
                Running {
                    index,
                    attempt,
                    started: Instant::now(),
                    paused_at_start: pause::paused_total(),
                    slow_reported: 0,
                    cancel: cancel_tx,
                    requeue: false,
                    guard_failed: None,
                },
            );
            let tmp = slot.tmp.clone();
            let aside = plan.temp_root.join(format!("left-{spawned}"));
            let launched = launcher.launch(spec, &test.id, attempt, cancel);
            let launch = Launch {
                index,
                attempt,
                worker,
                timeout,
                tmp: tmp.clone(),
                aside: aside.clone(),
            };
            let task = running.spawn(async move {
                let outcome = launched.await;
                empty_dir(&tmp, &aside);
                Finished {
                    index,
                    attempt,
                    worker,
                    outcome,
                    timeout,
                }
            });
            tasks.insert(task.id(), launch);
        }
        if running.is_empty() && (stopped.is_some() || queue.is_empty()) {
            break;
        }
        let sample_at = host.as_ref().map(HostWatch::deadline);
        let slow_at = plan.slow_after.and_then(|every| {
            let now = Instant::now();
            on_slot.values().map(|r| r.next_slow(every, now)).min()
        });

        tokio::select! {
            Some((worker, chunk)) = echo_rx.recv(), if echo_tx.is_some() => {
                output_event(&plan, &on_slot, worker, chunk, &mut on_event);
            }
            joined = running.join_next_with_id(), if !running.is_empty() => {
                let Some(joined) = joined else { continue };
                // Its output was all sent before it finished: it comes first.
                while let Ok((worker, chunk)) = echo_rx.try_recv() {
                    output_event(&plan, &on_slot, worker, chunk, &mut on_event);
                }
                let f = match joined {
                    Ok((id, f)) => {
                        tasks.remove(&id);
                        f
                    }
                    // A bug in warden, not the test's doing: that test is an error saying so,
                    // and the run goes on to its end, reports and tear-down.
                    Err(e) => {
                        let Some(l) = tasks.remove(&e.id()) else { continue };
                        empty_dir(&l.tmp, &l.aside);
                        let since = on_slot.get(&l.worker).map(|r| r.started);
                        let duration = since.map_or(Duration::ZERO, |t| t.elapsed());
                        Finished {
                            index: l.index,
                            attempt: l.attempt,
                            worker: l.worker,
                            outcome: supervisor_failed(e, duration),
                            timeout: l.timeout,
                        }
                    }
                };
                slots.give_back(f.worker);
                let slot = on_slot.remove(&f.worker);
                serial_running = false;
                let test = &plan.tests[f.index];
                let guard_failed = slot.as_ref().and_then(|s| s.guard_failed.clone())
                    .filter(|_| f.outcome.exit == Exit::Cancelled);
                if f.outcome.exit == Exit::Cancelled && guard_failed.is_none() {
                    // From its start until it was gone: the grace it took to go is the slot's.
                    let duration = slot.as_ref().map_or(f.outcome.duration, |s| s.started.elapsed());
                    if slot.is_some_and(|s| s.requeue) && stopped.is_none() {
                        // Terminated by the guard: it runs again later and is reported once.
                        requeued[f.index] = true;
                        queue.push_back((f.index, f.attempt));
                        on_event(Event::now(EventKind::TestRequeued {
                            id: test.id.clone(),
                            worker: f.worker,
                            attempt: f.attempt,
                            duration,
                        }));
                        continue;
                    }
                    on_event(Event::now(EventKind::TestCancelled {
                        id: test.id.clone(),
                        reason: stopped.unwrap_or(StopReason::Signal),
                        worker: f.worker,
                        attempt: f.attempt,
                        duration,
                    }));
                    totals.cancelled += 1;
                    continue;
                }
                let mut result = classify(test, f.attempt, f.worker, f.timeout, plan.leak_fails, f.outcome);
                result.coverage_dir = plan.coverage.as_ref().map(|c| c.test_dir(&test.id));
                result.net = Some(network_of(&plan, test));
                if test.format == OutputFormat::Junit {
                    let report = read_junit(&junit_path(&plan, test, f.attempt));
                    apply_junit(&mut result, report);
                }
                if let Some(reason) = guard_failed {
                    // Stopped by the guard for good: a retry would only fill memory again.
                    result.status = Status::Oom;
                    result.message = Some(format!("stopped by --self-protect: {reason}"));
                } else if result.status.is_failure() && f.attempt <= plan.retries && stopped.is_none() {
                    failed_before[f.index] = true;
                    on_event(Event::now(EventKind::TestRetrying(Box::new(result))));
                    queue.push_front((f.index, f.attempt + 1));
                    continue;
                } else if result.status == Status::Pass && failed_before[f.index] {
                    result.status = Status::Flaky;
                }
                totals.add(&result);
                if result.status.is_failure() {
                    any_failure = true;
                    failures += 1;
                    if stopped.is_none() {
                        if let Some(reason) = should_stop(&plan, failures) {
                            stopped = Some(reason);
                            cancel_all(&on_slot, Cancel::Graceful);
                        }
                    }
                }
                on_event(Event::now(EventKind::TestFinished(Box::new(result))));
            }
            changed = stop.changed(), if stop_open => {
                if changed.is_err() {
                    // The controller went away: nobody can stop us any more; carry on.
                    stop_open = false;
                    continue;
                }
                if let Some(req) = *stop.borrow() {
                    // A signal overrides fail-fast as the reason: it decides the exit code.
                    stopped = Some(req.reason);
                    stop_exit = Some(req.exit_code);
                    cancel_all(&on_slot, if req.immediate { Cancel::Now } else { Cancel::Graceful });
                }
            }
            _ = sleep_until_opt(slow_at), if slow_at.is_some() => {
                let (Some(every), now) = (plan.slow_after, Instant::now()) else { continue };
                for (worker, r) in on_slot.iter_mut() {
                    let active = r.active(now);
                    if active >= every.saturating_mul(r.slow_reported + 1) {
                        // Once per multiple, even when a pause made several pass at once; the
                        // multiple itself is reported, not when the timer happened to fire.
                        r.slow_reported = (active.as_nanos() / every.as_nanos().max(1)) as u32;
                        on_event(Event::now(EventKind::TestSlow {
                            id: plan.tests[r.index].id.clone(),
                            worker: *worker,
                            attempt: r.attempt,
                            elapsed: every.saturating_mul(r.slow_reported),
                        }));
                    }
                }
            }
            _ = sleep_until_opt(sample_at), if sample_at.is_some() => {
                let Some(watch) = host.as_mut() else { continue };
                let now = Instant::now();
                let state = running_state(&plan, &on_slot, &requeued, stopped.is_some());
                let tick = match watch.tick(&state, now) {
                    Ok(t) => t,
                    Err(e) => {
                        on_event(Event::now(EventKind::Warning(format!(
                            "cannot sample the host ({e}): --self-protect is off for the rest of the run"
                        ))));
                        host = None;
                        continue;
                    }
                };
                if let Some(kind) = tick.sample_event {
                    on_event(Event::now(kind));
                }
                let Some(action) = tick.decision.action else { continue };
                let (action, reason, id) = match action {
                    Action::Throttle { reason, .. } => (GuardAction::Throttle, reason, None),
                    Action::Requeue { key, reason } => {
                        let worker = key as usize;
                        let Some(slot) = on_slot.get_mut(&worker) else { continue };
                        slot.requeue = true;
                        let _ = slot.cancel.send(Cancel::Graceful);
                        (GuardAction::Requeue, reason, Some(plan.tests[slot.index].id.clone()))
                    }
                    Action::Fail { key, reason } => {
                        let worker = key as usize;
                        let Some(slot) = on_slot.get_mut(&worker) else { continue };
                        slot.guard_failed = Some(reason.clone());
                        let _ = slot.cancel.send(Cancel::Graceful);
                        (GuardAction::Fail, reason, Some(plan.tests[slot.index].id.clone()))
                    }
                    Action::Shutdown { reason } => {
                        if stopped.is_none() {
                            stopped = Some(StopReason::Guard);
                        }
                        guard_reason = Some(reason.clone());
                        cancel_all(&on_slot, Cancel::Graceful);
                        (GuardAction::Shutdown, reason, None)
                    }
                };
                on_event(Event::now(EventKind::Guard {
                    action,
                    reason,
                    reading: tick.reading,
                    allowed: tick.decision.allowed,
                    id,
                }));
            }
        }
    }

    totals.not_run = queue.len() as u32;
    // Orphans of the run that no test was charged with (their test had ended, or they shed
    // both token and mark) end with the run.
    let run_token = [run_token::run_entry(&plan.run_id)];
    let escaped = kill_unclaimed(|pid| owned_by(pid, Some(mark::run_marks(mark_base)), &run_token));
    if !escaped.is_empty() {
        let list: Vec<String> = escaped
            .iter()
            .map(|l| format!("{} {}", l.pid, l.cmd))
            .collect();
        on_event(Event::now(EventKind::Warning(format!(
            "killed {} process{} of the run that outlived their tests: {}",
            escaped.len(),
            if escaped.len() == 1 { "" } else { "es" },
            list.join(", ")
        ))));
    }
    // The slots' descriptors first: removing a deep temp tree needs some.
    drop(slots);
    let temp_left = match remove_tree_within(
        &plan.temp_root,
        std::time::Instant::now() + TEMP_ROOT_BUDGET,
        &|| false,
    ) {
        Ok(()) => None,
        Err(why) => {
            on_event(Event::now(EventKind::Warning(format!(
                "the run's temp dir {} is not fully removed ({why}): `warden clean` removes the rest",
                plan.temp_root.display()
            ))));
            Some(plan.temp_root.clone())
        }
    };
    if let Some(c) = &plan.controllers {
        c.remove();
    }
    if let Some(cg) = &plan.cgroup {
        cg.remove();
    }
    let nothing_selected = plan.tests.is_empty() && plan.carried.is_empty();
    if let Some(c) = plan.coverage.as_ref().filter(|_| !nothing_selected) {
        // Stopped by a signal or the guard: the user or the host wants the run over, not a merge
        // that can take a while (the raw data stays, with the command).
        let skip = matches!(stopped, Some(StopReason::Signal | StopReason::Guard))
            .then_some("not merged: the run was stopped");
        coverage::finish(c, skip, &mut on_event);
    }
    let duration = started.elapsed();
    let exit_code = stop_exit.unwrap_or(if stopped == Some(StopReason::Guard) {
        ExitCode::GUARD
    } else if nothing_selected {
        plan.exit_when_empty
    } else {
        ExitCode::of_failure(any_failure)
    });
    on_event(Event::now(EventKind::RunFinished {
        run_id: plan.run_id.clone(),
        totals: totals.clone(),
        duration,
        exit_code,
        stopped,
    }));
    RunOutcome {
        totals,
        exit_code,
        stopped,
        duration,
        guard_reason,
        temp_left,
    }
}

/// What `run-started` says about the run besides its tests.
fn run_info(plan: &RunPlan) -> RunInfo {
    RunInfo {
        warden_version: env!("CARGO_PKG_VERSION").to_string(),
        host: crate::monitor::hostname(),
        argv: plan.argv.clone(),
        timeout: plan.default_timeout,
        retries: plan.retries,
        cpu_threshold: plan.guard.as_ref().map(|g| g.cpu_threshold),
        mem_threshold: plan.guard.as_ref().map(|g| g.mem_threshold),
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The running tests as the guard sees them (keys are worker slots).
fn running_state(
    plan: &RunPlan,
    on_slot: &BTreeMap<usize, Running>,
    requeued: &[bool],
    stopping: bool,
) -> RunningState {
    RunningState {
        tests: on_slot
            .iter()
            .map(|(worker, r)| RunningTest {
                key: *worker as u64,
                started: r.started.into_std(),
                requeued_before: requeued[r.index],
                terminating: r.requeue || r.guard_failed.is_some() || stopping,
                alone: plan.alone.contains(&plan.tests[r.index].id),
            })
            .collect(),
    }
}

/// How long emptying a slot's `TMPDIR` after a test may take before what is left is moved
/// aside (removed with the run's temp root): the runner waits for it.
const EMPTY_BUDGET: Duration = Duration::from_millis(500);
/// How long removing the run's temp root may take at the end of a run.
const TEMP_ROOT_BUDGET: Duration = Duration::from_secs(5);

/// Remove everything inside `dir`, leaving it empty (recreated if the test removed it or made
/// parts of it unremovable). A tree too big to remove in [`EMPTY_BUDGET`] is renamed into
/// `aside`, so that the slot's next test starts in an empty dir at once.
fn empty_dir(dir: &std::path::Path, aside: &std::path::Path) {
    let deadline = std::time::Instant::now() + EMPTY_BUDGET;
    let clean = match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().all(|e| {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => remove_tree_within(&p, deadline, &|| false).is_ok(),
                _ => std::fs::remove_file(&p).is_ok(),
            }
        }),
        Err(_) => false,
    };
    if !clean {
        if std::fs::rename(dir, aside).is_err() {
            let _ = remove_tree_within(dir, std::time::Instant::now() + EMPTY_BUDGET, &|| false);
        }
        let _ = std::fs::create_dir_all(dir);
    }
}

fn should_stop(plan: &RunPlan, failures: u32) -> Option<StopReason> {
    if plan.fail_fast && failures >= 1 {
        return Some(StopReason::FailFast);
    }
    match plan.max_fail {
        Some(n) if failures >= n => Some(StopReason::MaxFail),
        _ => None,
    }
}

/// Where a `format = "junit"` test writes its report (`{junit}`, `$WARDEN_JUNIT`): beside its
/// log, else in the run's temp dir; fresh for every attempt.
fn junit_path(plan: &RunPlan, test: &TestCase, attempt: u32) -> std::path::PathBuf {
    match &plan.run_dir {
        Some(d) => {
            let log = d.log_path(&test.id, attempt);
            let name = log.file_name().unwrap_or_default().to_string_lossy();
            let stem = name.strip_suffix(".log").unwrap_or(&name);
            log.with_file_name(format!("{stem}.junit.xml"))
        }
        None => plan.temp_root.join("junit").join(format!(
            "{:016x}.{attempt}.xml",
            crate::select::stable_hash(&test.id)
        )),
    }
}

fn spawn_spec(
    plan: &RunPlan,
    test: &TestCase,
    worker: usize,
    attempt: u32,
    echo: Option<Echo>,
) -> SpawnSpec {
    let mut argv = test.command.clone().unwrap_or_default();
    let mut junit_env = None;
    if test.format == OutputFormat::Junit {
        let path = junit_path(plan, test, attempt);
        // A report left by an earlier run must not pass for this attempt's.
        let _ = std::fs::remove_file(&path);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let text = path.to_string_lossy().into_owned();
        for arg in &mut argv {
            if arg.contains("{junit}") {
                *arg = arg.replace("{junit}", &text);
            }
        }
        junit_env = Some(("WARDEN_JUNIT".to_string(), text));
    }
    if let Some(program) = argv.first_mut() {
        let p = std::path::Path::new(program.as_str());
        if p.is_relative() && program.contains('/') {
            *program = plan.root.join(p).to_string_lossy().into_owned();
        }
    }
    let mut env: Vec<(String, String)> = test
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.extend(run_token::test_env(&plan.run_id, &test.id));
    env.extend([
        ("WARDEN_WORKER".to_string(), worker.to_string()),
        ("WARDEN_ATTEMPT".to_string(), attempt.to_string()),
        (
            "TMPDIR".to_string(),
            worker_tmp(plan, worker).to_string_lossy().into_owned(),
        ),
    ]);
    env.extend(junit_env);
    if let Some(c) = &plan.coverage {
        let user_sets = |k: &str| test.env.contains_key(k) || user_sets(plan, k);
        env.extend(c.env(&c.test_dir(&test.id), user_sets));
    }
    let capture = Some(CaptureSpec {
        log_path: plan.run_dir.as_ref().map(|d| d.log_path(&test.id, attempt)),
        tap: match test.format {
            OutputFormat::ExitCode => TapMode::Off,
            OutputFormat::Auto => TapMode::Detect,
            OutputFormat::Tap => TapMode::Assume,
            OutputFormat::Junit => TapMode::Off,
        },
        echo,
    });
    let token = run_token::test_entries(&plan.run_id, &test.id);
    SpawnSpec {
        token,
        mark: None,
        cgroup: None,
        controllers: None,
        limits: Limits {
            mem_bytes: test.mem_limit.or(plan.limits.mem_bytes),
            ..plan.limits
        },
        argv,
        cwd: test
            .cwd
            .clone()
            .or_else(|| test.path.parent().map(|p| p.to_path_buf()))
            .unwrap_or_else(|| plan.root.clone()),
        env,
        timeout: test.timeout.unwrap_or(plan.default_timeout),
        grace: plan.grace,
        capture,
        net: test.net,
    }
}

/// Whether the user set variable `name` for every test: in warden's environment, which a test
/// process inherits, or for a container run in `[container] env` (warden's is not passed in).
fn user_sets(plan: &RunPlan, name: &str) -> bool {
    match &plan.container {
        Some(c) => c.config.env.contains_key(name),
        None => std::env::var_os(name).is_some(),
    }
}

/// A result for a test that was decided without running it (skip marker, no command).
fn not_run_result(test: &TestCase, status: Status, message: Option<String>) -> TestResult {
    TestResult {
        id: test.id.clone(),
        status,
        attempt: 1,
        worker: 0,
        duration: Duration::ZERO,
        exit_code: None,
        signal: None,
        subtests: None,
        peak_rss_bytes: None,
        cpu_ms: None,
        leaked: Vec::new(),
        log: None,
        output: CapturedOutput::default(),
        message,
        carried_over: false,
        coverage_dir: None,
        net: None,
    }
}

/// What the JSON events say of a test's network: `host` or `private` for a process; for a
/// container, `private` when it has no network but its own loopback, else the engine's
/// network (`bridge`, ...).
fn network_of(plan: &RunPlan, test: &TestCase) -> String {
    match &plan.container {
        None => test.net.to_string(),
        Some(c) => match crate::container::network_for(test.net, &c.config) {
            none if none == "none" => Network::Private.to_string(),
            other => other,
        },
    }
}
