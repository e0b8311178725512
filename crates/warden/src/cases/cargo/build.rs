//! `cargo test --no-run --message-format=json` → the test binaries, and `cargo metadata` → what
//! cargo tells a test about its package (`CARGO_PKG_*`) and where it runs.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use serde_json::Value;

use crate::cases::Tail;

/// Why cargo cannot say what the tests are; the run stops.
#[derive(Debug, thiserror::Error)]
pub enum CargoError {
    #[error("cannot start `{cargo}`: {source}")]
    Start { cargo: String, source: io::Error },
    #[error("cannot wait for `{cargo}`: {source}")]
    Wait { cargo: String, source: io::Error },
    /// Usually a compile error, which the tail (cargo's last lines) shows unless it went to
    /// the terminal already.
    #[error("`cargo test --no-run` {}{tail}", match code {
        Some(code) => format!("failed (exit {code})"),
        None => "was killed".to_string(),
    })]
    BuildFailed { code: Option<i32>, tail: Tail },
    #[error("`cargo metadata` failed ({status}){tail}")]
    MetadataFailed { status: ExitStatus, tail: Tail },
    #[error("`cargo metadata` printed something that is not JSON: {0}")]
    MetadataNotJson(#[source] serde_json::Error),
    #[error("cargo built a test of package `{0}` that `cargo metadata` does not know")]
    UnknownPackage(String),
}

/// One test binary cargo built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBinary {
    /// `<crate>` (library), `<crate>::<test>` (integration test), `<crate>::bin/<name>`,
    /// `<crate>::example/<name>`, `<crate>::bench/<name>`: stable across builds (no hash).
    pub id: String,
    pub executable: PathBuf,
    pub package_id: String,
    /// The target's name and kind (`lib`, `bin`, `test`, `example`, `bench`, `proc-macro`).
    pub target: String,
    pub kind: String,
}

/// What a build produced: the test binaries and, per package, its executables (for
/// `CARGO_BIN_EXE_<name>`).
#[derive(Debug, Default)]
pub struct Built {
    pub binaries: Vec<TestBinary>,
    pub bins: HashMap<String, Vec<(String, PathBuf)>>,
}

/// A package as `cargo metadata` describes it.
#[derive(Debug, Clone, Default)]
pub struct Package {
    pub name: String,
    pub manifest_path: PathBuf,
    /// `CARGO_PKG_*` values cargo sets, by the suffix after `CARGO_PKG_`.
    pub vars: Vec<(String, String)>,
}

/// The cargo program: `$CARGO` when warden itself runs under cargo, else `cargo` on PATH.
pub fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Runs `cargo test --no-run` with `args` in `cwd`; cargo's own progress and diagnostics go to
/// warden's stderr when `show` (a compile error is read there), else are kept for the error.
pub fn build(cwd: &Path, args: &[String], show: bool) -> Result<Built, CargoError> {
    let cargo = cargo_program();
    let mut child = Command::new(&cargo)
        .args([
            "test",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(if show {
            Stdio::inherit()
        } else {
            Stdio::piped()
        })
        .spawn()
        .map_err(|source| CargoError::Start {
            cargo: cargo.clone(),
            source,
        })?;
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut e, &mut text);
            text
        })
    });
    let mut built = Built::default();
    let stdout = child.stdout.take().expect("piped");
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Ok(msg) = serde_json::from_str::<Value>(&line) {
            read_message(&msg, &mut built);
        }
    }
    let status = child.wait().map_err(|source| CargoError::Wait {
        cargo: cargo.clone(),
        source,
    })?;
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    if !status.success() {
        return Err(CargoError::BuildFailed {
            code: status.code(),
            tail: Tail::of(&stderr, ""),
        });
    }
    built.binaries.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(built)
}

/// Takes one `compiler-artifact` message: a test binary, or an executable of a package.
fn read_message(msg: &Value, built: &mut Built) {
    if msg["reason"] != "compiler-artifact" {
        return;
    }
    let Some(executable) = msg["executable"].as_str() else {
        return;
    };
    let package_id = msg["package_id"].as_str().unwrap_or_default().to_string();
    let target = msg["target"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let kind = msg["target"]["kind"][0]
        .as_str()
        .unwrap_or("lib")
        .to_string();
    if msg["profile"]["test"] == true {
        built.binaries.push(TestBinary {
            id: String::new(),
            executable: executable.into(),
            package_id,
            target,
            kind,
        });
    } else if kind == "bin" {
        built
            .bins
            .entry(package_id)
            .or_default()
            .push((target, executable.into()));
    }
}

/// `cargo metadata --no-deps`: the workspace's packages by id, and its target directory.
pub fn metadata(
    cwd: &Path,
    args: &[String],
) -> Result<(HashMap<String, Package>, PathBuf), CargoError> {
    let cargo = cargo_program();
    // Only the options that change which workspace or lock is read apply to metadata.
    let mut pass = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if ["--manifest-path", "--config", "-Z"].contains(&a.as_str()) {
            pass.push(a.clone());
            pass.extend(it.next().cloned());
        } else if a.starts_with("--manifest-path=")
            || a.starts_with("--config=")
            || ["--offline", "--frozen", "--locked"].contains(&a.as_str())
        {
            pass.push(a.clone());
        }
    }
    let out = Command::new(&cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .args(&pass)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| CargoError::Start {
            cargo: cargo.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(CargoError::MetadataFailed {
            status: out.status,
            tail: Tail::of(&String::from_utf8_lossy(&out.stderr), ""),
        });
    }
    let doc: Value = serde_json::from_slice(&out.stdout).map_err(CargoError::MetadataNotJson)?;
    let target_dir = PathBuf::from(doc["target_directory"].as_str().unwrap_or("target"));
    let mut packages = HashMap::new();
    for p in doc["packages"].as_array().into_iter().flatten() {
        let text = |k: &str| p[k].as_str().unwrap_or_default().to_string();
        let version = text("version");
        let (core, pre) = version.split_once('-').unwrap_or((&version, ""));
        let mut nums = core.split('+').next().unwrap_or_default().split('.');
        let mut vars = vec![
            ("NAME".to_string(), text("name")),
            ("VERSION".to_string(), version.clone()),
            (
                "VERSION_MAJOR".to_string(),
                nums.next().unwrap_or_default().to_string(),
            ),
            (
                "VERSION_MINOR".to_string(),
                nums.next().unwrap_or_default().to_string(),
            ),
            (
                "VERSION_PATCH".to_string(),
                nums.next().unwrap_or_default().to_string(),
            ),
            ("VERSION_PRE".to_string(), pre.to_string()),
            ("DESCRIPTION".to_string(), text("description")),
            ("HOMEPAGE".to_string(), text("homepage")),
            ("REPOSITORY".to_string(), text("repository")),
            ("LICENSE".to_string(), text("license")),
            ("LICENSE_FILE".to_string(), text("license_file")),
            ("RUST_VERSION".to_string(), text("rust_version")),
            ("README".to_string(), text("readme")),
        ];
        let authors: Vec<&str> = p["authors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        vars.push(("AUTHORS".to_string(), authors.join(":")));
        packages.insert(
            text("id"),
            Package {
                name: text("name"),
                manifest_path: text("manifest_path").into(),
                vars,
            },
        );
    }
    Ok((packages, target_dir))
}

/// The id of a test binary of package `package` (see [`TestBinary::id`]).
pub fn binary_id(package: &str, target: &str, kind: &str) -> String {
    match kind {
        "lib" | "proc-macro" | "rlib" | "dylib" | "cdylib" | "staticlib" => package.to_string(),
        "test" => format!("{package}::{target}"),
        other => format!("{package}::{other}/{target}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_become_test_binaries_and_executables() {
        let mut built = Built::default();
        for line in [
            r#"{"reason":"compiler-artifact","package_id":"p 0.1.0","target":{"name":"p","kind":["lib"]},"profile":{"test":true},"executable":"/t/deps/p-1"}"#,
            r#"{"reason":"compiler-artifact","package_id":"p 0.1.0","target":{"name":"p","kind":["lib"]},"profile":{"test":false},"executable":null}"#,
            r#"{"reason":"compiler-artifact","package_id":"p 0.1.0","target":{"name":"tool","kind":["bin"]},"profile":{"test":false},"executable":"/t/tool"}"#,
            r#"{"reason":"compiler-artifact","package_id":"p 0.1.0","target":{"name":"api","kind":["test"]},"profile":{"test":true},"executable":"/t/deps/api-2"}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ] {
            read_message(&serde_json::from_str(line).unwrap(), &mut built);
        }
        let kinds: Vec<(&str, &str)> = built
            .binaries
            .iter()
            .map(|b| (b.target.as_str(), b.kind.as_str()))
            .collect();
        assert_eq!(kinds, [("p", "lib"), ("api", "test")]);
        assert_eq!(
            built.bins["p 0.1.0"],
            [("tool".to_string(), "/t/tool".into())]
        );
    }

    #[test]
    fn binary_ids_are_stable_and_readable() {
        assert_eq!(binary_id("warden", "warden", "lib"), "warden");
        assert_eq!(
            binary_id("warden-cli", "basic_run", "test"),
            "warden-cli::basic_run"
        );
        assert_eq!(
            binary_id("warden-cli", "warden", "bin"),
            "warden-cli::bin/warden"
        );
    }
}
