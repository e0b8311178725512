//! `warden run`: read the command line (and, with `--resume`, the checkpoint's invocation),
//! prepare the selection, hand it to the engine's run session, and render what the session
//! says: its notices and the one event stream, to the terminal and every report.

use anyhow::{bail, Context, Result};
use tokio::sync::watch;
use warden::config::NoTests;
use warden::container::Engine;
use warden::events::Event;
use warden::exit_code::ExitCode;
use warden::session::{Notice, ResumeFrom, Session, SessionError, SessionSpec};
use warden::state::{find_checkpoint, Invocation, ResumeError};
use warden::supervise::Network;
use warden::test_case::TestCase;

use crate::args::RunArgs;
use crate::prepare::{no_state, nothing_selected, plural, prepare, Prepared, Request, Sharding};
use crate::reports::{self, Reports};
use crate::terminal::Terminal;
use crate::{clean_cmd, degraded, resume, signals};

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
                    selection_changes = crate::selection_changes::selection_changes(s, &now);
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
        tests,
        warnings,
        history,
        expected,
        shard_info,
        ..
    } = prepared;
    // A merge deadline that makes no sense is refused now, not found after every test ran.
    if settings.run.coverage {
        let value = std::env::var_os(warden::coverage::TIMEOUT_ENV);
        warden::coverage::timeout_from(value.as_deref()).map_err(anyhow::Error::msg)?;
    }
    // Containers: the engine answers and has the image, or nothing runs (exit 2).
    let engine = match &settings.container {
        c if c.enabled => {
            let image = c.config.image.as_deref().unwrap_or_default();
            Some(Engine::prepare(c.config.engine, image, c.config.pull)?)
        }
        _ => None,
    };
    // --cargo: the host-built test binaries must start in the image (exit 2 otherwise).
    if let Some(engine) = &engine {
        warden::session::cargo_binaries_start(engine, &settings, &tests).map_err(|e| {
            anyhow::anyhow!(
                "--cargo with --container: the test binaries are built and listed on this \
                 host, and a container of image `{}` cannot run them ({e}); use an image with \
                 the host's C library in which the binaries' path is mounted (the project is; \
                 a target directory outside it needs a [container] mounts entry), build \
                 statically linked test binaries, or run without --container",
                settings
                    .container
                    .config
                    .image
                    .as_deref()
                    .unwrap_or_default()
            )
        })?;
    }
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

    // This run's own checkpoint keeps the whole invocation, so that `--resume` alone repeats
    // it (the random seed of a shuffle included).
    let effective = resume::effective_options(&settings);
    let mut resume_notes = Vec::new();
    if let Some(overrides) = saved.as_ref().and_then(|s| s.overrides(&effective)) {
        resume_notes.push(format!("resuming with {overrides}"));
    }
    let mut invocation = match &saved {
        Some(s) => resume::merged(s, &now),
        None => now.clone(),
    };
    if let Some(seed) = settings.selection.shuffle_seed {
        invocation.options.seed = Some(seed);
    }
    invocation.effective = effective;
    let output = settings.output.clone();
    let shuffle_seed = settings.selection.shuffle_seed;
    let no_tests = settings.run.no_tests;
    let nothing = nothing_selected(&settings, args.select.failed);
    let engine_warnings = engine
        .as_ref()
        .map(|e| e.warnings(&settings.container.config))
        .unwrap_or_default();
    let engine_note = engine
        .as_ref()
        .filter(|_| output.verbose)
        .map(|e| format!("container engine: {}", e.describe()));
    let spec = SessionSpec {
        settings,
        tests,
        history,
        shard_info,
        engine,
        resume: resume_force
            .zip(checkpoint)
            .map(|(force, checkpoint)| ResumeFrom {
                checkpoint,
                force,
                selection_changes,
            }),
        invocation,
        argv: std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        keep_state: !no_state(),
        watchdog_exe: std::env::current_exe().ok(),
    };
    let mut session = match Session::begin(spec) {
        Ok(s) => s,
        Err(SessionError::NotResumed(e)) => {
            eprintln!("error: {e}");
            if matches!(e, ResumeError::Mismatch { .. }) {
                eprintln!(
                    "(run the same selection, or `--resume=force` to resume the tests both have \
                     in common)"
                );
            }
            return Ok(ExitCode::NOT_RESUMED);
        }
        Err(e) => return Err(e.into()),
    };

    let mut reports = Reports::open(&output, session.run_id())?;
    reports.expect(session.tests().iter().map(|t| t.id.clone()));
    reports.classes(session.classes().iter().cloned());
    let to_run = session.tests().len();
    let carried = session.carried().len();
    let mut terminal = Terminal::new(&output, to_run + carried);
    let mut resume_warnings = Vec::new();
    if let Some(r) = session.resumed() {
        resume_warnings.extend(r.warnings.iter().cloned());
        if r.dropped > 0 {
            resume_warnings.push(format!(
                "--resume=force: {} test{} not in the interrupted run left out",
                r.dropped,
                plural(r.dropped)
            ));
        }
        if !r.alone.is_empty() {
            resume_notes.push(format!(
                "{} running alone: the host guard stopped the interrupted run while {} ran",
                r.alone.join(", "),
                if r.alone.len() == 1 { "it" } else { "they" }
            ));
        }
    }
    for w in warnings
        .iter()
        .chain(&resume_warnings)
        .chain(&engine_warnings)
    {
        terminal.warning(w);
    }
    if let Some(note) = engine_note {
        terminal.note(&note);
    }
    if let Some(note) = shard_note {
        terminal.note(&note);
    }
    let notices = session.open_records()?;
    show(&terminal, &notices, output.verbose);
    if session.has_checkpoint() {
        terminal.continue_with(Some(resume::continue_command(
            &invoked.argv0,
            &invoked.command,
            &args,
            &cwd,
        )));
    }
    if let Some(r) = session.resumed() {
        terminal.note(&format!(
            "resuming run {}: {carried} result{} carried over, {to_run} test{} to run",
            r.from_run,
            plural(carried),
            plural(to_run)
        ));
    }
    for note in &resume_notes {
        terminal.note(note);
    }
    if let Some(seed) = shuffle_seed {
        // Printed even with -q: without it a failing order cannot be reproduced.
        terminal.warning(&format!("shuffled with --seed {seed}"));
    }
    let mut exit_when_empty = ExitCode::PASSED;
    if to_run == 0 && carried == 0 && !empty_is_expected {
        match no_tests {
            NoTests::Fail => {
                terminal.error(&format!(
                    "{nothing}; exit {} (--no-tests=warn or pass to allow it)",
                    ExitCode::NO_TESTS
                ));
                exit_when_empty = ExitCode::NO_TESTS;
            }
            NoTests::Warn => terminal.warning(&nothing),
            NoTests::Pass => {}
        }
    }
    let pending = session
        .tests()
        .iter()
        .map(|t| {
            (
                t.id.clone(),
                expected.get(&t.id).copied().unwrap_or_default(),
            )
        })
        .collect();
    terminal.expect(pending, session.settings().run.workers);

    let notices = session.contain(&|| signals::pending().is_some())?;
    show(&terminal, &notices, output.verbose);
    if let Some(w) = degraded::for_session(&session) {
        terminal.warning(&w);
    }
    // A signal during the set-up (a long sweep of dead runs, say): the run starts no test.
    signals.forward_pending();
    let state_dir = session.settings().run.state_dir.clone();
    let finished = rt.block_on(session.run(exit_when_empty, stop_rx, |event: &Event| {
        terminal.on_event(event);
        reports.on_event(event);
    }));
    show(&terminal, &finished.notices, output.verbose);
    let (mut late_warnings, mut lost) = (finished.warnings, finished.lost);
    let (report_lost, report_warnings) =
        reports.finish((!no_state()).then_some(state_dir.as_path()));
    lost.extend(report_lost);
    late_warnings.extend(report_warnings);
    // Tests that passed do not make a run whose results were lost a success.
    let mut code = finished.outcome.exit_code;
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

/// What the session said, as the terminal shows it.
fn show(terminal: &Terminal, notices: &[Notice], verbose: bool) {
    for n in notices {
        match n {
            Notice::Warning(w) => terminal.warning(w),
            Notice::Note(n) => terminal.note(n),
            Notice::Detail(d) if verbose => terminal.note(d),
            Notice::Detail(_) => {}
            Notice::Reaped(r) => terminal.warning(&clean_cmd::describe(r, false)),
        }
    }
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
