//! Ctrl-Z for a container: the engine's `pause` and `unpause` (the cgroup freezer, as for a
//! process tree). Run to the end before returning: warden stops itself right after the pause
//! registry froze everything, and a command queued for later would only run on SIGCONT.

use std::path::PathBuf;
use std::time::Duration;

use super::engine::Engine;
use super::run::container_ref;
use super::spec::ContainerSpec;
use crate::supervise::pause::Freezable;

/// How long one `pause` or `unpause` may take: a daemon that does not answer must not keep
/// Ctrl-Z from stopping warden.
const LIMIT: Duration = Duration::from_secs(5);

pub(super) struct ContainerPause {
    engine: Engine,
    cidfile: PathBuf,
    name: String,
}

impl ContainerPause {
    pub fn new(spec: &ContainerSpec) -> ContainerPause {
        ContainerPause {
            engine: spec.engine.clone(),
            cidfile: spec.cidfile.clone(),
            name: spec.name(),
        }
    }

    fn run(&self, verb: &str) {
        let target = container_ref(&self.cidfile, &self.name);
        // Fails harmlessly when the container is not there yet or has ended.
        let _ = self.engine.output([verb, target.as_str()], LIMIT);
    }
}

impl Freezable for ContainerPause {
    fn freeze(&self) {
        self.run("pause");
    }

    fn thaw(&self) {
        self.run("unpause");
    }
}
