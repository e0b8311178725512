//! Finding the merge tools on PATH, versioned names included (`llvm-profdata-19`), and running
//! them with an error that says which tool failed on what.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// A merge tool that could not be run, or failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("cannot run {}: {source}", program.display())]
    Start { program: PathBuf, source: io::Error },
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
/// then plain `llvm-profdata`.
pub fn llvm_profdata() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = rust_llvm_profdata().into_iter().collect();
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
fn rust_llvm_profdata() -> Option<PathBuf> {
    let rustc = find(&["rustc"])?;
    let out = Command::new(rustc)
        .args(["--print", "sysroot"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
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

/// Run `program args` in `cwd` with `env` added; `Err` says what failed, with the end of
/// what the tool printed.
pub fn run<I, S>(
    program: &Path,
    args: I,
    cwd: &Path,
    env: &[(&str, &OsStr)],
) -> Result<String, ToolError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .envs(env.iter().map(|(k, v)| (k, v)));
    let name = program.file_name().unwrap_or(program.as_os_str());
    let out = cmd.output().map_err(|source| ToolError::Start {
        program: program.to_path_buf(),
        source,
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

#[cfg(test)]
mod tests {
    use super::*;

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
            run(Path::new("/bin/sh"), ["-c", "echo ok"], Path::new("/"), &[]).unwrap(),
            "ok\n"
        );
    }
}
