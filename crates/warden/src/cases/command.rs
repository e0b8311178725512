//! Running a list command (a suite's `list`, a test binary's `--list`, `cargo test --no-run`):
//! in its own process group, with a deadline, its output captured, and everything left in the
//! group killed when it ends, so that listing leaves nothing behind either.

use std::fmt;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bytes of a listing kept: far more than any real list, little enough to survive a runaway.
const MAX_OUTPUT: u64 = 64 << 20;

/// What a listing command did.
#[derive(Debug)]
pub struct Listed {
    pub stdout: String,
    pub stderr: String,
}

/// Why a listing command gave no usable output, in words that fit after the command's name
/// (`exited with 3: ...`).
#[derive(Debug, thiserror::Error)]
pub enum ListingError {
    #[error("empty command")]
    EmptyCommand,
    #[error("cannot start `{program}`: {source}")]
    Start { program: String, source: io::Error },
    #[error("cannot wait for `{program}`: {source}")]
    Wait { program: String, source: io::Error },
    #[error("did not finish within {}s and was killed", .0.as_secs_f64())]
    TimedOut(Duration),
    #[error("{how}{tail}")]
    Failed { how: Ended, tail: Tail },
}

/// How a command that did not succeed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exit(i32),
    Signal(i32),
    Unknown,
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Exit(code) => write!(f, "exited with {code}"),
            Ended::Signal(sig) => write!(f, "was killed by signal {sig}"),
            Ended::Unknown => f.write_str("failed"),
        }
    }
}

/// The last lines a failed command wrote (stderr, else stdout), which usually say why; shown
/// as `: <lines>` after what failed, or not at all when it wrote nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tail(pub String);

impl Tail {
    pub fn of(stderr: &str, stdout: &str) -> Tail {
        let text = if stderr.trim().is_empty() {
            stdout
        } else {
            stderr
        };
        let lines: Vec<&str> = text.trim_end().lines().collect();
        let tail = lines[lines.len().saturating_sub(5)..].join("\n");
        match tail.trim().is_empty() {
            true => Tail::default(),
            false => Tail(tail),
        }
    }
}

impl fmt::Display for Tail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.is_empty() {
            true => Ok(()),
            false => write!(f, ": {}", self.0),
        }
    }
}

/// Runs `argv` in `cwd` with `env` added; `Err` says why there is no usable output.
pub fn run_listing(
    argv: &[String],
    cwd: &Path,
    env: &[(String, String)],
    timeout: Duration,
) -> Result<Listed, ListingError> {
    let (program, args) = argv.split_first().ok_or(ListingError::EmptyCommand)?;
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| ListingError::Start {
            program: program.clone(),
            source,
        })?;
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = mpsc::channel();
    for (which, pipe) in [
        (
            0,
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
        (
            1,
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
    ] {
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
    let status = child.wait().map_err(|source| ListingError::Wait {
        program: program.clone(),
        source,
    })?;
    // A process that left the group may still hold a pipe: do not wait for it forever.
    let mut out = [Vec::new(), Vec::new()];
    let until = Instant::now() + Duration::from_secs(2);
    for _ in 0..2 {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((which, buf)) => out[which] = buf,
            Err(_) => break,
        }
    }
    let [stdout, stderr] = out.map(|b| String::from_utf8_lossy(&b).into_owned());
    if timed_out {
        return Err(ListingError::TimedOut(timeout));
    }
    if !status.success() {
        use std::os::unix::process::ExitStatusExt;
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => Ended::Exit(code),
            (None, Some(sig)) => Ended::Signal(sig),
            _ => Ended::Unknown,
        };
        return Err(ListingError::Failed {
            how,
            tail: Tail::of(&stderr, &stdout),
        });
    }
    Ok(Listed { stdout, stderr })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration) -> Result<Listed, ListingError> {
        let argv = ["sh", "-c", script].map(String::from);
        run_listing(&argv, Path::new("/"), &[], timeout)
    }

    #[test]
    fn output_and_failures_are_reported() {
        let ok = sh("echo a; echo b; echo warn >&2", Duration::from_secs(10)).unwrap();
        assert_eq!(
            (ok.stdout.as_str(), ok.stderr.as_str()),
            ("a\nb\n", "warn\n")
        );
        let err = sh(
            "echo out; echo 'no such thing' >&2; exit 3",
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert!(
            matches!(&err, ListingError::Failed { how: Ended::Exit(3), tail }
                if tail.0 == "no such thing"),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "exited with 3: no such thing");
        let err = sh("kill -SEGV $$", Duration::from_secs(10)).unwrap_err();
        assert_eq!(err.to_string(), "was killed by signal 11");
        let err = run_listing(
            &["/nonexistent/lister".to_string()],
            Path::new("/"),
            &[],
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(err, ListingError::Start { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("cannot start `/nonexistent/lister`: "),
            "{err}"
        );
    }

    #[test]
    fn a_hang_is_killed_with_what_it_left() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = format!("sleep 600 & echo $! > '{}'; wait", pidfile.display());
        let start = Instant::now();
        let err = sh(&script, Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, ListingError::TimedOut(_)), "{err:?}");
        assert!(
            err.to_string().contains("did not finish within 0.3s"),
            "{err}"
        );
        assert!(start.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The sleep is a child of the killed sh, reparented and reaped by init soon after.
        let gone = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |s| s.contains(") Z "))
        });
        assert!(gone, "the listing's sleep {pid} survived");
    }
}
