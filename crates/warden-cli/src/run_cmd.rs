//! `warden run`: prepare the selection, resume if asked, set up containment and persistence,
//! run, and feed every reporter from the one event stream.

use std::collections::HashSet;
use std::sync::Arc;
use warden::exit_code::ExitCode;

use anyhow::{bail, Context, Result};
use tokio::sync::watch;
use warden::config::{LeakPolicy, NoTests};
use warden::container::{remove_run_containers, ContainerRun, Engine};
use warden::coverage::Coverage;
use warden::events::{Event, EventKind, StopReason};
use warden::monitor::GuardConfig;
use warden::runner::{self, RunPlan};
use warden::state::journal::{self, Fingerprint, Header, Journal};
use warden::state::{
    find_checkpoint, new_run_id, plan_resume_from, prune_runs, Invocation, Persistence, RunDir,
    StateLock,
};
use warden::supervise::{Limits, Network};
use warden::test_case::TestCase;
use warden::watchdog::INTERRUPTED_FILE;

use crate::args::RunArgs;
use crate::containment::Containment;
use crate::prepare::{no_state, nothing_selected, plural, prepare, Prepared, Request, Sharding};
use crate::reports::{self, Reports};
use crate::resume;
use crate::signals;
use crate::terminal::Terminal;

/// How many run directories (logs, journals) are kept under the state dir.
const KEEP_RUNS: usize = 20;

/// How warden was invoked: `argv[0]` and the command word (`run` or `test`), for the
/// "continue with" hint.
pub struct Invoked {
    pub argv0: String,
    pub command: String,
}

pub fn run(args: RunArgs, invoked: &Invoked) -> Result<ExitCode> {
    let resume_force = match args.resume.as_deref() {
        None => None,
        Some("") => Some(false),
        Some("force") => Some(true),
        Some(other) => bail!("--resume takes no value or `--resume=force`, not `{other}`"),
    };
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let now = resume::invocation_now(&args, &invoked.command, &cwd);
    // --resume: the checkpoint first, since it says what to run.
    let mut checkpoint = None;
    let mut selection_changes = Vec::new();
    let mut saved: Option<Invocation> = None;
    if resume_force.is_some() {
        let state_dir = resume::locate_state_dir(&cwd, &args)?;
        match find_checkpoint(&state_dir) {
            Ok(c) => {
                saved = c.contents.header.invocation.clone();
                if let Some(s) = &saved {
                    selection_changes = s.selection_changes(&now);
                }
                checkpoint = Some(c);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::NOT_RESUMED);
            }
        }
    }
    let request = match (&saved, &checkpoint) {
        (Some(saved), Some(c)) => resume::request(saved, &now, c, !selection_changes.is_empty())?,
        // Not resuming, or a checkpoint of an older warden that kept no invocation: the
        // command line alone says what to run.
        _ => Request::here(
            args.to_options(),
            args.select.config.as_deref(),
            args.select.failed,
            Sharding::from_args(&args.select)?,
        )?,
    };
    let prepared = prepare(request, true)?;
    // A report over a selected test, or two reports into one file, is refused before
    // anything runs.
    reports::check_paths(&prepared.settings.output, &prepared.tests)?;
    // Before anything of the run exists: this may run warden again in a systemd scope.
    crate::systemd_scope::enter_if_needed();
    let shard_note = prepared.shard_note();
    let empty_is_expected = prepared.empty_is_expected();
    let Prepared {
        settings,
        mut tests,
        warnings,
        history,
        expected,
        shard_info,
        ..
    } = prepared;
    // Containers: the engine answers and has the image, or nothing runs (exit 2).
    let engine = match &settings.container {
        c if c.enabled => {
            let image = c.config.image.as_deref().unwrap_or_default();
            Some(Engine::prepare(c.config.engine, image, c.config.pull)?)
        }
        _ => None,
    };
    // A private network this host cannot make fails the run before any test starts (exit 2),
    // never falls back to the host's network.
    if engine.is_none() {
        check_private_net(&tests, settings.run.run_skipped)?;
    }
    // Signals are ours from here on: one arriving during the set-up stops the run cleanly
    // (exit 130/143/129) instead of killing warden half-way.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let _runtime = rt.enter();
    let (stop_tx, stop_rx) = watch::channel(None);
    let signals = signals::install(stop_tx).context("cannot install signal handlers")?;
    let state_dir = settings.run.state_dir.clone();
    let _lock = StateLock::acquire(&state_dir)?;
    let run_id = new_run_id();

    let mut fingerprint = Fingerprint::of_selection(&settings, &tests);
    // Before `--resume` narrows the tests: carried results are cases of files too.
    let classes: Vec<(String, String)> = tests
        .iter()
        .filter(|t| t.case.is_some())
        .map(|t| (t.id.clone(), t.file_id().to_string()))
        .collect();
    let mut carried = Vec::new();
    let mut resumed_from = None;
    let mut resume_warnings = Vec::new();
    let mut resume_notes = Vec::new();
    let mut alone = HashSet::new();
    let effective = resume::effective_options(&settings);
    if let (Some(force), Some(checkpoint)) = (resume_force, checkpoint) {
        if let Some(overrides) = saved.as_ref().and_then(|s| s.overrides(&effective)) {
            resume_notes.push(format!("resuming with {overrides}"));
        }
        let plan = match plan_resume_from(checkpoint, &fingerprint, force, selection_changes) {
            Ok(plan) => plan,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::NOT_RESUMED);
            }
        };
        tests.retain(|t| plan.should_run(&t.id));
        resume_warnings.extend(plan.warnings.iter().cloned());
        if !plan.dropped.is_empty() {
            resume_warnings.push(format!(
                "--resume=force: {} test{} not in the interrupted run left out",
                plan.dropped.len(),
                plural(plan.dropped.len())
            ));
        }
        fingerprint = plan.fingerprint.clone();
        resumed_from = Some((plan.from_run.clone(), plan.from_dir.clone()));
        alone = plan.alone.iter().cloned().collect();
        if !plan.alone.is_empty() {
            resume_notes.push(format!(
                "{} running alone: the host guard stopped the interrupted run while {} ran",
                plan.alone.join(", "),
                if plan.alone.len() == 1 { "it" } else { "they" }
            ));
        }
        carried = plan.carried;
    }
    // This run's own checkpoint keeps the whole invocation, so that `--resume` alone repeats
    // it (the random seed of a shuffle included).
    let mut invocation = match &saved {
        Some(s) => resume::merged(s, &now),
        None => now.clone(),
    };
    if let Some(seed) = settings.selection.shuffle_seed {
        invocation.options.seed = Some(seed);
    }
    invocation.effective = effective;

    let mut reports = Reports::open(&settings.output, &run_id)?;
    reports.expect(tests.iter().map(|t| t.id.clone()));
    reports.classes(classes);
    let run_dir = RunDir::create(&state_dir, &run_id)?;
    let coverage = settings.run.coverage.then(|| {
        let mut c = Coverage::new(&run_dir.dir, &settings.root);
        // A container's user may not be warden's: its directory must be open to it.
        c.open_dirs = engine.is_some();
        c
    });
    let mut carry_warnings = Vec::new();
    if let (Some(c), Some((_, old_dir))) = (&coverage, &resumed_from) {
        carry_warnings = warden::coverage::carry_over(old_dir, c, &mut carried);
    }
    let mut terminal = Terminal::new(&settings.output, tests.len() + carried.len());
    let engine_warnings = engine
        .as_ref()
        .map(|e| e.warnings(&settings.container.config))
        .unwrap_or_default();
    for w in warnings
        .iter()
        .chain(&resume_warnings)
        .chain(&engine_warnings)
        .chain(&carry_warnings)
    {
        terminal.warning(w);
    }
    if let Some(e) = engine.as_ref().filter(|_| settings.output.verbose) {
        terminal.note(&format!("container engine: {}", e.describe()));
    }
    if let Some(note) = shard_note {
        terminal.note(&note);
    }

    let header = Header::new(
        &run_id,
        resumed_from.as_ref().map(|(id, _)| id.as_str()),
        fingerprint,
    )
    .with_invocation(invocation);
    let alone_ids: Vec<String> = alone.iter().cloned().collect();
    let created = if no_state() {
        None
    } else {
        Some(Journal::create_resumed(
            &run_dir.dir,
            &header,
            &carried,
            &alone_ids,
        ))
    };
    let journal = match created.transpose() {
        Ok(j) => {
            // The new journal holds everything the old one did: the old run is done with.
            if let (Some(_), Some((_, old_dir))) = (&j, &resumed_from) {
                let _ = journal::complete(old_dir);
            }
            j
        }
        Err(e) => {
            terminal.warning(&format!("no checkpoint for this run: {e}"));
            None
        }
    };
    if journal.is_some() {
        terminal.continue_with(Some(resume::continue_command(
            &invoked.argv0,
            &invoked.command,
            &args,
            &cwd,
        )));
    }
    if let Some((from, _)) = &resumed_from {
        terminal.note(&format!(
            "resuming run {from}: {} result{} carried over, {} test{} to run",
            carried.len(),
            plural(carried.len()),
            tests.len(),
            plural(tests.len())
        ));
    }
    for note in &resume_notes {
        terminal.note(note);
    }
    let mut history = history;
    if let Some(h) = &history {
        let begun = h
            .begin_run(&run_id, resumed_from.as_ref().map(|(id, _)| id.as_str()))
            .and_then(|()| match &shard_info {
                Some(s) => h.mark_shard(&run_id, &s.spec),
                None => Ok(()),
            });
        if let Err(e) = begun {
            terminal.warning(&format!("running without history: {e}"));
            history = None;
        }
    }
    if let Some(seed) = settings.selection.shuffle_seed {
        // Printed even with -q: without it a failing order cannot be reproduced.
        terminal.warning(&format!("shuffled with --seed {seed}"));
    }
    let mut exit_when_empty = ExitCode::PASSED;
    if tests.is_empty() && carried.is_empty() && !empty_is_expected {
        let what = nothing_selected(&settings, args.select.failed);
        match settings.run.no_tests {
            NoTests::Fail => {
                terminal.error(&format!(
                    "{what}; exit {} (--no-tests=warn or pass to allow it)",
                    ExitCode::NO_TESTS
                ));
                exit_when_empty = ExitCode::NO_TESTS;
            }
            NoTests::Warn => terminal.warning(&what),
            NoTests::Pass => {}
        }
    }
    let pending = tests
        .iter()
        .map(|t| {
            (
                t.id.clone(),
                expected.get(&t.id).copied().unwrap_or_default(),
            )
        })
        .collect();
    terminal.expect(pending, settings.run.workers);

    let temp_root = std::env::temp_dir().join(format!("warden-{run_id}"));
    let containment = Containment::set_up(
        &run_id,
        &temp_root,
        &run_dir.dir,
        &terminal,
        settings.output.verbose,
        engine.as_ref(),
    )?;
    // A signal during the set-up (a long sweep of dead runs, say): the run starts no test.
    signals.forward_pending();
    let container = engine.as_ref().map(|engine| {
        Arc::new(ContainerRun {
            engine: engine.clone(),
            config: Arc::new(settings.container.config.clone()),
            image: settings.container.config.image.clone().unwrap_or_default(),
            run_id: run_id.clone(),
            project: settings.root.clone(),
            cid_dir: temp_root.join("containers"),
            coverage_root: coverage.as_ref().map(|c| c.root.clone()),
        })
    });
    let mut persist = Persistence::new(&run_id, run_dir.dir.clone(), journal, history);
    let interrupted_marker = run_dir.dir.join(INTERRUPTED_FILE);
    let plan = RunPlan {
        run_id: run_id.clone(),
        tests,
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
        run_dir: Some(run_dir),
        carried,
        resumed_from: resumed_from.as_ref().map(|(id, _)| id.clone()),
        cgroup: containment.cgroup.clone(),
        controllers: Some(containment.controllers.clone()),
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
        argv: std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        exit_when_empty,
        slow_after: Some(settings.run.slow_after),
        alone,
        partition: shard_info.clone().map(Arc::new),
        coverage: coverage.map(Arc::new),
    };

    let keeps_logs = plan.run_dir.is_some();
    let mut lost_logs: Vec<String> = Vec::new();
    let outcome = rt.block_on(async {
        let outcome = runner::run(plan, stop_rx, |event: Event| {
            // The checkpoint first: whatever a report shows as finished is never run again.
            persist.on_event(&event);
            terminal.on_event(&event);
            reports.on_event(&event);
            if let EventKind::TestFinished(r) = &event.kind {
                // Output without a log file: the log could not be written (a full disk).
                if keeps_logs && !r.carried_over && r.output.total_bytes > 0 && r.log.is_none() {
                    lost_logs.push(r.id.clone());
                }
            }
        })
        .await;
        anyhow::Ok(outcome)
    })?;
    // Every child of warden is a test's now (the watchdog is claimed): an orphan that shed
    // both the run's token and its mark, so that even the runner could not tell it, ends here.
    let strays = warden::supervise::kill_unclaimed(|_| true);
    if !strays.is_empty() {
        let list: Vec<String> = strays
            .iter()
            .map(|l| format!("{} {}", l.pid, l.cmd))
            .collect();
        terminal.warning(&format!(
            "killed {} orphaned process{} left under warden: {}",
            strays.len(),
            if strays.len() == 1 { "" } else { "es" },
            list.join(", ")
        ));
    }
    // Every test removed its container; this catches one whose removal failed.
    if let Some(engine) = &engine {
        match remove_run_containers(engine, &run_id, false) {
            Ok(left) if !left.is_empty() => terminal.warning(&format!(
                "removed {} container{} the run left behind",
                left.len(),
                plural(left.len())
            )),
            Ok(_) => {}
            Err(e) => terminal.warning(&format!("cannot check for leftover containers: {e}")),
        }
    }
    match (outcome.stopped, &outcome.guard_reason) {
        (Some(StopReason::Signal), _) => {
            let _ = std::fs::write(&interrupted_marker, "stopped by a signal\n");
        }
        (Some(StopReason::Guard), reason) => {
            let reason = reason.as_deref().unwrap_or("host resources");
            let _ = std::fs::write(
                &interrupted_marker,
                format!("stopped by --self-protect: {reason}\n"),
            );
        }
        _ => {}
    }
    containment.tear_down(outcome.temp_left.is_some());
    let (mut late_warnings, mut lost) = persist.finish(&outcome);
    let (report_lost, report_warnings) =
        reports.finish((!no_state()).then_some(state_dir.as_path()));
    lost.extend(report_lost);
    late_warnings.extend(report_warnings);
    if !lost_logs.is_empty() {
        let shown: Vec<&str> = lost_logs.iter().take(5).map(String::as_str).collect();
        lost.push(format!(
            "the logs of {} test{} could not be written ({}{}); their output is lost beyond \
             what is shown here",
            lost_logs.len(),
            plural(lost_logs.len()),
            shown.join(", "),
            if lost_logs.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        ));
    }
    prune_runs(&state_dir, KEEP_RUNS);
    // Tests that passed do not make a run whose results were lost a success.
    let mut code = outcome.exit_code;
    if !lost.is_empty() && code == ExitCode::PASSED {
        code = ExitCode::FAILED;
        terminal.raise_exit_code(code);
    }
    terminal.finish();
    for w in &late_warnings {
        terminal.warning(w);
    }
    for l in &lost {
        terminal.error(l);
    }
    Ok(code)
}

/// Probe once whether the tests that will run in a private network can have one.
fn check_private_net(tests: &[TestCase], run_skipped: bool) -> Result<()> {
    let private: Vec<&str> = tests
        .iter()
        .filter(|t| t.net == Network::Private && t.command.is_ok())
        .filter(|t| t.skip.is_none() || run_skipped)
        .map(|t| t.id.as_str())
        .collect();
    let Some(first) = private.first() else {
        return Ok(());
    };
    warden::supervise::os::probe_private_net().map_err(|e| {
        let who = match private.len() {
            1 => format!("test {first} runs"),
            n => format!("{n} tests (test {first}, ...) run"),
        };
        anyhow::anyhow!(
            "{who} in a private network (--net private, [run] net, a suite's net or @net): {e}"
        )
    })
}
