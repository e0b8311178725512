//! A container's peak memory and CPU time, as a process's are measured: from its cgroup. The
//! engine made that cgroup, so it is found through the container's init process (`inspect`
//! gives its pid once the container runs) and read while the container lives: it goes with
//! the container. Figures are as of the last look (every [`EVERY`]): the high-water mark is
//! exact up to then, CPU time after it is missed; a container gone before the first look has
//! none. An engine on another host or in another pid namespace gives none either.

use std::time::Duration;

use tokio::time::Instant;

use super::run::engine_cmd_within;
use super::spec::ContainerSpec;
use crate::supervise::os::foreign::{ForeignCgroup, ForeignUsage};

/// How often the container's cgroup is read once found.
const EVERY: Duration = Duration::from_millis(100);
/// How often, and how many times, the container is looked for before it runs.
const LOOK_FOR: Duration = Duration::from_millis(50);
const LOOKS: u32 = 100;
/// How many times `inspect` is asked for the init's pid (each costs an engine command), and
/// how long one may take: the driver waits for it, so a slow daemon must not hold up the
/// test's timeout for long.
const INSPECTS: u32 = 10;
const INSPECT_LIMIT: Duration = Duration::from_secs(2);

pub(super) struct Measure {
    found: Option<ForeignCgroup>,
    looks: u32,
    inspects: u32,
    next: Option<Instant>,
    last: ForeignUsage,
    peak: Option<u64>,
}

impl Measure {
    pub fn new() -> Measure {
        Measure {
            found: None,
            looks: 0,
            inspects: 0,
            next: Some(Instant::now() + LOOK_FOR),
            last: ForeignUsage::default(),
            peak: None,
        }
    }

    pub fn due(&self) -> Option<Instant> {
        self.next
    }

    pub async fn sample(&mut self, spec: &ContainerSpec) {
        if self.found.is_none() {
            self.look_for(spec).await;
        }
        if let Some(cg) = &self.found {
            let u = cg.read();
            self.peak = self.peak.max(u.mem_bytes);
            if u.cpu_ns.is_some() {
                self.last.cpu_ns = u.cpu_ns;
            }
            self.next = Some(Instant::now() + EVERY);
        }
    }

    /// Find the cgroup: the cidfile says the container exists, `inspect` gives its init's pid
    /// once it runs. Gives up after a bounded number of tries.
    async fn look_for(&mut self, spec: &ContainerSpec) {
        self.looks += 1;
        self.next =
            (self.looks < LOOKS && self.inspects < INSPECTS).then(|| Instant::now() + LOOK_FOR);
        let id = std::fs::read_to_string(&spec.cidfile).unwrap_or_default();
        let id = id.trim();
        if id.is_empty() {
            return;
        }
        self.inspects += 1;
        let args = [
            "inspect",
            "--type",
            "container",
            "--format",
            "{{.State.Pid}}",
            id,
        ];
        let Some(out) = engine_cmd_within(&spec.engine, &args, INSPECT_LIMIT).await else {
            return;
        };
        let pid: i32 = out.stdout.trim().parse().unwrap_or(0);
        if pid > 0 {
            self.found = ForeignCgroup::of_pid(pid, id);
            if self.found.is_none() {
                // Not visible from here: nothing to measure.
                self.next = None;
            }
        }
    }

    /// Peak memory in bytes and CPU time in ms, as of the last look.
    pub fn usage(&self) -> (Option<u64>, Option<u64>) {
        (self.peak, self.last.cpu_ns.map(|ns| ns / 1_000_000))
    }
}
