//! Running a list command (a suite's `list`, a test binary's `--list`, `cargo test --no-run`):
//! in its own process group, with a deadline, its output captured, and everything left in the
//! group killed when it ends (`crate::bounded`), so that listing leaves nothing behind either.

use std::fmt;
use std::io;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::bounded::{self, BoundedError};

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
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k, v)));
    let out = bounded::run(&mut cmd, timeout).map_err(|e| match e {
        BoundedError::Start { program, source } => ListingError::Start { program, source },
        BoundedError::Wait { program, source } => ListingError::Wait { program, source },
        BoundedError::TimedOut(t) => ListingError::TimedOut(t),
    })?;
    let [stdout, stderr] =
        [out.stdout, out.stderr].map(|b| String::from_utf8_lossy(&b).into_owned());
    if !out.status.success() {
        use std::os::unix::process::ExitStatusExt;
        let how = match (out.status.code(), out.status.signal()) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

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
        assert!(
            crate::bounded::test_support::gone(pid),
            "the listing's sleep {pid} survived"
        );
    }
}
