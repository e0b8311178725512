//! Process groups elsewhere (macOS, BSD): signals work; membership is not listed.

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::events::Leak;

/// Unit of `ru_maxrss`: bytes on macOS, kilobytes on the BSDs.
pub const MAXRSS_UNIT: u64 = if cfg!(target_os = "macos") { 1 } else { 1024 };

pub fn signal_group(pgid: i32, sig: Signal) -> bool {
    !matches!(killpg(Pid::from_raw(pgid), sig), Err(Errno::ESRCH))
}

/// Without `/proc`, a live group is reported as one unnamed member so that it is still killed.
pub fn group_members(pgid: i32) -> Vec<Leak> {
    if killpg(Pid::from_raw(pgid), None).is_ok() {
        vec![Leak {
            pid: pgid,
            cmd: format!("[process group {pgid}]"),
        }]
    } else {
        Vec::new()
    }
}

pub fn cmdline(pid: i32) -> String {
    format!("[pid {pid}]")
}

pub fn signal_name(sig: i32) -> String {
    Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {sig}"))
}

/// Without `/proc`, environment tokens cannot be read.
pub fn processes_with_env(_needles: &[String]) -> Vec<Leak> {
    Vec::new()
}

pub fn become_subreaper() -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "no child subreaper on this OS",
    ))
}

pub fn reap_orphans(_is_ours: impl Fn(i32) -> bool) -> usize {
    0
}

/// Not measurable here: the caller keeps `wait4`'s figure.
pub fn peak_rss_of(_pid: i32) -> Option<u64> {
    None
}

pub fn children_of(_pid: i32) -> Vec<i32> {
    Vec::new()
}

pub fn own_peak_rss() -> Option<u64> {
    None
}

pub fn start_time(_pid: i32) -> Option<u64> {
    None
}

/// Without `/proc`, the environment cannot be read.
pub enum Environ {
    Vars(Vec<u8>),
    Empty,
    Unreadable,
}

pub fn environ(_pid: i32) -> Environ {
    Environ::Unreadable
}

pub fn env_has_all(env: &[u8], needles: &[String]) -> bool {
    needles
        .iter()
        .all(|n| env.split(|b| *b == 0).any(|kv| kv == n.as_bytes()))
}

/// Without `/proc`, children are not listed.
pub fn own_children() -> Vec<i32> {
    Vec::new()
}

pub fn adopted_children() -> Vec<i32> {
    Vec::new()
}

pub fn with_descendants(pids: impl IntoIterator<Item = i32>) -> Vec<i32> {
    pids.into_iter().collect()
}

pub fn is_live(pid: i32) -> bool {
    nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
}

pub fn run_processes(_token: &[String], _is_mark: impl Fn(u64) -> bool) -> (Vec<Leak>, bool) {
    (Vec::new(), false)
}

/// Why tests cannot have a private network: network namespaces are Linux's.
#[derive(Debug, thiserror::Error)]
#[error("a private network (--net private) needs Linux network namespaces")]
pub struct PrivateNetError;

pub fn probe_private_net() -> Result<(), PrivateNetError> {
    Err(PrivateNetError)
}
