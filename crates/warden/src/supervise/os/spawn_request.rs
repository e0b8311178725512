//! What to start as a test's main process, the same on every OS (`spawn` differs).

use std::os::fd::RawFd;
use std::path::Path;

use super::rlimit::Rlimit;

/// What to start. The environment is warden's own with `env` added over it.
pub struct Request<'a> {
    /// `argv[0]` is the program, looked up in `PATH` (the child's) when it has no `/`.
    pub argv: &'a [String],
    pub cwd: &'a Path,
    pub env: &'a [(String, String)],
    /// Where stdout and stderr go; `None` keeps warden's.
    pub output: Option<RawFd>,
    /// `cgroup.procs` files to write "0" to: the child joins each before exec.
    pub cgroup_procs: &'a [RawFd],
    pub rlimits: &'a [Rlimit],
    /// The child enters the run's private network namespace before exec (`--net private`;
    /// Linux only: elsewhere the spawn fails saying so).
    pub private_net: bool,
}
