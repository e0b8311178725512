//! Process groups on Linux, read from `/proc`.

use std::fs;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::events::Leak;

/// Unit of `ru_maxrss`: kilobytes on Linux.
pub const MAXRSS_UNIT: u64 = 1024;

/// Send `sig` to every process of group `pgid`. Returns false when the group no longer exists.
pub fn signal_group(pgid: i32, sig: Signal) -> bool {
    !matches!(killpg(Pid::from_raw(pgid), sig), Err(Errno::ESRCH))
}

/// Live (non-zombie) members of process group `pgid`, with their command lines.
/// A cheap `killpg(0)` first: the `/proc` scan only happens when something is there.
pub fn group_members(pgid: i32) -> Vec<Leak> {
    if !signal_group_probe(pgid) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for pid in proc_pids() {
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((state, pgrp)) = parse_stat_state_pgrp(&stat) else {
            continue;
        };
        if pgrp == pgid && state != 'Z' && state != 'X' {
            out.push(Leak {
                pid,
                cmd: cmdline(pid),
            });
        }
    }
    out.sort_by_key(|l| l.pid);
    out
}

/// The pid of every process in `/proc` now (none when `/proc` cannot be read).
fn proc_pids() -> impl Iterator<Item = i32> {
    fs::read_dir("/proc")
        .into_iter()
        .flat_map(|dir| dir.flatten())
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
}

fn signal_group_probe(pgid: i32) -> bool {
    killpg(Pid::from_raw(pgid), None).is_ok()
}

/// Live processes (not zombies, not warden itself) whose environment holds every `K=V` of
/// `needles`: the fallback tracker when there is no cgroup, and how the watchdog and
/// `warden clean` find what a dead run left behind. Environment tokens survive `setsid` and
/// double forks; only a process that scrubs its environment escapes them.
pub fn processes_with_env(needles: &[String]) -> Vec<Leak> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for pid in proc_pids() {
        if pid == me {
            continue;
        }
        let Ok(env) = fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let has = |needle: &String| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes());
        if !needles.iter().all(has) {
            continue;
        }
        match fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .as_deref()
            .and_then(parse_stat_state_pgrp)
        {
            Some((state, _)) if state != 'Z' && state != 'X' => out.push(Leak {
                pid,
                cmd: cmdline(pid),
            }),
            _ => {}
        }
    }
    out.sort_by_key(|l| l.pid);
    out
}

/// What `/proc/<pid>/environ` gave.
pub enum Environ {
    Vars(Vec<u8>),
    /// Nothing: a process in the middle of an exec (its new image has no environment yet), a
    /// kernel thread, or one that emptied its own.
    Empty,
    /// Not readable: another user's process, a non-dumpable one, or gone.
    Unreadable,
}

pub fn environ(pid: i32) -> Environ {
    match fs::read(format!("/proc/{pid}/environ")) {
        Ok(env) if env.is_empty() => Environ::Empty,
        Ok(env) => Environ::Vars(env),
        Err(_) => Environ::Unreadable,
    }
}

/// Whether the `NUL`-separated environment `env` holds every `K=V` of `needles`.
pub fn env_has_all(env: &[u8], needles: &[String]) -> bool {
    needles
        .iter()
        .all(|n| env.split(|b| *b == 0).any(|kv| kv == n.as_bytes()))
}

/// Children of this process (of all its threads): test main processes, and orphans of tests
/// re-parented to warden, the child subreaper.
pub fn own_children() -> Vec<i32> {
    children_in("/proc/self/task")
}

/// Orphans re-parented to this process (the child subreaper), with the children of its main
/// thread: the kernel hands orphans to the first live thread of the subreaper, its leader.
/// One file read, for the end of every test.
pub fn adopted_children() -> Vec<i32> {
    use std::io::Read;
    use std::sync::OnceLock;
    static PATH: OnceLock<String> = OnceLock::new();
    let path = PATH.get_or_init(|| format!("/proc/self/task/{}/children", std::process::id()));
    // Read into a stack buffer: no size lookup, no allocation when there is nothing.
    let mut buf = [0u8; 4096];
    let mut out = Vec::new();
    let Ok(mut f) = fs::File::open(path) else {
        return out;
    };
    let mut rest = Vec::new();
    loop {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                rest.extend_from_slice(&buf[..n]);
                // A procfs file hands over all it has in one read when it fits.
                if n < buf.len() {
                    break;
                }
            }
        }
    }
    for p in rest.split(|b| b.is_ascii_whitespace()) {
        if let Some(pid) = std::str::from_utf8(p).ok().and_then(|s| s.parse().ok()) {
            out.push(pid);
        }
    }
    out
}

fn children_in(tasks: &str) -> Vec<i32> {
    let Ok(tasks) = fs::read_dir(tasks) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        if let Ok(children) = fs::read_to_string(task.path().join("children")) {
            out.extend(
                children
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// The live (non-zombie) processes among `pids` and below them, each once, sorted. A process
/// tree is bounded by the pids limit; the walk stops at 100,000 all the same.
pub fn with_descendants(pids: impl IntoIterator<Item = i32>) -> Vec<i32> {
    let mut seen = std::collections::BTreeSet::new();
    let mut todo: Vec<i32> = pids.into_iter().collect();
    while let Some(pid) = todo.pop() {
        if seen.len() >= 100_000 || !seen.insert(pid) {
            continue;
        }
        todo.extend(children_in(&format!("/proc/{pid}/task")));
    }
    seen.into_iter().filter(|&p| is_live(p)).collect()
}

/// Whether `pid` exists and is not a zombie.
pub fn is_live(pid: i32) -> bool {
    read_stat(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X')
}

/// The fields of `/proc/<pid>/stat` that tell where a process belongs.
struct Stat {
    state: char,
    ppid: i32,
    /// `PF_KTHREAD`: a kernel thread, which has no environment and is never a test's.
    kernel: bool,
}

fn read_stat(pid: i32) -> Option<Stat> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    // pgrp (5), session, tty, tpgid, then flags (9).
    let flags: u64 = f.nth(4)?.parse().ok()?;
    const PF_KTHREAD: u64 = 0x0020_0000;
    Some(Stat {
        state,
        ppid,
        kernel: flags & PF_KTHREAD != 0,
    })
}

/// Every live process of a run, as the watchdog and `warden clean` see it once warden is gone
/// (no cgroup or process tree to go by): its environment holds every `K=V` of `token`, or its
/// mark ([`super::mark`]) passes `is_mark` (however empty or unreadable its environment); and
/// every process below those. The flag says whether some process could not be told either
/// way (an empty environment and no mark): a scan worth repeating.
pub fn run_processes(token: &[String], is_mark: impl Fn(u64) -> bool) -> (Vec<Leak>, bool) {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    let mut parents: Vec<(i32, i32)> = Vec::new();
    let mut uncertain = false;
    for pid in proc_pids() {
        let Some(stat) = read_stat(pid) else {
            continue;
        };
        if pid == me || stat.kernel || matches!(stat.state, 'Z' | 'X') {
            continue;
        }
        parents.push((pid, stat.ppid));
        // The token first; then the mark, which `env -i` and a non-dumpable process keep.
        let env = environ(pid);
        let ours = matches!(&env, Environ::Vars(vars) if env_has_all(vars, token))
            || match super::mark::read(pid) {
                Some(m) => is_mark(m),
                None => {
                    uncertain |= matches!(env, Environ::Empty);
                    false
                }
            };
        if ours {
            found.push(pid);
        }
    }
    // What runs below a process of the run is the run's, whatever it did to its environment.
    let mut all: std::collections::BTreeSet<i32> = found.iter().copied().collect();
    loop {
        let before = all.len();
        for (pid, ppid) in &parents {
            if all.contains(ppid) {
                all.insert(*pid);
            }
        }
        if all.len() == before {
            break;
        }
    }
    let out = all
        .into_iter()
        .map(|pid| Leak {
            pid,
            cmd: cmdline(pid),
        })
        .collect();
    (out, uncertain)
}

pub use super::netns::PrivateNetError;

/// Whether tests can be given a private network here (`--net private`): tried once in a
/// throwaway child; the error names the step and the sysctl in the way.
pub fn probe_private_net() -> Result<(), PrivateNetError> {
    super::netns::probe()
}

/// Make warden the child subreaper: orphans of tests are re-parented to it instead of init, so
/// they stay visible and reapable.
pub fn become_subreaper() -> std::io::Result<()> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer argument only.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Reap zombie children of warden that `is_ours` does not claim: orphans re-parented to the
/// subreaper. Each pid is waited for individually, so the runtime's own children (test main
/// processes, which `is_ours` claims) are never reaped behind its back.
pub fn reap_orphans(is_ours: impl Fn(i32) -> bool) -> usize {
    // It runs after every test: when no child at all has exited, which is the common case,
    // one peek (nothing reaped: WNOWAIT) replaces the /proc scan.
    if !any_exited_child() {
        return 0;
    }
    let mut reaped = 0;
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return 0;
    };
    for task in tasks.flatten() {
        let Ok(children) = fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        for pid in children
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            if is_ours(pid) {
                continue;
            }
            let zombie = fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .as_deref()
                .and_then(parse_stat_state_pgrp)
                .is_some_and(|(state, _)| state == 'Z');
            if zombie
                && nix::sys::wait::waitpid(
                    Pid::from_raw(pid),
                    Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                )
                .is_ok()
            {
                reaped += 1;
            }
        }
    }
    reaped
}

/// Whether some child of this process has exited and is not reaped yet.
fn any_exited_child() -> bool {
    // SAFETY: zeroed siginfo is a valid out-value; waitid with WNOWAIT reaps nothing.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // No child at all (ECHILD) or none exited (si_pid 0): nothing to reap. On any other error,
    // look the slow way.
    // SAFETY: si_pid is valid to read after waitid filled (or left zeroed) the struct.
    rc != 0 && io_errno() != libc::ECHILD || rc == 0 && unsafe { info.si_pid() } != 0
}

fn io_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Start time of `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`): with the
/// pid, it identifies a process even after its pid is reused.
/// A zombie has no start time worth trusting: it is dead, only not yet reaped.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    if matches!(rest.split_whitespace().next(), Some("Z" | "X")) {
        return None;
    }
    // Fields after the name start at field 3 (state); start time is field 22.
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// `(state, pgrp)` from a `/proc/<pid>/stat` line. The command name may hold spaces and
/// parentheses, so fields are counted from the last `)`.
fn parse_stat_state_pgrp(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// The command line of `pid`, arguments joined by spaces; the name in brackets for kernel
/// threads or when it cannot be read.
pub fn cmdline(pid: i32) -> String {
    // A process in the middle of an exec shows an empty command line for an instant (an exec
    // chain spends much of its life there): look again briefly before falling back to its name,
    // so that a leak report names the program. Only empty reads pay for this.
    for attempt in 0..CMDLINE_RETRIES {
        match fs::read(format!("/proc/{pid}/cmdline")) {
            Ok(raw) if !raw.is_empty() => {
                let parts: Vec<String> = raw
                    .split(|b| *b == 0)
                    .filter(|p| !p.is_empty())
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
                return parts.join(" ");
            }
            Ok(_) if attempt + 1 < CMDLINE_RETRIES && !is_zombie(pid) => {
                std::thread::sleep(std::time::Duration::from_micros(250));
            }
            _ => break,
        }
    }
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| format!("[{}]", c.trim()))
        .unwrap_or_else(|_| format!("[pid {pid}]"))
}

/// How many times an empty command line is read again (250 µs apart) before the process's
/// name stands in for it: about 2 ms, far longer than an exec takes.
const CMDLINE_RETRIES: usize = 8;

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .as_deref()
        .and_then(parse_stat_state_pgrp)
        .is_none_or(|(state, _)| state == 'Z' || state == 'X')
}

/// `SIGKILL` for 9, `signal 64` for numbers without a name.
/// The high-water mark of `pid`'s resident set (`VmHWM`), in bytes; `None` once it has exited
/// (a zombie has no address space) or when `/proc` does not show it.
pub fn peak_rss_of(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The children of `pid`, whichever of its threads started them
/// (`/proc/PID/task/*/children`); empty when it has none or the kernel does not list them.
pub fn children_of(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// warden's own peak resident set so far (`getrusage`), in bytes.
pub fn own_peak_rss() -> Option<u64> {
    // SAFETY: zeroed rusage is a valid value of a plain C struct; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is valid for writes.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return None;
    }
    Some(ru.ru_maxrss.max(0) as u64 * 1024)
}

pub fn signal_name(sig: i32) -> String {
    Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {sig}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name() {
        let line = "1234 (a) b (c)) S 1 777 777 0 -1 4194560 ...";
        assert_eq!(parse_stat_state_pgrp(line), Some(('S', 777)));
    }

    /// Other tests of this binary have children too: every pid but ours counts as claimed.
    #[test]
    fn reaps_an_exited_child_unless_it_is_claimed() {
        let pid = std::process::Command::new("true").spawn().unwrap().id() as i32;
        let zombie = || {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .as_deref()
                .and_then(parse_stat_state_pgrp)
                .is_some_and(|(state, _)| state == 'Z')
        };
        let t = std::time::Instant::now();
        while !zombie() {
            assert!(t.elapsed() < std::time::Duration::from_secs(10));
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(any_exited_child());
        // Claimed: left for its owner.
        assert_eq!(reap_orphans(|_| true), 0);
        assert!(zombie());
        assert_eq!(reap_orphans(|p| p != pid), 1);
        assert!(!zombie());
        let gone = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
        assert_eq!(gone, Err(Errno::ECHILD));
    }

    #[test]
    fn start_time_identifies_this_process() {
        let me = std::process::id() as i32;
        let t = start_time(me).unwrap();
        assert!(t > 0);
        assert_eq!(start_time(me), Some(t));
        assert_eq!(start_time(i32::MAX), None);
    }

    #[test]
    fn finds_processes_by_environment_token() {
        let token = format!(
            "WARDEN_UNIT_TOKEN={}-{:?}",
            std::process::id(),
            std::time::Instant::now()
        );
        let (k, v) = token.split_once('=').unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(k, v)
            .spawn()
            .unwrap();
        let found = processes_with_env(std::slice::from_ref(&token));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pid, child.id() as i32);
        assert!(processes_with_env(&[format!("{token}-other")]).is_empty());
    }

    #[test]
    fn names_signals() {
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(200), "signal 200");
    }

    #[test]
    fn finds_members_of_a_real_group() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        let members = group_members(pgid);
        assert_eq!(members.len(), 1, "{members:?}");
        assert_eq!(members[0].pid, pgid);
        assert_eq!(members[0].cmd, "sleep 30");
        assert!(signal_group(pgid, Signal::SIGKILL));
        child.wait().unwrap();
        assert!(group_members(pgid).is_empty());
    }
}
