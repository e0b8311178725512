//! Removing a directory tree within a time budget: a run's temp root may hold whatever its
//! tests wrote (one run once left 9 million entries), and removing it must never be what keeps
//! a run, its watchdog or the next run's sweep busy for minutes. What is left is said, and
//! removed later (`warden clean`, the next run's sweep) the same way.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why a removal stopped before the tree was gone.
#[derive(Debug)]
pub enum Unfinished {
    /// The budget ran out (or `stop` said so); the tree is partly removed.
    OutOfTime,
    /// Something could not be removed.
    Failed(PathBuf, io::Error),
}

impl std::fmt::Display for Unfinished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unfinished::OutOfTime => write!(f, "not finished in time"),
            Unfinished::Failed(p, e) => write!(f, "cannot remove {}: {e}", p.display()),
        }
    }
}

/// Remove `dir` and everything in it (symlinks themselves, never what they point to) before
/// `deadline`, giving up early when `stop` returns true. A missing `dir` is already removed.
pub fn remove_tree_within(
    dir: &Path,
    deadline: Instant,
    stop: &dyn Fn() -> bool,
) -> Result<(), Unfinished> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Unfinished::Failed(dir.to_path_buf(), e)),
        Ok(m) if !m.is_dir() => {
            return fs::remove_file(dir).map_err(|e| Unfinished::Failed(dir.to_path_buf(), e))
        }
        Ok(_) => {}
    }
    // Depth first without recursion: a hostile tree may be deeper than the stack.
    let mut stack = vec![dir.to_path_buf()];
    let mut checked = 0u32;
    while let Some(d) = stack.last().cloned() {
        let entries = match fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                stack.pop();
                continue;
            }
            Err(e) => return Err(Unfinished::Failed(d, e)),
        };
        let mut descended = false;
        for entry in entries {
            checked += 1;
            if checked % 256 == 0 && (Instant::now() >= deadline || stop()) {
                return Err(Unfinished::OutOfTime);
            }
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
                descended = true;
                break;
            }
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Unfinished::Failed(path, e)),
            }
        }
        if !descended {
            match fs::remove_dir(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Unfinished::Failed(d, e)),
            }
            stack.pop();
        }
        if Instant::now() >= deadline || stop() {
            return if fs::symlink_metadata(dir).is_err() {
                Ok(())
            } else {
                Err(Unfinished::OutOfTime)
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tree(root: &Path, dirs: usize, files: usize) {
        for d in 0..dirs {
            let sub = root.join(format!("d{d}/deeper"));
            fs::create_dir_all(&sub).unwrap();
            for f in 0..files {
                fs::write(sub.join(format!("f{f}")), "x").unwrap();
            }
        }
    }

    #[test]
    fn removes_a_tree_and_never_follows_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let keep = tmp.path().join("keep");
        fs::create_dir(&keep).unwrap();
        fs::write(keep.join("precious"), "x").unwrap();
        let root = tmp.path().join("root");
        tree(&root, 3, 10);
        std::os::unix::fs::symlink(&keep, root.join("d0/link")).unwrap();
        let far = Instant::now() + Duration::from_secs(60);
        remove_tree_within(&root, far, &|| false).unwrap();
        assert!(!root.exists());
        assert!(keep.join("precious").exists());
        remove_tree_within(&root, far, &|| false).unwrap();
    }

    #[test]
    fn stops_at_the_deadline_or_when_told() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        tree(&root, 4, 600);
        let past = Instant::now();
        assert!(matches!(
            remove_tree_within(&root, past, &|| false),
            Err(Unfinished::OutOfTime)
        ));
        assert!(root.exists());
        let far = Instant::now() + Duration::from_secs(60);
        assert!(matches!(
            remove_tree_within(&root, far, &|| true),
            Err(Unfinished::OutOfTime)
        ));
        remove_tree_within(&root, far, &|| false).unwrap();
        assert!(!root.exists());
    }
}
