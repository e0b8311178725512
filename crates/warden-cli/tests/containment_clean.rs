//! Containment acceptance, leftovers of dead runs (SPEC §6; issue 3): a run planted by hand
//! (a registry entry whose warden is dead, a temp dir, a live process with the run's token) is
//! listed by `warden clean --dry-run`, removed by `warden clean` and by the sweep at the start
//! of every run; a live run, a directory warden did not make, and a registry others can write
//! to are left alone.
//!
//! Like containment.rs: a registry dir per test, and nothing carrying the runs' tokens left.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use common::*;

const FIXTURE: &str = "containment";

/// `warden clean` never touches a run whose warden is alive.
#[test]
fn clean_leaves_a_live_run_alone() {
    let mut case = Case::new(FIXTURE);
    let running = case
        .run_args("hangs", &["-j", "4", "--grace", "1s"])
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    case.watched.push(running.mark_entry());
    let ready = wait_for_sleeps(&running, 8);
    let clean = case.warden().arg("clean").run();
    let still_up = match &ready {
        Ok(id) => procs_with_env(&format!("WARDEN_RUN_ID={id}")).len(),
        Err(_) => 0,
    };
    running.signal(libc::SIGINT);
    let out = running.wait().unwrap_or_else(|e| panic!("{e}"));
    let run_id = match ready {
        Ok(id) => id,
        Err(e) => {
            case.problems.push(e);
            return case.finish(Some(&out));
        }
    };
    case.watched.push(format!("WARDEN_RUN_ID={run_id}"));
    case.check(clean.stdout.contains("nothing to clean"), || {
        format!("`clean` during a live run:\n{}", clean.describe())
    });
    // 4 shells, 4 sleeps, 4 setsid sleeps.
    case.check(still_up == 12, || {
        format!("{still_up} processes of the live run after `clean` (expected 12)")
    });
    case.check(out.code == Some(130), || {
        format!("exit code {:?} after SIGINT", out.code)
    });
    case.check_nothing_left(&run_id, Some(&out));
    case.finish(Some(&out));
}

// --- 5. and 6. leftovers of a dead run ----------------------------------------------------

/// A dead run planted by hand: a registry entry whose warden pid is dead, a temp dir, and a
/// live `sleep 300` carrying the run's token.
struct Planted {
    run_id: String,
    temp_root: PathBuf,
    sleep: Child,
}

impl Planted {
    fn new(case: &mut Case) -> Planted {
        Planted::with_temp_root(case, None)
    }

    /// With the temp root at `<sandbox>/<name>` instead of `<sandbox>/warden-<run-id>`.
    fn with_temp_root(case: &mut Case, name: Option<&str>) -> Planted {
        let run_id = format!(
            "fake-{}-{}",
            std::process::id(),
            case.sandbox.path().file_name().unwrap().to_string_lossy()
        );
        let mut dead = Command::new("true").spawn().expect("run true");
        let dead_pid = dead.id();
        dead.wait().expect("wait for true");
        // Named as warden names a run's temp root: `clean` removes nothing else.
        let temp_root = case
            .sandbox
            .mkdir(name.unwrap_or(&format!("warden-{run_id}")));
        fs::write(temp_root.join("junk"), "left by a dead run").unwrap();
        let entry = serde_json::json!({
            "run_id": run_id,
            "pid": dead_pid,
            "start_time": null,
            "cgroup_dir": null,
            "temp_root": temp_root,
            "run_dir": null,
        });
        fs::write(
            case.registry().join(format!("{run_id}.json")),
            entry.to_string(),
        )
        .unwrap();
        let sleep = Command::new("sleep")
            .arg("300")
            .env("WARDEN_RUN_ID", &run_id)
            .spawn()
            .expect("start sleep 300");
        case.watched.push(format!("WARDEN_RUN_ID={run_id}"));
        Planted {
            run_id,
            temp_root,
            sleep,
        }
    }

    fn pid(&self) -> u32 {
        self.sleep.id()
    }

    /// Whether the planted sleep has ended, reaping it if so.
    fn ended(&mut self) -> bool {
        matches!(self.sleep.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Planted {
    fn drop(&mut self) {
        let _ = self.sleep.kill();
        let _ = self.sleep.wait();
    }
}

#[test]
fn warden_clean_removes_a_planted_leftover() {
    let mut case = Case::new(FIXTURE);
    let mut planted = Planted::new(&mut case);
    let listed = format!("{} sleep 300", planted.pid());
    let temp = planted.temp_root.display().to_string();

    let dry = case.warden().args(["clean", "--dry-run"]).run();
    case.check(dry.code == Some(0), || {
        format!("dry run exit {:?}", dry.code)
    });
    case.check(
        dry.stdout.contains(&planted.run_id) && dry.stdout.contains(&listed),
        || {
            format!(
                "`clean --dry-run` does not list {} and `{listed}`",
                planted.run_id
            )
        },
    );
    case.check(dry.stdout.contains(&temp), || {
        format!("`clean --dry-run` does not list {temp}")
    });
    case.check(!planted.ended(), || {
        "`clean --dry-run` killed the process".into()
    });
    case.check(planted.temp_root.exists(), || {
        "`clean --dry-run` removed the temp dir".into()
    });
    case.check(registry_entries(&case.registry()).len() == 1, || {
        "`clean --dry-run` removed the registry entry".into()
    });

    let clean = case.warden().arg("clean").run();
    case.check(clean.code == Some(0), || {
        format!("clean exit {:?}", clean.code)
    });
    case.check(
        clean.stdout.contains("killed") && clean.stdout.contains(&listed),
        || format!("`clean` does not report killing `{listed}`"),
    );
    case.check(clean.stdout.contains(&temp), || {
        format!("`clean` does not report removing {temp}")
    });
    // The sleep is our child: dead means waitable (a zombie until then).
    let ended = poll(Duration::from_secs(2), || planted.ended());
    case.check(ended.is_ok(), || {
        "`clean` did not kill the planted process".into()
    });
    case.check(!planted.temp_root.exists(), || {
        "`clean` did not remove the temp dir".into()
    });

    let again = case.warden().arg("clean").run();
    case.check(again.stdout.contains("nothing to clean"), || {
        format!("a second `clean` found something:\n{}", again.describe())
    });
    let run_id = planted.run_id.clone();
    case.check_nothing_left(&run_id, None);
    let out = format!(
        "{}\n{}\n{}",
        dry.describe(),
        clean.describe(),
        again.describe()
    );
    drop(planted);
    let problems = std::mem::take(&mut case.problems);
    assert!(problems.is_empty(), "{}\n\n{out}", problems.join("\n"));
}

#[test]
fn a_new_run_sweeps_a_planted_leftover_first() {
    let mut case = Case::new(FIXTURE);
    let mut planted = Planted::new(&mut case);
    let out = case
        .run_args("sweep", &[])
        .env("CONTAINMENT_PLANTED", &planted.run_id)
        .run();
    let events = case.events();
    let run_id = case.run_id(&events);

    // The fixture fails if the planted process was alive when it ran.
    case.check(out.code == Some(0), || {
        format!(
            "exit {:?}: the planted process was not swept first",
            out.code
        )
    });
    case.check(
        out.stderr.contains("warning")
            && out.stderr.contains(&planted.run_id)
            && out.stderr.contains(&format!("{} sleep 300", planted.pid())),
        || "no warning on stderr naming the dead run and its process".into(),
    );
    let ended = poll(Duration::from_secs(2), || planted.ended());
    case.check(ended.is_ok(), || "the planted process is alive".into());
    case.check(!planted.temp_root.exists(), || {
        "the planted temp dir was not removed".into()
    });
    if let Some(id) = run_id {
        case.check_nothing_left(&id, Some(&out));
    }
    let planted_id = planted.run_id.clone();
    case.check_nothing_left(&planted_id, None);
    drop(planted);
    case.finish(Some(&out));
}

/// An entry is a JSON file: `clean` kills by the run's token, but deletes only what warden
/// itself would have made for that run.
#[test]
fn clean_never_deletes_a_directory_warden_did_not_make() {
    let mut case = Case::new(FIXTURE);
    let mut planted = Planted::with_temp_root(&mut case, Some("precious"));
    let clean = case.warden().arg("clean").run();
    let ended = poll(Duration::from_secs(2), || planted.ended());
    case.check(ended.is_ok(), || {
        "`clean` did not kill the planted process".into()
    });
    case.check(planted.temp_root.join("junk").exists(), || {
        format!("`clean` deleted {}", planted.temp_root.display())
    });
    case.check(
        clean
            .stdout
            .contains(&format!("left {} alone", planted.temp_root.display())),
        || "`clean` does not say what it left alone".into(),
    );
    let run_id = planted.run_id.clone();
    case.check_nothing_left(&run_id, None);
    drop(planted);
    case.finish(Some(&clean));
}

/// A registry dir that others can write to could hold entries planted by another user:
/// `clean` says so and acts on none of them.
#[test]
fn clean_ignores_a_registry_others_can_write_to() {
    use std::os::unix::fs::PermissionsExt;
    let mut case = Case::new(FIXTURE);
    let mut planted = Planted::new(&mut case);
    fs::set_permissions(case.registry(), fs::Permissions::from_mode(0o777)).unwrap();
    let clean = case.warden().arg("clean").run();
    case.check(
        clean.stderr.contains("writable by others") && clean.code == Some(0),
        || "`clean` does not warn about the registry dir".into(),
    );
    case.check(!planted.ended() && planted.temp_root.exists(), || {
        "`clean` acted on an entry of an untrusted registry".into()
    });
    fs::set_permissions(case.registry(), fs::Permissions::from_mode(0o700)).unwrap();
    let again = case.warden().arg("clean").run();
    case.check(again.stdout.contains(&planted.run_id), || {
        "`clean` does not reap the entry once the dir is private".into()
    });
    let run_id = planted.run_id.clone();
    case.check_nothing_left(&run_id, None);
    drop(planted);
    case.finish(Some(&clean));
}
