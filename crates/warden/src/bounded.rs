//! Running a helper command to its end (a suite's listing command, a coverage merge tool, the
//! rustc sysroot probe): in its own process group, with a deadline, its output captured, and
//! everything left in the group killed when it ends or runs out of time, so that nothing a
//! helper starts outlives it and no helper can hold warden forever. [`run_swept`] also finds
//! what left the group (a `setsid` daemon) by a token in its environment.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::supervise::os;

/// Set in the environment of a helper run by [`run_swept`] (`<warden's pid>-<n>`): what leaves
/// the helper's process group keeps it, unless it scrubs its environment.
pub const HELPER_TOKEN_VAR: &str = "WARDEN_HELPER_ID";

/// Bytes of each stream kept: far more than any listing or tool report, little enough to
/// survive a runaway.
const MAX_OUTPUT: u64 = 64 << 20;

/// How long the pipes are read after the group is gone: a process that left the group (a
/// `setsid` daemon) may still hold one open.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// What a command that ran to its end did.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a command did not run to its end, in words that fit after its name.
#[derive(Debug, thiserror::Error)]
pub enum BoundedError {
    #[error("cannot start `{program}`: {source}")]
    Start { program: String, source: io::Error },
    #[error("cannot wait for `{program}`: {source}")]
    Wait { program: String, source: io::Error },
    /// Killed, with its whole group, at the deadline.
    #[error("did not finish within {}s and was killed", .0.as_secs_f64())]
    TimedOut(Duration),
}

/// Runs `cmd` (program, arguments, directory and environment set by the caller) with stdin
/// from /dev/null, stdout and stderr captured, in a process group of its own; at `timeout` the
/// group is killed. When the command ends, whatever it left in its group is killed too.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<Output, BoundedError> {
    run_with(cmd, timeout, None)
}

/// [`run`], and what left the group is killed too: every process carrying the command's
/// token ([`HELPER_TOKEN_VAR`]) in its environment, and everything below it. That costs a scan
/// of `/proc`: worth it for a tool run a few times a run (a coverage merge), not for the
/// listing command run once per test file.
pub fn run_swept(cmd: &mut Command, timeout: Duration) -> Result<Output, BoundedError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let token = format!("{}-{id}", std::process::id());
    cmd.env(HELPER_TOKEN_VAR, &token);
    run_with(cmd, timeout, Some(&format!("{HELPER_TOKEN_VAR}={token}")))
}

fn run_with(
    cmd: &mut Command,
    timeout: Duration,
    token: Option<&str>,
) -> Result<Output, BoundedError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| BoundedError::Start {
            program: program.clone(),
            source,
        })?;
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = mpsc::channel();
    let pipes: [Option<Box<dyn Read + Send>>; 2] = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ];
    // One reader per pipe: a tool that fills one while warden waits on the other would
    // otherwise block forever.
    for (which, pipe) in pipes.into_iter().enumerate() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(pipe) = pipe {
                let _ = pipe.take(MAX_OUTPUT).read_to_end(&mut buf);
            }
            let _ = tx.send((which, buf));
        });
    }
    drop(tx);
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_millis(1);
    let timed_out = loop {
        if exited_keeping_zombie(pid) {
            break false;
        }
        if Instant::now() >= deadline {
            break true;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    };
    // The leader is not reaped yet, so its pid still names this group and nothing else:
    // whatever the command left running in it goes now.
    // SAFETY: plain syscall on a group this function created.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    if let Some(token) = token {
        kill_escaped(token);
    }
    let status = child.wait().map_err(|source| BoundedError::Wait {
        program: program.clone(),
        source,
    })?;
    let mut out = [Vec::new(), Vec::new()];
    let until = Instant::now() + PIPE_GRACE;
    for _ in 0..2 {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((which, buf)) => out[which] = buf,
            Err(_) => break,
        }
    }
    if timed_out {
        return Err(BoundedError::TimedOut(timeout));
    }
    let [stdout, stderr] = out;
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Kills whatever carries `needle` in its environment (and everything below it): a helper's
/// processes that left its group. Repeated while new ones turn up (one forking as it dies).
fn kill_escaped(needle: &str) {
    let needles = [needle.to_string()];
    for _ in 0..20 {
        let found = os::processes_with_env(&needles);
        if found.is_empty() {
            return;
        }
        for pid in os::with_descendants(found.iter().map(|l| l.pid)) {
            // SAFETY: plain syscall; the pid carries this helper's token (or is below one that
            // does).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `pid` has exited, leaving it a zombie so that its pid (and group) stay reserved.
fn exited_keeping_zombie(pid: libc::pid_t) -> bool {
    // SAFETY: waitid writes only into `info`, which lives on this stack frame.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT | libc::WNOHANG,
        );
        r == 0 && info.si_pid() != 0
    }
}

/// What the tests of helpers run through this module share: fake tools and pid checks.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    /// Whether `pid` is gone (or a zombie about to be reaped by init), within two seconds.
    pub fn gone(pid: i32) -> bool {
        (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |s| s.contains(") Z "))
        })
    }

    /// The pid written (with its newline) into `file`, waiting for it a little.
    pub fn pid_in(file: &Path) -> i32 {
        let text = (0..200)
            .find_map(|_| {
                let t = std::fs::read_to_string(file)
                    .ok()
                    .filter(|t| t.ends_with('\n'));
                if t.is_none() {
                    std::thread::sleep(Duration::from_millis(10));
                }
                t
            })
            .unwrap_or_else(|| panic!("{} was never written", file.display()));
        text.trim().parse().unwrap()
    }

    /// A fake tool: a shell script `name` in `dir`, run by path as a real tool is.
    pub fn fake_tool(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{fake_tool as tool, gone, pid_in};
    use super::*;

    #[test]
    fn output_and_status_come_back() {
        let out = run(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 4"]),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(out.status.code(), Some(4));
        assert_eq!(
            (&out.stdout[..], &out.stderr[..]),
            (&b"out\n"[..], &b"err\n"[..])
        );
        let err = run(
            &mut Command::new("/nonexistent/tool"),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot start `/nonexistent/tool`: "),
            "{err}"
        );
    }

    #[test]
    fn a_tool_that_hangs_is_killed_at_the_deadline_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let hang = tool(
            dir.path(),
            "hang",
            &format!("sleep 600 & echo $! > '{}'; wait", pidfile.display()),
        );
        let start = Instant::now();
        let err = run(&mut Command::new(&hang), Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, BoundedError::TimedOut(_)), "{err:?}");
        assert_eq!(err.to_string(), "did not finish within 0.3s and was killed");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        let pid = pid_in(&pidfile);
        assert!(gone(pid), "the tool's sleep {pid} survived");
    }

    #[test]
    fn a_daemon_that_left_the_group_is_killed_by_its_token() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let daemon = tool(
            dir.path(),
            "daemon",
            &format!(
                "setsid sh -c 'echo $$ > \"{0}\"; exec sleep 600' >/dev/null 2>&1 </dev/null &\n\
                 while [ ! -s \"{0}\" ]; do sleep 0.01; done\n\
                 echo started",
                pidfile.display()
            ),
        );
        let out = run_swept(&mut Command::new(&daemon), Duration::from_secs(60)).unwrap();
        assert_eq!(out.stdout, b"started\n");
        let pid = pid_in(&pidfile);
        let own_session =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_err() || gone(pid);
        if !own_session {
            // SAFETY: the daemon this test started; ended so nothing is left either way.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        assert!(own_session, "the setsid daemon {pid} survived its tool");
    }

    #[test]
    fn what_a_tool_leaves_behind_is_killed_when_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        // Double fork: the sleep's parent exits at once, so the sleep belongs to no one but
        // its group; its output goes elsewhere, so the tool's pipes close with the tool.
        let leave = tool(
            dir.path(),
            "leave",
            &format!(
                "(sleep 600 >/dev/null 2>&1 </dev/null & echo $! > '{}') ; echo done",
                pidfile.display()
            ),
        );
        let start = Instant::now();
        let out = run(&mut Command::new(&leave), Duration::from_secs(60)).unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"done\n");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        let pid = pid_in(&pidfile);
        assert!(gone(pid), "the sleep {pid} the tool left survived");
    }
}
