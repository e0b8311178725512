//! `warden clean [--dry-run]`: find runs whose warden is dead and remove what they left —
//! processes carrying their token, cgroups, containers, temp dirs — and containers of any dead
//! warden the registry does not know. Also run quietly at the start of every run.

use std::fmt::Write as _;
use std::time::{Duration, Instant};
use warden::exit_code::ExitCode;

use warden::container::{remove_orphan_containers, Engine, EngineChoice};
use warden::state::registry::{self, RunEntry};
use warden::watchdog::{reap_run, Reaped};

/// Marker in the registry directory: a run of this user used containers at least once, so an
/// engine that cannot be asked about leftovers is worth a warning.
const CONTAINERS_USED: &str = "containers-used";

/// Remember that this user's runs use containers (see [`CONTAINERS_USED`]).
pub fn note_containers_used(registry_dir: &std::path::Path) {
    let _ = std::fs::write(registry_dir.join(CONTAINERS_USED), "");
}

/// Reap every dead run in the registry, then the containers of dead wardens on `engines`;
/// returns what was removed (or would be) and what went wrong. Directories are removed until
/// `deadline` and the sweep ends early when `stop` says so (a signal): what is left stays in
/// the registry for the next sweep.
pub fn sweep(
    dry_run: bool,
    engines: &[Engine],
    deadline: Instant,
    stop: &dyn Fn() -> bool,
) -> (Vec<Reaped>, Vec<String>) {
    let dir = registry::registry_dir();
    // An engine this user cannot talk to (docker without the docker group) holds no container
    // of theirs unless one of their runs ever used containers: only then is it news.
    let containers_used = dir.join(CONTAINERS_USED).exists();
    let mut reaped = Vec::new();
    let mut problems = Vec::new();
    for entry in registry::entries(&dir) {
        let entry: RunEntry = match entry {
            Ok(e) => e,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        if entry.owner_alive() {
            continue;
        }
        if stop() {
            break;
        }
        let r = reap_run(
            &entry,
            "warden died; `warden clean` ended the run",
            dry_run,
            deadline,
            stop,
        );
        if !dry_run && r.left.is_empty() {
            registry::unregister(&dir, &entry.run_id);
        }
        problems.extend(r.problems.iter().cloned());
        reaped.push(r);
    }
    for engine in engines {
        match remove_orphan_containers(engine, dry_run) {
            Ok(found) => {
                // Grouped by run, as if the registry had known them.
                for c in found {
                    match reaped.iter_mut().find(|r| r.run_id == c.run_id) {
                        Some(r) if !r.containers.iter().any(|k| k.id == c.id) => {
                            r.containers.push(c)
                        }
                        Some(_) => {}
                        None => reaped.push(Reaped {
                            run_id: c.run_id.clone(),
                            containers: vec![c],
                            ..Reaped::default()
                        }),
                    }
                }
            }
            Err(e) if containers_used => {
                problems.push(format!("cannot look for leftover containers: {e}"))
            }
            Err(_) => {}
        }
    }
    (reaped, problems)
}

/// The engines installed here (not checked: one that does not answer is reported by
/// [`sweep`]).
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
    let (reaped, problems) = sweep(
        dry_run,
        &installed_engines(),
        Instant::now() + CLEAN_BUDGET,
        &|| false,
    );
    for p in &problems {
        eprintln!("warning: {p}");
    }
    if reaped.is_empty() {
        println!("nothing to clean");
    }
    for r in &reaped {
        println!("{}", describe(r, dry_run));
    }
    ExitCode::PASSED
}
