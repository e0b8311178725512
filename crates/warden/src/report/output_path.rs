//! Writing a file the user named: `--json`, `--junit`, `--html`, `warden merge -o`, `warden
//! history export`. Every writer of a user-named path goes through [`UserPath`], because such a
//! path may be a device (`/dev/null`, `/dev/stdout`), a FIFO (`mkfifo`, `>(jq .)`), or a symlink
//! into a CI artifact dir, and none of them may be destroyed:
//!
//! - a regular file (or a path that does not exist yet) is replaced atomically by
//!   [`UserPath::write_atomic`] (a temporary file in the same directory, then a rename), so a
//!   reader never sees half a report and the output may be one of the inputs;
//! - a symlink is followed: its target is written (atomically when the target is a regular
//!   file), and the link stays a link;
//! - a device or FIFO is opened and written through, never truncated, renamed over or removed;
//! - a directory, or a parent that cannot be created, is an error naming the option and path.
//!
//! Streaming writers (the JSON lines report) use [`UserPath::open_stream`] instead: same rules,
//! but the file is opened once and written as events happen. [`UserPath::check`] validates a
//! path before a run starts, so a bad report path is a usage error, not a lost run.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// A path the user named for output, with the option that named it (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPath {
    /// `--junit`, `--json`, `--html`, `-o`, `history export`.
    pub option: String,
    pub path: PathBuf,
}

/// A user-named output path that cannot be written; the message names the option and path.
#[derive(Debug, Error)]
#[error("{option} {}: {what}", .path.display())]
pub struct OutputPathError {
    pub option: String,
    pub path: PathBuf,
    pub what: String,
}

/// What is at a path now (symlinks followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// Nothing yet (or a dangling symlink): created as a regular file.
    Missing,
    Regular,
    /// A character or block device, a FIFO or a socket: written through, never replaced.
    Special,
    Directory,
}

impl UserPath {
    pub fn new(option: impl Into<String>, path: impl Into<PathBuf>) -> UserPath {
        UserPath {
            option: option.into(),
            path: path.into(),
        }
    }

    fn error(&self, what: impl std::fmt::Display) -> OutputPathError {
        OutputPathError {
            option: self.option.clone(),
            path: self.path.clone(),
            what: what.to_string(),
        }
    }

    /// What the path is now, following symlinks.
    pub fn kind(&self) -> PathKind {
        match fs::metadata(&self.path) {
            Err(_) => PathKind::Missing,
            Ok(m) if m.is_dir() => PathKind::Directory,
            Ok(m) if m.is_file() => PathKind::Regular,
            Ok(m) => {
                let t = m.file_type();
                debug_assert!(
                    t.is_char_device() || t.is_block_device() || t.is_fifo() || t.is_socket()
                );
                PathKind::Special
            }
        }
    }

    /// The file that is really written: the final target of a symlink chain (which may not
    /// exist yet), else the path itself.
    pub fn target(&self) -> PathBuf {
        let mut path = self.path.clone();
        // A loop of links ends here too: the open then fails with ELOOP, naming the path.
        for _ in 0..40 {
            match fs::read_link(&path) {
                Ok(to) => {
                    path = match path.parent() {
                        Some(dir) if to.is_relative() => dir.join(to),
                        _ => to,
                    }
                }
                Err(_) => break,
            }
        }
        path
    }

    /// Ready to be written: not a directory, and its directory exists or can be created
    /// (CI artifact dirs often do not exist yet). Creates the missing directories.
    pub fn check(&self) -> Result<PathKind, OutputPathError> {
        let kind = self.kind();
        match kind {
            PathKind::Directory => Err(self.error("is a directory")),
            PathKind::Special => Ok(kind),
            PathKind::Regular | PathKind::Missing => {
                let target = self.target();
                if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
                    fs::create_dir_all(dir).map_err(|e| {
                        self.error(format!("cannot create directory {}: {e}", dir.display()))
                    })?;
                }
                if kind == PathKind::Regular {
                    // Permission to replace it is checked when it is written; an unwritable
                    // file fails now rather than after the run.
                    OpenOptions::new()
                        .append(true)
                        .open(&self.path)
                        .map_err(|e| self.error(format!("cannot write: {e}")))?;
                }
                Ok(kind)
            }
        }
    }

    /// Opened for writing as events happen: a regular file is created or truncated; a device
    /// or FIFO is opened as it is (never truncated); a symlink writes its target.
    pub fn open_stream(&self) -> Result<File, OutputPathError> {
        let kind = self.check()?;
        let mut opts = OpenOptions::new();
        opts.write(true);
        if kind != PathKind::Special {
            opts.create(true).truncate(true);
        }
        opts.open(&self.path)
            .map_err(|e| self.error(format!("cannot open: {e}")))
    }

    /// The whole content at once. Regular files (and new ones) are replaced atomically through
    /// a temporary file beside the symlink's final target; devices and FIFOs are written
    /// through.
    pub fn write_atomic(&self, bytes: &[u8]) -> Result<(), OutputPathError> {
        if self.check()? == PathKind::Special {
            let mut f = OpenOptions::new()
                .write(true)
                .open(&self.path)
                .map_err(|e| self.error(format!("cannot open: {e}")))?;
            return f
                .write_all(bytes)
                .and_then(|()| f.flush())
                .map_err(|e| self.error(format!("cannot write: {e}")));
        }
        let target = self.target();
        let mut tmp = target.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let written = write_new(&tmp, bytes, &target).and_then(|()| fs::rename(&tmp, &target));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.map_err(|e| self.error(format!("cannot write: {e}")))
    }

    /// Whether this path and `other` are the same file (or would be, once created).
    pub fn same_file(&self, other: &UserPath) -> bool {
        same_file(&self.path, &other.path)
    }
}

/// Writes `bytes` to a new file at `tmp`, with the permissions of `like` when it exists.
fn write_new(tmp: &Path, bytes: &[u8], like: &Path) -> io::Result<()> {
    let mut f = File::create(tmp)?;
    f.write_all(bytes)?;
    f.flush()?;
    if let Ok(m) = fs::metadata(like) {
        let _ = fs::set_permissions(tmp, m.permissions());
    }
    Ok(())
}

/// Whether two paths name the same file: the same inode when both exist, else the same
/// resolved absolute path (symlinks followed as far as they exist).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(ma), Ok(mb)) = (fs::metadata(a), fs::metadata(b)) {
        return ma.dev() == mb.dev() && ma.ino() == mb.ino();
    }
    resolved(a) == resolved(b)
}

/// The absolute path with its existing directory part canonicalized.
fn resolved(p: &Path) -> PathBuf {
    let abs = match std::path::absolute(p) {
        Ok(a) => a,
        Err(_) => return p.to_path_buf(),
    };
    match (abs.parent(), abs.file_name()) {
        (Some(dir), Some(name)) => fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or(abs.clone()),
        _ => abs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn a_regular_file_is_replaced_whole_and_new_dirs_are_made() {
        let dir = tempfile::tempdir().unwrap();
        let p = UserPath::new("-o", dir.path().join("a/b/out.xml"));
        p.write_atomic(b"one").unwrap();
        p.write_atomic(b"two").unwrap();
        assert_eq!(fs::read(&p.path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path().join("a/b")).unwrap().count(), 1);
    }

    #[test]
    fn a_symlink_stays_a_symlink_and_its_target_is_written() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("real.json"), "old").unwrap();
        symlink("real.json", dir.path().join("link.json")).unwrap();
        let p = UserPath::new("--json", dir.path().join("link.json"));
        p.write_atomic(b"new").unwrap();
        assert!(fs::symlink_metadata(&p.path)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(dir.path().join("real.json")).unwrap(), b"new");
        // A dangling link creates its target.
        symlink("later.json", dir.path().join("dangling.json")).unwrap();
        UserPath::new("--json", dir.path().join("dangling.json"))
            .write_atomic(b"x")
            .unwrap();
        assert_eq!(fs::read(dir.path().join("later.json")).unwrap(), b"x");
        let mut s = UserPath::new("--json", dir.path().join("link.json"))
            .open_stream()
            .unwrap();
        s.write_all(b"streamed").unwrap();
        assert_eq!(fs::read(dir.path().join("real.json")).unwrap(), b"streamed");
    }

    #[test]
    fn a_fifo_is_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        mkfifo(&fifo);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        UserPath::new("-o", &fifo).write_atomic(b"through").unwrap();
        assert_eq!(reader.join().unwrap(), b"through");
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn dev_null_is_never_replaced() {
        let p = UserPath::new("-o", "/dev/null");
        p.write_atomic(b"gone").unwrap();
        p.open_stream().unwrap().write_all(b"gone").unwrap();
        assert!(fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
    }

    #[test]
    fn errors_name_the_option_and_the_path() {
        let err = UserPath::new("--junit", "/proc/nope/j.xml")
            .check()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--junit /proc/nope/j.xml: cannot create directory /proc/nope"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = UserPath::new("--json", dir.path())
            .check()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--json") && err.ends_with("is a directory"),
            "{err}"
        );
    }

    #[test]
    fn same_file_sees_through_links_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), "").unwrap();
        symlink("a", dir.path().join("l")).unwrap();
        assert!(same_file(&dir.path().join("a"), &dir.path().join("l")));
        assert!(same_file(
            &dir.path().join("new"),
            &dir.path().join(".").join("new")
        ));
        assert!(!same_file(&dir.path().join("a"), &dir.path().join("b")));
    }
}
