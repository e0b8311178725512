//! `warden clean [--dry-run]`: find runs whose warden is dead and remove what they left —
//! processes carrying their token, cgroups, temp dirs. Also run quietly at the start of every
//! run.

use std::fmt::Write as _;

use warden::state::registry::{self, RunEntry};
use warden::watchdog::{reap_run, Reaped};

/// Reap every dead run in the registry; returns what was removed (or would be).
pub fn sweep(dry_run: bool) -> (Vec<Reaped>, Vec<String>) {
    let dir = registry::registry_dir();
    let mut reaped = Vec::new();
    let mut problems = Vec::new();
    for entry in registry::entries(&dir) {
        let entry: RunEntry = match entry {
            Ok(e) => e,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        if entry.owner_alive() {
            continue;
        }
        let r = reap_run(&entry, "warden died; `warden clean` ended the run", dry_run);
        if !dry_run {
            registry::unregister(&dir, &entry.run_id);
        }
        reaped.push(r);
    }
    (reaped, problems)
}

/// `killed 2 processes (412 sleep 300, 415 sh -c x), removed cgroup …, removed …`
pub fn describe(r: &Reaped, dry_run: bool) -> String {
    let (kill, remove) = if dry_run {
        ("would kill", "would remove")
    } else {
        ("killed", "removed")
    };
    let mut parts = Vec::new();
    if !r.processes.is_empty() {
        let mut s = format!(
            "{kill} {} process{}",
            r.processes.len(),
            if r.processes.len() == 1 { "" } else { "es" }
        );
        let list: Vec<String> = r
            .processes
            .iter()
            .map(|p| format!("{} {}", p.pid, p.cmd))
            .collect();
        let _ = write!(s, " ({})", list.join(", "));
        parts.push(s);
    }
    for c in &r.cgroups {
        parts.push(format!("{remove} cgroup {}", c.display()));
    }
    for d in &r.dirs {
        parts.push(format!("{remove} {}", d.display()));
    }
    for p in &r.refused {
        parts.push(format!(
            "left {} alone (not named warden-{})",
            p.display(),
            r.run_id
        ));
    }
    if parts.is_empty() {
        parts.push("nothing left".to_string());
    }
    format!("dead run {}: {}", r.run_id, parts.join(", "))
}

pub fn run_clean(dry_run: bool) -> u8 {
    let (reaped, problems) = sweep(dry_run);
    for p in &problems {
        eprintln!("warning: {p}");
    }
    if reaped.is_empty() {
        println!("nothing to clean");
    }
    for r in &reaped {
        println!("{}", describe(r, dry_run));
    }
    0
}
