//! A run's directory under the state dir: `<state-dir>/runs/<run-id>/` with the full output logs.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use thiserror::Error;

use crate::clock;

#[derive(Debug, Error)]
pub enum StateError {
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct RunDir {
    pub run_id: String,
    pub dir: PathBuf,
    pub logs: PathBuf,
}

/// A new run id: UTC start time (sortable) plus a few hex digits so two runs started in the
/// same second never collide.
pub fn new_run_id() -> String {
    let now = SystemTime::now();
    let nanos = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mix = (u64::from(nanos) ^ (u64::from(std::process::id()) << 20))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{}-{:06x}", clock::compact_utc(now), mix >> 40)
}

impl RunDir {
    pub fn create(state_dir: &Path, run_id: &str) -> Result<RunDir, StateError> {
        let dir = state_dir.join("runs").join(run_id);
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|source| StateError::Create {
            path: logs.clone(),
            source,
        })?;
        Ok(RunDir {
            run_id: run_id.to_string(),
            dir,
            logs,
        })
    }

    /// The log file of one attempt of a test. Test ids become flat, readable file names.
    pub fn log_path(&self, test_id: &str, attempt: u32) -> PathBuf {
        let mut name = test_slug(test_id);
        if attempt > 1 {
            name.push_str(&format!(".attempt{attempt}"));
        }
        name.push_str(".log");
        self.logs.join(name)
    }
}

/// A test id as one flat, readable file name (`test/unit/a_test.sh` → `test__unit__a_test.sh`):
/// its log file and its coverage directory are named after it.
pub fn test_slug(test_id: &str) -> String {
    let name: String = test_id
        .replace("../", "up__")
        .replace('/', "__")
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    // A file name holds 255 bytes; a long case name keeps its head and a hash of the whole
    // id, so that two long ids never share a log.
    const KEEP: usize = 180;
    if name.len() <= KEEP {
        return name;
    }
    let mut cut = KEEP;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let hash = crate::select::stable_hash(test_id);
    format!("{}~{hash:016x}", &name[..cut])
}

/// Remove all but the newest `keep` run directories (run ids sort by time).
pub fn prune_runs(state_dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(state_dir.join("runs")) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let excess = dirs.len().saturating_sub(keep);
    for d in dirs.into_iter().take(excess) {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names_are_flat_and_distinct() {
        let tmp = tempfile::tempdir().unwrap();
        let rd = RunDir::create(tmp.path(), "r1").unwrap();
        assert!(rd.logs.is_dir());
        let a = rd.log_path("test/unit/a b_test.sh", 1);
        assert_eq!(a.file_name().unwrap(), "test__unit__a b_test.sh.log");
        assert_eq!(a.parent().unwrap(), rd.logs);
        let up = rd.log_path("../x/y_test.sh", 2);
        assert_eq!(up.file_name().unwrap(), "up__x__y_test.sh.attempt2.log");
        let long = |tail: &str| format!("t/a_test.py {}{tail}", "é".repeat(150));
        let (x, y) = (rd.log_path(&long("x"), 3), rd.log_path(&long("y"), 3));
        let name = x.file_name().unwrap().to_str().unwrap();
        assert!(
            name.len() < 255 && name.ends_with(".attempt3.log"),
            "{name}"
        );
        assert_ne!(x, y, "long ids that differ at the end keep distinct logs");
    }

    #[test]
    fn run_ids_differ_and_sort_by_time() {
        let a = new_run_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_run_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), "20261126T091500Z-abcdef".len());
    }

    #[test]
    fn prune_keeps_newest() {
        let tmp = tempfile::tempdir().unwrap();
        for id in [
            "20200101T000000Z-1",
            "20210101T000000Z-1",
            "20220101T000000Z-1",
        ] {
            RunDir::create(tmp.path(), id).unwrap();
        }
        prune_runs(tmp.path(), 2);
        let mut left: Vec<_> = std::fs::read_dir(tmp.path().join("runs"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["20210101T000000Z-1", "20220101T000000Z-1"]);
    }
}
