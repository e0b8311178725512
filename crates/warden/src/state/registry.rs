//! The registry of live runs: one small JSON file per run, outside the state dir so that
//! `warden clean` finds the runs of every project. A run whose warden is dead (its pid is gone
//! or belongs to another process, told apart by start time) left its entry behind.
//!
//! An entry tells `warden clean` (and every new run) what to kill and delete, so the registry
//! is only read from a directory that no one else can write to, and an entry only counts when
//! its run id is the one its file is named after.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::container::Engine;
use crate::supervise::os;

/// Overrides where the registry lives (tests, unusual hosts).
pub const REGISTRY_ENV: &str = "WARDEN_REGISTRY_DIR";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEntry {
    pub run_id: String,
    /// warden's pid and its start time in clock ticks: both must match for the run to be alive.
    pub pid: i32,
    pub start_time: Option<u64>,
    pub cgroup_dir: Option<PathBuf>,
    /// The run's cgroups in v1 hierarchies (memory, pids, cpuacct), on hybrid hosts.
    #[serde(default)]
    pub extra_cgroup_dirs: Vec<PathBuf>,
    pub temp_root: PathBuf,
    pub run_dir: Option<PathBuf>,
    /// How to undo where the run's v2 cgroup was placed (controllers warden enabled, the leaf
    /// warden moved itself into): the watchdog does it when warden died.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_undo: Option<crate::supervise::os::placement::Undo>,
    /// The engine of the run's containers, when its tests run in containers: the watchdog and
    /// `warden clean` remove them by label with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_engine: Option<Engine>,
}

impl RunEntry {
    /// An entry for the current process.
    pub fn for_this_process(
        run_id: &str,
        cgroup_dir: Option<&Path>,
        temp_root: &Path,
        run_dir: Option<&Path>,
    ) -> Self {
        let pid = std::process::id() as i32;
        RunEntry {
            run_id: run_id.to_string(),
            pid,
            start_time: os::start_time(pid),
            cgroup_dir: cgroup_dir.map(Path::to_path_buf),
            extra_cgroup_dirs: Vec::new(),
            cgroup_undo: None,
            temp_root: temp_root.to_path_buf(),
            run_dir: run_dir.map(Path::to_path_buf),
            container_engine: None,
        }
    }

    /// Whether the warden that wrote this entry still runs.
    pub fn owner_alive(&self) -> bool {
        match (os::start_time(self.pid), self.start_time) {
            (Some(now), Some(then)) => now == then,
            // Without start times (not Linux) a live pid has to do.
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    pub fn path_in(dir: &Path, run_id: &str) -> PathBuf {
        dir.join(format!("{run_id}.json"))
    }
}

/// Where entries live: `$WARDEN_REGISTRY_DIR`, else `/run/warden` for root, else
/// `$XDG_RUNTIME_DIR/warden`, else `<tmp>/warden-<uid>`.
pub fn registry_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(REGISTRY_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    let uid = nix::unistd::getuid();
    if uid.is_root() && Path::new("/run").is_dir() {
        return PathBuf::from("/run/warden");
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d).join("warden");
    }
    std::env::temp_dir().join(format!("warden-{uid}"))
}

/// Write `entry` to the registry; returns the file written.
pub fn register(dir: &Path, entry: &RunEntry) -> io::Result<PathBuf> {
    if !valid_run_id(&entry.run_id) {
        return Err(io::Error::other(format!(
            "`{}` cannot name a registry entry",
            entry.run_id
        )));
    }
    // Private: the fallback location is under the shared temp dir.
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    check_private(dir).map_err(io::Error::other)?;
    let path = RunEntry::path_in(dir, &entry.run_id);
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, serde_json::to_vec(entry).map_err(io::Error::other)?)?;
    fs::rename(&tmp, &path)?;
    Ok(path)
}

pub fn unregister(dir: &Path, run_id: &str) {
    if valid_run_id(run_id) {
        let _ = fs::remove_file(RunEntry::path_in(dir, run_id));
    }
}

/// Run ids name files and directories: no separators, no leading dot.
fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// An entry of the registry (or the whole registry) that is not used, and why.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("registry dir {} is {why}: its entries are not trusted", .dir.display())]
    Untrusted { dir: PathBuf, why: String },
    #[error("{}: not a run entry: {source}", .path.display())]
    NotAnEntry {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: run id `{run_id}` does not match the file name", .path.display())]
    IdMismatch { path: PathBuf, run_id: String },
}

/// Refuses a registry dir that another user could have planted entries in: a symlink, owned
/// by someone other than this user (or root), or writable by group or others.
fn check_private(dir: &Path) -> Result<(), EntryError> {
    let meta = fs::symlink_metadata(dir).map_err(|source| EntryError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let me = nix::unistd::geteuid().as_raw();
    let why = if !meta.is_dir() {
        Some("not a directory".to_string())
    } else if meta.uid() != me && meta.uid() != 0 {
        Some(format!("owned by uid {}", meta.uid()))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "writable by others (mode {:o})",
            meta.mode() & 0o7777
        ))
    } else {
        None
    };
    match why {
        Some(why) => Err(EntryError::Untrusted {
            dir: dir.to_path_buf(),
            why,
        }),
        None => Ok(()),
    }
}

/// Every entry in the registry; unreadable or untrusted ones come back as errors naming the
/// file (or the whole dir, when it is not private).
pub fn entries(dir: &Path) -> Vec<Result<RunEntry, EntryError>> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    if let Err(e) = check_private(dir) {
        return vec![Err(e)];
    }
    let mut paths: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = fs::read(&p).map_err(|source| EntryError::Read {
                path: p.clone(),
                source,
            })?;
            let entry: RunEntry =
                serde_json::from_slice(&bytes).map_err(|source| EntryError::NotAnEntry {
                    path: p.clone(),
                    source,
                })?;
            let stem = p.file_stem().and_then(|s| s.to_str());
            if !valid_run_id(&entry.run_id) || stem != Some(entry.run_id.as_str()) {
                return Err(EntryError::IdMismatch {
                    path: p.clone(),
                    run_id: entry.run_id,
                });
            }
            Ok(entry)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_liveness() {
        let dir = tempfile::tempdir().unwrap();
        let me = RunEntry::for_this_process("r1", None, Path::new("/tmp/x"), None);
        assert!(me.owner_alive());
        register(dir.path(), &me).unwrap();
        let dead = RunEntry {
            run_id: "r2".into(),
            pid: i32::MAX,
            ..me.clone()
        };
        register(dir.path(), &dead).unwrap();
        let reused = RunEntry {
            run_id: "r3".into(),
            start_time: me.start_time.map(|t| t + 1),
            ..me.clone()
        };
        assert!(!dead.owner_alive());
        assert!(
            !reused.owner_alive(),
            "same pid, other start time: another process"
        );
        fs::write(dir.path().join("junk.json"), "{").unwrap();
        let all = entries(dir.path());
        assert_eq!(all.len(), 3);
        assert!(all[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("junk.json"));
        assert_eq!(all[1].as_ref().unwrap(), &me);
        unregister(dir.path(), "r1");
        assert_eq!(entries(dir.path()).len(), 2);
    }

    #[test]
    fn an_entry_must_be_named_after_its_run() {
        let dir = tempfile::tempdir().unwrap();
        let me = RunEntry::for_this_process("r1", None, Path::new("/tmp/x"), None);
        fs::write(
            dir.path().join("other.json"),
            serde_json::to_vec(&me).unwrap(),
        )
        .unwrap();
        let all = entries(dir.path());
        assert_eq!(all.len(), 1);
        let err = all[0].as_ref().unwrap_err().to_string();
        assert!(err.contains("other.json") && err.contains("`r1`"), "{err}");
        let bad = RunEntry {
            run_id: "../escape".into(),
            ..me
        };
        assert!(register(dir.path(), &bad).is_err());
    }

    #[test]
    fn a_registry_others_can_write_to_is_not_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let me = RunEntry::for_this_process("r1", None, Path::new("/tmp/x"), None);
        register(dir.path(), &me).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let all = entries(dir.path());
        assert_eq!(all.len(), 1, "{all:?}");
        assert!(all[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("writable by others"));
        assert!(register(dir.path(), &me).is_err());
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let all: Vec<RunEntry> = entries(dir.path())
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(all, vec![me]);
    }

    #[test]
    fn register_creates_a_private_dir() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let reg = dir.path().join("a/registry");
        let me = RunEntry::for_this_process("r1", None, Path::new("/tmp/x"), None);
        register(&reg, &me).unwrap();
        assert_eq!(
            fs::metadata(&reg).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}
