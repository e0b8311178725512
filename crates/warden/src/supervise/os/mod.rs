//! OS-specific process-tree primitives, one function per concern.
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;
#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
pub use other::*;
/// Plain cgroupfs file access: compiles everywhere, finds no cgroup2 mount off Linux.
pub mod cgroup;
/// Memory, pids and CPU controllers, v1 or v2, for per-test caps and measurements.
pub mod controllers;
/// Waiting for a process's exit without polling, where the OS can.
pub mod exit_watch;
/// What a cgroup someone else made (a container's) used.
pub mod foreign;
/// The kernel log, read for OOM kills.
pub mod kmsg;
/// The rlimit mark every process of a test carries, whatever it does to its environment.
pub mod mark;
/// A private network namespace per test (`--net private`).
#[cfg(target_os = "linux")]
pub mod netns;
/// Why a run has no cgroup of its own.
pub mod no_cgroup;
/// Where a run's cgroups go on the v2 hierarchy so that controllers can be enabled.
pub mod placement;
/// For tests here and in the CLI's integration tests: skip without cgroups, or fail in CI.
#[doc(hidden)]
pub mod require;
/// rlimits set between fork and exec.
pub mod rlimit;
/// Starting a test's main process with clone(CLONE_VM | CLONE_VFORK) instead of fork.
#[cfg(target_os = "linux")]
pub mod spawn;
/// Starting a test's main process with fork + exec elsewhere.
#[cfg(not(target_os = "linux"))]
#[path = "spawn/other.rs"]
pub mod spawn;
/// What to start, the same on every OS.
pub mod spawn_request;
