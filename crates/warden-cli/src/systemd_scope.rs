//! Getting a delegated cgroup from systemd when warden's own gives it no controllers (issue
//! 12): an SSH login's `session-N.scope` is systemd's, not the user's, and root must not write
//! into systemd's slices behind its back. warden then runs itself again inside a transient
//! scope with `Delegate=yes` — `systemd-run --user --scope` for a user (their systemd user
//! manager), `systemd-run --scope` for root — where it is alone and moves itself into a leaf
//! so that the scope can enable memory, pids and cpu for the tests (`placement.rs`, case 2).
//!
//! Why a re-exec through `systemd-run` and not a D-Bus call that moves warden's own pid:
//! `systemd-run --user` reaches the user manager over its private socket too, where a D-Bus
//! client needs a session bus that many servers do not run; and the process keeps its pid,
//! terminal, signals and exit code (`systemd-run --scope` execs the command itself). A dry
//! run (`-- true`) first makes a refusal a warning, not a lost run.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use warden::supervise::os::cgroup::DISABLE_ENV;
use warden::supervise::os::placement::{self, Host, How};

/// Set in the environment of the warden that runs inside the scope: it never asks again.
pub const SCOPE_ENV: &str = "WARDEN_SYSTEMD_SCOPE";

static FAILURE: OnceLock<String> = OnceLock::new();

/// Why systemd gave no scope, when it was asked and did not.
pub fn failure() -> Option<&'static str> {
    FAILURE.get().map(String::as_str)
}

/// Run this warden again inside a delegated systemd scope when that is what it takes to get
/// cgroup controllers. Returns when it is not needed or not possible (see `failure`).
pub fn enter_if_needed() {
    if !cfg!(target_os = "linux")
        || std::env::var_os(DISABLE_ENV).is_some_and(|v| !v.is_empty() && v != "0")
        || std::env::var_os(SCOPE_ENV).is_some()
        || !std::path::Path::new("/run/systemd/system").is_dir()
    {
        return;
    }
    let Some(host) = Host::this_process() else {
        return;
    };
    if !placement::host_offers(&host.mount, "memory") {
        return;
    }
    if matches!(
        placement::choose(&host),
        Ok((How::Root | How::OwnLeaf | How::Ancestor, _))
    ) {
        return;
    }
    if let Err(why) = enter(host.euid != 0) {
        let _ = FAILURE.set(why);
    }
}

fn enter(user: bool) -> Result<(), String> {
    if user {
        let runtime = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .ok_or("XDG_RUNTIME_DIR is not set: no systemd user manager to ask")?;
        let private = runtime.join("systemd/private");
        if !private.exists() {
            return Err(format!(
                "no systemd user manager ({} is missing; `loginctl enable-linger` starts one)",
                private.display()
            ));
        }
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find warden's binary: {e}"))?;
    let scope_args = |cmd: &mut Command| {
        if user {
            cmd.arg("--user");
        }
        cmd.args([
            "--scope",
            "-p",
            "Delegate=yes",
            "--quiet",
            "--collect",
            "--",
        ]);
    };
    let mut probe = Command::new("systemd-run");
    scope_args(&mut probe);
    let out = probe
        .arg("true")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run systemd-run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "systemd-run {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut cmd = Command::new("systemd-run");
    scope_args(&mut cmd);
    let err = cmd
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(SCOPE_ENV, "1")
        .exec();
    Err(format!("cannot run systemd-run: {err}"))
}
