//! Finding the merge tools on PATH, versioned names included (`llvm-profdata-19`), and running
//! them, each within a deadline and in its own process group (`crate::bounded`: a tool that
//! hangs, or starts a daemon, cannot hold the end of the run), with an error that says which
//! tool failed on what.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use crate::bounded::{self, BoundedError};
use crate::report::shell_word;
use crate::units::{format_duration, parse_duration};

/// Sets how long one run of a merge tool may take.
pub const TIMEOUT_ENV: &str = "WARDEN_COVERAGE_MERGE_TIMEOUT";
/// Far longer than any real merge (seconds for thousands of tests), short enough that a hung
/// tool ends the run the same day.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The deadline of each merge tool run: `value` of [`TIMEOUT_ENV`] if set, else the default;
/// `Err` says what is wrong with the value (the binary refuses it before the run starts).
pub fn timeout_from(value: Option<&OsStr>) -> Result<Duration, String> {
    let Some(value) = value else {
        return Ok(DEFAULT_TIMEOUT);
    };
    let bad = |why: &str| format!("{TIMEOUT_ENV}={}: {why}", value.to_string_lossy());
    let text = value.to_str().ok_or_else(|| bad("not valid UTF-8"))?;
    match parse_duration(text) {
        Ok(d) if d.is_zero() => Err(bad("must be more than 0")),
        Ok(d) => Ok(d),
        Err(e) => Err(bad(&e.to_string())),
    }
}

/// A merge tool that could not be run, or failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("cannot run {}: {source}", program.display())]
    Start { program: PathBuf, source: io::Error },
    /// Killed with its whole process group at the deadline; `command` is the tool and its
    /// arguments, shortened when very long.
    #[error(
        "`{command}` did not finish within {} and was killed (the deadline is \
         {TIMEOUT_ENV})",
        format_duration(*timeout)
    )]
    TimedOut { command: String, timeout: Duration },
    /// `said`: the tool's last two lines of stderr, `; `-joined (may be empty).
    #[error("{name} failed ({status}){}{said}", if said.is_empty() { "" } else { ": " })]
    Failed {
        name: String,
        status: ExitStatus,
        said: String,
    },
}

/// The first of `names` that is an executable file in a PATH directory.
pub fn find(names: &[&str]) -> Option<PathBuf> {
    names
        .iter()
        .find_map(|name| path_dirs().map(|d| d.join(name)).find(|p| is_executable(p)))
}

/// Every `llvm-profdata` that might read the run's `.profraw` files, best first: the one of
/// the Rust toolchain (`rustup component add llvm-tools`, it matches rustc's LLVM), then the
/// versioned ones newest first (a newer one reads older formats, not the other way round),
/// then plain `llvm-profdata`. Asking rustc for its sysroot takes at most `timeout`.
pub fn llvm_profdata(timeout: Duration) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = rust_llvm_profdata(timeout).into_iter().collect();
    let mut versioned: Vec<(u32, PathBuf)> = Vec::new();
    let mut plain: Vec<PathBuf> = Vec::new();
    for dir in path_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = e.path();
            if !is_executable(&path) {
                continue;
            }
            if name == "llvm-profdata" {
                plain.push(path);
            } else if let Some(v) = name
                .strip_prefix("llvm-profdata-")
                .and_then(|v| v.parse::<u32>().ok())
            {
                versioned.push((v, path));
            }
        }
    }
    versioned.sort_by_key(|v| std::cmp::Reverse(v.0));
    for p in versioned.into_iter().map(|(_, p)| p).chain(plain) {
        if !found.contains(&p) {
            found.push(p);
        }
    }
    found
}

/// `<sysroot>/lib/rustlib/<host>/bin/llvm-profdata`, when rustc is on PATH and has it.
fn rust_llvm_profdata(timeout: Duration) -> Option<PathBuf> {
    let rustc = find(&["rustc"])?;
    // rustup's rustc may install a toolchain first: bounded like the tools themselves.
    let out = bounded::run_swept(Command::new(rustc).args(["--print", "sysroot"]), timeout).ok()?;
    if !out.status.success() {
        return None;
    }
    let sysroot = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    std::fs::read_dir(sysroot.join("lib/rustlib"))
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin/llvm-profdata"))
        .find(|p| is_executable(p))
}

fn path_dirs() -> impl Iterator<Item = PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .filter(|d| !d.as_os_str().is_empty())
        .collect::<Vec<_>>()
        .into_iter()
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Run `program args` in `cwd` with `env` added, for at most `timeout`; `Err` says what
/// failed, with the end of what the tool printed.
pub fn run<I, S>(
    program: &Path,
    args: I,
    cwd: &Path,
    env: &[(&str, &OsStr)],
    timeout: Duration,
) -> Result<String, ToolError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<S> = args.into_iter().collect();
    let mut cmd = Command::new(program);
    cmd.args(&args)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k, v)));
    let name = program.file_name().unwrap_or(program.as_os_str());
    let out = bounded::run_swept(&mut cmd, timeout).map_err(|e| match e {
        BoundedError::Start { source, .. } | BoundedError::Wait { source, .. } => {
            ToolError::Start {
                program: program.to_path_buf(),
                source,
            }
        }
        BoundedError::TimedOut(timeout) => ToolError::TimedOut {
            command: command_line(name, &args),
            timeout,
        },
    })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    // The last two lines: the cause is often just above the final "error: ..." (llvm-profdata:
    // "unsupported instrumentation profile format version", then "no profile can be merged").
    let said = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let said = lines[lines.len().saturating_sub(2)..].join("; ");
    Err(ToolError::Failed {
        name: name.to_string_lossy().into_owned(),
        status: out.status,
        said,
    })
}

/// Characters of a command line shown in a message: a batch of hundreds of data files would
/// bury the rest.
const SHOWN_COMMAND: usize = 400;

/// `name args...` as a shell line, the arguments past [`SHOWN_COMMAND`] counted, not shown.
fn command_line<S: AsRef<OsStr>>(name: &OsStr, args: &[S]) -> String {
    let mut line = shell_word(&name.to_string_lossy());
    for (n, arg) in args.iter().enumerate() {
        let word = shell_word(&arg.as_ref().to_string_lossy());
        if line.len() + 1 + word.len() > SHOWN_COMMAND {
            line.push_str(&format!(" ... ({} more arguments)", args.len() - n));
            break;
        }
        line.push(' ');
        line.push_str(&word);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounded::test_support::{fake_tool, gone, pid_in};

    #[test]
    fn a_failing_tool_is_named_with_its_last_two_lines() {
        let err = run(
            Path::new("/bin/sh"),
            [
                "-c",
                "echo zero >&2; echo one >&2; echo >&2; echo 'bad input' >&2; exit 3",
            ],
            Path::new("/"),
            &[],
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed { name, status, said }
                if name == "sh" && status.code() == Some(3) && said == "one; bad input"),
            "{err:?}"
        );
        let err = err.to_string();
        assert!(err.starts_with("sh failed ("), "{err}");
        assert!(err.ends_with("): one; bad input"), "{err}");
        assert_eq!(
            run(
                Path::new("/bin/sh"),
                ["-c", "echo ok"],
                Path::new("/"),
                &[],
                Duration::from_secs(10)
            )
            .unwrap(),
            "ok\n"
        );
    }

    #[test]
    fn a_hanging_tool_is_killed_at_the_deadline_and_named_with_its_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        // The tool and a child of its own, both waiting forever.
        let tool = fake_tool(
            dir.path(),
            "llvm-profdata",
            &format!(
                "sleep 600 & echo $! > '{p}.child'; echo $$ > '{p}.tool'; wait",
                p = pids.display()
            ),
        );
        let start = std::time::Instant::now();
        let err = run(
            &tool,
            ["merge", "-o", "/tmp/a b.profdata"],
            dir.path(),
            &[],
            Duration::from_millis(500),
        )
        .unwrap_err();
        let took = start.elapsed();
        assert!(matches!(err, ToolError::TimedOut { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "`llvm-profdata merge -o '/tmp/a b.profdata'` did not finish within 500ms and \
             was killed (the deadline is WARDEN_COVERAGE_MERGE_TIMEOUT)"
        );
        assert!(took < Duration::from_secs(4), "took {took:?}");
        for who in ["tool", "child"] {
            let pid = pid_in(&dir.path().join(format!("pids.{who}")));
            assert!(gone(pid), "the {who} {pid} survived the deadline");
        }
    }

    #[test]
    fn a_tool_that_double_forks_and_exits_leaves_nothing_running() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("pid");
        // The sleep's parent subshell exits at once: the sleep is no one's child but init's,
        // still in the tool's process group, its output not on the tool's pipes.
        let tool = fake_tool(
            dir.path(),
            "gcovr",
            &format!(
                "(sleep 600 </dev/null >/dev/null 2>&1 & echo $! > '{}'); echo merged",
                pid.display()
            ),
        );
        let start = std::time::Instant::now();
        let out = run(&tool, ["--txt"], dir.path(), &[], Duration::from_secs(60)).unwrap();
        assert_eq!(out, "merged\n");
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{:?}",
            start.elapsed()
        );
        let pid = pid_in(&pid);
        assert!(gone(pid), "the sleep {pid} the tool left survived");
    }

    #[test]
    fn the_deadline_comes_from_the_environment_or_the_default() {
        assert_eq!(timeout_from(None), Ok(DEFAULT_TIMEOUT));
        assert_eq!(
            timeout_from(Some("30s".as_ref())),
            Ok(Duration::from_secs(30))
        );
        assert_eq!(
            timeout_from(Some("1m30s".as_ref())),
            Ok(Duration::from_secs(90))
        );
        let err = timeout_from(Some("soon".as_ref())).unwrap_err();
        assert!(
            err.starts_with("WARDEN_COVERAGE_MERGE_TIMEOUT=soon: invalid duration `soon`"),
            "{err}"
        );
        let err = timeout_from(Some("0s".as_ref())).unwrap_err();
        assert!(err.contains("must be more than 0"), "{err}");
    }

    #[test]
    fn a_long_command_line_is_shortened_in_messages() {
        let files: Vec<String> = (0..500).map(|n| format!("/r/t{n}/.coverage")).collect();
        let line = command_line("coverage".as_ref(), &files);
        assert!(
            line.starts_with("coverage /r/t0/.coverage /r/t1/.coverage "),
            "{line}"
        );
        assert!(line.ends_with(" more arguments)"), "{line}");
        assert!(line.len() < SHOWN_COMMAND + 40, "{line}");
    }
}
