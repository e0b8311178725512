//! Running warden as a normal (unprivileged) user, as most users do: on a machine where the
//! tests run as root, a dedicated user is created once (`useradd`) and warden is started with
//! its uid and gid; where the tests already run as a normal user, that user is used as is.

use std::fs::{self, File};
use std::os::unix::fs::{chown, MetadataExt};
use std::path::Path;
use std::process::Command;

/// The account created for these tests when they run as root.
pub const TEST_USER_NAME: &str = "warden-itest";

/// A normal user to run warden as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Whether starting warden as this user needs a uid/gid switch (the tests run as root).
    pub switch: bool,
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The normal user to run warden as: `warden-itest` (created on first use, under a lock so
/// that test binaries running at once do not race `useradd`) when the tests run as root, else
/// the current user.
pub fn normal_user() -> Result<TestUser, String> {
    if !is_root() {
        // SAFETY: getuid/getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let name = std::env::var("USER").unwrap_or_else(|_| uid.to_string());
        return Ok(TestUser {
            name,
            uid,
            gid,
            switch: false,
        });
    }
    let lock_path = std::env::temp_dir().join("warden-itest-useradd.lock");
    let lock = File::create(&lock_path)
        .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
    // SAFETY: flock on an fd we own; released when `lock` is dropped.
    unsafe {
        libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX);
    }
    if lookup(TEST_USER_NAME).is_none() {
        let out = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "--user-group",
                TEST_USER_NAME,
            ])
            .output()
            .map_err(|e| format!("cannot run useradd: {e}"))?;
        if !out.status.success() && lookup(TEST_USER_NAME).is_none() {
            return Err(format!(
                "useradd {TEST_USER_NAME} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    let (uid, gid) =
        lookup(TEST_USER_NAME).ok_or_else(|| format!("user {TEST_USER_NAME} not found"))?;
    Ok(TestUser {
        name: TEST_USER_NAME.to_string(),
        uid,
        gid,
        switch: true,
    })
}

/// `(uid, gid)` of `name` from `/etc/passwd`.
fn lookup(name: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != name {
            return None;
        }
        let _pw = f.next()?;
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })
}

impl TestUser {
    /// Give `path` and everything under it to this user (a sandbox warden will write into).
    /// Symlinks themselves are changed, never what they point to.
    pub fn own_tree(&self, path: &Path) {
        if !self.switch {
            return;
        }
        let Ok(meta) = fs::symlink_metadata(path) else {
            return;
        };
        if meta.file_type().is_symlink() {
            let _ = std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid));
            return;
        }
        if meta.uid() != self.uid || meta.gid() != self.gid {
            chown(path, Some(self.uid), Some(self.gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
        if meta.is_dir() {
            for entry in fs::read_dir(path).into_iter().flatten().flatten() {
                self.own_tree(&entry.path());
            }
        }
    }
}
