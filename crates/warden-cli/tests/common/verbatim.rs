//! Running a command line exactly as a user types it: through `sh -c`, in a directory, with
//! `warden` (this build) first on `PATH`, and a time limit.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::warden::{warden_bin, MARK_VAR};

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct ShellOutcome {
    pub command: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl ShellOutcome {
    pub fn describe(&self) -> String {
        format!(
            "`{}` exited {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}---",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

/// `sh -c COMMAND` in `cwd`, not waited for. `mark` is set as [`MARK_VAR`] so that what it
/// leaves behind can be found; `envs` are added. `PATH` starts with the directory of this
/// build's `warden`, so `warden ...` means it. Signals have their default dispositions.
pub fn sh_spawn(cwd: &Path, command: &str, mark: &Path, envs: &[(&str, OsString)]) -> Child {
    let bin_dir = Path::new(warden_bin()).parent().expect("a directory");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin_dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    let mut cmd = Command::new("sh");
    cmd.args(["-c", command])
        .current_dir(cwd)
        .env("PATH", std::env::join_paths(dirs).expect("a PATH"))
        .env(MARK_VAR, mark)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start sh")
}

/// [`sh_spawn`] and wait (at most `limit`, then it is killed and the test fails).
pub fn sh(
    cwd: &Path,
    command: &str,
    mark: &Path,
    envs: &[(&str, OsString)],
    limit: Duration,
) -> ShellOutcome {
    finish(sh_spawn(cwd, command, mark, envs), command, limit)
}

/// Wait for a child started by [`sh_spawn`].
pub fn finish(mut child: Child, command: &str, limit: Duration) -> ShellOutcome {
    let start = Instant::now();
    // Pipes are drained on threads so that a chatty command cannot block on a full pipe.
    let out = child.stdout.take().map(drain);
    let err = child.stderr.take().map(drain);
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{command}` did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let code = child.wait().expect("wait").code();
    let text = |h: Option<std::thread::JoinHandle<String>>| {
        h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
    };
    ShellOutcome {
        command: command.to_string(),
        code,
        stdout: text(out),
        stderr: text(err),
    }
}

fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}
