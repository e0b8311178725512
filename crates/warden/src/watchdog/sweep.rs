//! The sweep of dead runs: every run in the registry whose warden is dead is reaped (processes
//! carrying its token, cgroups, containers, temp dirs), then the containers of any dead warden
//! the registry does not know. `warden clean` runs it with a long budget; every run starts with
//! a short one.

use std::path::Path;
use std::time::Instant;

use super::{reap_run, Reaped};
use crate::container::{remove_orphan_containers, Engine};
use crate::state::registry::{self, RunEntry};

/// Marker in the registry directory: a run of this user used containers at least once, so an
/// engine that cannot be asked about leftovers is worth a warning.
const CONTAINERS_USED: &str = "containers-used";

/// Remember that this user's runs use containers (see [`CONTAINERS_USED`]).
pub fn note_containers_used(registry_dir: &Path) {
    let _ = std::fs::write(registry_dir.join(CONTAINERS_USED), "");
}

/// What a sweep removed (or would have, `dry_run`), and what went wrong, in words.
#[derive(Debug, Default)]
pub struct Swept {
    pub reaped: Vec<Reaped>,
    pub problems: Vec<String>,
}

/// Reap every dead run in the registry, then the containers of dead wardens on `engines`.
/// Directories are removed until `deadline`, and the sweep ends early when `stop` says so (a
/// signal): what is left stays in the registry for the next sweep.
pub fn sweep(
    dry_run: bool,
    engines: &[Engine],
    deadline: Instant,
    stop: &dyn Fn() -> bool,
) -> Swept {
    let dir = registry::registry_dir();
    // An engine this user cannot talk to (docker without the docker group) holds no container
    // of theirs unless one of their runs ever used containers: only then is it news.
    let containers_used = dir.join(CONTAINERS_USED).exists();
    let mut swept = Swept::default();
    for entry in registry::entries(&dir) {
        let entry: RunEntry = match entry {
            Ok(e) => e,
            Err(e) => {
                swept.problems.push(e.to_string());
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
        swept.problems.extend(r.problems.iter().cloned());
        swept.reaped.push(r);
    }
    for engine in engines {
        match remove_orphan_containers(engine, dry_run) {
            Ok(found) => {
                // Grouped by run, as if the registry had known them.
                for c in found {
                    match swept.reaped.iter_mut().find(|r| r.run_id == c.run_id) {
                        Some(r) if !r.containers.iter().any(|k| k.id == c.id) => {
                            r.containers.push(c)
                        }
                        Some(_) => {}
                        None => swept.reaped.push(Reaped {
                            run_id: c.run_id.clone(),
                            containers: vec![c],
                            ..Reaped::default()
                        }),
                    }
                }
            }
            Err(e) if containers_used => swept
                .problems
                .push(format!("cannot look for leftover containers: {e}")),
            Err(_) => {}
        }
    }
    swept
}
