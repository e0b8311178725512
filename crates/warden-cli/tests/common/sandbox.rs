//! Temporary project directories holding copies of fixtures, so that no run ever writes into
//! the repository (state dirs, reports, logs all land in the copy).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The repository root (this crate lives in `crates/warden-cli`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A temporary directory used as the working directory of warden; removed when dropped.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("warden-itest-")
            .tempdir()
            .expect("create a temporary directory");
        Sandbox { dir }
    }

    /// A sandbox holding a copy of `fixtures/<name>` as `<sandbox>/<name>`.
    pub fn with_fixture(name: &str) -> Sandbox {
        Sandbox::with_repo_dir(&format!("fixtures/{name}"))
    }

    /// A sandbox holding a copy of the repository directory `rel` under its last component,
    /// e.g. `examples` as `<sandbox>/examples`.
    pub fn with_repo_dir(rel: &str) -> Sandbox {
        let sandbox = Sandbox::new();
        let src = repo_root().join(rel);
        let name = Path::new(rel).file_name().expect("a directory name");
        copy_tree(&src, &sandbox.path().join(name));
        sandbox
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating its parent directories) and returns its path.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.path().join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Writes a file with mode 0755.
    pub fn write_executable(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.write(rel, contents);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod +x");
        path
    }

    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let path = self.path().join(rel);
        fs::create_dir_all(&path).expect("create directory");
        path
    }

    pub fn read(&self, rel: &str) -> Result<String, String> {
        let path = self.path().join(rel);
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    }
}

/// Copies a directory tree; `fs::copy` keeps permission bits, so executables stay executable.
pub fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap_or_else(|e| panic!("create {}: {e}", dst.display()));
    let entries = fs::read_dir(src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
    for entry in entries {
        let entry = entry.expect("directory entry");
        let kind = entry.file_type().expect("file type");
        let to = dst.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &to);
        } else if kind.is_symlink() {
            let target = fs::read_link(entry.path()).expect("read symlink");
            std::os::unix::fs::symlink(target, &to).expect("copy symlink");
        } else {
            fs::copy(entry.path(), &to)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}
