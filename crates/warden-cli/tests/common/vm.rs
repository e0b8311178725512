//! Booting a qemu VM for the pure cgroup v2 tests (`vm_cgroup_v2.rs`, `vm_systemd.rs`): finding
//! qemu and a kernel (skipped without them unless `WARDEN_REQUIRE_VM=1`), KVM or software
//! emulation, and the facts the VM reports on its second serial port.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::host::which;

/// The whole boot, every scenario included, must be over by then.
pub const VM_LIMIT: Duration = Duration::from_secs(20 * 60);

/// qemu and a kernel to boot, or `None` (skipped) when they are missing and not required.
pub struct Vm {
    pub qemu: PathBuf,
    pub kernel: PathBuf,
    pub accel: &'static str,
}

/// `WARDEN_REQUIRE_VM=1`: the VM tests must run (CI), never skip.
pub fn required() -> bool {
    std::env::var("WARDEN_REQUIRE_VM").is_ok_and(|v| v == "1")
}

impl Vm {
    pub fn find() -> Option<Vm> {
        let qemu = which("qemu-system-x86_64").filter(|_| cfg!(target_arch = "x86_64"));
        let kernel = std::env::var_os("WARDEN_VM_KERNEL")
            .map(PathBuf::from)
            .or_else(newest_boot_kernel);
        match (qemu, kernel) {
            (Some(qemu), Some(kernel)) => Some(Vm {
                qemu,
                kernel,
                accel: accel(),
            }),
            (q, k) => {
                let why = format!(
                    "qemu-system-x86_64: {}, kernel: {} (Debian: qemu-system-x86, linux-image-amd64)",
                    q.map_or("missing".into(), |p| p.display().to_string()),
                    k.map_or("missing".into(), |p| p.display().to_string()),
                );
                assert!(!required(), "WARDEN_REQUIRE_VM=1 but {why}");
                eprintln!("skipping the VM test: {why}");
                None
            }
        }
    }

    /// Boot `initrd` with `mem_mib` of memory and `append` after the common kernel arguments,
    /// let it run and power off; what it wrote on its second serial port (the console goes to
    /// `dir/console.log`).
    pub fn boot(&self, initrd: &Path, dir: &Path, mem_mib: u32, append: &str) -> String {
        let results = dir.join("results.txt");
        let console = dir.join("console.log");
        let mut child = Command::new(&self.qemu)
            .args(["-accel", self.accel, "-cpu", "max", "-smp", "1"])
            .arg("-m")
            .arg(mem_mib.to_string())
            .arg("-kernel")
            .arg(&self.kernel)
            .arg("-initrd")
            .arg(initrd)
            .arg("-append")
            .arg(format!(
                "console=ttyS0 panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 no_timer_check {append}"
            ))
            .args([
                "-display",
                "none",
                "-nodefaults",
                "-no-reboot",
            ])
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .arg("-serial")
            .arg(format!("file:{}", results.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.qemu.display()));
        let started = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().expect("wait for qemu") {
                break Some(st);
            }
            if started.elapsed() > VM_LIMIT {
                // Ours, by pid.
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let text = std::fs::read_to_string(&results).unwrap_or_default();
        let tail = |p: &Path| {
            let s = std::fs::read_to_string(p).unwrap_or_default();
            s.lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert!(
            status.is_some_and(|s| s.success()),
            "qemu: {status:?} after {:?} (limit {VM_LIMIT:?})\nconsole tail:\n{}\nresults tail:\n{}",
            started.elapsed(),
            tail(&console),
            tail(&results)
        );
        text
    }
}

/// KVM when it can work here (a readable /dev/kvm and hardware virtualisation in the CPU
/// flags: a /dev/kvm without them hangs the guest), else software emulation.
fn accel() -> &'static str {
    if let Ok(a) = std::env::var("WARDEN_VM_ACCEL") {
        return if a == "kvm" { "kvm" } else { "tcg" };
    }
    let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let hw = flags
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    let kvm = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if hw && kvm {
        "kvm"
    } else {
        "tcg"
    }
}

/// The newest readable `/boot/vmlinuz-*`.
fn newest_boot_kernel() -> Option<PathBuf> {
    let mut kernels: Vec<PathBuf> = std::fs::read_dir("/boot")
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
                && std::fs::File::open(p).is_ok()
        })
        .collect();
    kernels.sort();
    kernels.pop()
}

/// A fresh directory for one VM test's files.
pub fn vm_tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("warden-vm-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Everything the VM reported: `VM <row> <scenario> <key> <value...>`.
pub struct Facts {
    pub lines: Vec<String>,
}

/// One warden run in the VM.
pub struct RunFacts {
    pub scenario: String,
    pub exit: Option<i32>,
    pub events: Vec<Value>,
    pub stderr: Vec<String>,
}

impl RunFacts {
    pub fn finished(&self, id: &str) -> Option<&Value> {
        self.events
            .iter()
            .find(|e| e["type"] == "test-finished" && e["id"] == id)
    }
}

impl Facts {
    pub fn parse(text: &str) -> Facts {
        Facts {
            lines: text.lines().map(|l| l.trim_end().to_string()).collect(),
        }
    }

    /// Values of `key` under `prefix` (`"<row> <scenario>"` or `"boot"`).
    pub fn all(&self, prefix: &str, key: &str) -> Vec<&str> {
        let head = format!("VM {prefix} {key} ");
        let bare = format!("VM {prefix} {key}");
        self.lines
            .iter()
            .filter_map(|l| l.strip_prefix(&head).or_else(|| (l == &bare).then_some("")))
            .collect()
    }

    /// The first value of `key`, or "" when init did not report it.
    pub fn get(&self, prefix: &str, key: &str) -> String {
        self.all(prefix, key)
            .first()
            .map(|s| s.to_string())
            .unwrap_or_default()
    }

    pub fn run(&self, row: &str, scenario: &str) -> RunFacts {
        let prefix = format!("{row} {scenario}");
        RunFacts {
            scenario: prefix.clone(),
            exit: self.get(&prefix, "exit").parse().ok(),
            events: self
                .all(&prefix, "event")
                .iter()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect(),
            stderr: self
                .all(&prefix, "stderr")
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}
