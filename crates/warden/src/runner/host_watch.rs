//! The host guard inside the scheduler loop: when to sample, which samples become
//! `resource-sample` events, and the guard's decisions on each sample.

use std::time::Duration;

use tokio::time::Instant;

use crate::events::{EventKind, HostReading};
use crate::monitor::{
    Decision, Guard, GuardConfig, HostSampler, MonitorError, Reading, RunningState,
};

/// Sampling period while memory is far from its threshold (≥ 2 Hz as SPEC §6 asks).
const PERIOD: Duration = Duration::from_millis(250);
/// Sampling period when memory is near or above its threshold: a test allocating fast can
/// take gigabytes in a second, and each sample is a chance to stop it.
const FAST_PERIOD: Duration = Duration::from_millis(100);
/// "Near": this many points below the memory threshold.
const NEAR: f64 = 5.0;
/// `resource-sample` events are emitted at most this often (the JSON stream stays small).
const EVENT_PERIOD: Duration = Duration::from_millis(500);

/// Where readings of the host come from: `/proc` in a run, a script in the scheduler's tests.
pub trait HostSource: Send {
    fn sample(&mut self) -> Result<Reading, MonitorError>;
}

impl HostSource for HostSampler {
    fn sample(&mut self) -> Result<Reading, MonitorError> {
        HostSampler::sample(self)
    }
}

pub(super) struct HostWatch {
    sampler: Box<dyn HostSource>,
    /// `None`: only watching (for a report), never deciding.
    guard: Option<Guard>,
    /// The run's worker count: what an observer allows.
    workers: usize,
    next_sample: Instant,
    last_event: Option<Instant>,
    /// No test starts before the host was looked at once: it may be full already.
    sampled: bool,
}

/// What one sample produced.
pub(super) struct Tick {
    pub reading: HostReading,
    /// A `resource-sample` event, when one is due.
    pub sample_event: Option<EventKind>,
    pub decision: Decision,
}

impl HostWatch {
    pub fn new(config: GuardConfig, sampler: Box<dyn HostSource>) -> HostWatch {
        HostWatch {
            sampler,
            workers: config.max_workers,
            guard: Some(Guard::new(config)),
            next_sample: Instant::now(),
            last_event: None,
            sampled: false,
        }
    }

    /// Samples for `resource-sample` events without a guard: nothing is ever held back.
    pub fn observe(workers: usize, sampler: Box<dyn HostSource>) -> HostWatch {
        HostWatch {
            sampler,
            guard: None,
            workers,
            next_sample: Instant::now(),
            last_event: None,
            sampled: false,
        }
    }

    /// When the next sample is due.
    pub fn deadline(&self) -> Instant {
        self.next_sample
    }

    /// Tests allowed at once as of the last decision (none before the first sample).
    pub fn allowed(&self) -> usize {
        match &self.guard {
            None => self.workers,
            Some(guard) if self.sampled => guard.allowed(),
            Some(_) => 0,
        }
    }

    /// Sample the host and let the guard decide. An error means the host cannot be read at
    /// all (no `/proc`): the caller turns the guard off and says so.
    pub fn tick(&mut self, running: &RunningState, now: Instant) -> Result<Tick, MonitorError> {
        let reading = self.sampler.sample()?;
        let (decision, near) = match &mut self.guard {
            Some(guard) => (
                guard.decide(&reading, running, now.into_std()),
                reading.mem_used_percent >= guard.config().mem_threshold - NEAR,
            ),
            None => (
                Decision {
                    allowed: self.workers,
                    action: None,
                },
                false,
            ),
        };
        self.sampled = true;
        self.next_sample = now + if near { FAST_PERIOD } else { PERIOD };
        let host = host_reading(&reading);
        let due = self
            .last_event
            .is_none_or(|t| now.duration_since(t) >= EVENT_PERIOD);
        // Before the first CPU window ends there is no CPU share to report.
        let sample_event = (due && reading.cpu_percent.is_some()).then(|| {
            self.last_event = Some(now);
            EventKind::ResourceSample {
                reading: host,
                running: running.tests.len(),
            }
        });
        Ok(Tick {
            reading: host,
            sample_event,
            decision,
        })
    }
}

/// A reading as reported: percentages to one decimal, which is all they are worth.
fn host_reading(r: &Reading) -> HostReading {
    let round = |x: f64| (x * 10.0).round() / 10.0;
    HostReading {
        cpu_percent: r.cpu_percent.map(round),
        mem_used_percent: round(r.mem_used_percent),
        cpu_pressure: r.cpu_pressure,
        mem_pressure: r.mem_pressure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::{Action, RunningTest};

    /// Real samples of this host: a threshold far above its use gives samples and no action,
    /// events at most every EVENT_PERIOD; one at 0% makes the first sample stop starting
    /// tests.
    #[test]
    fn samples_the_real_host() {
        let config = GuardConfig::new(2, 100.0, 100.0, Duration::from_secs(5));
        let mut w = HostWatch::new(config, Box::new(HostSampler::new()));
        let t0 = Instant::now();
        let running = RunningState {
            tests: vec![RunningTest {
                key: 0,
                started: t0.into_std(),
                requeued_before: false,
                terminating: false,
                alone: false,
            }],
        };
        assert_eq!(w.allowed(), 0, "nothing starts before the first sample");
        let first = w.tick(&running, t0).unwrap();
        assert_eq!(w.allowed(), 2);
        assert!(first.sample_event.is_none(), "no CPU share yet");
        assert_eq!(first.decision.action, None);
        assert!(w.deadline() > t0);
        std::thread::sleep(crate::monitor::CPU_WINDOW + Duration::from_millis(50));
        let now = Instant::now();
        let second = w.tick(&running, now).unwrap();
        match second.sample_event {
            Some(EventKind::ResourceSample { reading, running }) => {
                assert_eq!(running, 1);
                assert!(reading.cpu_percent.is_some());
                assert!(reading.mem_used_percent > 0.0 && reading.mem_used_percent < 100.0);
            }
            other => panic!("{other:?}"),
        }
        let third = w.tick(&running, now + Duration::from_millis(100)).unwrap();
        assert!(third.sample_event.is_none(), "rate-limited");

        // An observer samples the same way and never holds a test back or acts.
        let mut observer = HostWatch::observe(3, Box::new(HostSampler::new()));
        assert_eq!(
            observer.allowed(),
            3,
            "an observer lets tests start at once"
        );
        let t1 = Instant::now();
        let first = observer.tick(&running, t1).unwrap();
        assert_eq!(
            first.decision,
            Decision {
                allowed: 3,
                action: None
            }
        );
        std::thread::sleep(crate::monitor::CPU_WINDOW + Duration::from_millis(50));
        let t2 = Instant::now();
        let second = observer.tick(&running, t2).unwrap();
        assert!(matches!(
            second.sample_event,
            Some(EventKind::ResourceSample { running: 1, .. })
        ));
        assert_eq!(second.decision.action, None);
        // No threshold to be near: the slow period, whatever the host's memory.
        assert_eq!(observer.next_sample, t2 + PERIOD);

        let mut strict = HostWatch::new(
            GuardConfig::new(2, 100.0, 0.0, Duration::from_secs(5)),
            Box::new(HostSampler::new()),
        );
        let d = strict.tick(&running, t0).unwrap().decision;
        assert_eq!(d.allowed, 0);
        assert!(matches!(
            d.action,
            Some(Action::Throttle { allowed: 0, .. })
        ));
        assert_eq!(strict.allowed(), 0);
        assert!(strict.deadline() <= t0 + FAST_PERIOD);
    }
}
