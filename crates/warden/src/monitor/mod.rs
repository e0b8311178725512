//! Host readings and the host guard (`--self-protect`). Knows nothing of tests or reports: the
//! runner feeds it readings and the running set and acts on its decisions.

mod error;
mod guard;
mod host;

pub use error::MonitorError;
pub use guard::{Action, Decision, Guard, GuardConfig, RunningState, RunningTest, MEM_HYSTERESIS};
pub use host::{
    cpu_percent, hostname, mem_used_percent, parse_meminfo, parse_proc_stat, parse_psi_some_avg10,
    CpuTimes, HostSampler, Reading, CPU_WINDOW,
};
