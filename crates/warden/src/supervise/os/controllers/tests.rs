use std::os::unix::process::CommandExt;

use super::*;

const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids\\040x rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

const PROC_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
4:memory:/process_api/8f8d
2:cpu,cpuacct:/a/b
0::/
";

#[test]
fn finds_v1_hierarchies_and_own_paths() {
    assert_eq!(
        v1_mount(MOUNTINFO, "memory"),
        Some(PathBuf::from("/sys/fs/cgroup/memory"))
    );
    assert_eq!(
        v1_mount(MOUNTINFO, "cpuacct"),
        Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"))
    );
    assert_eq!(
        v1_mount(MOUNTINFO, "pids"),
        Some(PathBuf::from("/sys/fs/cgroup/pids x"))
    );
    // The v2 mount and named hierarchies are not controllers.
    assert_eq!(v1_mount(MOUNTINFO, "hugetlb"), None);
    assert_eq!(
        v1_mount(MOUNTINFO, "rw"),
        Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"))
    );
    assert_eq!(
        v1_own_path(PROC_CGROUP, "memory").as_deref(),
        Some("/process_api/8f8d")
    );
    assert_eq!(v1_own_path(PROC_CGROUP, "cpuacct").as_deref(), Some("/a/b"));
    assert_eq!(v1_own_path(PROC_CGROUP, "pids").as_deref(), Some("/"));
    assert_eq!(v1_own_path(PROC_CGROUP, "blkio"), None);
}

#[test]
fn keyed_files() {
    let events = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
    assert_eq!(parse_keyed(events, "oom_kill"), Some(2));
    assert_eq!(parse_keyed(events, "oom"), Some(3));
    assert_eq!(parse_keyed(events, "missing"), None);
    let control = "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n";
    assert_eq!(parse_keyed(control, "oom_kill"), Some(5));
}

/// Whether this host offers a memory controller to this process at all, found independently
/// of the code under test.
fn host_has(controller: &str) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let v1 = v1_mount(&info, controller).is_some() && v1_own_path(&own, controller).is_some();
    let v2 = super::super::cgroup::v2_mount()
        .and_then(|m| fs::read_to_string(m.join("cgroup.controllers")).ok())
        .is_some_and(|c| c.split_whitespace().any(|x| x == controller));
    v1 || v2
}

struct Runs {
    v2: Option<CgroupRun>,
    ctl: ControllerRun,
}

impl Runs {
    fn new(tag: &str) -> Runs {
        let id = format!("unit-{tag}-{}", std::process::id());
        let v2 = CgroupRun::create(&id).ok();
        let ctl = ControllerRun::create(&id, v2.as_ref());
        Runs { v2, ctl }
    }
}

impl Drop for Runs {
    fn drop(&mut self) {
        self.ctl.remove();
        if let Some(v2) = &self.v2 {
            v2.remove();
        }
    }
}

/// Run `sh -c script` inside the slot's cgroups; its exit status.
fn run_in(
    slot: &ControllerSlot,
    v2: Option<&TestCgroup>,
    script: &str,
) -> std::process::ExitStatus {
    let mut fds = slot.join_fds();
    fds.extend(v2.map(|t| t.procs_fd()));
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", script]);
    // SAFETY: only write(2) on fds opened before the fork.
    unsafe {
        cmd.pre_exec(move || {
            for fd in &fds {
                if libc::write(*fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.status().unwrap()
}

const ALLOC: &str = "python3 -c 'import sys; b = bytearray(b\"x\") * (int(sys.argv[1]) << 20)'";

#[test]
fn memory_cap_kills_and_peak_is_measured_per_test() {
    if !host_has("memory") {
        crate::supervise::os::require::skip_without_cgroups(
            "this host offers no memory controller to this process",
        );
        return;
    }
    let runs = Runs::new("mem");
    assert!(runs.ctl.memory().is_some(), "{:?}", runs.ctl.notes());
    let v2 = runs.v2.as_ref().map(|r| r.test("w0").unwrap());
    let slot = runs.ctl.slot("w0", v2.as_ref()).unwrap();
    assert!(slot.limits_memory());

    // Over a 64 MiB cap: the kernel kills it, and the counters say so.
    let start = slot
        .prepare(&Caps {
            mem_bytes: Some(64 << 20),
            pids: None,
        })
        .unwrap();
    let st = run_in(&slot, v2.as_ref(), &format!("{ALLOC} 300"));
    assert!(!st.success());
    let over = slot.finish(start);
    assert!(over.oom_kills >= 1 || over.limit_hit, "{over:?}");
    if runs.ctl.memory() == Some(Hierarchy::V1) {
        assert!(over.oom_kills >= 1, "v1 oom_kill counter: {over:?}");
    }
    let peak = over.peak_bytes.expect("a peak");
    assert!((32 << 20..=65 << 20).contains(&peak), "peak {peak}");

    // The next test of the slot starts from scratch: no cap, its own peak and CPU time.
    let start = slot.prepare(&Caps::default()).unwrap();
    let st = run_in(&slot, v2.as_ref(), &format!("{ALLOC} 100"));
    assert!(st.success());
    let fine = slot.finish(start);
    assert_eq!(fine.oom_kills, 0);
    assert!(!fine.limit_hit);
    let peak = fine.peak_bytes.expect("a peak");
    assert!((100 << 20..400 << 20).contains(&peak), "peak {peak}");
    assert!(fine.cpu_ns.is_some_and(|ns| ns > 1_000_000), "{fine:?}");

    // The counters `finish` read are the next test's start (not read again): a test that does
    // next to nothing is charged next to nothing, not the previous test's CPU time.
    let start = slot.prepare(&Caps::default()).unwrap();
    assert!(run_in(&slot, v2.as_ref(), "true").success());
    let idle = slot.finish(start);
    assert_eq!(idle.oom_kills, 0);
    let (idle_ns, fine_ns) = (idle.cpu_ns.unwrap(), fine.cpu_ns.unwrap());
    assert!(idle_ns < fine_ns / 2, "{idle:?} after {fine:?}");
    // Its peak was reset too (v2 kernels before 6.12 report none: it cannot be reset).
    if let Some(peak) = idle.peak_bytes {
        assert!(peak < 50 << 20, "{idle:?} after {fine:?}");
    }
    if runs.ctl.memory() == Some(Hierarchy::V1) {
        assert!(idle.peak_bytes.is_some(), "{idle:?}");
    }

    let dirs = runs.ctl.v1_dirs();
    drop(slot);
    drop(v2);
    drop(runs);
    assert!(dirs.iter().all(|d| !d.exists()), "{dirs:?}");
}

#[test]
fn pids_cap_stops_forks() {
    if !host_has("pids") {
        crate::supervise::os::require::skip_without_cgroups(
            "this host offers no pids controller to this process",
        );
        return;
    }
    let runs = Runs::new("pids");
    let v2 = runs.v2.as_ref().map(|r| r.test("w0").unwrap());
    let slot = runs.ctl.slot("w0", v2.as_ref()).unwrap();
    assert!(slot.limits_pids(), "{:?}", runs.ctl.notes());
    let start = slot
        .prepare(&Caps {
            mem_bytes: None,
            pids: Some(3),
        })
        .unwrap();
    // sh itself plus two sleeps fill the cap: the third background job cannot fork.
    let script = "sleep 1 & sleep 1 & if sleep 1 & then wait; exit 0; fi; wait; exit 9";
    let capped = run_in(&slot, v2.as_ref(), script);
    slot.finish(start);
    let start = slot.prepare(&Caps::default()).unwrap();
    let free = run_in(&slot, v2.as_ref(), script);
    slot.finish(start);
    assert_eq!(free.code(), Some(0));
    assert_ne!(capped.code(), Some(0));
}

#[test]
fn nothing_found_when_disabled_or_absent_is_explained() {
    let run = ControllerRun::default();
    assert_eq!((run.memory(), run.pids(), run.cpu()), (None, None, None));
    let slot = run.slot("w0", None).unwrap();
    assert!(!slot.limits_memory() && !slot.limits_pids());
    assert!(slot.join_fds().is_empty());
    // Without controllers, preparing sets nothing and measures nothing.
    let start = slot
        .prepare(&Caps {
            mem_bytes: Some(1 << 20),
            pids: Some(1),
        })
        .unwrap();
    assert_eq!(slot.finish(start), CgroupUsage::default());
}
