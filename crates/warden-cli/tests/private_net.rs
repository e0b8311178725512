//! `--net private`: every test in a network namespace of its own with only loopback, up. Four
//! tests binding the same port all pass in private networks and collide on the host's; a
//! private test cannot reach a server on the host's loopback; the marker, suite and `[run]`
//! forms; the network in the JSON events and `list --json`; containment inside a private
//! network; bad values and a host that forbids it fail with exit 2 before any test runs. As
//! root and as a normal user.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The port the fixture binds.
const PORT: u16 = 18080;

/// Runs that bind [`PORT`] on the host's own loopback take turns: two at once would fail
/// each other's tests for a reason that is not the one checked.
static HOST_PORT: Mutex<()> = Mutex::new(());

/// Four tests that each bind 127.0.0.1:18080 and hold it for a second.
fn port_suite() -> Sandbox {
    let sandbox = Sandbox::new();
    for i in 1..=4 {
        sandbox.write_executable(
            &format!("t/bind{i}_test.py"),
            &format!(
                "#!/usr/bin/env python3\n\
                 import socket, sys, time\n\
                 s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n\
                 try:\n\
                 \x20   s.bind(('127.0.0.1', {PORT}))\n\
                 \x20   s.listen(1)\n\
                 except OSError as e:\n\
                 \x20   print('bind failed:', e)\n\
                 \x20   sys.exit(1)\n\
                 time.sleep(1)\n\
                 print('held 127.0.0.1:{PORT} for 1s')\n"
            ),
        );
    }
    sandbox
}

fn events_of(sandbox: &Sandbox, out: &Outcome) -> Vec<Value> {
    let text = sandbox
        .read("events.jsonl")
        .unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    parse_json_lines(&text).unwrap()
}

/// `net` of every test-started and test-finished event, by test id.
fn nets(events: &[Value], ty: &str) -> BTreeMap<String, String> {
    of_type(events, ty)
        .into_iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap_or_default().to_string(),
                e["net"].as_str().unwrap_or("<none>").to_string(),
            )
        })
        .collect()
}

fn run_port_suite(user: Option<&TestUser>, net: &str) -> (Outcome, Vec<Value>) {
    let sandbox = port_suite();
    let mut w = Warden::new(sandbox.path());
    if let Some(user) = user {
        user.own_tree(sandbox.path());
        w = w.run_as(user);
    }
    let out = w
        .args(["run", "t", "-j4", "--net", net, "--json", "events.jsonl"])
        .run();
    let events = events_of(&sandbox, &out);
    assert!(out.left_behind.is_empty(), "{}", out.describe());
    (out, events)
}

fn four_binds_pass_in_private_networks(user: Option<&TestUser>) {
    let (out, events) = run_port_suite(user, "private");
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let st = statuses(&events).unwrap();
    assert_eq!(st.len(), 4, "{st:?}");
    assert!(st.values().all(|s| s == "pass"), "{st:?}");
    for ty in ["test-started", "test-finished"] {
        let n = nets(&events, ty);
        assert!(
            n.len() == 4 && n.values().all(|v| v == "private"),
            "{ty}: {n:?}"
        );
    }
}

fn four_binds_collide_on_the_host(user: Option<&TestUser>) {
    let _turn = HOST_PORT.lock().unwrap_or_else(|e| e.into_inner());
    // Someone else on this machine holding the port would make the check meaningless.
    let probe = TcpListener::bind(("127.0.0.1", PORT))
        .unwrap_or_else(|e| panic!("127.0.0.1:{PORT} is taken on this host: {e}"));
    drop(probe);
    let (out, events) = run_port_suite(user, "host");
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let failed: Vec<&Value> = of_type(&events, "test-finished")
        .into_iter()
        .filter(|e| e["status"] == "fail")
        .collect();
    assert!(failed.len() >= 3, "{}", out.describe());
    for e in &failed {
        let tail = e["output_tail"].as_str().unwrap_or_default();
        assert!(tail.contains("Address already in use"), "{e}");
    }
    let n = nets(&events, "test-finished");
    assert!(n.values().all(|v| v == "host"), "{n:?}");
}

#[test]
fn four_tests_on_one_port_all_pass_in_private_networks() {
    four_binds_pass_in_private_networks(None);
}

#[test]
fn four_tests_on_one_port_collide_on_the_host_network() {
    four_binds_collide_on_the_host(None);
}

#[test]
fn a_normal_user_gets_private_networks_too() {
    let user = normal_user().expect("a normal user to run warden as");
    four_binds_pass_in_private_networks(Some(&user));
    four_binds_collide_on_the_host(Some(&user));
}

/// A server on the host's loopback: reached from `@net: host`, refused from a private network.
fn reach_suite(port: u16) -> Sandbox {
    let sandbox = Sandbox::new();
    let connect = |expect_ok: bool| {
        format!(
            "#!/usr/bin/env python3\n{}\
             import socket, sys\n\
             try:\n\
             \x20   socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n\
             \x20   reached = True\n\
             except OSError as e:\n\
             \x20   print('cannot connect:', e)\n\
             \x20   reached = False\n\
             print('reached' if reached else 'not reached')\n\
             sys.exit(0 if reached == {} else 1)\n",
            if expect_ok { "# @net: host\n" } else { "" },
            if expect_ok { "True" } else { "False" },
        )
    };
    sandbox.write_executable("t/isolated_test.py", &connect(false));
    sandbox.write_executable("t/optout_test.py", &connect(true));
    sandbox
}

fn host_loopback_is_out_of_reach(user: Option<&TestUser>) {
    let server = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = server.local_addr().unwrap().port();
    let sandbox = reach_suite(port);
    let mut w = Warden::new(sandbox.path());
    if let Some(user) = user {
        user.own_tree(sandbox.path());
        w = w.run_as(user);
    }
    let out = w
        .args([
            "run",
            "t",
            "-v",
            "--net",
            "private",
            "--json",
            "events.jsonl",
        ])
        .run();
    let events = events_of(&sandbox, &out);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    // `-v` names a network other than the host's when a test starts.
    assert!(
        out.stderr
            .contains("] t/isolated_test.py (attempt 1, net private)")
            && out.stderr.contains("] t/optout_test.py (attempt 1)"),
        "{}",
        out.describe()
    );
    let st = statuses(&events).unwrap();
    assert_eq!(st["t/isolated_test.py"], "pass", "{}", out.describe());
    assert_eq!(st["t/optout_test.py"], "pass", "{}", out.describe());
    let n = nets(&events, "test-started");
    assert_eq!(n["t/isolated_test.py"], "private");
    assert_eq!(n["t/optout_test.py"], "host", "`@net: host` opts out");
    drop(server);
}

#[test]
fn a_private_test_cannot_reach_a_server_on_the_hosts_loopback() {
    host_loopback_is_out_of_reach(None);
    let user = normal_user().expect("a normal user to run warden as");
    host_loopback_is_out_of_reach(Some(&user));
}

/// A test that passes only in the network it expects: the host's (the same namespace as the
/// harness, whose id is in `HOST_NETNS`) or one of its own.
fn expecting(private: bool, marker: &str) -> String {
    format!(
        "#!/bin/sh\n{marker}\
         ns=$(readlink /proc/self/ns/net)\n\
         echo \"net namespace $ns, host's $HOST_NETNS\"\n\
         [ \"$ns\" {} \"$HOST_NETNS\" ]\n",
        if private { "!=" } else { "=" }
    )
}

#[test]
fn marker_suite_and_run_forms_decide_each_tests_network() {
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let sandbox = Sandbox::new();
    sandbox.write(
        "warden.toml",
        "[run]\nnet = \"private\"\n\n\
         [[suite]]\nname = \"hosted\"\ninclude = [\"hosted/*_test.sh\"]\nnet = \"host\"\n\n\
         [[suite]]\nname = \"rest\"\ninclude = [\"**/*_test.sh\"]\n",
    );
    sandbox.write_executable("t/plain_test.sh", &expecting(true, ""));
    sandbox.write_executable("t/optout_test.sh", &expecting(false, "# @net: host\n"));
    sandbox.write_executable("t/hosted/a_test.sh", &expecting(false, ""));
    sandbox.write_executable(
        "t/hosted/own_test.sh",
        &expecting(true, "// @net: private\n"),
    );
    let out = Warden::new(sandbox.path())
        .env("HOST_NETNS", &host_ns)
        .args(["run", "t", "--json", "events.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let events = events_of(&sandbox, &out);
    let want: BTreeMap<String, String> = [
        ("t/plain_test.sh", "private"),
        ("t/optout_test.sh", "host"),
        ("t/hosted/a_test.sh", "host"),
        ("t/hosted/own_test.sh", "private"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(nets(&events, "test-started"), want);
    assert_eq!(nets(&events, "test-finished"), want);

    // `list --json` says the same before anything runs.
    let list = Warden::new(sandbox.path())
        .args(["list", "t", "--json"])
        .run();
    assert_eq!(list.code, Some(0), "{}", list.describe());
    let listed: BTreeMap<String, String> = parse_list(&list.stdout)
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["net"].as_str().unwrap_or("<none>").to_string(),
            )
        })
        .collect();
    assert_eq!(listed, want);

    // `--net host` on the command line is over `[run]`; suites and markers still win.
    let listed_with = |net: &str| -> BTreeMap<String, String> {
        let list = Warden::new(sandbox.path())
            .args(["list", "t", "--json", "--net", net])
            .run();
        assert_eq!(list.code, Some(0), "{}", list.describe());
        parse_list(&list.stdout)
            .unwrap()
            .iter()
            .map(|t| {
                let id = t["id"].as_str().unwrap().to_string();
                (id, t["net"].as_str().unwrap_or("<none>").to_string())
            })
            .collect()
    };
    let mut want_host = want.clone();
    want_host.insert("t/plain_test.sh".into(), "host".into());
    assert_eq!(listed_with("host"), want_host);
    assert_eq!(listed_with("private"), want);
    let out = Warden::new(sandbox.path())
        .env("HOST_NETNS", &host_ns)
        .args(["run", "t", "--net", "host", "--json", "events.jsonl"])
        .run();
    let events = events_of(&sandbox, &out);
    let st = statuses(&events).unwrap();
    assert_eq!(st["t/plain_test.sh"], "fail", "{}", out.describe());
    assert_eq!(st["t/optout_test.sh"], "pass", "{}", out.describe());
    assert_eq!(st["t/hosted/own_test.sh"], "pass", "{}", out.describe());
    assert_eq!(nets(&events, "test-started")["t/plain_test.sh"], "host");
}

#[test]
fn bad_network_values_exit_2_before_anything_runs() {
    let sandbox = Sandbox::new();
    sandbox.write_executable("t/ran_test.sh", "#!/bin/sh\nexit 0\n");
    for bad in ["bogus", "Private", ""] {
        let out = Warden::new(sandbox.path())
            .args(["run", "t", "--net", bad])
            .run();
        out.assert_usage_error(&["--net", "expected `host` or `private`"]);
    }
    sandbox.write("warden.toml", "[run]\n\nnet = \"none\"\n");
    let out = Warden::new(sandbox.path()).args(["run", "t"]).run();
    out.assert_usage_error(&["warden.toml:3", "[run] net", "unknown network `none`"]);
    sandbox.write(
        "warden.toml",
        "[[suite]]\nname = \"s\"\nnet = \"loopback\"\n",
    );
    let out = Warden::new(sandbox.path()).args(["run", "t"]).run();
    out.assert_usage_error(&["warden.toml:3", "net", "unknown network `loopback`"]);
    // A usage error starts no run.
    let runs = std::fs::read_dir(sandbox.path().join(".warden/runs"));
    assert!(runs.map(|d| d.count() == 0).unwrap_or(true));
    // A bad marker is that test's error, as with every marker.
    sandbox.write("warden.toml", "");
    sandbox.write_executable("t/ran_test.sh", "#!/bin/sh\n# @net: none\nexit 0\n");
    let out = Warden::new(sandbox.path())
        .args(["run", "t", "--json", "events.jsonl"])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let events = events_of(&sandbox, &out);
    let done = finished_by_id(&events).unwrap();
    let msg = done["t/ran_test.sh"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(msg.contains("bad `@net`"), "{msg}");
}

/// A leak, a hang and a test over its memory cap in private networks: killed, reported,
/// nothing left behind.
fn containment_holds(user: Option<&TestUser>) {
    let sandbox = Sandbox::new();
    sandbox.write_executable(
        "t/leak_test.sh",
        "#!/bin/sh\nsetsid sleep 300 &\n(sleep 301 &)\necho left two sleeps\n",
    );
    sandbox.write_executable("t/hang_test.sh", "#!/bin/sh\n# @timeout: 1s\nsleep 302\n");
    // One read of 100 MiB under a 32M cap: a memory cgroup kills it (OOM), an address-space
    // rlimit (no memory cgroup for this user) makes the allocation fail.
    sandbox.write_executable(
        "t/hog_test.sh",
        "#!/bin/sh\n# @mem-limit: 32M\ndd if=/dev/zero of=/dev/null bs=100M count=1\n",
    );
    let mut w = Warden::new(sandbox.path());
    if let Some(user) = user {
        user.own_tree(sandbox.path());
        w = w.run_as(user);
    }
    let out = w
        .args([
            "run",
            "t",
            "--net",
            "private",
            "--grace",
            "500ms",
            "--json",
            "events.jsonl",
        ])
        .run();
    let events = events_of(&sandbox, &out);
    let done = finished_by_id(&events).unwrap();
    assert_eq!(
        done["t/hang_test.sh"]["status"],
        "timeout",
        "{}",
        out.describe()
    );
    let hog = done["t/hog_test.sh"]["status"].as_str().unwrap_or_default();
    // A memory cgroup kills it (OOM); where warden said it has none, the address-space limit
    // makes the allocation fail.
    let by_rlimit = out
        .stderr
        .contains("--test-mem-limit becomes an address-space limit");
    let want = if by_rlimit { "fail" } else { "oom" };
    assert_eq!(hog, want, "{}", out.describe());
    let leaked = done["t/leak_test.sh"]["leaked"].as_array().unwrap();
    assert_eq!(leaked.len(), 2, "{}", out.describe());
    let run = run_id(&events).unwrap();
    let alive = procs_with_env(&format!("WARDEN_RUN_ID={run}"));
    kill_procs(&alive);
    assert!(alive.is_empty(), "left alive: {alive:?}");
    assert!(out.left_behind.is_empty(), "{}", out.describe());
    if let Some(cg) = run_cgroup_dir(&run) {
        assert!(
            !cg.exists(),
            "the run's cgroup {} is still there",
            cg.display()
        );
    }
}

#[test]
fn containment_holds_in_a_private_network() {
    containment_holds(None);
    let user = normal_user().expect("a normal user to run warden as");
    containment_holds(Some(&user));
}

/// A normal user on a host that forbids unprivileged user namespaces gets exit 2 naming the
/// sysctl, before any test runs, never a silent host network. Made real without touching the
/// host: warden runs in a user namespace of its own (root mapped onto root, so it can still
/// switch to the normal user) whose `user.max_user_namespaces` is 0, a per-namespace limit.
#[test]
fn a_host_without_unprivileged_user_namespaces_fails_the_run_with_exit_2() {
    if !is_root() {
        eprintln!("skipped: making a user namespace with a zero limit needs root");
        return;
    }
    let user = normal_user().expect("a normal user to run warden as");
    let sandbox = Sandbox::new();
    sandbox.write_executable("t/ran_test.sh", "#!/bin/sh\ntouch \"$RAN\"\n");
    user.own_tree(sandbox.path());
    let ran = sandbox.path().join("ran");
    // The shell exec'd before its ids were mapped, so without capabilities in there: it waits
    // for the maps, then execs again to have them.
    let inner = format!(
        "echo 0 > /proc/sys/user/max_user_namespaces && \
         exec setpriv --reuid={} --regid={} --clear-groups {} run t --net private",
        user.uid,
        user.gid,
        warden_bin()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "read go && exec sh -c \"$INNER\""])
        .env("INNER", &inner)
        .current_dir(sandbox.path())
        .env("RAN", &ran)
        .env("HOME", sandbox.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: unshare is async-signal-safe; nothing is allocated.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("start sh in a user namespace");
    let pid = child.id();
    // Root onto root, all ids: the shell stays root in there and may drop to the user.
    for file in ["uid_map", "gid_map"] {
        std::fs::write(format!("/proc/{pid}/{file}"), "0 0 4294967295\n")
            .unwrap_or_else(|e| panic!("write /proc/{pid}/{file}: {e}"));
    }
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            // SAFETY: kills the process group this test started.
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
            panic!("warden did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("user.max_user_namespaces = 0")
            && stderr.contains("private network")
            && stderr.contains("--net host"),
        "{stderr}"
    );
    assert!(!ran.exists(), "a test ran: {stderr}");
}

/// `--resume` alone repeats the interrupted run's `--net private`.
#[test]
fn resume_keeps_the_private_network() {
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let sandbox = Sandbox::new();
    // Hangs the first time (so the run is interrupted while it runs), passes the second,
    // only in a private network.
    let body = expecting(true, "");
    sandbox.write_executable(
        "t/b_test.sh",
        &body.replacen(
            "ns=",
            "if [ ! -e ../hung ]; then touch ../hung; sleep 300; fi\nns=",
            1,
        ),
    );
    sandbox.write_executable("t/a_test.sh", &expecting(true, ""));
    let running = Warden::new(sandbox.path())
        .env("HOST_NETNS", &host_ns)
        .args(["run", "t", "-j1", "--net", "private"])
        .spawn()
        .unwrap();
    let hung = sandbox.path().join("hung");
    poll(STARTUP_LIMIT, || hung.exists()).expect("t/b_test.sh started");
    running.signal(libc::SIGINT);
    let out = running.wait().unwrap();
    assert_eq!(out.code, Some(130), "{}", out.describe());
    let out = Warden::new(sandbox.path())
        .env("HOST_NETNS", &host_ns)
        .args(["run", "--resume", "--json", "events.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let events = events_of(&sandbox, &out);
    assert_eq!(nets(&events, "test-started")["t/b_test.sh"], "private");
    assert_eq!(statuses(&events).unwrap()["t/b_test.sh"], "pass");
}
