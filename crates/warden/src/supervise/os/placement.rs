//! Where a run's cgroups go on the v2 hierarchy, so that the memory, pids and cpu controllers
//! can be enabled for its worker slots — the way container engines place their containers.
//!
//! cgroup v2's no-internal-process rule: a cgroup that enables controllers for its children
//! (`cgroup.subtree_control`) may hold no processes itself (the root cgroup excepted). warden's
//! own cgroup usually holds other processes (the shell of an SSH session, a terminal), so the
//! run's directory goes where controllers can be enabled:
//!
//! 1. warden is in the root cgroup (a VM, CI, a host's init): right there.
//! 2. warden is alone in its cgroup (a delegated scope `systemd-run --scope -p Delegate=yes`
//!    made for it, a container whose command it is): it moves itself into a leaf of the run
//!    directory, `<cgroup>/warden-<run>/warden`, so its cgroup holds no process and can enable
//!    controllers. At the end it moves back and removes the leaf (`leave`).
//! 3. else the nearest ancestor that warden may write and that holds no process of its own
//!    (a delegated `app.slice` above a desktop terminal's scope). Moving a test there needs
//!    write access to the common ancestor's `cgroup.procs`: checked here, not found out late.
//! 4. else warden's own cgroup, for tracking and `cgroup.kill` only (no controllers).
//!
//! Under systemd, a cgroup is only ours to write when systemd delegated it: marked with the
//! `trusted.delegate`/`user.delegate` xattr (systemd 251+), or, for a normal user, owned by
//! them (systemd chowns only delegated cgroups to a user). Root never writes into systemd's
//! own slices behind its back; it asks for a scope instead (warden-cli's `systemd_scope`).
//!
//! Controllers are then enabled on the path from the top down to the run directory's parent,
//! where missing and allowed; what warden enabled is recorded so that it can be turned off
//! again when the run ends (by warden, or by its watchdog if warden was killed).

use std::fs;
use std::path::{Path, PathBuf};

use nix::unistd::{access, AccessFlags};
use serde::{Deserialize, Serialize};

use super::no_cgroup::NoCgroup;

/// The controllers a run's worker slots get, when the host has them.
pub const WANTED: [&str; 3] = ["memory", "pids", "cpu"];

/// Name of the leaf warden moves itself into (case 2), inside the run directory.
pub const SELF_LEAF: &str = "warden";

/// How the run's cgroup was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum How {
    /// warden is in the root cgroup: the run directory is a child of it.
    Root,
    /// warden was alone in its cgroup and moved itself into a leaf of the run directory.
    OwnLeaf,
    /// Under the nearest ancestor that warden may write and that holds no processes.
    Ancestor,
    /// Under warden's own cgroup, which holds other processes: tracking only.
    TrackingOnly,
}

/// What `leave` (or the watchdog, after a SIGKILL of warden) needs to undo the placement:
/// carried in the run's registry entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undo {
    pub run_dir: PathBuf,
    /// Where warden was before it moved itself into the leaf (case 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<PathBuf>,
    /// `(cgroup, controller)` warden enabled in `cgroup.subtree_control`, top first.
    #[serde(default)]
    pub enabled: Vec<(PathBuf, String)>,
}

#[derive(Debug)]
pub struct Placement {
    pub how: How,
    /// The parent of the run directory.
    pub parent: PathBuf,
    pub undo: Undo,
}

/// Facts about this process and host that decide what it may write.
#[derive(Debug, Clone)]
pub struct Host {
    pub mount: PathBuf,
    /// warden's own cgroup, as a directory under `mount`.
    pub own: PathBuf,
    pub pid: u32,
    pub euid: u32,
    /// systemd manages the cgroup tree (`/run/systemd/system` exists).
    pub systemd: bool,
}

impl Host {
    /// This process on this host's cgroup2 hierarchy, if one is mounted.
    pub fn this_process() -> Option<Host> {
        let mount = super::cgroup::v2_mount()?;
        let own = super::cgroup::own_v2_path()?;
        Some(Host::of_this_process(&mount, &own))
    }

    pub fn of_this_process(mount: &Path, own_rel: &str) -> Host {
        Host {
            mount: mount.to_path_buf(),
            own: match own_rel.trim_matches('/') {
                "" => mount.to_path_buf(),
                rel => mount.join(rel),
            },
            pid: std::process::id(),
            euid: nix::unistd::geteuid().as_raw(),
            systemd: Path::new("/run/systemd/system").is_dir(),
        }
    }
}

/// Choose where the run's cgroup goes, create `<parent>/warden-<run_id>`, move warden into its
/// leaf if that is the placement, and enable the wanted controllers down to the parent.
pub fn place(host: &Host, run_id: &str) -> Result<Placement, NoCgroup> {
    let (how, parent) = choose(host)?;
    let run_dir = parent.join(format!("warden-{run_id}"));
    fs::create_dir(&run_dir).map_err(|source| NoCgroup::Io {
        action: "create",
        path: run_dir.clone(),
        source,
    })?;
    let mut undo = Undo {
        run_dir: run_dir.clone(),
        ..Undo::default()
    };
    if how == How::OwnLeaf {
        let leaf = run_dir.join(SELF_LEAF);
        let moved = fs::create_dir(&leaf).and_then(|()| fs::write(leaf.join("cgroup.procs"), "0"));
        if let Err(source) = moved {
            let _ = fs::remove_dir(&leaf);
            let _ = fs::remove_dir(&run_dir);
            return Err(NoCgroup::Io {
                action: "move warden into",
                path: leaf.join("cgroup.procs"),
                source,
            });
        }
        undo.home = Some(host.own.clone());
    }
    if how != How::TrackingOnly {
        undo.enabled = enable_path(&host.mount, &parent, &WANTED);
    }
    Ok(Placement { how, parent, undo })
}

/// The placement for this host, without changing anything.
pub fn choose(host: &Host) -> Result<(How, PathBuf), NoCgroup> {
    let own = &host.own;
    if is_root_cgroup(own) {
        return if writable(own) {
            Ok((How::Root, own.clone()))
        } else {
            Err(NoCgroup::RootNotWritable(own.clone()))
        };
    }
    let ours = |dir: &Path| writable(dir) && managed_by_us(host, dir);
    if ours(own) && procs(own) == [host.pid as i32] {
        return Ok((How::OwnLeaf, own.clone()));
    }
    for dir in own.ancestors().skip(1) {
        if !dir.starts_with(&host.mount) {
            break;
        }
        if ours(dir) && (is_root_cgroup(dir) || procs(dir).is_empty()) {
            return Ok((How::Ancestor, dir.to_path_buf()));
        }
    }
    if writable(own) {
        return Ok((How::TrackingOnly, own.clone()));
    }
    Err(NoCgroup::NotDelegated {
        own: own.clone(),
        systemd: host.systemd,
    })
}

/// Turn on `controllers` for the children of every cgroup from the top of the hierarchy down to
/// `to`, where they are not on yet. A controller stops at the first cgroup that does not have
/// it or will not enable it (no permission, or it holds processes). Returns what was enabled.
pub fn enable_path(mount: &Path, to: &Path, controllers: &[&str]) -> Vec<(PathBuf, String)> {
    let mut path: Vec<&Path> = to
        .ancestors()
        .take_while(|d| d.starts_with(mount))
        .collect();
    path.reverse();
    let mut enabled = Vec::new();
    for c in controllers {
        for dir in &path {
            if has_word(&dir.join("cgroup.subtree_control"), c) {
                continue;
            }
            if !has_word(&dir.join("cgroup.controllers"), c)
                || fs::write(dir.join("cgroup.subtree_control"), format!("+{c}")).is_err()
            {
                break;
            }
            enabled.push((dir.to_path_buf(), c.to_string()));
        }
    }
    enabled
}

/// Undo a placement once nothing of the run is left in it but the calling process (warden at
/// the end of a run, or its watchdog after warden died): turn off what was enabled, move back
/// home, remove the leaf and the run directory. Best effort: each step that fails is skipped.
pub fn leave(undo: &Undo) {
    if let Some(home) = &undo.home {
        // The run directory's own controllers first: a parent cannot drop a controller that
        // a child still enables for its children.
        let sub = undo.run_dir.join("cgroup.subtree_control");
        for c in read_words(&sub) {
            let _ = fs::write(&sub, format!("-{c}"));
        }
        for (dir, c) in undo.enabled.iter().rev() {
            let _ = fs::write(dir.join("cgroup.subtree_control"), format!("-{c}"));
        }
        let _ = fs::write(home.join("cgroup.procs"), "0");
        let _ = fs::remove_dir(undo.run_dir.join(SELF_LEAF));
        let _ = fs::remove_dir(&undo.run_dir);
    } else {
        let _ = fs::remove_dir(&undo.run_dir);
        for (dir, c) in undo.enabled.iter().rev() {
            let _ = fs::write(dir.join("cgroup.subtree_control"), format!("-{c}"));
        }
    }
}

/// The root cgroup has no `cgroup.type` (a cgroup namespace's root does).
fn is_root_cgroup(dir: &Path) -> bool {
    dir.join("cgroup.procs").is_file() && !dir.join("cgroup.type").exists()
}

/// warden can create children here, move processes through it and enable controllers.
fn writable(dir: &Path) -> bool {
    let w = |p: &Path| access(p, AccessFlags::W_OK).is_ok();
    w(dir) && w(&dir.join("cgroup.procs")) && w(&dir.join("cgroup.subtree_control"))
}

/// Without systemd, whatever warden may write is its to use. Under systemd, only what systemd
/// delegated to warden's user.
fn managed_by_us(host: &Host, dir: &Path) -> bool {
    if !host.systemd || host.euid != 0 {
        // A normal user can only write a cgroup that was chowned to it: under systemd, that
        // is delegation.
        return true;
    }
    use std::os::unix::fs::MetadataExt;
    dir.ancestors()
        .take_while(|d| d.starts_with(&host.mount) && *d != host.mount)
        .any(|d| has_delegate_xattr(d) && fs::metadata(d).is_ok_and(|m| m.uid() == host.euid))
}

#[cfg(not(target_os = "linux"))]
fn has_delegate_xattr(_: &Path) -> bool {
    false
}

#[cfg(target_os = "linux")]
fn has_delegate_xattr(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    ["trusted.delegate", "user.delegate"].iter().any(|name| {
        let name = std::ffi::CString::new(*name).expect("no NUL");
        let mut value = [0u8; 8];
        // SAFETY: both strings are NUL-terminated and `value` is a writable buffer of that size.
        let n = unsafe {
            libc::getxattr(
                path.as_ptr(),
                name.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        n > 0 && value[0] == b'1'
    })
}

fn procs(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

fn read_words(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn has_word(path: &Path, word: &str) -> bool {
    read_words(path).iter().any(|w| w == word)
}

/// Whether the v2 hierarchy offers `controller` at its top: the host has it, wherever warden
/// may be allowed to use it.
pub fn host_offers(mount: &Path, controller: &str) -> bool {
    has_word(&mount.join("cgroup.controllers"), controller)
}

/// For messages: what a placement means.
pub fn describe(how: &How) -> &'static str {
    match how {
        How::Root => "in the root cgroup",
        How::OwnLeaf => "warden moved into a leaf of its own cgroup",
        How::Ancestor => "under the nearest cgroup above warden's that it may write",
        How::TrackingOnly => {
            "under warden's own cgroup, which holds other processes: tracking only"
        }
    }
}

#[cfg(test)]
mod tests;
