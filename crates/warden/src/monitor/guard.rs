//! The host guard (`--self-protect`) as a pure state machine: fed a reading, the running tests
//! and the time, it says how many tests may run at once and whether to act. It reads no clock
//! and no file, so every transition is tested with scripted readings.
//!
//! - CPU above its threshold: one test fewer than are running now (never fewer than one), at
//!   most one step per `cpu_step`. Under it: one more, but only when one more test's share
//!   (estimated as the current share over the running tests) still fits under the threshold,
//!   so that a CPU-bound suite settles instead of oscillating.
//! - Memory above its threshold: start none. Still above after `hold`: terminate the youngest
//!   running test and requeue it (again after each further `hold`). Still above `grace` after
//!   the first requeue, or with nothing left to requeue, or when the youngest test was already
//!   requeued once (it would only come back and do the same): shut down.

use std::time::{Duration, Instant};

use super::host::Reading;

/// Memory counts as back under the threshold only this many points below it, so that a host
/// hovering at the threshold does not flip between "start none" and "start" every sample.
pub const MEM_HYSTERESIS: f64 = 1.0;

#[derive(Debug, Clone, PartialEq)]
pub struct GuardConfig {
    /// The run's worker count: the most tests ever allowed at once.
    pub max_workers: usize,
    /// Host CPU busy share (percent) above which fewer tests run.
    pub cpu_threshold: f64,
    /// Host memory in use (percent) above which no test starts.
    pub mem_threshold: f64,
    /// How long memory may stay above before the youngest test is requeued.
    pub hold: Duration,
    /// How long after the first requeue memory may take to come back under before shutdown.
    pub grace: Duration,
    /// Least time between two changes of the CPU-driven limit: each change needs a fresh CPU
    /// window to show its effect.
    pub cpu_step: Duration,
}

impl GuardConfig {
    /// Defaults for everything but the thresholds and the grace.
    pub fn new(
        max_workers: usize,
        cpu_threshold: f64,
        mem_threshold: f64,
        grace: Duration,
    ) -> Self {
        GuardConfig {
            max_workers: max_workers.max(1),
            cpu_threshold,
            mem_threshold,
            hold: Duration::from_millis(200),
            grace,
            cpu_step: Duration::from_secs(1),
        }
    }
}

/// A running test as the guard sees it. `key` is the caller's handle, returned in
/// [`Action::Requeue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunningTest {
    pub key: u64,
    pub started: Instant,
    /// The guard requeued this test before.
    pub requeued_before: bool,
    /// Already being terminated (requeued, cancelled): not a candidate, not counted for CPU.
    pub terminating: bool,
    /// Runs alone because the guard stopped an earlier run while it ran (`--resume`): when it
    /// keeps memory above the threshold it is failed, not requeued or shut down for, so that
    /// the run can finish.
    pub alone: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunningState {
    pub tests: Vec<RunningTest>,
}

impl RunningState {
    fn active(&self) -> usize {
        self.tests.iter().filter(|t| !t.terminating).count()
    }

    /// The most recently started test that is not already being terminated (ties: the
    /// highest key, so the choice does not depend on the order of the list).
    fn youngest(&self) -> Option<&RunningTest> {
        self.tests
            .iter()
            .filter(|t| !t.terminating)
            .max_by_key(|t| (t.started, t.key))
    }
}

/// What the guard wants done, with the reason in words (the readings behind it included).
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The number of tests allowed at once changed (down or back up).
    Throttle { allowed: usize, reason: String },
    /// Terminate the running test `key` and queue it to run again later.
    Requeue { key: u64, reason: String },
    /// Terminate the running test `key` and report it failed: it ran alone, after it was
    /// running when the guard stopped an earlier run, and still fills memory.
    Fail { key: u64, reason: String },
    /// Terminate everything, save the checkpoint, exit 42.
    Shutdown { reason: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// How many tests may run at once from now on (0 = start none). Tests already running
    /// above this number are left to finish.
    pub allowed: usize,
    pub action: Option<Action>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Memory {
    Under,
    Over {
        since: Instant,
        first_requeue: Option<Instant>,
        last_requeue: Option<Instant>,
    },
}

#[derive(Debug, Clone)]
pub struct Guard {
    config: GuardConfig,
    cpu_limit: usize,
    last_cpu_change: Option<Instant>,
    memory: Memory,
    shut_down: bool,
}

impl Guard {
    pub fn new(config: GuardConfig) -> Guard {
        Guard {
            cpu_limit: config.max_workers.max(1),
            config,
            last_cpu_change: None,
            memory: Memory::Under,
            shut_down: false,
        }
    }

    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Tests allowed at once as of the last decision.
    pub fn allowed(&self) -> usize {
        if self.shut_down || self.memory != Memory::Under {
            0
        } else {
            self.cpu_limit
        }
    }

    pub fn decide(&mut self, reading: &Reading, running: &RunningState, now: Instant) -> Decision {
        if self.shut_down {
            return self.decision(None);
        }
        let cpu_reason = self.step_cpu(reading, running, now);
        let mem_action = self.step_memory(reading, running, now);
        let action = match mem_action {
            Some(a) => Some(a),
            // A CPU step is news only while memory lets tests start at all.
            None if self.memory == Memory::Under => cpu_reason.map(|reason| Action::Throttle {
                allowed: self.cpu_limit,
                reason,
            }),
            None => None,
        };
        if matches!(action, Some(Action::Shutdown { .. })) {
            self.shut_down = true;
        }
        self.decision(action)
    }

    fn decision(&self, action: Option<Action>) -> Decision {
        Decision {
            allowed: self.allowed(),
            action,
        }
    }

    /// Moves the CPU-driven limit one step when the reading calls for it; the reason when it
    /// moved.
    fn step_cpu(&mut self, r: &Reading, running: &RunningState, now: Instant) -> Option<String> {
        let cpu = r.cpu_percent?;
        if self
            .last_cpu_change
            .is_some_and(|t| now.duration_since(t) < self.config.cpu_step)
        {
            return None;
        }
        let threshold = pct(self.config.cpu_threshold);
        let limit = self.config.cpu_threshold;
        let active = running.active();
        let new_limit = if cpu > limit {
            // Until earlier reductions took effect (tests finished), there is nothing to add.
            let target = active.saturating_sub(1).max(1);
            (target < self.cpu_limit).then_some(target)?
        } else {
            let per_test = if active > 0 { cpu / active as f64 } else { 0.0 };
            let fits = cpu + per_test <= limit;
            (fits && self.cpu_limit < self.config.max_workers).then_some(self.cpu_limit + 1)?
        };
        let direction = if new_limit < self.cpu_limit {
            "above"
        } else {
            "under"
        };
        self.cpu_limit = new_limit;
        self.last_cpu_change = Some(now);
        Some(format!(
            "cpu {cpu:.1}% {direction} the {threshold}% threshold with {active} running: at most {new_limit} at once"
        ))
    }

    fn step_memory(&mut self, r: &Reading, running: &RunningState, now: Instant) -> Option<Action> {
        let mem = r.mem_used_percent;
        let limit = self.config.mem_threshold;
        let threshold = pct(limit);
        match self.memory {
            Memory::Under if mem > limit => {
                self.memory = Memory::Over {
                    since: now,
                    first_requeue: None,
                    last_requeue: None,
                };
                Some(Action::Throttle {
                    allowed: 0,
                    reason: format!(
                        "memory {mem:.1}% above the {threshold}% threshold: starting no tests"
                    ),
                })
            }
            Memory::Under => None,
            Memory::Over { .. } if mem <= limit - MEM_HYSTERESIS => {
                self.memory = Memory::Under;
                Some(Action::Throttle {
                    allowed: self.cpu_limit,
                    reason: format!(
                        "memory {mem:.1}% back under the {threshold}% threshold: at most {} at once",
                        self.cpu_limit
                    ),
                })
            }
            // Under the threshold but not yet by the hysteresis margin: keep starting none,
            // but neither requeue nor shut down (SPEC §6: shutdown only while above it).
            Memory::Over { .. } if mem <= limit => None,
            Memory::Over {
                since,
                first_requeue,
                last_requeue,
            } => {
                let hold = self.config.hold;
                let grace = self.config.grace;
                if let Some(first) = first_requeue {
                    if now.duration_since(first) >= grace {
                        return Some(Action::Shutdown {
                            reason: format!(
                                "memory {mem:.1}% still above the {threshold}% threshold {} after requeueing a test",
                                secs(grace)
                            ),
                        });
                    }
                }
                let waited_from = last_requeue.unwrap_or(since);
                if now.duration_since(waited_from) < hold {
                    return None;
                }
                match running.youngest() {
                    Some(t) if t.alone => {
                        self.memory = Memory::Over {
                            since,
                            first_requeue: Some(first_requeue.unwrap_or(now)),
                            last_requeue: Some(now),
                        };
                        Some(Action::Fail {
                            key: t.key,
                            reason: format!(
                                "memory {mem:.1}% above the {threshold}% threshold for {} with this test running alone (it was running when the guard stopped the run it resumes): failing it so the run can finish",
                                secs(now.duration_since(since))
                            ),
                        })
                    }
                    Some(t) if t.requeued_before => Some(Action::Shutdown {
                        reason: format!(
                            "memory {mem:.1}% above the {threshold}% threshold again, and the youngest test was requeued once already"
                        ),
                    }),
                    Some(t) => {
                        self.memory = Memory::Over {
                            since,
                            first_requeue: Some(first_requeue.unwrap_or(now)),
                            last_requeue: Some(now),
                        };
                        Some(Action::Requeue {
                            key: t.key,
                            reason: format!(
                                "memory {mem:.1}% above the {threshold}% threshold for {}: terminating the youngest test to run it again later",
                                secs(now.duration_since(since))
                            ),
                        })
                    }
                    // Nothing of ours to stop: the host is full of something else. Give it the
                    // grace to clear before giving up.
                    None if first_requeue.is_none() && now.duration_since(since) >= hold.saturating_add(grace) => {
                        Some(Action::Shutdown {
                            reason: format!(
                                "memory {mem:.1}% above the {threshold}% threshold for {} with no test to requeue",
                                secs(now.duration_since(since))
                            ),
                        })
                    }
                    None => None,
                }
            }
        }
    }
}

/// `90`, `87.5`, `0.7`: a threshold as a person wrote it, not `0.650442609091753`.
fn pct(p: f64) -> String {
    let text = format!("{p:.1}");
    text.strip_suffix(".0").unwrap_or(&text).to_string()
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(cpu: Option<f64>, mem: f64) -> Reading {
        Reading {
            cpu_percent: cpu,
            mem_used_percent: mem,
            mem_total_bytes: 1 << 30,
            mem_available_bytes: ((1u64 << 30) as f64 * (100.0 - mem) / 100.0) as u64,
            cpu_pressure: None,
            mem_pressure: None,
        }
    }

    fn config() -> GuardConfig {
        GuardConfig::new(4, 80.0, 90.0, Duration::from_secs(5))
    }

    struct Script {
        guard: Guard,
        t0: Instant,
        running: Vec<RunningTest>,
    }

    impl Script {
        fn new(config: GuardConfig) -> Self {
            Script {
                guard: Guard::new(config),
                t0: Instant::now(),
                running: Vec::new(),
            }
        }
        fn start(&mut self, key: u64, at_ms: u64) {
            self.running.push(RunningTest {
                key,
                started: self.t0 + Duration::from_millis(at_ms),
                requeued_before: false,
                terminating: false,
                alone: false,
            });
        }
        fn at(&mut self, ms: u64, cpu: Option<f64>, mem: f64) -> Decision {
            let state = RunningState {
                tests: self.running.clone(),
            };
            self.guard.decide(
                &reading(cpu, mem),
                &state,
                self.t0 + Duration::from_millis(ms),
            )
        }
    }

    fn throttle_to(d: &Decision) -> Option<usize> {
        match &d.action {
            Some(Action::Throttle { allowed, .. }) => Some(*allowed),
            _ => None,
        }
    }

    #[test]
    fn quiet_host_allows_every_worker_and_says_nothing() {
        let mut s = Script::new(config());
        s.start(1, 0);
        for ms in [0, 500, 1000, 5000] {
            let d = s.at(ms, Some(30.0), 40.0);
            assert_eq!(d.allowed, 4);
            assert_eq!(d.action, None);
        }
        // No CPU share yet (first window): nothing changes either.
        assert_eq!(s.at(6000, None, 40.0).allowed, 4);
    }

    #[test]
    fn cpu_above_reduces_one_below_running_never_below_one() {
        let mut s = Script::new(config());
        for k in 0..4 {
            s.start(k, 0);
        }
        let d = s.at(0, Some(95.0), 40.0);
        assert_eq!(throttle_to(&d), Some(3));
        assert_eq!(d.allowed, 3);
        let Some(Action::Throttle { reason, .. }) = &d.action else {
            unreachable!()
        };
        assert!(
            reason.contains("cpu 95.0% above the 80% threshold"),
            "{reason}"
        );
        // Within the CPU step: no second change on the same evidence.
        assert_eq!(s.at(500, Some(95.0), 40.0).action, None);
        // Still 4 running (the reduction has not taken effect): nothing more to take away.
        assert_eq!(s.at(1500, Some(95.0), 40.0).action, None);
        // Once tests finished and it is still too busy: one fewer than now, down to one.
        s.running.truncate(2);
        assert_eq!(throttle_to(&s.at(2500, Some(95.0), 40.0)), Some(1));
        s.running.truncate(1);
        let d = s.at(4000, Some(99.0), 40.0);
        assert_eq!(d.action, None, "never below one");
        assert_eq!(d.allowed, 1);
    }

    #[test]
    fn cpu_under_restores_step_by_step_when_one_more_fits() {
        let mut s = Script::new(config());
        for k in 0..2 {
            s.start(k, 0);
        }
        assert_eq!(throttle_to(&s.at(0, Some(100.0), 40.0)), Some(1));
        s.running.truncate(1);
        // One CPU-bound test alone takes 50%: a second would make 100% > 80%: stay at one.
        assert_eq!(s.at(1000, Some(50.0), 40.0).action, None);
        assert_eq!(s.guard.allowed(), 1);
        // The host calmed down (the test is lighter than thought): one more at a time.
        assert_eq!(throttle_to(&s.at(2000, Some(30.0), 40.0)), Some(2));
        assert_eq!(
            s.at(2500, Some(10.0), 40.0).action,
            None,
            "one step a second"
        );
        let d = s.at(3000, Some(10.0), 40.0);
        assert_eq!(throttle_to(&d), Some(3));
        let Some(Action::Throttle { reason, .. }) = &d.action else {
            unreachable!()
        };
        assert!(reason.contains("under the 80% threshold"), "{reason}");
        assert_eq!(throttle_to(&s.at(4000, Some(10.0), 40.0)), Some(4));
        // Never above the worker count.
        assert_eq!(s.at(5000, Some(1.0), 40.0).action, None);
        assert_eq!(s.guard.allowed(), 4);
    }

    #[test]
    fn memory_above_starts_none_and_recovers_with_hysteresis() {
        let mut s = Script::new(config());
        s.start(1, 0);
        let d = s.at(0, Some(10.0), 91.0);
        assert_eq!(d.allowed, 0);
        assert_eq!(throttle_to(&d), Some(0));
        // Under the threshold, but not by the hysteresis margin: still none.
        let d = s.at(100, Some(10.0), 89.5);
        assert_eq!((d.allowed, d.action), (0, None));
        let d = s.at(150, Some(10.0), 88.0);
        assert_eq!(throttle_to(&d), Some(4));
        assert_eq!(d.allowed, 4);
    }

    #[test]
    fn memory_still_above_after_hold_requeues_the_youngest() {
        let mut s = Script::new(config());
        s.start(10, 0);
        s.start(11, 300);
        s.start(12, 100);
        s.at(400, None, 95.0);
        assert_eq!(s.at(550, None, 95.0).action, None, "within the hold");
        let d = s.at(600, None, 95.0);
        assert_eq!(d.allowed, 0);
        let Some(Action::Requeue { key, reason }) = d.action else {
            panic!("{d:?}")
        };
        assert_eq!(key, 11);
        assert!(
            reason.contains("memory 95.0% above the 90% threshold for 0.2s"),
            "{reason}"
        );
        // The requeued test is terminating: the next candidate after another hold is 12.
        s.running[1].terminating = true;
        assert_eq!(s.at(700, None, 95.0).action, None);
        let d = s.at(800, None, 95.0);
        assert!(
            matches!(d.action, Some(Action::Requeue { key: 12, .. })),
            "{d:?}"
        );
        // Memory back under ends the episode.
        s.running.retain(|t| t.key == 10);
        assert_eq!(throttle_to(&s.at(900, None, 50.0)), Some(4));
    }

    #[test]
    fn memory_still_above_after_the_grace_shuts_down() {
        let mut s = Script::new(config());
        s.start(1, 0);
        s.at(0, None, 95.0);
        assert!(matches!(
            s.at(200, None, 95.0).action,
            Some(Action::Requeue { key: 1, .. })
        ));
        s.running[0].terminating = true;
        assert_eq!(s.at(5100, None, 95.0).action, None);
        let d = s.at(5200, None, 95.0);
        let Some(Action::Shutdown { reason }) = &d.action else {
            panic!("{d:?}")
        };
        assert!(
            reason.contains("still above the 90% threshold 5.0s after requeueing"),
            "{reason}"
        );
        assert_eq!(d.allowed, 0);
        // Shut down is final.
        let d = s.at(9000, Some(1.0), 10.0);
        assert_eq!((d.allowed, d.action), (0, None));
    }

    #[test]
    fn memory_just_under_the_threshold_never_shuts_down() {
        let mut s = Script::new(config());
        s.start(1, 0);
        s.at(0, None, 95.0);
        assert!(matches!(
            s.at(200, None, 95.0).action,
            Some(Action::Requeue { key: 1, .. })
        ));
        s.running[0].terminating = true;
        // 89.5% is under 90% but within the 1-point hysteresis: hold, no shutdown, no start.
        let d = s.at(5300, None, 89.5);
        assert_eq!((d.allowed, d.action), (0, None));
        assert_eq!(throttle_to(&s.at(5400, None, 88.0)), Some(4));
    }

    #[test]
    fn a_test_requeued_before_that_fills_memory_again_shuts_down() {
        let mut s = Script::new(config());
        s.start(7, 0);
        s.running[0].requeued_before = true;
        s.at(1000, None, 93.0);
        let d = s.at(1200, None, 93.0);
        let Some(Action::Shutdown { reason }) = &d.action else {
            panic!("{d:?}")
        };
        assert!(reason.contains("requeued once already"), "{reason}");
    }

    /// A test that was running when the guard stopped the run it resumes runs alone; if it
    /// fills memory again it is failed (the run goes on), even when requeued before. If memory
    /// stays above after it is gone, the host is full of something else: shut down.
    #[test]
    fn a_test_running_alone_that_fills_memory_is_failed_not_shut_down_for() {
        let mut s = Script::new(config());
        s.start(3, 0);
        s.running[0].alone = true;
        s.running[0].requeued_before = true;
        s.at(1000, None, 96.0);
        let d = s.at(1200, None, 96.0);
        let Some(Action::Fail { key, reason }) = &d.action else {
            panic!("{d:?}")
        };
        assert_eq!(*key, 3);
        assert!(reason.contains("running alone"), "{reason}");
        assert_eq!(d.allowed, 0);
        // Gone, memory back under: the run goes on.
        s.running.clear();
        assert_eq!(throttle_to(&s.at(1400, None, 50.0)), Some(4));

        let mut s = Script::new(config());
        s.start(3, 0);
        s.running[0].alone = true;
        s.at(0, None, 96.0);
        assert!(matches!(
            s.at(200, None, 96.0).action,
            Some(Action::Fail { .. })
        ));
        s.running.clear();
        assert_eq!(s.at(5100, None, 96.0).action, None);
        assert!(matches!(
            s.at(5200, None, 96.0).action,
            Some(Action::Shutdown { .. })
        ));
    }

    #[test]
    fn memory_full_of_something_else_shuts_down_after_hold_and_grace() {
        let mut s = Script::new(config());
        assert_eq!(throttle_to(&s.at(0, None, 97.0)), Some(0));
        assert_eq!(s.at(5100, None, 97.0).action, None);
        let d = s.at(5200, None, 97.0);
        let Some(Action::Shutdown { reason }) = &d.action else {
            panic!("{d:?}")
        };
        assert!(reason.contains("with no test to requeue"), "{reason}");
    }

    #[test]
    fn cpu_changes_while_memory_is_over_are_silent_and_reported_on_recovery() {
        let mut s = Script::new(config());
        for k in 0..4 {
            s.start(k, 0);
        }
        assert_eq!(throttle_to(&s.at(0, Some(20.0), 95.0)), Some(0));
        // CPU is high too: the limit drops, but nothing starts anyway, so no separate news.
        let d = s.at(100, Some(99.0), 95.0);
        assert_eq!((d.allowed, d.action), (0, None));
        s.running.iter_mut().for_each(|t| t.terminating = true);
        let d = s.at(150, Some(99.0), 50.0);
        // Back under: the allowed count is the CPU limit decided meanwhile.
        assert_eq!(throttle_to(&d), Some(3));
    }
}
