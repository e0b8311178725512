//! `--cargo` with `--container`: the test binaries are built and listed on the host, and run in
//! containers. Before anything runs, one of them must start in a container of the image, as a
//! test would (same paths, mounts, hardening); otherwise the caller refuses the run with what
//! to do, instead of an ERROR for every case.

use std::path::PathBuf;

use crate::config::Settings;
use crate::container::{probe, ContainerRun, Engine, ProbeError};
use crate::supervise::{Limits, SpawnSpec};
use crate::test_case::TestCase;

/// `Err` when the selected cargo tests cannot start in the run's image (`Ok` when there are
/// none that will run).
pub fn cargo_binaries_start(
    engine: &Engine,
    settings: &Settings,
    tests: &[TestCase],
) -> Result<(), ProbeError> {
    let Some(cargo) = &settings.discovery.cargo else {
        return Ok(());
    };
    let suite = &settings.discovery.suites[cargo.suite].name;
    // One that will run: a run of only `#[ignore]`d cases starts no container.
    let runs = |t: &&TestCase| {
        &t.suite == suite && t.command.is_ok() && (t.skip.is_none() || settings.run.run_skipped)
    };
    let Some(test) = tests.iter().find(runs) else {
        return Ok(());
    };
    let timeout = test.timeout.unwrap_or(settings.run.timeout);
    let process = SpawnSpec {
        argv: [
            &test.path.display().to_string(),
            "--list",
            "--format",
            "terse",
        ]
        .map(String::from)
        .to_vec(),
        cwd: test.cwd.clone().unwrap_or_else(|| settings.root.clone()),
        env: test
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        timeout,
        grace: settings.run.grace,
        capture: None,
        cgroup: None,
        token: Vec::new(),
        mark: None,
        controllers: None,
        limits: Limits::default(),
        net: test.net,
    };
    let pid = std::process::id();
    let cid_dir = std::env::temp_dir().join(format!("warden-probe-{pid}"));
    let run = container_run(
        engine,
        settings,
        &format!("probe-{pid}"),
        cid_dir.clone(),
        None,
    );
    let probed = probe(&run, &process, timeout);
    let _ = std::fs::remove_dir_all(&cid_dir);
    probed
}

/// How the tests of run `run_id` run in containers of `settings`' image on `engine`.
pub(super) fn container_run(
    engine: &Engine,
    settings: &Settings,
    run_id: &str,
    cid_dir: PathBuf,
    coverage_root: Option<PathBuf>,
) -> ContainerRun {
    ContainerRun {
        engine: engine.clone(),
        config: std::sync::Arc::new(settings.container.config.clone()),
        image: settings.container.config.image.clone().unwrap_or_default(),
        run_id: run_id.to_string(),
        project: settings.root.clone(),
        cid_dir,
        coverage_root,
    }
}
