//! Hostile suite, state (issue 17, issue 19 item 6): a checkpoint cut, garbled or duplicated;
//! a `history.db` that is not a database; two wardens on one state dir; a read-only state dir;
//! a disk that fills up mid-run; SIGKILL of warden in a burst of short tests, then `--resume`.
//! Nothing finished is lost, nothing is run twice, and what cannot be kept is said.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

const AREA: &str = "state";
const BURST: usize = 40;

/// `state/burst/t_NN_test.sh`: 40 short tests, each appending its id to `ran.log` first.
fn burst_scene() -> Scene {
    burst_scene_of(Scene::with_area(AREA))
}

fn burst_scene_of(scene: Scene) -> Scene {
    for i in 0..BURST {
        scene.script(
            &format!("{AREA}/burst/t_{i:02}_test.sh"),
            "#!/bin/sh\necho \"$WARDEN_TEST_ID\" >> \"$WARDEN_FIXTURE_RAN\"\nsleep 0.05\nexit 0\n",
        );
    }
    scene
}

fn burst_ids() -> BTreeSet<String> {
    (0..BURST)
        .map(|i| format!("{AREA}/burst/t_{i:02}_test.sh"))
        .collect()
}

fn ran_log(scene: &Scene) -> PathBuf {
    scene.path().join("ran.log")
}

/// Ids in `ran.log`, one per start.
fn ran(scene: &Scene) -> Vec<String> {
    fs::read_to_string(ran_log(scene))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs the burst, SIGKILLs warden once at least 10 tests finished, waits for the watchdog to
/// reap the run. Returns the ids the JSON report shows as finished.
fn interrupted_burst(scene: &mut Scene) -> BTreeSet<String> {
    let running = scene
        .run(&[&format!("{AREA}/burst")], &["-j", "2"])
        .env("WARDEN_FIXTURE_RAN", ran_log(scene))
        .spawn()
        .unwrap();
    let report = scene.path().join(JSON_REPORT);
    let finished = || {
        fs::read_to_string(&report)
            .unwrap_or_default()
            .matches("\"test-finished\"")
            .count()
    };
    poll(Duration::from_secs(30), || finished() >= 10).expect("10 tests finished");
    running.signal(libc::SIGKILL);
    let mark = running.mark_entry();
    let out = running.wait_unswept().unwrap();
    // The watchdog kills the run's tests within 2 s of warden's death.
    let gone = poll(Duration::from_secs(5), || procs_with_env(&mark).is_empty());
    assert!(
        gone.is_ok(),
        "the watchdog left the run's tests alive\n{}",
        out.describe()
    );
    let events = parse_json_lines(&fs::read_to_string(&report).unwrap())
        .unwrap_or_else(|e| panic!("the JSON report of a SIGKILLed warden does not parse: {e}"));
    scene.assert_nothing_left(&out, run_id(&events).as_deref());
    statuses(&events).unwrap().into_keys().collect()
}

/// `--resume` of the burst: every test accounted for once, the run's totals whole.
fn resume(scene: &mut Scene, state: &Path) -> (Outcome, Verdict) {
    let _ = fs::remove_file(scene.path().join(JSON_REPORT));
    let out = scene
        .warden()
        .args(["run", &format!("{AREA}/burst"), "--resume", "-j", "2"])
        .arg("--state-dir")
        .arg(state)
        .args(["--json", JSON_REPORT, "--junit", JUNIT_REPORT])
        .env("WARDEN_FIXTURE_RAN", ran_log(scene))
        .run();
    let v = scene.verify(&out, 0);
    (out, v)
}

fn run_finished(v: &Verdict) -> &Value {
    v.events
        .iter()
        .find(|e| e["type"] == "run-finished")
        .expect("a run-finished event")
}

/// SIGKILL in a burst of short tests, then `--resume`: nothing lost, nothing rerun.
#[test]
fn sigkill_in_a_burst_then_resume_loses_and_reruns_nothing() {
    sigkill_then_resume(burst_scene());
}

/// The same as a normal user: no cgroups, the watchdog finds the tests by their token.
#[test]
fn sigkill_in_a_burst_then_resume_as_a_normal_user() {
    let user = normal_user().expect("a normal user");
    sigkill_then_resume(burst_scene_of(Scene::with_area(AREA).run_by(&user)));
}

fn sigkill_then_resume(mut scene: Scene) {
    let done_before = interrupted_burst(&mut scene);
    let ran_before: BTreeSet<String> = ran(&scene).into_iter().collect();
    fs::remove_file(ran_log(&scene)).unwrap();
    let state = scene.state_dir();
    let (out, v) = resume(&mut scene, &state);
    assert_eq!(run_finished(&v)["passed"], BURST, "{}", out.describe());
    let all: BTreeSet<String> = v.statuses.keys().cloned().collect();
    assert_eq!(all, burst_ids(), "every test reported once");
    let rerun: Vec<String> = ran(&scene)
        .into_iter()
        .filter(|id| done_before.contains(id))
        .collect();
    assert!(
        rerun.is_empty(),
        "finished before the kill, run again: {rerun:?}"
    );
    // Every test not started before the kill ran now.
    for id in burst_ids().difference(&ran_before) {
        assert!(ran(&scene).contains(id), "{id} never ran");
    }
}

/// The interrupted burst's journal, cut and garbled in several ways, each resumed on a copy
/// of the state dir.
#[test]
fn damaged_journals_resume_or_say_why() {
    let mut scene = burst_scene();
    interrupted_burst(&mut scene);
    let journal = find_journal(&scene.state_dir());
    let text = fs::read_to_string(&journal).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "{text}");

    let variants: Vec<(&str, String)> = vec![
        // Torn mid-record: resumes from the whole ones.
        (
            "torn",
            format!(
                "{}\n{}",
                lines[..lines.len() - 1].join("\n"),
                &lines[lines.len() - 1][..10]
            ),
        ),
        // A duplicated record: carried over once.
        (
            "duplicated",
            format!("{}\n{}\n{}\n", lines[0], lines[1], lines[1..].join("\n")),
        ),
        // Garbage in the middle: not a checkpoint to trust; exit 43 naming the file.
        (
            "garbage",
            format!(
                "{}\n\u{0}\u{1}garbage\n{}\n",
                lines[0],
                lines[1..].join("\n")
            ),
        ),
        // Empty: no header.
        ("empty", String::new()),
    ];
    for (name, contents) in variants {
        let state = scene.path().join(format!("state-{name}"));
        copy_tree(&scene.state_dir(), &state);
        let copy = state.join(journal.strip_prefix(scene.state_dir()).unwrap());
        fs::write(&copy, contents).unwrap();
        let _ = fs::remove_file(scene.path().join(JSON_REPORT));
        match name {
            "torn" | "duplicated" => {
                let (out, v) = resume(&mut scene, &state);
                assert_eq!(
                    run_finished(&v)["passed"],
                    BURST,
                    "{name}\n{}",
                    out.describe()
                );
                let carried = v
                    .events
                    .iter()
                    .filter(|e| e["type"] == "test-finished" && e["carried_over"] == true)
                    .count();
                assert!(carried >= 1, "{name}: nothing carried over");
            }
            _ => {
                let out = scene
                    .warden()
                    .args(["run", &format!("{AREA}/burst"), "--resume"])
                    .arg("--state-dir")
                    .arg(&state)
                    .run();
                assert_eq!(out.code, Some(43), "{name}\n{}", out.describe());
                assert!(
                    out.stderr.contains("journal.jsonl"),
                    "{name}\n{}",
                    out.describe()
                );
                assert_no_panic(&out);
            }
        }
    }
}

fn find_journal(state: &Path) -> PathBuf {
    fs::read_dir(state.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("journal.jsonl"))
        .find(|p| p.exists())
        .expect("an interrupted run's journal")
}

/// A `history.db` that is garbage, or cut in half: the run goes on without history, says so,
/// and exits as its tests say.
#[test]
fn corrupt_or_truncated_history_runs_without_it() {
    let mut scene = Scene::with_area(AREA);
    let out = scene.run(&["state/small"], &[]).run();
    scene.verify(&out, 1);
    let db = scene.state_dir().join("history.db");
    let good = fs::read(&db).unwrap();
    for (name, bytes) in [
        ("garbage", b"this is not a database\0\x01\x02".repeat(200)),
        ("truncated", good[..good.len() / 2].to_vec()),
    ] {
        for suffix in ["-wal", "-shm"] {
            let _ = fs::remove_file(scene.state_dir().join(format!("history.db{suffix}")));
        }
        fs::write(&db, &bytes).unwrap();
        let out = scene.run(&["state/small"], &[]).run();
        let v = scene.verify(&out, 1);
        assert_eq!(v.status("state/small/pass_test.sh"), Some("pass"), "{name}");
        assert_eq!(v.status("state/small/fail_test.sh"), Some("fail"), "{name}");
        assert!(
            out.stderr.contains("history"),
            "{name}: no word about history\n{}",
            out.describe()
        );
    }
}

/// Two wardens on one state dir: the second is refused (exit 2 naming the dir and the
/// holder), the first is not disturbed.
#[test]
fn two_wardens_on_one_state_dir() {
    let mut scene = Scene::with_area(AREA);
    let first = scene.run(&["state/slow"], &[]).spawn().unwrap();
    let lock = scene.state_dir().join("lock");
    poll(Duration::from_secs(20), || {
        fs::read_to_string(&lock).is_ok_and(|s| !s.trim().is_empty())
    })
    .expect("the first run holds the lock");
    let second = scene
        .warden()
        .args(["run", "state/small"])
        .arg("--state-dir")
        .arg(scene.state_dir())
        .run();
    second.assert_usage_error(&["state dir", "another warden"]);
    let out = first.wait().unwrap();
    let v = scene.verify(&out, 0);
    assert_eq!(v.status("state/slow/slow_test.sh"), Some("pass"));
}

/// A state dir warden cannot write: exit 2 naming it, with the way out; nothing runs.
#[test]
fn a_read_only_state_dir() {
    // As a normal user: a directory without write permission.
    let user = normal_user().expect("a normal user");
    let scene = Scene::with_area(AREA).run_by(&user);
    scene.sandbox.mkdir("ro-state");
    user.own_tree(scene.path());
    fs::set_permissions(
        scene.path().join("ro-state"),
        std::os::unix::fs::PermissionsExt::from_mode(0o555),
    )
    .unwrap();
    let out = scene
        .warden()
        .args(["run", "state/small", "--state-dir", "ro-state"])
        .run();
    out.assert_usage_error(&["ro-state"]);
    assert!(out.stderr.contains("--state-dir"), "{}", out.describe());

    // As root: a read-only mount.
    if !is_root() {
        eprintln!("skipped the read-only mount: not root");
        return;
    }
    let scene = Scene::with_area(AREA);
    let mount = TmpfsMount::new(&scene.sandbox.mkdir("ro-mount"), "size=1m,ro");
    let out = scene
        .warden()
        .args(["run", "state/small", "--state-dir"])
        .arg(mount.path())
        .run();
    out.assert_usage_error(&["ro-mount"]);
}

/// A disk that fills up mid-run under the state dir and the JSON report: every test still
/// runs, the JSON report is cut only between whole lines, and warden says what was lost and
/// exits non-zero.
#[test]
fn a_full_disk_under_the_state_dir_mid_run() {
    if !is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let mut scene = Scene::with_area(AREA);
    let full = scene.sandbox.mkdir("full");
    let _mount = TmpfsMount::new(&full, "size=2m");
    let out = scene
        .warden()
        .args(["run", "state/flood", "-j", "1", "--state-dir", "full/state"])
        .args(["--json", "full/events.jsonl", "--junit", JUNIT_REPORT])
        .run();
    assert_no_panic(&out);
    assert_ne!(
        out.code,
        Some(0),
        "a run that lost data exits 0\n{}",
        out.describe()
    );
    assert!(out.stderr.contains("No space left"), "{}", out.describe());
    assert!(
        out.stderr.contains("full/events.jsonl"),
        "the cut report is named\n{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("logs of"),
        "the lost logs are mentioned\n{}",
        out.describe()
    );
    // JUnit on a disk with room: every test ran, with its real status.
    let cases = scene.junit_cases().unwrap();
    assert_eq!(cases.len(), 8, "{cases:?}");
    // The cut JSON report holds whole lines only.
    let json = fs::read_to_string(full.join("events.jsonl")).unwrap_or_default();
    parse_json_lines(&json).unwrap_or_else(|e| panic!("cut mid-line: {e}"));
    let events = parse_json_lines(&json).unwrap();
    scene.assert_nothing_left(&out, run_id(&events).as_deref());
}

/// A tmpfs mounted for one test, unmounted (lazily) when dropped.
struct TmpfsMount {
    path: PathBuf,
}

impl TmpfsMount {
    fn new(path: &Path, options: &str) -> TmpfsMount {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mount -t tmpfs -o {options} {}",
            path.display()
        );
        TmpfsMount {
            path: path.to_path_buf(),
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
