//! Process groups on Linux, read from `/proc`.

use std::fs;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::events::Leak;

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
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
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

fn signal_group_probe(pgid: i32) -> bool {
    killpg(Pid::from_raw(pgid), None).is_ok()
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
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) if !raw.is_empty() => {
            let parts: Vec<String> = raw
                .split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            parts.join(" ")
        }
        _ => fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| format!("[{}]", c.trim()))
            .unwrap_or_else(|_| format!("[pid {pid}]")),
    }
}

/// `SIGKILL` for 9, `signal 64` for numbers without a name.
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
