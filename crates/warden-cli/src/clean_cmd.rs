//! `warden clean [--dry-run]`: find runs whose warden is dead and remove what they left —
//! processes carrying their token, cgroups, containers, temp dirs — and containers of any dead
//! warden the registry does not know (the sweep is the engine's, [`warden::watchdog::sweep`];
//! every run starts with a short one).

use std::fmt::Write as _;
use std::time::{Duration, Instant};
use warden::exit_code::ExitCode;

use warden::container::{Engine, EngineChoice};
use warden::watchdog::{sweep, Reaped};

/// The engines installed here (not checked: one that does not answer is reported by
/// the sweep).
fn installed_engines() -> Vec<Engine> {
    [EngineChoice::Docker, EngineChoice::Podman]
        .into_iter()
        .filter_map(|c| Engine::find(c).ok())
        .collect()
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
    if !r.containers.is_empty() {
        let names: Vec<&str> = r.containers.iter().map(|c| c.name.as_str()).collect();
        parts.push(format!(
            "{remove} {} container{} ({})",
            r.containers.len(),
            if r.containers.len() == 1 { "" } else { "s" },
            names.join(", ")
        ));
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

/// How long `warden clean` spends removing directories before it stops and says what is left.
const CLEAN_BUDGET: Duration = Duration::from_secs(60);

pub fn run_clean(dry_run: bool) -> ExitCode {
    let swept = sweep(
        dry_run,
        &installed_engines(),
        Instant::now() + CLEAN_BUDGET,
        &|| false,
    );
    for p in &swept.problems {
        eprintln!("warning: {p}");
    }
    if swept.reaped.is_empty() {
        println!("nothing to clean");
    }
    for r in &swept.reaped {
        println!("{}", describe(r, dry_run));
    }
    ExitCode::PASSED
}
