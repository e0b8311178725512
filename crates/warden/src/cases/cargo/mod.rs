//! The cargo adapter: build the test binaries the way `cargo test` would, list each binary's
//! cases (`--list --format terse`, `#[ignore]`d ones apart), and make every case a test run as
//! `<binary> --exact <name> --nocapture` in its package's directory with cargo's variables.
//! Doc tests are not binaries and are not run.
mod build;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub use build::{binary_id, cargo_program, CargoError, TestBinary};

use super::command::run_listing;
use super::parse::libtest;
use crate::config::{CargoConfig, DiscoveryConfig};
use crate::test_case::{OutputFormat, TestCase};

/// The skip reason of a `#[ignore]`d test when `--run-ignored` is not given.
pub const IGNORED: &str = "#[ignore] (run with --run-ignored)";

/// Builds and lists; `Err` (the build or `cargo metadata` failed) stops the run. A binary
/// whose listing fails is one ERROR test naming it; the others still run.
pub fn discover_cargo(
    config: &DiscoveryConfig,
    cargo: &CargoConfig,
    show_build: bool,
    default_timeout: Duration,
    parallel: usize,
) -> Result<Vec<TestCase>, CargoError> {
    let built = build::build(&config.cwd, &cargo.args, show_build)?;
    let (packages, target_dir) = build::metadata(&config.cwd, &cargo.args)?;
    let suite = &config.suites[cargo.suite];
    let program = cargo_program();
    let mut binaries = Vec::new();
    for b in built.binaries {
        let Some(package) = packages.get(&b.package_id) else {
            return Err(CargoError::UnknownPackage(b.package_id.clone()));
        };
        let dir = package
            .manifest_path
            .parent()
            .unwrap_or(Path::new("/"))
            .to_path_buf();
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        env.insert("CARGO".into(), program.clone());
        env.insert("CARGO_MANIFEST_DIR".into(), dir.display().to_string());
        env.insert(
            "CARGO_MANIFEST_PATH".into(),
            package.manifest_path.display().to_string(),
        );
        for (k, v) in &package.vars {
            env.insert(format!("CARGO_PKG_{k}"), v.clone());
        }
        env.insert("CARGO_CRATE_NAME".into(), b.target.replace('-', "_"));
        if b.kind == "bin" {
            env.insert("CARGO_BIN_NAME".into(), b.target.clone());
        }
        for (name, exe) in built.bins.get(&b.package_id).into_iter().flatten() {
            env.insert(format!("CARGO_BIN_EXE_{name}"), exe.display().to_string());
        }
        if matches!(b.kind.as_str(), "test" | "bench") {
            env.insert(
                "CARGO_TARGET_TMPDIR".into(),
                target_dir.join("tmp").display().to_string(),
            );
        }
        // Dynamic libraries of the build (a `dylib` dependency) load as under cargo.
        if let Some(deps) = b.executable.parent() {
            let mut path = deps.display().to_string();
            if let Ok(old) = std::env::var("LD_LIBRARY_PATH") {
                if !old.is_empty() {
                    path = format!("{path}:{old}");
                }
            }
            env.insert("LD_LIBRARY_PATH".into(), path);
        }
        env.extend(suite.env.clone());
        let level = match b.kind.as_str() {
            "lib" | "proc-macro" | "bin" => Some("unit".to_string()),
            "test" => Some("integration".to_string()),
            _ => None,
        };
        let exe = b.executable.display().to_string();
        binaries.push(TestCase {
            id: binary_id(&package.name, &b.target, &b.kind),
            case: None,
            cwd: Some(dir),
            path: b.executable.clone(),
            suite: suite.name.clone(),
            level,
            tags: Vec::new(),
            slow: false,
            skip: None,
            timeout: suite.timeout,
            serial: false,
            command: Ok(vec![exe]),
            format: OutputFormat::ExitCode,
            env,
            mem_limit: suite.mem_limit,
            skip_exit_codes: suite.skip_exit_codes.clone(),
            net: suite.net.unwrap_or(config.net),
        });
    }
    Ok(list_all(
        binaries,
        cargo.run_ignored,
        default_timeout,
        parallel,
    ))
}

/// Lists every binary (at most `parallel` at once) and returns their cases.
fn list_all(
    binaries: Vec<TestCase>,
    run_ignored: bool,
    timeout: Duration,
    parallel: usize,
) -> Vec<TestCase> {
    if binaries.is_empty() {
        return Vec::new();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Vec<TestCase>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..parallel.clamp(1, binaries.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(binary) = binaries.get(i) else { break };
                let cases = cases_of_binary(binary, run_ignored, timeout);
                results.lock().unwrap().push((i, cases));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().flat_map(|(_, c)| c).collect()
}

fn cases_of_binary(binary: &TestCase, run_ignored: bool, timeout: Duration) -> Vec<TestCase> {
    let exe = binary.path.display().to_string();
    let env: Vec<(String, String)> = binary
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let cwd = binary.cwd.clone().unwrap_or_else(|| PathBuf::from("/"));
    let list = |extra: &[&str]| {
        let mut argv = vec![
            exe.clone(),
            "--list".into(),
            "--format".into(),
            "terse".into(),
        ];
        argv.extend(extra.iter().map(|a| a.to_string()));
        run_listing(&argv, &cwd, &env, binary.timeout.unwrap_or(timeout))
    };
    let listed = list(&[]).and_then(|all| list(&["--ignored"]).map(|ign| (all, ign)));
    let (all, ignored) = match listed {
        Ok((all, ignored)) => (all, ignored),
        Err(why) => {
            let mut t = binary.clone();
            t.command = Err(format!(
                "{}: listing its tests (`{exe} --list`) {why}",
                binary.id
            ));
            return vec![t];
        }
    };
    let ignored: HashSet<String> = libtest(&ignored.stdout, "test").into_iter().collect();
    let mut seen = HashSet::new();
    libtest(&all.stdout, "test")
        .into_iter()
        .filter(|name| seen.insert(name.clone()))
        .map(|name| {
            let is_ignored = ignored.contains(&name);
            let mut argv = vec![
                exe.clone(),
                "--exact".into(),
                name.clone(),
                "--nocapture".into(),
            ];
            if is_ignored {
                argv.push("--include-ignored".into());
            }
            TestCase {
                id: format!("{} {name}", binary.id),
                skip: (is_ignored && !run_ignored).then(|| IGNORED.to_string()),
                command: Ok(argv),
                case: Some(name),
                ..binary.clone()
            }
        })
        .collect()
}
