//! Running the real `warden` binary with a hard time limit, capturing its output, and sweeping
//! whatever it started that is still alive after it exited.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::procs::{kill_procs, procs_with_env, settle_and_kill, Proc};

/// Set to a unique value on every warden started here; the tests inherit it, so whatever a run
/// left behind can be found (and killed) even if the run id never became known.
pub const MARK_VAR: &str = "WARDEN_ITEST_MARK";

/// Generous: every run in these tests takes a few seconds at most.
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(60);

/// How long a process that warden started may take to go away after warden exited (its
/// watchdog, say) before it counts as left behind.
const SETTLE: Duration = Duration::from_millis(500);

pub fn warden_bin() -> &'static str {
    env!("CARGO_BIN_EXE_warden")
}

/// One invocation of the binary, built up and then run.
pub struct Warden {
    args: Vec<OsString>,
    cwd: PathBuf,
    envs: Vec<(OsString, OsString)>,
    limit: Duration,
    /// Signals warden starts with ignored (SIG_IGN), as `nohup` or a shell's `&` do.
    ignored: Vec<i32>,
    /// Run as this normal user instead of the tests' own user.
    user: Option<super::user::TestUser>,
}

/// What one invocation did.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code, `None` when killed by a signal.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Wall time until warden exited.
    pub elapsed: Duration,
    /// When warden was seen to have exited (within 5 ms).
    pub exited_at: Instant,
    /// Processes carrying this invocation's mark the moment warden exited.
    pub alive_at_exit: Vec<Proc>,
    /// Those of them still alive `SETTLE` later; they were killed.
    pub left_behind: Vec<Proc>,
    pub command: String,
    /// warden's own peak resident memory (`VmHWM` of its process, KiB) as last read before it
    /// exited; `None` when never read (it exited before the first look).
    pub peak_rss_kib: Option<u64>,
}

impl Outcome {
    /// Everything needed to understand a failed assertion.
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nexit code: {:?}, signal: {:?}, took {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n---",
            self.command, self.code, self.signal, self.elapsed, self.stdout, self.stderr
        )
    }

    pub fn combined_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Asserts a usage/config error: exit 2, no panic, and stderr naming every culprit.
    pub fn assert_usage_error(&self, culprits: &[&str]) {
        assert_eq!(self.code, Some(2), "expected exit 2\n{}", self.describe());
        assert_no_panic(self);
        for culprit in culprits {
            assert!(
                self.stderr.contains(culprit),
                "stderr does not name `{culprit}`\n{}",
                self.describe()
            );
        }
    }
}

pub fn assert_no_panic(out: &Outcome) {
    assert!(
        !out.stderr.contains("panicked") && !out.stdout.contains("panicked"),
        "warden panicked\n{}",
        out.describe()
    );
}

impl Warden {
    /// An invocation in working directory `cwd`.
    pub fn new(cwd: &Path) -> Warden {
        Warden {
            args: Vec::new(),
            cwd: cwd.to_path_buf(),
            envs: Vec::new(),
            limit: DEFAULT_LIMIT,
            ignored: Vec::new(),
            user: None,
        }
    }

    /// Runs warden as `user` (see `normal_user`): its uid and gid, no supplementary groups,
    /// `HOME`/`USER`/`LOGNAME` of that user and no `XDG_RUNTIME_DIR` of ours. The caller gives
    /// the user the directories warden must write (`TestUser::own_tree`).
    pub fn run_as(mut self, user: &super::user::TestUser) -> Warden {
        self.user = Some(user.clone());
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Warden {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Warden
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Warden {
        self.envs
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Starts warden with `sig` ignored, as `nohup` does with SIGHUP.
    pub fn ignoring(mut self, sig: i32) -> Warden {
        self.ignored.push(sig);
        self
    }

    pub fn limit(mut self, limit: Duration) -> Warden {
        self.limit = limit;
        self
    }

    /// Runs it; panics (after cleaning up) when it does not finish within the limit.
    pub fn run(self) -> Outcome {
        self.try_run().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs it; an error when it could not start or did not finish within the limit.
    pub fn try_run(self) -> Result<Outcome, String> {
        self.spawn()?.wait()
    }

    /// Starts it and returns at once, so that the caller can act on the running warden (send
    /// it a signal, say) before waiting for it.
    pub fn spawn(self) -> Result<Running, String> {
        let mark = unique_mark();
        let command = format!(
            "(cd {} && warden {})",
            self.cwd.display(),
            self.args
                .iter()
                .map(|a| format!("{:?}", a.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut cmd = Command::new(warden_bin());
        cmd.args(&self.args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env(MARK_VAR, &mark)
            .env("NO_COLOR", "1")
            // Own process group, so a hung warden can be killed without touching this process.
            .process_group(0);
        for var in [
            "WARDEN_RUN_ID",
            "WARDEN_TEST_ID",
            "WARDEN_WORKER",
            "WARDEN_ATTEMPT",
        ] {
            cmd.env_remove(var);
        }
        if let Some(user) = self.user.as_ref().filter(|u| u.switch) {
            // std drops the supplementary groups (setgroups(0)) when root switches uid.
            cmd.uid(user.uid)
                .gid(user.gid)
                .env("USER", &user.name)
                .env("LOGNAME", &user.name)
                .env("HOME", &self.cwd)
                .env_remove("XDG_RUNTIME_DIR");
        }
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        if !self.ignored.is_empty() {
            let ignored = self.ignored.clone();
            // SAFETY: signal(2) with SIG_IGN is async-signal-safe; `ignored` was allocated
            // before the fork.
            unsafe {
                cmd.pre_exec(move || {
                    for &sig in &ignored {
                        libc::signal(sig, libc::SIG_IGN);
                    }
                    Ok(())
                });
            }
        }

        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", warden_bin()))?;
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        Ok(Running {
            child,
            start,
            mark,
            stdout,
            stderr,
            command,
            limit: self.limit,
            peak_before_signal: std::cell::Cell::new(None),
        })
    }
}

/// A warden started by `Warden::spawn` and not yet waited for.
pub struct Running {
    child: Child,
    start: Instant,
    mark: String,
    stdout: mpsc::Receiver<Vec<u8>>,
    stderr: mpsc::Receiver<Vec<u8>>,
    command: String,
    limit: Duration,
    /// warden's peak RSS read just before a signal was sent: one that kills it (SIGKILL) may
    /// leave nothing to read by the time `wait` looks.
    peak_before_signal: std::cell::Cell<Option<u64>>,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// `MARK_VAR=<mark>`: carried by every process this warden started (unless it scrubbed
    /// its environment).
    pub fn mark_entry(&self) -> String {
        format!("{MARK_VAR}={}", self.mark)
    }

    /// Sends `sig` to warden alone (not its process group) and returns when it was sent.
    pub fn signal(&self, sig: i32) -> Instant {
        if let Some(kib) = vm_hwm_kib(self.pid()) {
            self.peak_before_signal.set(Some(kib));
        }
        // SAFETY: kill(2) on our own child, which has not been waited for, so its pid is ours.
        unsafe {
            libc::kill(self.pid(), sig);
        }
        Instant::now()
    }

    /// Waits for warden to exit (killing its process group past the limit), then sweeps what
    /// it left carrying its mark.
    pub fn wait(self) -> Result<Outcome, String> {
        self.wait_and(true)
    }

    /// Waits for warden to exit, but leaves what it left alone (`left_behind` stays empty):
    /// for a caller that checks how long its leftovers take to go away by themselves.
    pub fn wait_unswept(self) -> Result<Outcome, String> {
        self.wait_and(false)
    }

    fn wait_and(mut self, sweep: bool) -> Result<Outcome, String> {
        let mut hung = false;
        let mut peak_rss_kib = self.peak_before_signal.get();
        let status = loop {
            // The high-water mark only grows, so the last reading before the exit is the peak.
            if let Some(kib) = vm_hwm_kib(self.pid()) {
                peak_rss_kib = Some(kib);
            }
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if self.start.elapsed() > self.limit => {
                    hung = true;
                    // SAFETY: kill(2) on the process group we created for this child.
                    unsafe {
                        libc::kill(-self.pid(), libc::SIGKILL);
                    }
                    break self
                        .child
                        .wait()
                        .map_err(|e| format!("wait for warden: {e}"))?;
                }
                Ok(None) => thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(format!("wait for warden: {e}")),
            }
        };
        let exited_at = Instant::now();
        let elapsed = exited_at - self.start;
        let mark_entry = self.mark_entry();
        let alive_at_exit = procs_with_env(&mark_entry);
        let left_behind = if hung {
            let procs = procs_with_env(&mark_entry);
            kill_procs(&procs);
            procs
        } else if sweep {
            settle_and_kill(&mark_entry, SETTLE)
        } else {
            Vec::new()
        };

        let outcome = Outcome {
            code: status.code(),
            signal: status.signal(),
            stdout: collect(self.stdout),
            stderr: collect(self.stderr),
            elapsed,
            exited_at,
            alive_at_exit,
            left_behind,
            command: self.command,
            peak_rss_kib,
        };
        if hung {
            return Err(format!(
                "warden did not finish within {:?} and was killed\n{}",
                self.limit,
                outcome.describe()
            ));
        }
        Ok(outcome)
    }
}

/// `VmHWM` (peak resident set, KiB) of a live process; `None` once it has exited.
fn vm_hwm_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn unique_mark() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Reads a pipe to its end on a thread, so that neither pipe can fill up and block warden.
fn drain(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// The pipe's content; a process that inherited the pipe and was not killed could hold it open,
/// so this does not wait forever.
fn collect(rx: mpsc::Receiver<Vec<u8>>) -> String {
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(buf) => String::from_utf8_lossy(&buf).into_owned(),
        Err(_) => "<output still open 10 s after warden exited>".to_string(),
    }
}

/// warden in the background in the sandbox, in its own process group, with the sandbox's
/// registry and mark, output discarded: for tests that signal it themselves.
pub fn spawn(sb: &super::sandbox::Sandbox, args: &[&str]) -> Child {
    Command::new(warden_bin())
        .args(args)
        .current_dir(sb.path())
        .env("WARDEN_REGISTRY_DIR", sb.path().join("registry"))
        .env(MARK_VAR, sb.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn warden")
}
