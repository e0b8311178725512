//! Finding processes by an environment entry in `/proc/*/environ`: how the tests prove that a
//! run left nothing behind, and how they clean up (by pid) when it did.

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

/// A live process found by its environment.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: i32,
    pub cmdline: String,
    /// Its environment, `KEY=value` entries.
    pub environ: Vec<String>,
}

impl Proc {
    pub fn has_env(&self, entry: &str) -> bool {
        self.environ.iter().any(|e| e == entry)
    }
}

impl std::fmt::Display for Proc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let test = self
            .environ
            .iter()
            .find(|e| e.starts_with("WARDEN_TEST_ID="))
            .map(String::as_str)
            .unwrap_or("no WARDEN_TEST_ID");
        write!(f, "pid {} `{}` ({test})", self.pid, self.cmdline)
    }
}

/// Every live (non-zombie) process, other than this one, whose environment holds exactly
/// `entry` (`KEY=value`). Processes whose environ cannot be read are skipped.
pub fn procs_with_env(entry: &str) -> Vec<Proc> {
    let me = std::process::id() as i32;
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry_dir in dir.flatten() {
        let Some(pid) = entry_dir
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me || is_zombie(pid) {
            continue;
        }
        let Ok(raw) = fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let environ: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        if environ.iter().any(|e| e == entry) {
            found.push(Proc {
                pid,
                cmdline: cmdline(pid),
                environ,
            });
        }
    }
    found
}

/// SIGKILL each process by pid (never by name).
pub fn kill_procs(procs: &[Proc]) {
    for p in procs {
        // SAFETY: kill(2) with a pid we just read from /proc; no memory is involved.
        unsafe {
            libc::kill(p.pid, libc::SIGKILL);
        }
    }
}

/// Waits up to `settle` for the processes carrying `entry` to go away by themselves, then kills
/// those still there and returns them.
pub fn settle_and_kill(entry: &str, settle: Duration) -> Vec<Proc> {
    let deadline = Instant::now() + settle;
    loop {
        let procs = procs_with_env(entry);
        if procs.is_empty() {
            return procs;
        }
        if Instant::now() >= deadline {
            kill_procs(&procs);
            return procs;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn is_zombie(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true; // gone already
    };
    // The state follows the parenthesised command name, which may itself hold spaces or ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state == "Z" || state == "X")
}

fn cmdline(pid: i32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
