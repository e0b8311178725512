//! Per-test caps and measurements through cgroup controllers: memory (limit, peak, OOM kills),
//! pids (limit) and CPU time. Each controller is taken from whichever hierarchy has it for
//! this process — the v2 tree when the run's v2 cgroup can enable it, else the v1 hierarchy
//! that mounts it (hybrid hosts: v2 for tracking, v1 for memory and pids) — and nothing is
//! assumed: what is not found is simply absent, with a note saying why.
//!
//! Layout mirrors the v2 tracking cgroups: one run directory per hierarchy
//! (`warden-<run-id>` under warden's own cgroup there) and one slot directory per worker
//! (`w<N>`), reused by the slot's tests, reset before each.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::cgroup::{unescape_mountinfo, CgroupRun, TestCgroup, DISABLE_ENV};
use super::no_cgroup::{CapError, NoCgroup};

/// The hierarchy a controller was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    V1,
    V2,
}

/// One controller's directory for the run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RunCtl {
    hierarchy: Hierarchy,
    dir: PathBuf,
}

/// The run's memory, pids and CPU controllers, wherever they are.
#[derive(Debug, Default)]
pub struct ControllerRun {
    memory: Option<RunCtl>,
    pids: Option<RunCtl>,
    cpu: Option<RunCtl>,
    /// Why a controller is missing, for `--verbose` and for warnings when a cap needs it.
    notes: Vec<String>,
}

/// The caps one test runs under.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    pub mem_bytes: Option<u64>,
    pub pids: Option<u64>,
}

/// What a slot's controllers measured over one test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CgroupUsage {
    pub peak_bytes: Option<u64>,
    pub cpu_ns: Option<u64>,
    /// Processes the kernel's OOM killer killed in the slot during the test.
    pub oom_kills: u64,
    /// The memory limit was hit (v1 `memory.failcnt`): with a SIGKILL, an OOM kill on kernels
    /// without an `oom_kill` counter.
    pub limit_hit: bool,
}

impl ControllerRun {
    /// Find memory, pids and CPU accounting for a run. `v2` is the run's tracking cgroup, when
    /// there is one: controllers it can enable there are used there (a process lives in one
    /// v2 cgroup only); the rest come from v1 hierarchies.
    pub fn create(run_id: &str, v2: Option<&CgroupRun>) -> ControllerRun {
        let mut run = ControllerRun::default();
        if std::env::var_os(DISABLE_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
            run.notes
                .push(format!("cgroup controllers disabled by {DISABLE_ENV}"));
            return run;
        }
        // `cpu` as well, though `cpu.stat` usage is there without it: slots get what systemd
        // gives its units (`cpu.weight`, `cpu.max`).
        let enabled_v2 = v2.map(|v2| enable_v2(v2.dir(), &super::placement::WANTED));
        let name = format!("warden-{run_id}");
        for controller in ["memory", "pids", "cpuacct"] {
            let in_v2 = match (v2, &enabled_v2) {
                (Some(v2), Some(_)) if controller == "cpuacct" => {
                    // `cpu.stat` is a core v2 file: CPU time is there without the controller.
                    v2.dir()
                        .join("cpu.stat")
                        .is_file()
                        .then(|| v2.dir().to_path_buf())
                }
                (Some(v2), Some(enabled)) => enabled
                    .contains(&controller)
                    .then(|| v2.dir().to_path_buf()),
                _ => None,
            };
            let ctl = match in_v2 {
                Some(dir) => Some(RunCtl {
                    hierarchy: Hierarchy::V2,
                    dir,
                }),
                None => match v1_run_dir(controller, &name) {
                    Ok(dir) => Some(RunCtl {
                        hierarchy: Hierarchy::V1,
                        dir,
                    }),
                    Err(why) => {
                        run.notes.push(format!("no {controller} controller: {why}"));
                        None
                    }
                },
            };
            match controller {
                "memory" => run.memory = ctl,
                "pids" => run.pids = ctl,
                _ => run.cpu = ctl,
            }
        }
        run
    }

    pub fn memory(&self) -> Option<Hierarchy> {
        self.memory.as_ref().map(|c| c.hierarchy)
    }

    pub fn pids(&self) -> Option<Hierarchy> {
        self.pids.as_ref().map(|c| c.hierarchy)
    }

    pub fn cpu(&self) -> Option<Hierarchy> {
        self.cpu.as_ref().map(|c| c.hierarchy)
    }

    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The v1 run directories this run created: what the watchdog and `warden clean` must
    /// remove if warden dies (the v2 one is the tracking cgroup's).
    pub fn v1_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = [&self.memory, &self.pids, &self.cpu]
            .into_iter()
            .flatten()
            .filter(|c| c.hierarchy == Hierarchy::V1)
            .map(|c| c.dir.clone())
            .collect();
        dirs.dedup();
        dirs
    }

    /// The controllers of worker slot `name`. `v2` is the slot's tracking cgroup (the same
    /// name under the v2 run directory), needed for controllers that live in v2.
    pub fn slot(&self, name: &str, v2: Option<&TestCgroup>) -> io::Result<ControllerSlot> {
        let mut joins: Vec<(PathBuf, File)> = Vec::new();
        let mut slot_ctl = |ctl: &Option<RunCtl>| -> io::Result<Option<SlotCtl>> {
            let Some(ctl) = ctl else { return Ok(None) };
            let dir = match ctl.hierarchy {
                Hierarchy::V2 => match v2 {
                    Some(t) => t.dir().to_path_buf(),
                    None => return Ok(None),
                },
                Hierarchy::V1 => {
                    let dir = ctl.dir.join(name);
                    match fs::create_dir(&dir) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                    if !joins.iter().any(|(d, _)| *d == dir) {
                        let procs = OpenOptions::new()
                            .write(true)
                            .open(dir.join("cgroup.procs"))?;
                        joins.push((dir.clone(), procs));
                    }
                    dir
                }
            };
            Ok(Some(SlotCtl {
                hierarchy: ctl.hierarchy,
                has_memsw: dir.join(MEMSW).is_file(),
                dir,
                written: Mutex::new(HashMap::new()),
            }))
        };
        let memory = slot_ctl(&self.memory)?;
        let pids = slot_ctl(&self.pids)?;
        let cpu = slot_ctl(&self.cpu)?;
        Ok(ControllerSlot {
            memory,
            pids,
            cpu,
            joins: joins.into_iter().map(|(_, f)| f).collect(),
            after_last: Mutex::new(None),
        })
    }

    /// Kill what is left and remove the v1 run directories (after every test ended).
    pub fn remove(&self) {
        for dir in self.v1_dirs() {
            super::cgroup::remove_tree(&dir);
        }
    }
}

#[derive(Debug)]
struct SlotCtl {
    hierarchy: Hierarchy,
    dir: PathBuf,
    /// Cap values last written, by file: a slot's tests usually share caps, and every cgroupfs
    /// write costs (warden's per-test overhead matters on suites of tiny tests).
    written: Mutex<HashMap<&'static str, String>>,
    /// v1 memory: whether swap accounting (`memory.memsw.*`) exists, looked up once.
    has_memsw: bool,
}

/// v1 memory + swap limit: present only where the kernel accounts swap.
const MEMSW: &str = "memory.memsw.limit_in_bytes";

impl SlotCtl {
    /// Write `value` to the control file `name` unless it already holds it.
    fn set(&self, name: &'static str, value: &str) -> Result<(), CapError> {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if written.get(name).map(String::as_str) == Some(value) {
            return Ok(());
        }
        written.remove(name);
        write_cap(&self.dir.join(name), value)?;
        written.insert(name, value.to_string());
        Ok(())
    }
}

/// One worker slot's controllers.
#[derive(Debug)]
pub struct ControllerSlot {
    memory: Option<SlotCtl>,
    pids: Option<SlotCtl>,
    cpu: Option<SlotCtl>,
    /// `cgroup.procs` of the v1 slot directories, held open for the child to join.
    joins: Vec<File>,
    /// The cumulative counters `finish` read after the previous test: the slot has been empty
    /// since, so the next `prepare` starts from them instead of reading them again.
    after_last: Mutex<Option<Counters>>,
}

/// Cumulative counters of a slot, as read at one moment.
#[derive(Debug, Clone, Copy)]
struct Counters {
    oom_kills: Option<u64>,
    failcnt: Option<u64>,
    cpu: Option<u64>,
}

/// Counters read before a test, to turn cumulative ones into the test's own.
#[derive(Debug)]
pub struct SlotStart {
    oom_kills: Option<u64>,
    failcnt: Option<u64>,
    cpu: Option<u64>,
    /// v2 `memory.peak` opened and reset for this test (kernels ≥ 6.12 reset it per fd).
    peak_fd: Option<File>,
    /// Where it cannot be reset: its value before the test, `memory.current` sampled while
    /// the test runs, and the cap (an OOM-killed test reached it). See `peak.rs`.
    peak_before: Option<u64>,
    sampled: Option<peak::Sampling>,
    mem_cap: Option<u64>,
    /// A v1 memory cgroup, whose `memory.max_usage_in_bytes` was reset for this test.
    v1_peak: bool,
}

impl SlotStart {
    /// Whether `finish` will know the test's own peak memory.
    pub fn measures_peak(&self) -> bool {
        self.v1_peak || self.peak_fd.is_some() || self.sampled.is_some()
    }
}

impl ControllerSlot {
    /// Whether a memory cap is enforced by a cgroup (else the caller falls back to an rlimit).
    pub fn limits_memory(&self) -> bool {
        self.memory.is_some()
    }

    pub fn limits_pids(&self) -> bool {
        self.pids.is_some()
    }

    /// For the child between fork and exec: writing `0` to each moves it into the v1 slot
    /// cgroups (the v2 one is joined through its `TestCgroup`).
    pub fn join_fds(&self) -> Vec<RawFd> {
        self.joins.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// Set the caps for the next test and take the counters' starting values. The slot is
    /// empty now. An error means a requested cap could not be set: the test must not run
    /// without it.
    pub fn prepare(&self, caps: &Caps) -> Result<SlotStart, CapError> {
        // Taken, not copied: counters are reused once, right after the `finish` that read them.
        let known = self
            .after_last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let mut start = SlotStart {
            oom_kills: None,
            failcnt: None,
            cpu: None,
            peak_fd: None,
            peak_before: None,
            sampled: None,
            mem_cap: caps.mem_bytes,
            v1_peak: false,
        };
        if let Some(m) = &self.memory {
            let d = &m.dir;
            match m.hierarchy {
                Hierarchy::V1 => {
                    if caps.mem_bytes.is_some() {
                        // Page cache the previous test left charged here would count against
                        // this one's limit. (A reclaim: costly, so only where a cap needs it.)
                        let _ = fs::write(d.join("memory.force_empty"), "1");
                    }
                    let has_swap_file = m.has_memsw;
                    let limit = caps.mem_bytes.map_or("-1".to_string(), |b| b.to_string());
                    if has_swap_file && caps.mem_bytes.is_none() {
                        // memsw may never be below the memory limit: lift it first.
                        m.set(MEMSW, "-1")?;
                        m.set("memory.limit_in_bytes", &limit)?;
                    } else if has_swap_file {
                        m.set(MEMSW, "-1")?;
                        m.set("memory.limit_in_bytes", &limit)?;
                        // The cap is on memory plus swap: a test over it is stopped, not swapped.
                        m.set(MEMSW, &limit)?;
                    } else {
                        m.set("memory.limit_in_bytes", &limit)?;
                    }
                    start.v1_peak = fs::write(d.join("memory.max_usage_in_bytes"), "0").is_ok();
                    (start.oom_kills, start.failcnt) = match known {
                        Some(k) => (k.oom_kills, k.failcnt),
                        None => (
                            read_keyed(&d.join("memory.oom_control"), "oom_kill"),
                            read_u64(&d.join("memory.failcnt")),
                        ),
                    };
                }
                Hierarchy::V2 => {
                    let limit = caps.mem_bytes.map_or("max".to_string(), |b| b.to_string());
                    write_cap(&d.join("memory.max"), &limit)?;
                    let swap = d.join("memory.swap.max");
                    if swap.is_file() {
                        let v = if caps.mem_bytes.is_some() { "0" } else { "max" };
                        write_cap(&swap, v)?;
                    }
                    // One OOM kill takes the whole test down, not one process of it at random.
                    let _ = fs::write(d.join("memory.oom.group"), "1");
                    start.oom_kills = match known {
                        Some(k) => k.oom_kills,
                        None => read_keyed(&d.join("memory.events"), "oom_kill"),
                    };
                    start.peak_fd = reset_peak(&d.join("memory.peak"));
                    if start.peak_fd.is_none() {
                        start.peak_before = read_u64(&d.join("memory.peak"));
                        start.sampled = peak::start(d);
                    }
                }
            }
        }
        if let Some(p) = &self.pids {
            let limit = caps.pids.map_or("max".to_string(), |n| n.to_string());
            p.set("pids.max", &limit)?;
        }
        if let Some(c) = &self.cpu {
            start.cpu = match (c.hierarchy, known) {
                (_, Some(k)) if k.cpu.is_some() => k.cpu,
                (Hierarchy::V1, _) => {
                    let usage = c.dir.join("cpuacct.usage");
                    match fs::write(&usage, "0") {
                        Ok(()) => Some(0),
                        Err(_) => read_u64(&usage),
                    }
                }
                (Hierarchy::V2, _) => read_cpu_stat_ns(&c.dir),
            };
        }
        Ok(start)
    }

    /// What the test that ran since `prepare` used. Call once its processes are gone.
    pub fn finish(&self, start: SlotStart) -> CgroupUsage {
        let mut usage = CgroupUsage::default();
        let mut now = Counters {
            oom_kills: None,
            failcnt: None,
            cpu: None,
        };
        if let Some(m) = &self.memory {
            let d = &m.dir;
            match m.hierarchy {
                Hierarchy::V1 => {
                    usage.peak_bytes = read_u64(&d.join("memory.max_usage_in_bytes"));
                    now.oom_kills = read_keyed(&d.join("memory.oom_control"), "oom_kill");
                    usage.oom_kills = delta(start.oom_kills, now.oom_kills);
                    now.failcnt = read_u64(&d.join("memory.failcnt"));
                    usage.limit_hit = delta(start.failcnt, now.failcnt) > 0;
                }
                Hierarchy::V2 => {
                    now.oom_kills = read_keyed(&d.join("memory.events"), "oom_kill");
                    usage.oom_kills = delta(start.oom_kills, now.oom_kills);
                    usage.limit_hit = usage.oom_kills > 0;
                    usage.peak_bytes = match start.peak_fd {
                        Some(mut f) => read_fd_u64(&mut f),
                        None => peak::best(
                            start.peak_before,
                            read_u64(&d.join("memory.peak")),
                            start.mem_cap.filter(|_| usage.oom_kills > 0),
                            start.sampled.map(|s| s.stop()),
                        ),
                    };
                }
            }
        }
        if let Some(c) = &self.cpu {
            now.cpu = match c.hierarchy {
                Hierarchy::V1 => read_u64(&c.dir.join("cpuacct.usage")),
                Hierarchy::V2 => read_cpu_stat_ns(&c.dir),
            };
            usage.cpu_ns = match (start.cpu, now.cpu) {
                (Some(a), Some(b)) => Some(b.saturating_sub(a)),
                _ => None,
            };
        }
        *self.after_last.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
        usage
    }
}

fn delta(before: Option<u64>, after: Option<u64>) -> u64 {
    match (before, after) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => 0,
    }
}

fn write_cap(path: &Path, value: &str) -> Result<(), CapError> {
    fs::write(path, value).map_err(|source| CapError {
        value: value.to_string(),
        path: path.to_path_buf(),
        source,
    })
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `key N` from a flat keyed file (`memory.events`, `memory.oom_control`, `cpu.stat`).
fn read_keyed(path: &Path, key: &str) -> Option<u64> {
    parse_keyed(&fs::read_to_string(path).ok()?, key)
}

pub(crate) fn parse_keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

fn read_cpu_stat_ns(dir: &Path) -> Option<u64> {
    read_keyed(&dir.join("cpu.stat"), "usage_usec").map(|us| us * 1000)
}

/// Open `memory.peak` and reset it for this fd. `None` when the kernel cannot reset it: the
/// value would be the slot's peak since creation, not the test's.
fn reset_peak(path: &Path) -> Option<File> {
    let mut f = OpenOptions::new().read(true).write(true).open(path).ok()?;
    f.write_all(b"reset\n").ok()?;
    Some(f)
}

fn read_fd_u64(f: &mut File) -> Option<u64> {
    f.rewind().ok()?;
    let mut s = String::new();
    f.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

/// Try to enable `controllers` for the children of the v2 run directory; the ones enabled.
/// The run directory holds no process, so this is allowed wherever its parent delegated them.
fn enable_v2<'a>(run_dir: &Path, controllers: &[&'a str]) -> Vec<&'a str> {
    let available = fs::read_to_string(run_dir.join("cgroup.controllers")).unwrap_or_default();
    controllers
        .iter()
        .copied()
        .filter(|c| available.split_whitespace().any(|a| a == *c))
        .filter(|c| fs::write(run_dir.join("cgroup.subtree_control"), format!("+{c}")).is_ok())
        .collect()
}

/// Create `<mount of controller><warden's cgroup there>/<name>`.
fn v1_run_dir(controller: &str, name: &str) -> Result<PathBuf, NoCgroup> {
    let read = |path: &str| {
        fs::read_to_string(path).map_err(|source| NoCgroup::Io {
            action: "read",
            path: PathBuf::from(path),
            source,
        })
    };
    let mount = v1_mount(&read("/proc/self/mountinfo")?, controller).ok_or(NoCgroup::NoV1Mount)?;
    let own = read("/proc/self/cgroup")?;
    let own = v1_own_path(&own, controller).ok_or(NoCgroup::NotInV1Hierarchy)?;
    let dir = mount.join(own.trim_start_matches('/')).join(name);
    fs::create_dir(&dir).map_err(|source| NoCgroup::Io {
        action: "create",
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// Mount point of the v1 hierarchy that has `controller` among its super options.
pub(crate) fn v1_mount(mountinfo: &str, controller: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut r = right.split_whitespace();
        if r.next()? != "cgroup" {
            return None;
        }
        let options = r.nth(1)?;
        if !options.split(',').any(|o| o == controller) {
            return None;
        }
        left.split_whitespace()
            .nth(4)
            .map(|m| PathBuf::from(unescape_mountinfo(m)))
    })
}

/// This process's path in the v1 hierarchy of `controller` (`4:memory:/path`,
/// `2:cpu,cpuacct:/path`).
pub(crate) fn v1_own_path(proc_cgroup: &str, controller: &str) -> Option<String> {
    proc_cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let _id = parts.next()?;
        let controllers = parts.next()?;
        let path = parts.next()?;
        controllers
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_string())
    })
}

mod peak;

#[cfg(test)]
mod tests;
