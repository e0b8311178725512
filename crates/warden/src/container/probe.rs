//! Whether a container of the run's image can start a program at all, asked once before the
//! run. `--cargo` test binaries are built on the host, dynamically linked against its C
//! library, and listed there; an image without that library (busybox, alpine) or without the
//! binaries' path cannot start any of them, and one clear error before anything runs says so
//! better than an ERROR per case.

use std::time::Duration;

use super::engine::run_with_timeout;
use super::spec::{ContainerRun, SpecError};
use crate::cases::Tail;
use crate::supervise::SpawnSpec;

/// Why the probe says no.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("cannot run {program}: {source}")]
    Engine {
        program: String,
        source: std::io::Error,
    },
    /// The program did not run to a successful end in the container.
    #[error("`{command}` in a container of `{image}` {how}{tail}")]
    Failed {
        command: String,
        image: String,
        how: String,
        tail: Tail,
    },
}

/// Runs `process` (its command as a test would run, with the test's paths, mounts and
/// hardening) to the end in a container of `run`, which is then removed; `Ok` when it exited 0
/// within `timeout`. The container carries warden's owner label, so that if warden dies
/// meanwhile, `warden clean` and the next run remove it.
pub fn probe(run: &ContainerRun, process: &SpawnSpec, timeout: Duration) -> Result<(), ProbeError> {
    let spec = run.spec_for(process, "warden-probe", 1)?;
    let engine_err = |source| ProbeError::Engine {
        program: run.engine.program.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&run.cid_dir).map_err(engine_err)?;
    let _ = std::fs::remove_file(&spec.cidfile);
    let mut cmd = run.engine.command();
    // Local podman's monitor writes in its working directory: never the project.
    cmd.current_dir(&run.cid_dir)
        .envs(spec.client_env.iter().map(|(k, v)| (k, v)))
        .args(spec.run_args());
    let out = run_with_timeout(cmd, timeout);
    let _ = run.engine.output(
        ["rm", "--force", "--volumes", &spec.name()],
        Duration::from_secs(30),
    );
    let _ = std::fs::remove_file(&spec.cidfile);
    let out = out.map_err(engine_err)?;
    if out.success {
        return Ok(());
    }
    Err(ProbeError::Failed {
        command: spec.argv.join(" "),
        image: run.image.clone(),
        how: match out.code {
            Some(code) => format!("exited with {code}"),
            None => "did not finish".to_string(),
        },
        tail: Tail::of(&out.stderr, &out.stdout),
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    use super::*;
    use crate::container::cleanup::list_containers;
    use crate::container::config::ContainerConfig;
    use crate::container::engine::Engine;
    use crate::container::testing::{per_engine, test_image, variant_name};
    use crate::supervise::{Limits, Network};

    per_engine!(sync says_whether_the_image_can_start_a_program);

    /// A host program in the project, run as a test would run it: a script the image's shell
    /// runs, and the host's dynamically linked `true`, which busybox's image cannot start (no
    /// C library), as it cannot start a `--cargo` test binary.
    fn says_whether_the_image_can_start_a_program(engine: Engine) {
        let dir = tempfile::tempdir().unwrap();
        let exe = |name: &str, from: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, from).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path.display().to_string()
        };
        let script = exe("ok.sh", b"#!/bin/sh\necho listed\n");
        let dynamic = exe("true", &std::fs::read("/bin/true").unwrap());
        let run = ContainerRun {
            engine: engine.clone(),
            config: Arc::new(ContainerConfig::default()),
            image: test_image(),
            run_id: format!(
                "probe-test-{}-{}",
                std::process::id(),
                variant_name(&engine)
            ),
            project: dir.path().to_path_buf(),
            cid_dir: dir.path().join("cids"),
            coverage_root: None,
        };
        let process = |program: &str| SpawnSpec {
            argv: vec![program.to_string(), "--list".into()],
            cwd: dir.path().to_path_buf(),
            env: Vec::new(),
            timeout: Duration::from_secs(60),
            grace: Duration::from_secs(1),
            capture: None,
            cgroup: None,
            token: Vec::new(),
            mark: None,
            controllers: None,
            limits: Limits::default(),
            net: Network::Host,
        };
        let timeout = Duration::from_secs(60);
        probe(&run, &process(&script), timeout).unwrap();
        let e = probe(&run, &process(&dynamic), timeout).unwrap_err();
        let said = e.to_string();
        assert!(matches!(e, ProbeError::Failed { .. }), "{e:?}");
        assert!(
            said.starts_with(&format!(
                "`/workspace/true --list` in a container of `{}` exited with ",
                test_image()
            )),
            "{said}"
        );
        assert!(said.contains("No such file or directory"), "{said}");
        let left = list_containers(&engine, Some(&run.run_id)).unwrap();
        assert!(left.is_empty(), "containers left: {left:?}");
        let cids = std::fs::read_dir(&run.cid_dir).map_or(0, |d| d.count());
        assert_eq!(cids, 0, "cidfiles left");
    }
}
