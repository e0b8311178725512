//! The run session on a real state dir, with real processes and cgroups. Running a session to
//! its end makes the process a child subreaper and kills its unclaimed children: these tests
//! run in a process of their own (not among the engine's unit tests), one run at a time.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Mutex;

use tokio::sync::watch;
use warden::config::{load_settings, RunOptions};
use warden::discovery::discover;
use warden::events::{Event, EventKind, Status, StopReason};
use warden::exit_code::ExitCode;
use warden::runner::StopRequest;
use warden::session::{Finished, ResumeFrom, Session, SessionError, SessionSpec};
use warden::state::journal::{Fingerprint, Header, Journal};
use warden::state::{find_checkpoint, journal_path, read_journal, Invocation, RunDir};

/// One session runs at a time: each one's final sweep kills the children of this process that
/// no test of its own claimed.
static RUNNING: Mutex<()> = Mutex::new(());

/// A project with `t/a_test.sh` and `t/b_test.sh`, both passing, its state dir inside.
fn project(dir: &Path) -> SessionSpec {
    project_where_b_runs(dir, "exit 0")
}

/// [`project`] with `b`'s script.
fn project_where_b_runs(dir: &Path, b: &str) -> SessionSpec {
    std::fs::create_dir_all(dir.join("t")).unwrap();
    for (name, body) in [("a_test.sh", "exit 0"), ("b_test.sh", b)] {
        let path = dir.join("t").join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let options = RunOptions {
        paths: Some(vec!["t".into()]),
        state_dir: Some(dir.join("state").to_string_lossy().into_owned()),
        max_workers: Some(2),
        ..RunOptions::default()
    };
    let settings = load_settings(dir, options, None).unwrap();
    let tests = discover(&settings.discovery).unwrap().tests;
    SessionSpec {
        settings,
        tests,
        history: None,
        shard_info: None,
        engine: None,
        resume: None,
        invocation: Invocation::default(),
        argv: Vec::new(),
        keep_state: true,
        // This test binary cannot serve as the watchdog; warden-cli's tests run warden's.
        watchdog_exe: None,
    }
}

#[test]
fn a_second_session_on_the_same_state_dir_is_refused_while_the_first_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = Session::begin(project(dir.path())).unwrap();
    let err = Session::begin(project(dir.path())).err().expect("refused");
    assert!(matches!(err, SessionError::Lock(_)), "{err}");
    assert_eq!(err.exit_code(), ExitCode::USAGE);
    drop(first);
    Session::begin(project(dir.path())).expect("free again once the first is gone");
}

#[test]
fn resuming_a_different_selection_is_refused_with_exit_43_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let spec = project(dir.path());
    let fingerprint = Fingerprint::of_selection(&spec.settings, &spec.tests[..1]);
    let run_dir = RunDir::create(&dir.path().join("state"), "20260101T000000Z-aaaaaa").unwrap();
    Journal::create(
        &run_dir.dir,
        &Header::new("20260101T000000Z-aaaaaa", None, fingerprint),
    )
    .unwrap();
    let resume = |force| ResumeFrom {
        checkpoint: find_checkpoint(&dir.path().join("state")).unwrap(),
        force,
        selection_changes: Vec::new(),
    };
    let err = Session::begin(SessionSpec {
        resume: Some(resume(false)),
        ..project(dir.path())
    })
    .err()
    .expect("refused");
    assert_eq!(err.exit_code(), ExitCode::NOT_RESUMED, "{err}");
    let forced = Session::begin(SessionSpec {
        resume: Some(resume(true)),
        ..project(dir.path())
    })
    .unwrap();
    assert_eq!(forced.resumed().unwrap().dropped, 1);
    assert_eq!(forced.tests().len(), 1);
}

/// Runs the session to its end; each event comes with whether the journal (the checkpoint)
/// already held the test's id when the sink saw it.
fn run_to_end(session: Session) -> (Finished, Vec<(Event, bool)>) {
    run(session, false)
}

/// [`run_to_end`], or, with `interrupt`, stopped as by Ctrl-C once the first test finished.
fn run(mut session: Session, interrupt: bool) -> (Finished, Vec<(Event, bool)>) {
    let journal = journal_path(
        &session
            .settings()
            .run
            .state_dir
            .join("runs")
            .join(session.run_id()),
    );
    let _one_at_a_time = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    session.open_records().unwrap();
    session.contain(&|| false).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (stop_tx, stop_rx) = watch::channel(None);
    let mut events = Vec::new();
    let finished = rt.block_on(session.run(ExitCode::PASSED, stop_rx, |e| {
        let in_journal = match &e.kind {
            // Records, not the header: its fingerprint names every selected test.
            EventKind::TestFinished(r) => {
                read_journal(&journal).is_ok_and(|j| j.records.iter().any(|k| k.id == r.id))
            }
            _ => false,
        };
        if interrupt && matches!(e.kind, EventKind::TestFinished(_)) {
            let _ = stop_tx.send(Some(StopRequest {
                reason: StopReason::Signal,
                immediate: true,
                exit_code: ExitCode::SIGINT,
            }));
        }
        events.push((e.clone(), in_journal))
    }));
    (finished, events)
}

#[test]
fn a_completed_run_leaves_no_checkpoint_and_feeds_the_sink_after_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::begin(project(dir.path())).unwrap();
    let run_id = session.run_id().to_string();
    let (finished, events) = run_to_end(session);
    assert_eq!(finished.outcome.exit_code, ExitCode::PASSED);
    assert!(finished.lost.is_empty(), "{:?}", finished.lost);
    let passed: Vec<bool> = events
        .iter()
        .filter(|(e, _)| matches!(&e.kind, EventKind::TestFinished(r) if r.status == Status::Pass))
        .map(|(_, in_journal)| *in_journal)
        .collect();
    assert_eq!(
        passed,
        [true, true],
        "both passed, each in the journal before the sink saw it"
    );
    let run_dir = dir.path().join("state/runs").join(&run_id);
    assert!(run_dir.join("logs").is_dir());
    assert!(
        find_checkpoint(&dir.path().join("state")).is_err(),
        "a completed run is not resumable"
    );
    // Torn down: the run's registry entry and private temp dir are gone.
    assert!(!std::env::temp_dir()
        .join(format!("warden-{run_id}"))
        .exists());
    assert!(!warden::state::registry::registry_dir()
        .join(format!("{run_id}.json"))
        .exists());
}

#[test]
fn resuming_carries_the_results_over_and_runs_only_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    // An interrupted run: a passed, b hung until Ctrl-C.
    let first = Session::begin(project_where_b_runs(dir.path(), "sleep 60")).unwrap();
    let first_id = first.run_id().to_string();
    let (stopped, _) = run(first, true);
    assert_eq!(stopped.outcome.exit_code, ExitCode::SIGINT);
    let mut spec = project(dir.path());
    spec.resume = Some(ResumeFrom {
        checkpoint: find_checkpoint(&dir.path().join("state")).unwrap(),
        force: false,
        selection_changes: Vec::new(),
    });
    let session = Session::begin(spec).unwrap();
    let resumed = session.resumed().expect("resumed").clone();
    assert_eq!(
        (resumed.from_run.as_str(), resumed.carried),
        (first_id.as_str(), 1)
    );
    assert_eq!(session.tests().len(), 1);
    assert!(session.tests()[0].id.contains("b_test"));
    let (finished, events) = run_to_end(session);
    assert_eq!(finished.outcome.exit_code, ExitCode::PASSED);
    let carried: Vec<bool> = events
        .iter()
        .filter_map(|(e, _)| match &e.kind {
            EventKind::TestFinished(r) => Some(r.carried_over),
            _ => None,
        })
        .collect();
    assert_eq!(carried, [true, false], "a carried over, b run: {carried:?}");
}
