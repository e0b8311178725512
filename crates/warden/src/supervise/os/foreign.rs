//! What a cgroup warden did not make used: a container's, found through a process in it (the
//! engine made it). Read-only; v1 hierarchies first (where they hold the memory controller,
//! as on a hybrid host), else the v2 one.

use std::fs;
use std::path::{Path, PathBuf};

use super::cgroup::v2_mount;
use super::controllers::{parse_keyed, v1_mount, v1_own_path};

/// The usage files of one cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignCgroup {
    /// A high-water mark in bytes (`memory.max_usage_in_bytes`, `memory.peak`), else the
    /// current use (`memory.current`, before kernel 5.19).
    memory: Option<PathBuf>,
    cpu: Option<Cpu>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Cpu {
    /// `cpuacct.usage`: nanoseconds.
    V1(PathBuf),
    /// `cpu.stat`'s `usage_usec`.
    V2(PathBuf),
}

/// One reading of a [`ForeignCgroup`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForeignUsage {
    pub mem_bytes: Option<u64>,
    pub cpu_ns: Option<u64>,
}

impl ForeignCgroup {
    /// The cgroup `pid` is in, when its path contains `name` (the container's id: engines
    /// name its cgroup after it); `None` when the process cannot be seen (another host,
    /// another pid namespace, gone) or its cgroup has no usage files warden can read. The
    /// name check matters: a process that is exiting shows the root cgroup, whose usage is
    /// the whole host's.
    pub fn of_pid(pid: i32, name: &str) -> Option<ForeignCgroup> {
        let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
        let found = locate(&cgroups, &mountinfo, v2_mount().as_deref(), name);
        (found.memory.is_some() || found.cpu.is_some()).then_some(found)
    }

    pub fn read(&self) -> ForeignUsage {
        let read_u64 = |p: &Path| fs::read_to_string(p).ok()?.trim().parse::<u64>().ok();
        ForeignUsage {
            mem_bytes: self.memory.as_deref().and_then(read_u64),
            cpu_ns: match &self.cpu {
                Some(Cpu::V1(p)) => read_u64(p),
                Some(Cpu::V2(p)) => fs::read_to_string(p)
                    .ok()
                    .and_then(|s| parse_keyed(&s, "usage_usec"))
                    .map(|us| us * 1000),
                None => None,
            },
        }
    }
}

/// The usage files for a process whose `/proc/PID/cgroup` reads `cgroups`.
fn locate(cgroups: &str, mountinfo: &str, v2: Option<&Path>, name: &str) -> ForeignCgroup {
    let named = |p: &str| p.contains(name);
    let v1 = |controller: &str, file: &str| {
        let path = v1_own_path(cgroups, controller).filter(|p| named(p))?;
        let dir = v1_mount(mountinfo, controller)?.join(path.trim_start_matches('/'));
        Some(dir.join(file)).filter(|f| f.exists())
    };
    let v2_path = cgroups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .filter(|p| named(p));
    let v2_dir = v2.zip(v2_path);
    let v2_dir = v2_dir.map(|(m, p)| m.join(p.trim_start_matches('/')));
    let v2_file = |file: &str| v2_dir.as_ref().map(|d| d.join(file)).filter(|f| f.exists());
    ForeignCgroup {
        memory: v1("memory", "memory.max_usage_in_bytes")
            .or_else(|| v2_file("memory.peak"))
            .or_else(|| v2_file("memory.current")),
        cpu: v1("cpuacct", "cpuacct.usage")
            .map(Cpu::V1)
            .or_else(|| v2_file("cpu.stat").map(Cpu::V2)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cgroup of its own on this host, read through a process in it: whichever hierarchy
    /// the host has, warden's own process is found with some usage.
    #[test]
    fn finds_this_process_usage() {
        let Some(cg) = ForeignCgroup::of_pid(std::process::id() as i32, "") else {
            // No readable cgroup usage files here (not Linux, no cgroupfs).
            return;
        };
        let u = cg.read();
        assert!(u.mem_bytes.is_some_and(|b| b > 0) || u.cpu_ns.is_some_and(|n| n > 0));
    }

    #[test]
    fn locates_v1_files_first_then_v2() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mem = root.join("memory/docker/abc");
        let cpu = root.join("cpuacct/docker/abc");
        let v2 = root.join("unified/system.slice/x.scope");
        for d in [&mem, &cpu, &v2] {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(mem.join("memory.max_usage_in_bytes"), "4096\n").unwrap();
        fs::write(cpu.join("cpuacct.usage"), "5000000\n").unwrap();
        fs::write(v2.join("memory.current"), "1\n").unwrap();
        fs::write(v2.join("cpu.stat"), "usage_usec 7\nuser_usec 1\n").unwrap();
        let m = |sub: &str, opts: &str| {
            format!(
                "30 25 0:26 / {}/{sub} rw - cgroup cgroup rw,{opts}\n",
                root.display()
            )
        };
        let mountinfo = m("memory", "memory") + &m("cpuacct", "cpu,cpuacct");
        let cgroups = "5:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/system.slice/x.scope\n";
        let unified = root.join("unified");
        let hybrid = locate(cgroups, &mountinfo, Some(&unified), "abc");
        assert_eq!(
            hybrid.read(),
            ForeignUsage {
                mem_bytes: Some(4096),
                cpu_ns: Some(5_000_000)
            }
        );
        let v2_only = locate("0::/system.slice/x.scope\n", "", Some(&unified), "x.scope");
        assert_eq!(
            v2_only.read(),
            ForeignUsage {
                mem_bytes: Some(1),
                cpu_ns: Some(7000)
            }
        );
        assert_eq!(
            locate("0::/gone\n", "", Some(&unified), "gone").read(),
            ForeignUsage::default()
        );
        // An exiting process shows the root cgroup: not the container's, never read.
        let root = "5:memory:/\n3:cpu,cpuacct:/\n0::/\n";
        let exiting = locate(root, &mountinfo, Some(&unified), "abc");
        assert_eq!((exiting.memory, exiting.cpu), (None, None));
    }
}
