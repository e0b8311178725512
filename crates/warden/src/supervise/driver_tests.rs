//! The driver's phases on tokio's paused clock, with a scripted supervisee: when TERM and KILL
//! come, what a cancel does, leftovers after a normal end, a main end that never returns.
//! Real process trees and containers go through the same driver in process/tests.rs,
//! container/tests.rs and the integration tests.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, Instant};

use super::driver::{drive, DriveSpec, End, Finish, Stop, Supervisee};
use super::pause::{self, Freezable};
use super::process::{Cancel, Exit, ProcessOutcome};
use super::Usage;
use crate::events::{CapturedOutput, Leak};

/// How long the scripted test takes to go once a signal it obeys arrives.
const GOES_IN: Duration = Duration::from_millis(10);

type Log = Arc<Mutex<Vec<(Duration, Stop)>>>;

struct Fake {
    t0: Instant,
    /// When the main end returns by itself; `None`: never.
    ends_at: Option<Instant>,
    /// The weakest signal that ends it (`Term`: TERM or KILL; `Kill`: KILL only); `None`:
    /// nothing does (a CLI that hangs).
    obeys: Option<Stop>,
    leftovers: Vec<Leak>,
    kill_wait: Option<Duration>,
    log: Log,
}

impl Fake {
    fn new(runs_for: Option<Duration>, obeys: Option<Stop>) -> (Fake, Log) {
        let t0 = Instant::now();
        let log = Log::default();
        let fake = Fake {
            t0,
            ends_at: runs_for.map(|d| t0 + d),
            obeys,
            leftovers: Vec::new(),
            kill_wait: None,
            log: log.clone(),
        };
        (fake, log)
    }
}

struct Nothing;

impl Freezable for Nothing {
    fn freeze(&self) {}
    fn thaw(&self) {}
}

impl Supervisee for Fake {
    fn register_pause(&self) -> pause::Registration {
        pause::register(Box::new(Nothing))
    }

    async fn wait(&mut self) -> io::Result<ExitStatus> {
        match self.ends_at {
            Some(at) => sleep_until(at).await,
            None => std::future::pending().await,
        }
        Ok(ExitStatus::from_raw(0))
    }

    fn sample_due(&self) -> Option<Instant> {
        None
    }

    async fn sample(&mut self) {}

    async fn leftovers(&mut self) -> Vec<Leak> {
        std::mem::take(&mut self.leftovers)
    }

    async fn signal(&mut self, stop: Stop) {
        self.log.lock().unwrap().push((self.t0.elapsed(), stop));
        let ends = matches!(
            (self.obeys, stop),
            (Some(Stop::Term), _) | (Some(Stop::Kill), Stop::Kill)
        );
        if ends {
            let at = Instant::now() + GOES_IN;
            self.ends_at = Some(self.ends_at.map_or(at, |e| e.min(at)));
        }
    }

    fn is_gone(&self) -> bool {
        true
    }

    fn kill_wait(&self) -> Option<Duration> {
        self.kill_wait
    }

    async fn force_end(&mut self) -> (io::Result<ExitStatus>, String) {
        self.ends_at = Some(Instant::now());
        (Ok(ExitStatus::from_raw(9)), "forced".to_string())
    }

    async fn finish(self, end: End, _: &CapturedOutput) -> Finish {
        let exit = match end {
            End::Stopped(e) => e,
            End::Returned(st) => Exit::Code(st.ok().and_then(|s| s.code()).unwrap_or(-1)),
        };
        Finish {
            exit,
            usage: Usage::default(),
            notes: Vec::new(),
        }
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn run(fake: Fake, cancel: watch::Receiver<Cancel>) -> ProcessOutcome {
    let spec = DriveSpec {
        timeout: ms(1000),
        grace: ms(300),
        capture: None,
    };
    let started = fake.t0;
    drive(fake, started, None, spec, cancel).await
}

fn signals(log: &Log) -> Vec<(Duration, Stop)> {
    log.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn past_its_timeout_a_test_gets_term_then_kill_after_the_grace() {
    let (fake, log) = Fake::new(None, Some(Stop::Kill));
    let (_tx, rx) = watch::channel(Cancel::No);
    let out = run(fake, rx).await;
    assert_eq!(out.exit, Exit::TimedOut);
    assert_eq!(
        signals(&log),
        [(ms(1000), Stop::Term), (ms(1300), Stop::Kill)]
    );
    assert_eq!(out.duration, ms(1300) + GOES_IN);
}

#[tokio::test(start_paused = true)]
async fn a_test_that_obeys_term_gets_no_kill() {
    let (fake, log) = Fake::new(None, Some(Stop::Term));
    let (_tx, rx) = watch::channel(Cancel::No);
    let out = run(fake, rx).await;
    assert_eq!(out.exit, Exit::TimedOut);
    assert_eq!(signals(&log), [(ms(1000), Stop::Term)]);
}

#[tokio::test(start_paused = true)]
async fn a_graceful_cancel_terms_and_a_second_one_kills_at_once() {
    let (fake, log) = Fake::new(None, Some(Stop::Kill));
    let (tx, rx) = watch::channel(Cancel::No);
    let canceller = tokio::spawn(async move {
        sleep(ms(500)).await;
        tx.send(Cancel::Graceful).unwrap();
        sleep(ms(100)).await;
        tx.send(Cancel::Now).unwrap();
        tx
    });
    let out = run(fake, rx).await;
    drop(canceller.await);
    assert_eq!(out.exit, Exit::Cancelled);
    assert_eq!(
        signals(&log),
        [(ms(500), Stop::Term), (ms(600), Stop::Kill)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_test_ending_by_itself_is_not_signalled_unless_it_left_something() {
    let (fake, log) = Fake::new(Some(ms(200)), Some(Stop::Term));
    let (_tx, rx) = watch::channel(Cancel::No);
    let out = run(fake, rx).await;
    assert_eq!((out.exit, out.duration), (Exit::Code(0), ms(200)));
    assert!(signals(&log).is_empty() && out.leaked.is_empty());

    let (mut fake, log) = Fake::new(Some(ms(200)), Some(Stop::Term));
    fake.leftovers = vec![Leak {
        pid: 4242,
        cmd: "sleep 300".into(),
    }];
    let (_tx, rx) = watch::channel(Cancel::No);
    let out = run(fake, rx).await;
    assert_eq!(out.exit, Exit::Code(0));
    assert_eq!(out.leaked.len(), 1);
    assert_eq!(signals(&log), [(ms(200), Stop::Term)]);
}

#[tokio::test(start_paused = true)]
async fn a_main_end_that_never_returns_is_forced_after_the_kill_wait() {
    let (mut fake, log) = Fake::new(None, None);
    fake.kill_wait = Some(ms(1900));
    let (_tx, rx) = watch::channel(Cancel::No);
    let out = run(fake, rx).await;
    assert_eq!(out.exit, Exit::TimedOut);
    assert!(out.notes.contains(&"forced".to_string()), "{:?}", out.notes);
    // TERM, KILL after the grace, KILL again every 500 ms until it was forced.
    let log = signals(&log);
    assert_eq!(log[..2], [(ms(1000), Stop::Term), (ms(1300), Stop::Kill)]);
    let repeats: Vec<Duration> = log[2..].iter().map(|s| s.0).collect();
    assert_eq!(repeats, [ms(1800), ms(2300), ms(2800)]);
    assert!(log[2..].iter().all(|s| s.1 == Stop::Kill));
    assert_eq!(out.duration, ms(1300) + ms(1900));
}
