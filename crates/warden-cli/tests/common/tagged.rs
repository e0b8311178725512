//! Helpers of the hostile escape cases: unique numeric tags that mark a case's processes by
//! command line (they survive `env -i`).

use std::fs;
use std::sync::atomic::{AtomicU32, Ordering};

/// A base number no other case of this test process uses: a case's processes sleep for
/// `base + k` seconds (k < `TAG_SPAN`), which finds them by command line alone.
pub fn unique_tag_base() -> u64 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = u64::from(NEXT.fetch_add(1, Ordering::Relaxed));
    5_000_000 + u64::from(std::process::id() % 4000) * 10_000 + n * TAG_SPAN
}

pub const TAG_SPAN: u64 = 50;

/// Live (non-zombie) processes with a numeric argument in `base..base + TAG_SPAN`:
/// `(pid, command line)`.
pub fn tagged_procs(base: u64) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me || super::is_zombie(pid) {
            continue;
        }
        let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let tagged = args.iter().any(|a| {
            a.split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse::<u64>().ok())
                .any(|n| (base..base + TAG_SPAN).contains(&n))
        });
        if tagged {
            out.push((pid, args.join(" ")));
        }
    }
    out
}

/// SIGKILL the processes carrying tag `base` (by pid; they are this case's by construction).
pub fn kill_tagged(base: u64) -> Vec<(i32, String)> {
    let procs = tagged_procs(base);
    for (pid, _) in &procs {
        // SAFETY: kill(2) on a pid just read from /proc; no memory is involved.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    procs
}
