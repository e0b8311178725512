//! Per-test cgroups on the cgroup v2 hierarchy, used for tracking (every descendant of a test,
//! whatever session or group it moved to) and for killing (`cgroup.kill`). Only the core v2
//! files are used, so a v1+v2 hybrid whose v2 tree has no controllers works as well.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::no_cgroup::NoCgroup;
use super::placement::{self, Host, Placement};

/// Set to disable cgroups (tests of the fallback, or hosts where they misbehave).
pub const DISABLE_ENV: &str = "WARDEN_NO_CGROUP";

/// The run's cgroup: `warden-<run-id>` where `placement` put it (under warden's own cgroup,
/// or where controllers can be enabled for its worker slots).
#[derive(Debug)]
pub struct CgroupRun {
    dir: PathBuf,
    placement: Placement,
}

/// One test's cgroup, with `cgroup.procs` held open so the child can join it between fork and
/// exec without allocating.
#[derive(Debug)]
pub struct TestCgroup {
    dir: PathBuf,
    procs: File,
}

impl CgroupRun {
    /// Create the run's cgroup, or say why there is none.
    pub fn create(run_id: &str) -> Result<CgroupRun, NoCgroup> {
        if std::env::var_os(DISABLE_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
            return Err(NoCgroup::Disabled(DISABLE_ENV));
        }
        let mount = v2_mount().ok_or(NoCgroup::NoV2Mount)?;
        let own = own_v2_path().ok_or(NoCgroup::OwnUnknown)?;
        let placement = placement::place(&Host::of_this_process(&mount, &own), run_id)?;
        Ok(CgroupRun {
            dir: placement.undo.run_dir.clone(),
            placement,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Undo the placement once the run is over and its cgroups are gone: warden moves back to
    /// where it was, and controllers it enabled are turned off again.
    pub fn leave(&self) {
        placement::leave(&self.placement.undo);
    }

    pub fn test(&self, name: &str) -> io::Result<TestCgroup> {
        let dir = self.dir.join(name);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let procs = OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))?;
        Ok(TestCgroup { dir, procs })
    }

    /// Kill whatever is still inside and remove the run's cgroups (after every test ended).
    pub fn remove(&self) {
        remove_tree(&self.dir);
    }
}

impl TestCgroup {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// For the child between fork and exec: `write(fd, "0")` moves the writer into the cgroup.
    pub fn procs_fd(&self) -> RawFd {
        self.procs.as_raw_fd()
    }

    /// Processes in the cgroup and in any cgroup a test made below it (a process may move
    /// itself there); zombies are not listed by the kernel.
    pub fn pids(&self) -> Vec<i32> {
        // `populated` covers the cgroups below too: when it says empty (every test that left
        // nothing behind), one read answers.
        if !populated(&self.dir) {
            return Vec::new();
        }
        read_pids_below(&self.dir)
    }

    pub fn populated(&self) -> bool {
        populated(&self.dir)
    }

    pub fn signal(&self, sig: Signal) {
        for pid in self.pids() {
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }

    /// SIGKILL everything inside, atomically where the kernel has `cgroup.kill` (5.14+).
    pub fn kill(&self) {
        if fs::write(self.dir.join("cgroup.kill"), "1").is_err() {
            self.signal(Signal::SIGKILL);
        }
    }

    /// Freeze (or thaw) everything inside through the v2 freezer, which needs no controller.
    /// Frozen processes cannot run, not even a signal handler, but SIGKILL still ends them.
    pub fn freeze(&self, on: bool) -> io::Result<()> {
        fs::write(self.dir.join("cgroup.freeze"), if on { "1" } else { "0" })
    }

    /// Remove the (empty) cgroup.
    pub fn remove(self) -> io::Result<()> {
        drop(self.procs);
        fs::remove_dir(&self.dir)
    }
}

/// `cgroup.procs` of `dir` and of every cgroup below it.
fn read_pids_below(dir: &Path) -> Vec<i32> {
    let mut pids = read_pids(dir);
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                pids.extend(read_pids_below(&e.path()));
            }
        }
    }
    pids
}

fn read_pids(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

fn populated(dir: &Path) -> bool {
    match fs::read_to_string(dir.join("cgroup.events")) {
        Ok(s) => s.lines().any(|l| l.trim() == "populated 1"),
        Err(_) => !read_pids(dir).is_empty(),
    }
}

/// Kill everything in `dir` and its sub-cgroups, then remove them, deepest first. Used at the
/// end of a run and by the watchdog and `warden clean` for runs whose warden died. The cgroup
/// holding the calling process (warden's own leaf in the run directory, where it moved itself,
/// and its watchdog's) and those above it are left alone: `placement::leave` removes them.
pub fn remove_tree(dir: &Path) {
    let own = v2_mount()
        .zip(own_v2_path())
        .map(|(m, p)| m.join(p.trim_start_matches('/')));
    remove_tree_except(dir, own.as_deref());
}

fn remove_tree_except(dir: &Path, own: Option<&Path>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree_except(&e.path(), own);
        }
    }
    if own.is_some_and(|own| own.starts_with(dir)) {
        return;
    }
    if populated(dir) {
        if fs::write(dir.join("cgroup.kill"), "1").is_err() {
            for pid in read_pids_below(dir) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        for _ in 0..100 {
            if !populated(dir) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    let _ = fs::remove_dir(dir);
}

/// Mount point of the cgroup2 hierarchy, from `/proc/self/mountinfo`.
pub fn v2_mount() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        // `id parent major:minor root mountpoint options... - fstype source superoptions`
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        left.split_whitespace()
            .nth(4)
            .map(|m| PathBuf::from(unescape_mountinfo(m)))
    })
}

/// This process's path in the v2 hierarchy (`0::/path` in `/proc/self/cgroup`).
pub fn own_v2_path() -> Option<String> {
    let s = fs::read_to_string("/proc/self/cgroup").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
pub(crate) fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mount_points() {
        assert_eq!(
            unescape_mountinfo(r"/sys/fs/cgroup/a\040b"),
            "/sys/fs/cgroup/a b"
        );
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }

    /// On hosts with a writable cgroup2 tree (this project's CI machines), a process moved into
    /// a test cgroup is listed, killed by `cgroup.kill`, and the cgroup removed.
    #[test]
    fn tracks_and_kills_a_process() {
        let run = match CgroupRun::create(&format!("unit-{}", std::process::id())) {
            Ok(r) => r,
            Err(why) => {
                crate::supervise::os::require::skip_without_cgroups(format_args!(
                    "no cgroup: {why}"
                ));
                return;
            }
        };
        let cg = run.test("t1").unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        fs::write(cg.dir().join("cgroup.procs"), child.id().to_string()).unwrap();
        assert_eq!(cg.pids(), vec![child.id() as i32]);
        assert!(cg.populated());
        // A process that moved itself into a cgroup below the test's is still the test's.
        let below = cg.dir().join("escape");
        fs::create_dir(&below).unwrap();
        fs::write(below.join("cgroup.procs"), child.id().to_string()).unwrap();
        assert_eq!(cg.pids(), vec![child.id() as i32]);
        assert!(cg.populated());
        cg.kill();
        child.wait().unwrap();
        assert!(!cg.populated());
        fs::remove_dir(&below).unwrap();
        cg.remove().unwrap();
        run.remove();
        assert!(!run.dir().exists());
    }
}
