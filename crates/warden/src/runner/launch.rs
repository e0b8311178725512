//! What a test runs as, chosen once per run: the scheduler hands each test's spec to a
//! [`Launcher`] and gets its outcome back, never knowing whether a process tree or a container
//! ran it. A scripted launcher stands in for both in the scheduler's own tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;

use crate::container::{run_test_in_container, ContainerRun};
use crate::supervise::{run_process, Cancel, ProcessOutcome, SpawnSpec};

/// A test under way; resolves to how it went.
pub type Launched = Pin<Box<dyn Future<Output = ProcessOutcome> + Send>>;

pub trait Launcher: Send + Sync {
    /// Start `spec` (test `id`, attempt `attempt`); `cancel` leaving `Cancel::No` ends it early.
    fn launch(
        &self,
        spec: SpawnSpec,
        id: &str,
        attempt: u32,
        cancel: watch::Receiver<Cancel>,
    ) -> Launched;
}

/// Each test as a supervised process tree.
pub struct Processes;

impl Launcher for Processes {
    fn launch(
        &self,
        spec: SpawnSpec,
        _: &str,
        _: u32,
        cancel: watch::Receiver<Cancel>,
    ) -> Launched {
        Box::pin(run_process(spec, cancel))
    }
}

/// Each test in a container of one engine and image.
pub struct Containers(pub Arc<ContainerRun>);

impl Launcher for Containers {
    fn launch(
        &self,
        spec: SpawnSpec,
        id: &str,
        attempt: u32,
        cancel: watch::Receiver<Cancel>,
    ) -> Launched {
        let run = self.0.clone();
        let id = id.to_string();
        Box::pin(async move { run_test_in_container(&run, &spec, &id, attempt, cancel).await })
    }
}

/// The launcher a plan asks for.
pub fn for_container(container: Option<&Arc<ContainerRun>>) -> Arc<dyn Launcher> {
    match container {
        Some(c) => Arc::new(Containers(c.clone())),
        None => Arc::new(Processes),
    }
}
