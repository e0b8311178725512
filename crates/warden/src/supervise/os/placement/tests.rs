//! The choice of placement over a stand-in tree of plain directories and files (the real
//! cgroupfs behaviour, controllers and moves, is proven in the pure-v2 VM test,
//! `crates/warden-cli/tests/vm_cgroup_v2.rs`).

use super::*;

struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new(tag: &str) -> Tree {
        let root =
            std::env::temp_dir().join(format!("warden-placement-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let t = Tree { root };
        t.cgroup("", &[], true);
        t
    }

    /// A cgroup directory with `procs` in it; `root` = the hierarchy's root (no cgroup.type).
    fn cgroup(&self, rel: &str, procs: &[i32], root: bool) -> PathBuf {
        let dir = self.root.join(rel);
        fs::create_dir_all(&dir).unwrap();
        let list: String = procs.iter().map(|p| format!("{p}\n")).collect();
        fs::write(dir.join("cgroup.procs"), list).unwrap();
        fs::write(dir.join("cgroup.subtree_control"), "").unwrap();
        fs::write(dir.join("cgroup.controllers"), "memory pids cpu").unwrap();
        if !root {
            fs::write(dir.join("cgroup.type"), "domain").unwrap();
        }
        dir
    }

    fn host(&self, own: &Path) -> Host {
        Host {
            mount: self.root.clone(),
            own: own.to_path_buf(),
            pid: 4242,
            euid: 0,
            systemd: false,
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

#[test]
fn in_the_root_cgroup_the_run_goes_right_there() {
    let t = Tree::new("root");
    let host = t.host(&t.root);
    assert_eq!(choose(&host).unwrap(), (How::Root, t.root.clone()));
}

#[test]
fn alone_in_its_cgroup_warden_takes_a_leaf_of_it() {
    let t = Tree::new("alone");
    t.cgroup("system.slice", &[], false);
    let own = t.cgroup("system.slice/run-1.scope", &[4242], false);
    assert_eq!(choose(&t.host(&own)).unwrap(), (How::OwnLeaf, own));
}

#[test]
fn a_busy_cgroup_sends_the_run_to_the_nearest_empty_ancestor() {
    let t = Tree::new("busy");
    t.cgroup("user.slice", &[], false);
    let slice = t.cgroup("user.slice/app.slice", &[], false);
    // An ancestor holding processes is skipped on the way up.
    t.cgroup("user.slice/app.slice/busy.scope", &[7], false);
    let own = t.cgroup(
        "user.slice/app.slice/busy.scope/term.scope",
        &[1, 4242],
        false,
    );
    let (how, parent) = choose(&t.host(&own)).unwrap();
    assert_eq!(how, How::Ancestor);
    assert_eq!(parent, slice);
}

#[test]
fn under_systemd_root_keeps_out_of_slices_that_were_not_delegated() {
    let t = Tree::new("systemd");
    t.cgroup("user.slice", &[], false);
    let own = t.cgroup("user.slice/session-1.scope", &[1, 4242], false);
    let mut host = t.host(&own);
    host.systemd = true;
    // No delegation mark anywhere: only the session's own cgroup (tracking only) is left.
    assert_eq!(choose(&host).unwrap(), (How::TrackingOnly, own.clone()));
    // Alone in a scope that is not delegated: not taken either.
    fs::write(own.join("cgroup.procs"), "4242\n").unwrap();
    assert_eq!(choose(&host).unwrap().0, How::TrackingOnly);
    // The root cgroup itself is fine under systemd too (a container's init, say).
    assert_eq!(choose(&t.host(&t.root)).unwrap().0, How::Root);
}
