//! The watchdog: a small process (`warden __watchdog`, the same binary) started with every run.
//! It reads the run's registry entry on stdin, then waits. warden says `done` when the run ends
//! normally; if the pipe closes without it, warden died (SIGKILL and the OOM killer included:
//! the kernel closes the pipe either way) and the watchdog reaps the run at once.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use super::reap::reap_run;
use crate::state::registry::{self, RunEntry};
use crate::supervise::ClaimedChild;

/// How long the watchdog spends removing a dead run's directories.
const REMOVE_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// The hidden subcommand that runs the watchdog.
pub const WATCHDOG_COMMAND: &str = "__watchdog";

pub struct Watchdog {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Never taken for an orphan of a test (and killed with the run's leftovers).
    _claim: ClaimedChild,
}

impl Watchdog {
    /// Start `exe __watchdog` for the run described by `entry`, registered in `registry_dir`.
    pub fn spawn(exe: &Path, entry: &RunEntry, registry_dir: &Path) -> io::Result<Watchdog> {
        let mut cmd = Command::new(exe);
        cmd.arg(WATCHDOG_COMMAND)
            .arg(registry_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Never mistaken for a test process, whatever warden's own environment holds.
            .env_remove(crate::run_token::RUN_ID_VAR)
            .env_remove("WARDEN_TEST_ID");
        // Its own session: a Ctrl-C or a kill of warden's process group does not reach it.
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(io::Error::from));
        }
        let mut child = cmd.spawn()?;
        let claim = ClaimedChild::claim(child.id() as i32);
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("no watchdog stdin"))?;
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        stdin.write_all(&line)?;
        stdin.flush()?;
        Ok(Watchdog {
            child,
            stdin: Some(stdin),
            _claim: claim,
        })
    }

    /// The run ended normally: tell the watchdog and let it go.
    pub fn finish(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"done\n");
        }
        let _ = self.child.wait();
    }
}

/// Body of `warden __watchdog REGISTRY_DIR`: returns the process exit code.
pub fn serve(registry_dir: &Path) -> i32 {
    // Signals meant for warden's terminal session must not stop the cleanup.
    for sig in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGHUP,
    ] {
        // SAFETY: installing SIG_IGN has no handler code to be unsafe about.
        let _ = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigIgn) };
    }
    let mut input = BufReader::new(io::stdin().lock());
    let mut first = String::new();
    if input.read_line(&mut first).is_err() {
        return 2;
    }
    let Ok(entry) = serde_json::from_str::<RunEntry>(first.trim()) else {
        return 2;
    };
    let mut line = String::new();
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.trim() == "done" => return 0,
            Ok(_) => {}
        }
    }
    // Processes go at once; a huge temp dir gets a few seconds, and the rest is left to
    // `warden clean` (the entry stays for it) rather than keeping the watchdog busy.
    let deadline = std::time::Instant::now() + REMOVE_BUDGET;
    let reaped = reap_run(
        &entry,
        "warden died; the watchdog ended the run",
        false,
        deadline,
        &|| false,
    );
    // The watchdog may be the last process in the leaf warden moved itself into.
    if let Some(undo) = &entry.cgroup_undo {
        crate::supervise::os::placement::leave(undo);
    }
    if reaped.left.is_empty() {
        registry::unregister(registry_dir, &entry.run_id);
    }
    0
}
