//! Tests in containers (SPEC §8): the docker or podman CLI behind the same interface as a
//! supervised process, hardened by default, and never a container left behind.
mod cleanup;
mod config;
mod engine;
mod measure;
mod oom;
mod pause;
mod podman;
mod probe;
mod run;
mod spec;

pub use cleanup::{
    list_containers, remove_orphan_containers, remove_run_containers, ContainerInfo,
};
pub use config::{
    ContainerConfig, ContainerConfigError, KeyPart, Mount, DEFAULT_PIDS_LIMIT, DEFAULT_TMPFS,
    DEFAULT_USER, WORKSPACE,
};
pub use engine::{
    AnswerError, CmdOutput, Engine, EngineChoice, EngineError, EngineFacts, EngineKind,
    UnknownEngine,
};
pub use probe::{probe, ProbeError};
pub use run::{run_in_container, run_test_in_container};
pub use spec::{
    container_name, network_for, this_owner, ContainerRun, ContainerSpec, SpecError, ATTEMPT_LABEL,
    OWNER_LABEL, RUN_LABEL, TEST_LABEL,
};

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
