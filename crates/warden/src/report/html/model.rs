//! What the page shows, built from the event lines in order: the run, its lanes (one per worker
//! slot, grouped by shard in a merged stream), one bar per attempt, one row per test, the host
//! samples and the guard's decisions. Times are milliseconds from the start of the run.

use std::collections::{BTreeSet, HashMap};

use super::input::{
    GuardDecision, InputError, Line, MergedShard, Record, RunFinished, RunStarted, TestDone,
    TestEnded,
};
use crate::events::Status;

/// A test's outcome as the page shows it: the contract's statuses, and the two ways a test can
/// end without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shown {
    Fail,
    Timeout,
    Oom,
    Error,
    Leak,
    Flaky,
    /// Terminated because the run stopped (`test-cancelled`).
    Cancelled,
    /// Still running when the stream ended (warden was killed, or the file was cut).
    Unfinished,
    Pass,
    Skip,
}

impl Shown {
    /// Every kind, in the order the page lists them (failures first).
    pub const ALL: [Shown; 10] = [
        Shown::Fail,
        Shown::Timeout,
        Shown::Oom,
        Shown::Error,
        Shown::Leak,
        Shown::Flaky,
        Shown::Cancelled,
        Shown::Unfinished,
        Shown::Pass,
        Shown::Skip,
    ];

    pub fn from_status(s: Status) -> Shown {
        match s {
            Status::Pass => Shown::Pass,
            Status::Fail => Shown::Fail,
            Status::Timeout => Shown::Timeout,
            Status::Skip => Shown::Skip,
            Status::Flaky => Shown::Flaky,
            Status::Leak => Shown::Leak,
            Status::Error => Shown::Error,
            Status::Oom => Shown::Oom,
        }
    }

    /// The CSS class and data key (`pass`, `cancelled`, ...).
    pub fn key(self) -> &'static str {
        match self {
            Shown::Pass => "pass",
            Shown::Fail => "fail",
            Shown::Timeout => "timeout",
            Shown::Skip => "skip",
            Shown::Flaky => "flaky",
            Shown::Leak => "leak",
            Shown::Error => "error",
            Shown::Oom => "oom",
            Shown::Cancelled => "cancelled",
            Shown::Unfinished => "unfinished",
        }
    }

    /// The word on the page, as the terminal says it.
    pub fn word(self) -> &'static str {
        match self {
            Shown::Pass => "PASS",
            Shown::Fail => "FAIL",
            Shown::Timeout => "TIMEOUT",
            Shown::Skip => "SKIP",
            Shown::Flaky => "FLAKY",
            Shown::Leak => "LEAK",
            Shown::Error => "ERROR",
            Shown::Oom => "OOM",
            Shown::Cancelled => "CANCELLED",
            Shown::Unfinished => "UNFINISHED",
        }
    }

    /// A failure of the run (exit 1), as [`Status::is_failure`].
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Shown::Fail | Shown::Timeout | Shown::Oom | Shown::Error | Shown::Leak
        )
    }
}

/// How an attempt's bar ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarEnd {
    /// The test's final attempt.
    Final(Shown),
    /// A failed attempt that was retried.
    Retried(Status),
    /// Terminated by the guard to run again later.
    Requeued,
    Cancelled,
    Unfinished,
}

impl BarEnd {
    /// The CSS classes of its bar: the status colour, plus how it ended.
    pub fn classes(self) -> String {
        match self {
            BarEnd::Final(s) => s.key().to_string(),
            BarEnd::Retried(s) => format!("{} retried", Shown::from_status(s).key()),
            BarEnd::Requeued => "requeued".to_string(),
            BarEnd::Cancelled => "cancelled".to_string(),
            BarEnd::Unfinished => "unfinished".to_string(),
        }
    }
}

/// A worker slot (of a shard, in a merged stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lane {
    /// 0 outside merged streams.
    pub shard: u32,
    pub worker: u32,
}

/// One attempt of a test on a lane.
#[derive(Debug, Clone)]
pub struct Bar {
    pub lane: usize,
    /// Index into [`Model::tests`].
    pub test: usize,
    pub start: i64,
    pub end: i64,
    pub attempt: u32,
    pub end_kind: BarEnd,
    pub duration_ms: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
}

/// One test (one id per shard) and everything the stream says about it.
#[derive(Debug, Clone)]
pub struct TestRow {
    pub shard: u32,
    pub id: String,
    pub shown: Shown,
    /// The final result (`test-finished`); `None` for cancelled and unfinished tests.
    pub done: Option<TestDone>,
    /// Failed attempts that were retried, in order.
    pub earlier: Vec<TestDone>,
    /// Times the guard terminated it to run again later.
    pub requeues: u32,
    /// Why it was cancelled (`fail-fast`, `signal`, ...).
    pub cancelled: Option<String>,
    /// Its last attempt's number, whatever became of it.
    pub attempts: u32,
    /// Its last attempt's worker slot.
    pub worker: Option<u32>,
}

impl TestRow {
    pub fn duration_ms(&self) -> Option<u64> {
        self.done.as_ref().map(|d| d.duration_ms)
    }
}

/// A `resource-sample`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplePoint {
    pub shard: u32,
    pub t: i64,
    pub cpu: Option<f64>,
    pub mem: f64,
    pub running: u32,
}

/// A `guard` decision.
#[derive(Debug, Clone)]
pub struct GuardMark {
    pub shard: u32,
    pub t: i64,
    pub decision: GuardDecision,
}

/// A group of lanes: the run, or one shard of a merged stream.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// 0 outside merged streams.
    pub shard: u32,
    pub file: Option<String>,
    pub run_id: Option<String>,
    pub host: Option<String>,
    pub cpu_threshold: Option<f64>,
    pub mem_threshold: Option<f64>,
    pub partition: Option<String>,
    pub exit_code: Option<i32>,
    pub duration_ms: Option<u64>,
    /// Indices into [`Model::lanes`].
    pub lanes: std::ops::Range<usize>,
}

/// Everything the page is drawn from.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Milliseconds since 1970 of time 0 (the run's start).
    pub origin: i64,
    /// Length of the time axis in milliseconds (at least 1).
    pub span: i64,
    pub started: RunStarted,
    /// `None` when the stream ends before the run did.
    pub finished: Option<RunFinished>,
    pub groups: Vec<Group>,
    pub lanes: Vec<Lane>,
    pub bars: Vec<Bar>,
    pub tests: Vec<TestRow>,
    pub samples: Vec<SamplePoint>,
    pub guard: Vec<GuardMark>,
    pub warnings: Vec<String>,
    /// `--coverage`: one line per kind of data.
    pub coverage: Vec<super::input::CoverageLine>,
    /// Event lines read.
    pub events: usize,
}

impl Model {
    pub fn is_merged(&self) -> bool {
        !self.started.merged.is_empty()
    }

    /// Tests by what the page shows, for the header.
    pub fn count(&self, shown: Shown) -> usize {
        self.tests.iter().filter(|t| t.shown == shown).count()
    }
}

struct Open {
    id: String,
    attempt: u32,
    start: i64,
}

struct PendingBar {
    lane: Lane,
    key: (u32, String),
    start: i64,
    end: i64,
    attempt: u32,
    end_kind: BarEnd,
    duration_ms: Option<u64>,
    peak_rss_bytes: Option<u64>,
}

/// Builds a [`Model`] from event lines fed in stream order.
#[derive(Default)]
pub struct ModelBuilder {
    events: usize,
    started: Option<(usize, i64, RunStarted)>,
    finished: Option<(i64, RunFinished)>,
    last_at: i64,
    lanes: BTreeSet<Lane>,
    open: HashMap<Lane, Open>,
    bars: Vec<PendingBar>,
    tests: Vec<TestRow>,
    index: HashMap<(u32, String), usize>,
    earlier: HashMap<(u32, String), Vec<TestDone>>,
    requeues: HashMap<(u32, String), u32>,
    samples: Vec<(i64, u32, super::input::Sample)>,
    guard: Vec<(i64, u32, GuardDecision)>,
    warnings: Vec<String>,
    coverage: Vec<super::input::CoverageLine>,
}

impl ModelBuilder {
    /// Ids of the tests seen so far (for looking up their history).
    pub fn test_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.index.keys().map(|(_, id)| id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The time of the latest event, milliseconds since 1970.
    pub fn last_at(&self) -> Option<i64> {
        self.started.as_ref().map(|_| self.last_at)
    }

    /// Adds the event on line `number`; an error for a stream that is not one run.
    pub fn push(&mut self, number: usize, line: Line) -> Result<(), InputError> {
        let err = |message: String| InputError {
            line: number,
            message,
        };
        let shard = line.shard.unwrap_or(0);
        let at = line.at;
        match (&self.started, &line.record) {
            (None, Record::RunStarted(_) | Record::Unknown) => {}
            (None, _) => {
                return Err(err(
                    "an event before run-started: not the start of a warden event stream".into(),
                ))
            }
            (Some((first, ..)), Record::RunStarted(_)) => {
                return Err(err(format!(
                    "a second run-started (the first is on line {first}): one run per file"
                )))
            }
            _ => {}
        }
        self.events += 1;
        self.last_at = self.last_at.max(at);
        match line.record {
            Record::RunStarted(r) => self.started = Some((number, at, r)),
            Record::TestStarted(t) => {
                let lane = self.lane(shard, t.worker);
                let open = Open {
                    id: t.id,
                    attempt: t.attempt,
                    start: at,
                };
                // A lane runs one test at a time: an attempt still open there never ended.
                if let Some(stale) = self.open.insert(lane, open) {
                    self.close(lane, stale, at, BarEnd::Unfinished, None, None);
                }
            }
            Record::TestRetrying(t) => {
                self.attempt_done(shard, at, &t, BarEnd::Retried(t.status));
                self.earlier
                    .entry((shard, t.id.clone()))
                    .or_default()
                    .push(*t);
            }
            Record::TestFinished(t) => {
                let shown = Shown::from_status(t.status);
                self.attempt_done(shard, at, &t, BarEnd::Final(shown));
                let key = (shard, t.id.clone());
                let row = TestRow {
                    shard,
                    id: t.id.clone(),
                    shown,
                    earlier: self.earlier.remove(&key).unwrap_or_default(),
                    requeues: self.requeues.get(&key).copied().unwrap_or(0),
                    cancelled: None,
                    attempts: t.attempt,
                    worker: t.worker,
                    done: Some(*t),
                };
                self.add_row(key, row);
            }
            Record::TestCancelled(t) => {
                self.ended(shard, at, &t, BarEnd::Cancelled);
                let key = (shard, t.id.clone());
                let row = TestRow {
                    shard,
                    id: t.id.clone(),
                    shown: Shown::Cancelled,
                    done: None,
                    earlier: self.earlier.remove(&key).unwrap_or_default(),
                    requeues: self.requeues.get(&key).copied().unwrap_or(0),
                    cancelled: t.reason.clone(),
                    attempts: t.attempt.unwrap_or(1),
                    worker: t.worker,
                };
                self.add_row(key, row);
            }
            Record::TestRequeued(t) => {
                self.ended(shard, at, &t, BarEnd::Requeued);
                *self.requeues.entry((shard, t.id)).or_default() += 1;
            }
            Record::ResourceSample(s) => self.samples.push((at, shard, s)),
            Record::Guard(g) => self.guard.push((at, shard, g)),
            Record::Warning(w) => self.warnings.push(w.message),
            Record::Coverage(c) => self.coverage.push(c),
            Record::RunFinished(f) => self.finished = Some((at, f)),
            Record::Unknown => {}
        }
        Ok(())
    }

    fn lane(&mut self, shard: u32, worker: u32) -> Lane {
        let lane = Lane { shard, worker };
        self.lanes.insert(lane);
        lane
    }

    fn close(
        &mut self,
        lane: Lane,
        open: Open,
        end: i64,
        end_kind: BarEnd,
        duration_ms: Option<u64>,
        peak_rss_bytes: Option<u64>,
    ) {
        self.bars.push(PendingBar {
            lane,
            key: (lane.shard, open.id),
            start: open.start,
            end: end.max(open.start),
            attempt: open.attempt,
            end_kind,
            duration_ms,
            peak_rss_bytes,
        });
    }

    /// The open attempt of `id` on the worker the event names, else on any lane of the shard.
    fn take_open(&mut self, shard: u32, worker: Option<u32>, id: &str) -> Option<(Lane, Open)> {
        let lane = match worker {
            Some(w) => Lane { shard, worker: w },
            None => {
                *self
                    .open
                    .iter()
                    .find(|(l, o)| l.shard == shard && o.id == id)?
                    .0
            }
        };
        match self.open.get(&lane) {
            Some(o) if o.id == id => self.open.remove(&lane).map(|o| (lane, o)),
            _ => None,
        }
    }

    /// A finished or retried attempt: its bar runs from its `test-started` to now. Results
    /// that never started (a skip, an error before start, a carried-over result) have none.
    fn attempt_done(&mut self, shard: u32, at: i64, t: &TestDone, end_kind: BarEnd) {
        let (duration, peak) = (Some(t.duration_ms), t.peak_rss_bytes);
        match self.take_open(shard, t.worker, &t.id) {
            Some((lane, open)) => self.close(lane, open, at, end_kind, duration, peak),
            // A stream without its test-started lines still has when it ended and how long.
            None if !t.carried_over && t.duration_ms > 0 => {
                if let Some(worker) = t.worker {
                    let lane = self.lane(shard, worker);
                    let open = Open {
                        id: t.id.clone(),
                        attempt: t.attempt,
                        start: at - i64::try_from(t.duration_ms).unwrap_or(i64::MAX / 2),
                    };
                    self.close(lane, open, at, end_kind, duration, peak);
                }
            }
            None => {}
        }
    }

    fn ended(&mut self, shard: u32, at: i64, t: &TestEnded, end_kind: BarEnd) {
        if let Some((lane, open)) = self.take_open(shard, t.worker, &t.id) {
            self.close(lane, open, at, end_kind, t.duration_ms, None);
        }
    }

    fn add_row(&mut self, key: (u32, String), row: TestRow) {
        match self.index.get(&key) {
            // The same id finishing twice in one shard: the later word counts.
            Some(&i) => self.tests[i] = row,
            None => {
                self.index.insert(key, self.tests.len());
                self.tests.push(row);
            }
        }
    }

    /// The model; `None` when the stream had no `run-started` (an empty file).
    pub fn finish(mut self) -> Option<Model> {
        let (_, origin, started) = self.started.take()?;
        let end = self
            .finished
            .as_ref()
            .map_or(self.last_at, |(at, _)| (*at).max(self.last_at));
        // Attempts still open when the stream ended: the run was cut short.
        let open: Vec<(Lane, Open)> = self.open.drain().collect();
        for (lane, o) in open {
            let key = (lane.shard, o.id.clone());
            if !self.index.contains_key(&key) {
                let row = TestRow {
                    shard: lane.shard,
                    id: o.id.clone(),
                    shown: Shown::Unfinished,
                    done: None,
                    earlier: self.earlier.remove(&key).unwrap_or_default(),
                    requeues: self.requeues.get(&key).copied().unwrap_or(0),
                    cancelled: None,
                    attempts: o.attempt,
                    worker: Some(lane.worker),
                };
                self.add_row(key, row);
            }
            self.close(lane, o, end, BarEnd::Unfinished, None, None);
        }
        // A test requeued and never run again (the run stopped) has a bar but no row yet.
        let orphans: Vec<(u32, String, Lane, u32)> = self
            .bars
            .iter()
            .filter(|b| !self.index.contains_key(&b.key))
            .map(|b| (b.key.0, b.key.1.clone(), b.lane, b.attempt))
            .collect();
        for (shard, id, lane, attempt) in orphans {
            let key = (shard, id.clone());
            if self.index.contains_key(&key) {
                continue;
            }
            let row = TestRow {
                shard,
                id,
                shown: Shown::Unfinished,
                done: None,
                earlier: self.earlier.remove(&key).unwrap_or_default(),
                requeues: self.requeues.get(&key).copied().unwrap_or(0),
                cancelled: None,
                attempts: attempt,
                worker: Some(lane.worker),
            };
            self.add_row(key, row);
        }

        let groups_spec = group_specs(&started, &self.lanes);
        let mut lanes = Vec::new();
        let mut groups = Vec::new();
        for (spec, workers) in groups_spec {
            let first = lanes.len();
            lanes.extend(workers.into_iter().map(|worker| Lane {
                shard: spec.shard,
                worker,
            }));
            groups.push(Group {
                lanes: first..lanes.len(),
                ..spec
            });
        }
        if let Some((_, f)) = &self.finished {
            for g in &mut groups {
                (g.exit_code, g.duration_ms) = match f.shards.iter().find(|s| s.shard == g.shard) {
                    Some(s) => (s.exit_code, s.duration_ms),
                    None if g.shard == 0 => (Some(f.exit_code), Some(f.duration_ms)),
                    None => (None, None),
                };
            }
        }
        let lane_index: HashMap<Lane, usize> =
            lanes.iter().enumerate().map(|(i, l)| (*l, i)).collect();
        let mut bars: Vec<Bar> = self
            .bars
            .into_iter()
            .filter_map(|b| {
                Some(Bar {
                    lane: *lane_index.get(&b.lane)?,
                    test: *self.index.get(&b.key)?,
                    start: b.start - origin,
                    end: b.end - origin,
                    attempt: b.attempt,
                    end_kind: b.end_kind,
                    duration_ms: b.duration_ms,
                    peak_rss_bytes: b.peak_rss_bytes,
                })
            })
            .collect();
        bars.sort_by_key(|b| (b.lane, b.start));
        let samples = self
            .samples
            .into_iter()
            .map(|(at, shard, s)| SamplePoint {
                shard,
                t: at - origin,
                cpu: s.cpu_percent,
                mem: s.mem_used_percent,
                running: s.running,
            })
            .collect();
        let guard = self
            .guard
            .into_iter()
            .map(|(at, shard, decision)| GuardMark {
                shard,
                t: at - origin,
                decision,
            })
            .collect();
        Some(Model {
            origin,
            span: (end - origin).max(1),
            started,
            finished: self.finished.map(|(_, f)| f),
            groups,
            lanes,
            bars,
            tests: self.tests,
            samples,
            guard,
            warnings: self.warnings,
            coverage: self.coverage,
            events: self.events,
        })
    }
}

/// The lane groups and each one's worker slots: every slot the run had (`workers`), and any
/// other slot an event names.
fn group_specs(started: &RunStarted, seen: &BTreeSet<Lane>) -> Vec<(Group, Vec<u32>)> {
    let workers_of = |shard: u32, declared: u64| -> Vec<u32> {
        let declared = u32::try_from(declared).unwrap_or(0);
        let mut w: BTreeSet<u32> = (0..declared).collect();
        w.extend(seen.iter().filter(|l| l.shard == shard).map(|l| l.worker));
        w.into_iter().collect()
    };
    if started.merged.is_empty() {
        let group = Group {
            shard: 0,
            run_id: Some(started.run_id.clone()),
            host: started.host.clone(),
            cpu_threshold: started.cpu_threshold,
            mem_threshold: started.mem_threshold,
            partition: started.partition.as_ref().map(|p| p.spec.clone()),
            ..Group::default()
        };
        // Lanes of shards the stream does not list (a hand-made file) still get drawn.
        let mut out = vec![(group, workers_of(0, started.workers))];
        out.extend(stray_shards(seen, &[0]).map(|s| (bare_group(s), workers_of(s, 0))));
        return out;
    }
    let listed: Vec<u32> = started.merged.iter().map(|m| m.shard).collect();
    let mut out: Vec<(Group, Vec<u32>)> = started
        .merged
        .iter()
        .map(|m: &MergedShard| {
            let group = Group {
                shard: m.shard,
                file: Some(m.file.clone()).filter(|f| !f.is_empty()),
                run_id: m.run_id.clone(),
                host: m.host.clone(),
                cpu_threshold: m.cpu_threshold,
                mem_threshold: m.mem_threshold,
                partition: m.partition.clone(),
                ..Group::default()
            };
            (group, workers_of(m.shard, m.workers.unwrap_or(0)))
        })
        .collect();
    out.extend(stray_shards(seen, &listed).map(|s| (bare_group(s), workers_of(s, 0))));
    out
}

fn stray_shards<'a>(seen: &'a BTreeSet<Lane>, listed: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
    let shards: BTreeSet<u32> = seen
        .iter()
        .map(|l| l.shard)
        .filter(|s| !listed.contains(s))
        .collect();
    shards.into_iter()
}

fn bare_group(shard: u32) -> Group {
    Group {
        shard,
        ..Group::default()
    }
}

#[cfg(test)]
mod tests;
