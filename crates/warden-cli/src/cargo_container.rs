//! `--cargo` with `--container`: the test binaries are built and listed on the host, and run in
//! containers. Before anything runs, one of them must start in a container of the image, as a
//! test would (same paths, mounts, hardening); otherwise the run is refused (exit 2) with what
//! to do, instead of an ERROR for every case.

use std::sync::Arc;

use anyhow::Result;
use warden::config::Settings;
use warden::container::{probe, ContainerRun, Engine};
use warden::supervise::{Limits, SpawnSpec};
use warden::test_case::TestCase;

/// `Err` (exit 2) when the selected cargo tests cannot start in the run's image.
pub fn check(engine: &Engine, settings: &Settings, tests: &[TestCase]) -> Result<()> {
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
    let run = ContainerRun {
        engine: engine.clone(),
        config: Arc::new(settings.container.config.clone()),
        image: settings.container.config.image.clone().unwrap_or_default(),
        run_id: format!("probe-{pid}"),
        project: settings.root.clone(),
        cid_dir: cid_dir.clone(),
        coverage_root: None,
    };
    let probed = probe(&run, &process, timeout);
    let _ = std::fs::remove_dir_all(&cid_dir);
    probed.map_err(|e| {
        anyhow::anyhow!(
            "--cargo with --container: the test binaries are built and listed on this host, and \
             a container of image `{}` cannot run them ({e}); use an image with the host's C \
             library in which the binaries' path is mounted (the project is; a target directory \
             outside it needs a [container] mounts entry), build statically linked test \
             binaries, or run without --container",
            run.image
        )
    })
}
