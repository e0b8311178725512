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
