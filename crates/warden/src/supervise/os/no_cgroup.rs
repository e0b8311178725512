//! Why a run gets no cgroup v2 of its own (it then runs with degraded containment), as a type:
//! callers can tell "the host has none" from "warden may not write there" from an I/O failure,
//! and the message still says what failed and on what.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NoCgroup {
    /// The user turned cgroups off (`WARDEN_NO_CGROUP`).
    #[error("disabled by {0}")]
    Disabled(&'static str),
    #[error("no cgroup2 hierarchy is mounted")]
    NoV2Mount,
    #[error("cannot read this process's cgroup from /proc/self/cgroup")]
    OwnUnknown,
    /// Warden's own cgroup is the root of the hierarchy, and it may not write there.
    #[error("no write access to {}", .0.display())]
    RootNotWritable(PathBuf),
    /// Neither warden's own cgroup nor one above it is writable (and, under systemd, delegated).
    #[error(
        "no write access to {} or to a cgroup above it{}",
        .own.display(),
        if *.systemd { " that systemd delegated" } else { "" }
    )]
    NotDelegated { own: PathBuf, systemd: bool },
    /// (v1) No hierarchy has the controller among its options.
    #[error("no cgroup v1 hierarchy mounts it")]
    NoV1Mount,
    /// (v1) The hierarchy exists but this process is not listed in it.
    #[error("this process is not in that hierarchy (/proc/self/cgroup)")]
    NotInV1Hierarchy,
    /// A step of the placement failed on `path`.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// A per-test cap that could not be set: the test must not run without it.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {value} to {}: {source}", .path.display())]
pub struct CapError {
    pub value: String,
    pub path: PathBuf,
    pub source: io::Error,
}
