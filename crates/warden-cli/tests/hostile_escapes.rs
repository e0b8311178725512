//! Hostile suite, escapes (issue 17 "Escapes", issue 19 items 1, 4 and 5): every way a test's
//! processes try to outlive it — double fork, `setsid`, `nohup`, `setpgid`, an `env -i` daemon,
//! closed fds, an ignored SIGTERM, a self-SIGSTOP, a daemon(3) re-parented away from its test,
//! an exec of another binary, a burst of 50 children, an exec chain, a non-dumpable process, a
//! main process that scrubs its own environment, a move into a child cgroup and into the root
//! cgroup — all in one suite (`fixtures/hostile/escapes/styles`), run under normal end (with
//! `--leak fail`), timeout, SIGINT/SIGTERM/SIGHUP to warden and SIGKILL of warden; as root with
//! cgroups, as root with `WARDEN_NO_CGROUP=1`, and as a normal user. Plus the `-j` cases.
//!
//! Every case checks the exit code, the statuses, that the JSON and JUnit reports parse,
//! warden's peak RSS, and that no process carrying the run's id or the case's tag (a unique
//! sleep length per fixture, found by command line) is left. The scenarios of one mode run at
//! once, each its own warden, to keep the suite within its time budget.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The fixture's copy in each sandbox.
const SUITE: &str = "escapes/styles";
/// (file stem, sleep offset) of every fixture; `clean` starts nothing that outlives it.
const STYLES: [(&str, u64); 17] = [
    ("clean", 0),
    ("double_fork", 1),
    ("setsid", 2),
    ("nohup", 3),
    ("setpgid", 4),
    ("env_i_daemon", 5),
    ("closes_fds", 6),
    ("ignores_term", 7),
    ("sigstop", 8),
    ("daemon", 9),
    ("exec_binary", 10),
    ("burst", 11),
    ("exec_chain", 12),
    ("nondumpable", 13),
    ("env_i_main", 14),
    ("child_cgroup", 15),
    ("root_cgroup", 16),
];
/// Caps every run of the suite is under (the burst forks 50).
const CAPS: [&str; 4] = ["--test-pids-limit", "128", "--test-mem-limit", "512M"];
/// SPEC §6: the watchdog ends a dead warden's run within 2 s.
const WATCHDOG_LIMIT: Duration = Duration::from_secs(2);
/// warden's own peak RSS must stay under this in every case.
const RSS_LIMIT: u64 = 96 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    RootCgroups,
    RootNoCgroup,
    NormalUser,
    /// As root with cgroups, every test in a network namespace of its own (`--net private`).
    RootPrivateNet,
    /// As a normal user, in user + network namespaces of their own.
    NormalUserPrivateNet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    /// Every main process ends once its escapee is up; `--leak fail`.
    NormalEnd,
    Timeout,
    Signal(i32),
    Kill,
}

fn id(style: &str) -> String {
    format!("{SUITE}/{style}_test.sh")
}

/// Runs the whole suite once in `mode` under `scenario`; returns the problems found.
fn escape_case(mode: Mode, scenario: Scenario) -> Vec<String> {
    let mut case = Case::new("hostile/escapes");
    let tag = unique_tag_base();
    let probe = case.sandbox.mkdir("probe");
    let hang = scenario != Scenario::NormalEnd;
    let mut extra: Vec<&str> = vec!["-j", "17", "--grace", "1s"];
    extra.extend(CAPS);
    if matches!(mode, Mode::RootPrivateNet | Mode::NormalUserPrivateNet) {
        extra.extend(["--net", "private"]);
    }
    match scenario {
        Scenario::NormalEnd => extra.extend(["--leak", "fail"]),
        Scenario::Timeout => extra.extend(["--timeout", "3s"]),
        _ => {}
    }
    let mut warden = case
        .warden()
        .args(["run", SUITE, "--state-dir"])
        .arg(case.state_dir())
        .args(["--json", "events.jsonl", "--junit", "junit.xml"])
        .args(&extra)
        .env("HOSTILE_TAG", tag.to_string())
        .env("HOSTILE_PROBE", &probe)
        .env("HOSTILE_MODE", if hang { "hang" } else { "exit" });
    match mode {
        Mode::RootCgroups | Mode::RootPrivateNet => {}
        Mode::RootNoCgroup => warden = warden.env(NO_CGROUP_ENV, "1"),
        Mode::NormalUser | Mode::NormalUserPrivateNet => {
            let user = match normal_user() {
                Ok(u) => u,
                Err(e) => return vec![format!("no normal user: {e}")],
            };
            user.own_tree(case.sandbox.path());
            warden = warden.run_as(&user);
        }
    }
    let running = warden.spawn().unwrap_or_else(|e| panic!("{e}"));
    case.watched.push(running.mark_entry());
    let label = format!("{mode:?}/{scenario:?}");
    let mut acted_at = None;
    if matches!(scenario, Scenario::Signal(_) | Scenario::Kill) {
        let ready = |p: &Path| {
            STYLES[1..]
                .iter()
                .all(|(s, _)| p.join(format!("{s}.ready")).exists())
        };
        if poll(STARTUP_LIMIT, || ready(&probe)).is_err() {
            case.problems
                .push(format!("{label}: not every escapee came up"));
        }
        acted_at = Some(running.signal(match scenario {
            Scenario::Signal(sig) => sig,
            _ => libc::SIGKILL,
        }));
    }
    let out = if scenario == Scenario::Kill {
        running.wait_unswept()
    } else {
        running.wait()
    }
    .unwrap_or_else(|e| panic!("{label}: {e}"));
    let events = case.events();
    let run_id = common::run_id(&events);
    if let Some(id) = &run_id {
        case.watched.push(format!("WARDEN_RUN_ID={id}"));
    }

    // Nothing tagged may outlive the run: at once after a normal exit (warden waits for its
    // tests' trees), within the watchdog's 2 s after a SIGKILL.
    let settle = match acted_at {
        Some(at) if scenario == Scenario::Kill => WATCHDOG_LIMIT.saturating_sub(at.elapsed()),
        _ => Duration::from_millis(300),
    };
    let gone = poll(settle, || tagged_procs(tag).is_empty());
    if gone.is_err() {
        let left = kill_tagged(tag);
        case.problems.push(format!(
            "{label}: {} tagged process(es) outlived the run (now killed): {left:?}",
            left.len()
        ));
    }

    let expected_code = match scenario {
        Scenario::NormalEnd | Scenario::Timeout => Some(1),
        Scenario::Signal(sig) => Some(128 + sig),
        Scenario::Kill => None,
    };
    case.check(out.code == expected_code, || {
        format!(
            "{label}: exit code {:?} (expected {expected_code:?})",
            out.code
        )
    });
    let peak = out.peak_rss_kib.unwrap_or(0) * 1024;
    case.check(out.peak_rss_kib.is_some() && peak < RSS_LIMIT, || {
        format!("{label}: warden's peak RSS {} MiB", peak >> 20)
    });
    check_statuses(&mut case, &label, scenario, &events, tag);
    if scenario != Scenario::Kill {
        check_junit(&mut case, &label);
    }
    if let Some(run_id) = run_id {
        if scenario == Scenario::Kill {
            let registry = case.registry();
            let _ = poll(Duration::from_secs(2), || {
                registry_entries(&registry).is_empty()
            });
            let marker = case.run_dir(&run_id).join("interrupted");
            case.check(marker.is_file(), || {
                format!("{label}: {} was not written", marker.display())
            });
        }
        case.check_nothing_left(&run_id, (scenario != Scenario::Kill).then_some(&out));
    } else {
        case.problems.push(format!("{label}: no run id"));
    }
    let problems = std::mem::take(&mut case.problems);
    if !problems.is_empty() {
        eprintln!("{label}:\n{}", out.describe());
    }
    problems
}

/// The statuses the scenario must give, and for leaks the leaked command lines: a test's own
/// tag, never another test's (a leak charged to the wrong test).
fn check_statuses(case: &mut Case, label: &str, scenario: Scenario, events: &[Value], tag: u64) {
    let finished = finished_by_id(events).unwrap_or_else(|e| {
        case.problems.push(format!("{label}: {e}"));
        BTreeMap::new()
    });
    let cancelled: Vec<&str> = of_type(events, "test-cancelled")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    for (style, offset) in STYLES {
        let id = id(style);
        match scenario {
            Scenario::NormalEnd => {
                let Some(e) = finished.get(&id) else {
                    case.problems
                        .push(format!("{label}: {style}: no test-finished"));
                    continue;
                };
                let want = if style == "clean" { "pass" } else { "leak" };
                case.check(e["status"] == want, || {
                    format!(
                        "{label}: {style}: status {} (expected {want}): {e}",
                        e["status"]
                    )
                });
                let leaked: Vec<String> = e["leaked"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .filter_map(|x| x["cmd"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let own = (tag + offset).to_string();
                if style != "clean" {
                    case.check(leaked.iter().any(|c| c.contains(&own)), || {
                        format!("{label}: {style}: `leaked` does not name its {own}: {leaked:?}")
                    });
                }
                let foreign: Vec<&String> = leaked
                    .iter()
                    .filter(|c| {
                        STYLES
                            .iter()
                            .any(|(s, o)| *s != style && c.contains(&(tag + o).to_string()))
                    })
                    .collect();
                case.check(foreign.is_empty(), || {
                    format!("{label}: {style}: charged with another test's processes: {foreign:?}")
                });
            }
            Scenario::Timeout => match finished.get(&id) {
                Some(e) => case.check(e["status"] == "timeout", || {
                    format!(
                        "{label}: {style}: status {} (expected timeout)",
                        e["status"]
                    )
                }),
                None => case
                    .problems
                    .push(format!("{label}: {style}: no test-finished")),
            },
            Scenario::Signal(_) => case.check(
                cancelled.contains(&id.as_str()) || finished.contains_key(&id),
                || format!("{label}: {style}: neither cancelled nor finished"),
            ),
            Scenario::Kill => {}
        }
    }
    if scenario != Scenario::Kill {
        match events.last() {
            Some(last) if last["type"] == "run-finished" => {}
            other => case.problems.push(format!(
                "{label}: the JSON report does not end with run-finished: {other:?}"
            )),
        }
    }
}

fn check_junit(case: &mut Case, label: &str) {
    match case.sandbox.read("junit.xml") {
        Ok(xml) => match roxmltree::Document::parse(&xml) {
            Ok(doc) => {
                let n = doc
                    .descendants()
                    .filter(|n| n.has_tag_name("testcase"))
                    .count();
                case.check(n == STYLES.len(), || {
                    format!(
                        "{label}: junit.xml has {n} testcases (expected {})",
                        STYLES.len()
                    )
                });
            }
            Err(e) => case
                .problems
                .push(format!("{label}: junit.xml is not XML: {e}")),
        },
        Err(e) => case.problems.push(format!("{label}: {e}")),
    }
}

/// Every scenario in `mode`, at once; panics with every problem of every scenario.
fn all_scenarios(mode: Mode) {
    let scenarios = [
        Scenario::NormalEnd,
        Scenario::Timeout,
        Scenario::Signal(libc::SIGINT),
        Scenario::Signal(libc::SIGTERM),
        Scenario::Signal(libc::SIGHUP),
        Scenario::Kill,
    ];
    let problems: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = scenarios
            .iter()
            .map(|&sc| s.spawn(move || escape_case(mode, sc)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["a scenario panicked".into()])
            })
            .collect()
    });
    assert!(
        problems.is_empty(),
        "{} problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[test]
fn escapes_as_root_with_cgroups() {
    if !is_root() {
        eprintln!("skipping: not root");
        return;
    }
    all_scenarios(Mode::RootCgroups);
}

#[test]
fn escapes_as_root_without_cgroups() {
    if !is_root() {
        eprintln!("skipping: not root");
        return;
    }
    all_scenarios(Mode::RootNoCgroup);
}

#[test]
fn escapes_as_a_normal_user() {
    all_scenarios(Mode::NormalUser);
}

/// Nothing escapes from private networks either (issue 16), as root and as a normal user,
/// whose tests also sit in user namespaces of their own.
#[test]
fn escapes_from_private_networks() {
    if is_root() {
        all_scenarios(Mode::RootPrivateNet);
    }
    all_scenarios(Mode::NormalUserPrivateNet);
}

// --- -j / max_workers ------------------------------------------------------------------

#[test]
fn zero_workers_is_a_usage_error() {
    let sandbox = Sandbox::with_fixture("hostile/escapes");
    let out = Warden::new(sandbox.path())
        .args(["run", SUITE, "-j", "0"])
        .run();
    out.assert_usage_error(&["--max-workers"]);
}

/// A worker count above the ceiling is refused before anything is made: no temp dirs, no
/// cgroups, no registry entry.
#[test]
fn a_huge_worker_count_is_refused() {
    let mut case = Case::new("hostile/escapes");
    let t = Instant::now();
    let out = case
        .warden()
        .args(["run", SUITE, "-j", "100000", "--state-dir"])
        .arg(case.state_dir())
        .run();
    out.assert_usage_error(&["--max-workers", "1024"]);
    case.check(t.elapsed() < Duration::from_secs(10), || {
        format!("refusing took {:?}", t.elapsed())
    });
    case.check(registry_entries(&case.registry()).is_empty(), || {
        "a registry entry was written".into()
    });
    case.sandbox.write(
        "escapes/warden.toml",
        "[run]\nmax_workers = 99999999999999999\n",
    );
    let out = Warden::new(&case.sandbox.path().join("escapes"))
        .env(REGISTRY_ENV, case.registry())
        .args(["run", "styles"])
        .run();
    out.assert_usage_error(&["max_workers", "1024"]);
    case.finish(Some(&out));
}

/// `-j 1000` on 3 tests: 3 worker slots at most (temp dirs and cgroups), each test under the
/// pids cap, and a run as quick as `-j 3`.
#[test]
fn workers_are_never_more_than_the_tests() {
    let mut case = Case::new("hostile/escapes");
    let probe = case.sandbox.mkdir("probe");
    for i in 0..3 {
        case.sandbox
            .write_executable(&format!("escapes/many/slot{i}_test.sh"), SLOT_CHECK);
    }
    let out = case
        .warden()
        .args(["run", "escapes/many", "-j", "1000", "--state-dir"])
        .arg(case.state_dir())
        .args(["--json", "events.jsonl", "--junit", "junit.xml"])
        .args(CAPS)
        .env("HOSTILE_PROBE", &probe)
        .run();
    let events = case.events();
    let Some(run_id) = case.run_id(&events) else {
        return case.finish(Some(&out));
    };
    case.check(out.code == Some(0), || format!("exit code {:?}", out.code));
    let st = statuses(&events).unwrap_or_default();
    case.check(st.len() == 3 && st.values().all(|s| s == "pass"), || {
        format!("statuses {st:?}")
    });
    case.check(out.elapsed < Duration::from_secs(15), || {
        format!("3 tests of 0.5 s took {:?} at -j 1000", out.elapsed)
    });
    check_junit_count(&mut case, 3);
    case.check_nothing_left(&run_id, Some(&out));
    case.finish(Some(&out));
}

/// A test of the -j cases: fails when its worker slot's temp root holds more than 3 slot
/// dirs, or (with cgroups) the run's cgroup holds more than 3 slots, or its pids cap is not
/// the one asked for.
const SLOT_CHECK: &str = r#"#!/bin/sh
sleep 0.5
n=$(ls "$(dirname "$TMPDIR")" | grep -c '^w')
[ "$n" -le 3 ] || { echo "$n slot temp dirs"; exit 1; }
cg=$(sed -n 's/^0:://p' /proc/self/cgroup)
m=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
case "$cg" in
*/warden-*)
  n=$(ls -d "$m$cg"/../w* | wc -l)
  [ "$n" -le 3 ] || { echo "$n slot cgroups"; exit 1; } ;;
esac
p=$(sed -n 's/^[0-9]*:pids:\(.*\)/\1/p' /proc/self/cgroup)
case "$p" in
*/warden-*) [ "$(cat /sys/fs/cgroup/pids$p/pids.max)" = 128 ] || { echo "pids.max $(cat /sys/fs/cgroup/pids$p/pids.max)"; exit 1; } ;;
*) [ "$(id -u)" != 0 ] || [ -n "$WARDEN_NO_CGROUP" ] || { echo "not in a pids cgroup: $p"; exit 1; } ;;
esac
exit 0
"#;

fn check_junit_count(case: &mut Case, want: usize) {
    match case.sandbox.read("junit.xml") {
        Ok(xml) => match roxmltree::Document::parse(&xml) {
            Ok(doc) => {
                let n = doc
                    .descendants()
                    .filter(|n| n.has_tag_name("testcase"))
                    .count();
                case.check(n == want, || format!("junit.xml: {n} testcases"));
            }
            Err(e) => case.problems.push(format!("junit.xml is not XML: {e}")),
        },
        Err(e) => case.problems.push(e),
    }
}

/// With too few file descriptors for every worker slot (warden started under a small
/// RLIMIT_NOFILE), warden says so and runs fewer tests at once; no test runs without its
/// cgroup and caps.
#[test]
fn running_out_of_descriptors_never_drops_caps_silently() {
    if !is_root() {
        eprintln!("skipping: not root");
        return;
    }
    let mut case = Case::new("hostile/escapes");
    for i in 0..40 {
        case.sandbox.write_executable(
            &format!("escapes/fds/t{i:02}_test.sh"),
            "#!/bin/sh\nsleep 0.2\np=$(sed -n 's/^[0-9]*:pids:\\(.*\\)/\\1/p' /proc/self/cgroup)\ncase \"$p\" in */warden-*) [ \"$(cat /sys/fs/cgroup/pids$p/pids.max)\" = 128 ] || exit 1 ;; *) echo \"no pids cgroup: $p\"; exit 1 ;; esac\n",
        );
    }
    let mut cmd = std::process::Command::new(warden_bin());
    cmd.current_dir(case.sandbox.path())
        .args(["run", "escapes/fds", "-j", "40", "--state-dir"])
        .arg(case.state_dir())
        .args(["--json", "events.jsonl", "--junit", "junit.xml"])
        .args(CAPS)
        .env(REGISTRY_ENV, case.registry())
        .env("NO_COLOR", "1");
    let out = run_with_nofile(cmd, 48);
    let events = case.events();
    let Some(run_id) = case.run_id(&events) else {
        return case.finish(Some(&out));
    };
    let st = statuses(&events).unwrap_or_default();
    case.check(st.len() == 40 && st.values().all(|s| s == "pass"), || {
        format!("statuses {st:?}")
    });
    case.check(out.code == Some(0), || format!("exit code {:?}", out.code));
    case.check(out.stderr.contains("open files"), || {
        "no warning about running out of file descriptors".into()
    });
    check_junit_count(&mut case, 40);
    case.check_nothing_left(&run_id, Some(&out));
    case.finish(Some(&out));
}

/// Runs `cmd` (warden) with RLIMIT_NOFILE lowered to `n` (soft and hard), at most 60 s.
fn run_with_nofile(mut cmd: std::process::Command, n: u64) -> Outcome {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let command = format!("{cmd:?}");
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    // SAFETY: setrlimit is async-signal-safe and touches only the stack value.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let child = cmd.spawn().expect("start warden");
    let pid = child.id() as i32;
    let watchdog = thread::spawn(move || {
        while start.elapsed() < Duration::from_secs(60) {
            if fs::metadata(format!("/proc/{pid}")).is_err() || is_zombie(pid) {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: kill(2) on the process group this test created.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    });
    let output = child.wait_with_output().expect("wait for warden");
    let _ = watchdog.join();
    let exited_at = Instant::now();
    Outcome {
        code: output.status.code(),
        signal: output.status.signal(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: exited_at - start,
        exited_at,
        alive_at_exit: Vec::new(),
        left_behind: Vec::new(),
        command,
        peak_rss_kib: None,
    }
}

// --- signals during the set-up, bounded sweeps ----------------------------------------------

/// A dead run planted in the registry with a big temp dir (100,000 files): the next run's sweep
/// starts removing it; a SIGTERM then stops warden at once — no test starts, exit 143 — and
/// what is left of the dir stays registered, so that `warden clean` removes the rest.
#[test]
fn a_signal_during_the_sweep_of_a_dead_run_is_honoured() {
    let mut case = Case::new("hostile/escapes");
    let run_id = format!("20200101T000000Z-h{:05}", std::process::id() % 100_000);
    // A tmpfs when there is one: 100,000 files are quick to make there.
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let temp_root = base.join(format!("warden-{run_id}"));
    let t0 = Instant::now();
    for d in 0..100 {
        let dir = temp_root.join(format!("d{d}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..1000 {
            fs::File::create(dir.join(format!("f{f}"))).unwrap();
        }
    }
    let entry = serde_json::json!({
        "run_id": run_id,
        "pid": i32::MAX,
        "start_time": 1,
        "cgroup_dir": null,
        "temp_root": temp_root,
        "run_dir": null,
    });
    fs::write(
        case.registry().join(format!("{run_id}.json")),
        entry.to_string(),
    )
    .unwrap();
    eprintln!("planted in {:?}", t0.elapsed());
    let probe = case.sandbox.mkdir("probe");
    let running = case
        .warden()
        .args(["run", SUITE, "-k", "clean", "--state-dir"])
        .arg(case.state_dir())
        .args(["--json", "events.jsonl", "--junit", "junit.xml"])
        .env("HOSTILE_TAG", "1")
        .env("HOSTILE_PROBE", &probe)
        .env("HOSTILE_MODE", "hang")
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    case.watched.push(running.mark_entry());
    let sweeping = poll(Duration::from_secs(20), || {
        fs::read_dir(&temp_root).map_or(true, |d| d.count() < 100)
    });
    let sent = running.signal(libc::SIGTERM);
    let out = running.wait().unwrap_or_else(|e| panic!("{e}"));
    let took = out.exited_at - sent;
    case.check(sweeping.is_ok(), || "the sweep never started".into());
    case.check(out.code == Some(143), || {
        format!("exit code {:?}", out.code)
    });
    case.check(took < Duration::from_millis(1500), || {
        format!("warden took {took:?} to stop after SIGTERM during the sweep")
    });
    let events = case.events();
    case.check(of_type(&events, "test-started").is_empty(), || {
        "a test started after SIGTERM during the set-up".into()
    });
    if let Some(id) = case.run_id(&events) {
        case.check_nothing_left(&id, Some(&out));
        // The planted run is still registered when its dir was not finished.
        case.problems
            .retain(|p| !p.starts_with("registry entries left"));
    }
    eprintln!("signalled at {:?}, exited {took:?} later", t0.elapsed());
    let clean = case.warden().arg("clean").run();
    eprintln!("cleaned at {:?}", t0.elapsed());
    case.check(clean.code == Some(0) && !temp_root.exists(), || {
        format!(
            "`warden clean` after the cut-short sweep:\n{}",
            clean.describe()
        )
    });
    let left = registry_entries(&case.registry());
    case.check(left.is_empty(), || {
        format!("registry entries left after `warden clean`: {left:?}")
    });
    let _ = fs::remove_dir_all(&temp_root);
    case.finish(Some(&out));
}

/// An orphan that shed its session, its environment (token) and its rlimit mark cannot be
/// charged to its test without a cgroup; warden still kills it when the run ends, naming it.
#[test]
fn an_orphan_that_sheds_token_and_mark_ends_with_the_run() {
    let mut case = Case::new("hostile/escapes");
    let tag = unique_tag_base();
    let probe = case.sandbox.mkdir("probe");
    let out = case
        .warden()
        .args(["run", "escapes/shed", "--state-dir"])
        .arg(case.state_dir())
        .args(["--json", "events.jsonl", "--junit", "junit.xml"])
        .args(CAPS)
        .env(NO_CGROUP_ENV, "1")
        .env("HOSTILE_TAG", tag.to_string())
        .env("HOSTILE_PROBE", &probe)
        .env("HOSTILE_MODE", "exit")
        .run();
    let left = kill_tagged(tag);
    case.check(left.is_empty(), || format!("outlived the run: {left:?}"));
    let events = case.events();
    let Some(run_id) = case.run_id(&events) else {
        return case.finish(Some(&out));
    };
    case.check(out.code == Some(0), || format!("exit code {:?}", out.code));
    let own = (tag + 20).to_string();
    case.check(
        out.stderr.contains("killed 1 orphaned process") && out.stderr.contains(&own),
        || "no warning naming the orphan killed at the end".into(),
    );
    check_junit_count(&mut case, 1);
    case.check_nothing_left(&run_id, Some(&out));
    case.finish(Some(&out));
}
