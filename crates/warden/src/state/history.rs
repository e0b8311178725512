//! Test history across runs (SPEC §7): `<state-dir>/history.db`, SQLite in WAL mode.
//! It orders the queue longest-first, gives ETAs, `--failed`, flaky statistics and
//! `duration:` partitions. History is an aid, never a requirement: every error here is one the
//! caller can turn into a warning and run on without history.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::clock;
use crate::events::{Status, TestResult};

/// Version of the schema below, kept in `PRAGMA user_version`.
/// 2: `runs.shard`, the `--partition` of a run (NULL for a run of the whole selection).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id           TEXT PRIMARY KEY,
    started      TEXT NOT NULL,
    finished     TEXT,
    completed    INTEGER NOT NULL DEFAULT 0,
    exit_code    INTEGER,
    resumed_from TEXT,
    shard        TEXT
);
CREATE TABLE IF NOT EXISTS results (
    id             INTEGER PRIMARY KEY,
    run_id         TEXT NOT NULL,
    test_id        TEXT NOT NULL,
    status         TEXT NOT NULL,
    attempt        INTEGER NOT NULL,
    duration_ms    INTEGER NOT NULL,
    peak_rss_bytes INTEGER,
    cpu_ms         INTEGER,
    started_at     TEXT NOT NULL,
    finished_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_test ON results (test_id, id);
CREATE INDEX IF NOT EXISTS results_by_run ON results (run_id);
CREATE TABLE IF NOT EXISTS imported_durations (
    test_id     TEXT PRIMARY KEY,
    duration_ms INTEGER NOT NULL
);
";

/// How long a write waits for another warden's write to finish before giving up.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// Runs kept per test by `prune`.
pub const DEFAULT_KEEP_RUNS_PER_TEST: usize = 50;
/// Attempts averaged by `expected_durations`.
const DURATION_SAMPLES: i64 = 5;

#[derive(Debug, Error)]
pub enum HistoryError {
    #[error("cannot open history {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("history {path} was written by a newer warden (schema {found}, this warden knows up to {supported})")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("history {path}: cannot {what}: {source}")]
    Query {
        path: PathBuf,
        what: &'static str,
        source: rusqlite::Error,
    },
    #[error("cannot access {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}:{line}: {reason}")]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

impl HistoryError {
    /// Another process held the database for longer than the busy timeout.
    pub fn is_busy(&self) -> bool {
        let source = match self {
            HistoryError::Open { source, .. } | HistoryError::Query { source, .. } => source,
            _ => return false,
        };
        matches!(
            source.sqlite_error_code(),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
        )
    }
}

/// How a test fared over the runs history remembers (at most the pruning limit). Each run
/// counts once, by the final attempt of the test in it.
#[derive(Debug, Clone, PartialEq)]
pub struct TestStats {
    pub runs: u32,
    /// Runs that ended `pass` or `flaky`.
    pub passed: u32,
    /// Runs that ended in a failure status (fail, timeout, leak, error, oom).
    pub failed: u32,
    pub skipped: u32,
    /// Runs that ended `flaky` (failed, then passed on a retry).
    pub flaky: u32,
    /// `passed / (runs - skipped)`; `None` when the test never ran to pass or fail.
    pub pass_rate: Option<f64>,
    /// Mean duration of the final attempts, `error`s (which never really ran) left out.
    pub mean_duration_ms: Option<u64>,
}

/// One line of `export` / `import`.
#[derive(Debug, Serialize, Deserialize)]
struct DurationLine {
    id: String,
    duration_ms: u64,
}

/// The history database.
#[derive(Debug)]
pub struct History {
    conn: Connection,
    path: PathBuf,
}

impl History {
    /// Open (creating file and schema when missing) with the default busy timeout.
    pub fn open(path: &Path) -> Result<History, HistoryError> {
        History::open_with_timeout(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// Open, waiting at most `busy` for another writer on every later write.
    pub fn open_with_timeout(path: &Path, busy: Duration) -> Result<History, HistoryError> {
        let open_err = |source| HistoryError::Open {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|source| HistoryError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(busy).map_err(open_err)?;
        // The first statements read the file header: a file that is not a database fails here.
        // WAL lets readers (another warden's ETA queries) run beside a writer; NORMAL skips the
        // fsync per commit, which is what keeps `record` cheap (a crash loses at most the last
        // few results, never consistency).
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(open_err)?;
        if version > SCHEMA_VERSION {
            return Err(HistoryError::TooNew {
                path: path.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < SCHEMA_VERSION {
            // Only a new (or older) database writes at open: opening a current one takes no
            // write lock, so it succeeds while another warden is writing.
            let migrate = if version == 1 {
                "ALTER TABLE runs ADD COLUMN shard TEXT;"
            } else {
                ""
            };
            conn.execute_batch(&format!(
                "BEGIN IMMEDIATE; {SCHEMA} {migrate} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))
            .map_err(open_err)?;
        }
        Ok(History {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn query_err(&self, what: &'static str) -> impl Fn(rusqlite::Error) -> HistoryError + '_ {
        move |source| HistoryError::Query {
            path: self.path.clone(),
            what,
            source,
        }
    }

    /// Note that a run started. `resumed_from` links a resumed run to the run it continues, so
    /// that the two count as one logical run for `--failed`.
    pub fn begin_run(&self, run_id: &str, resumed_from: Option<&str>) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "INSERT INTO runs (id, started, resumed_from) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO NOTHING",
                params![run_id, now_text(), resumed_from],
            )
            .map(drop)
            .map_err(self.query_err("record the start of a run"))
    }

    /// Note that run `run_id` is one shard (`duration:2/4`) of a partitioned selection: its
    /// results do not move the cut of the shards that follow it (see
    /// [`History::expected_durations_for_cut`]).
    pub fn mark_shard(&self, run_id: &str, spec: &str) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "UPDATE runs SET shard = ?2 WHERE id = ?1",
                params![run_id, spec],
            )
            .map(drop)
            .map_err(self.query_err("record the shard of a run"))
    }

    /// Expected durations for cutting `duration:` shards: as [`History::expected_durations`],
    /// but as of the last run that was not itself a shard. Shards run one after another on one
    /// state dir (a CI runner with a cached `.warden/`) then all cut the suite alike, whatever
    /// the earlier shards recorded. Results of shard runs started after that run are left
    /// out; without any such run only imported durations count.
    pub fn expected_durations_for_cut<S: AsRef<str>>(
        &self,
        ids: &[S],
    ) -> Result<HashMap<String, Duration>, HistoryError> {
        let err = self.query_err("read durations");
        let tx = self.conn.unchecked_transaction().map_err(&err)?;
        let cutoff: Option<String> = tx
            .query_row(
                "SELECT MAX(started) FROM runs WHERE shard IS NULL",
                [],
                |r| r.get(0),
            )
            .map_err(&err)?;
        let mut local = tx
            .prepare_cached(
                "SELECT AVG(duration_ms), COUNT(*) FROM (
                     SELECT results.duration_ms FROM results
                     LEFT JOIN runs ON runs.id = results.run_id
                     WHERE results.test_id = ?1 AND results.status != 'error'
                       AND (runs.shard IS NULL OR runs.started < ?3)
                     ORDER BY results.id DESC LIMIT ?2)",
            )
            .map_err(&err)?;
        let mut imported = tx
            .prepare_cached("SELECT duration_ms FROM imported_durations WHERE test_id = ?1")
            .map_err(&err)?;
        mean_or_imported(
            ids,
            |id| local.query_row(params![id, DURATION_SAMPLES, cutoff], mean_and_count),
            &mut imported,
            &err,
        )
    }

    /// Record one finished attempt, as finishing now.
    pub fn record(&self, run_id: &str, result: &TestResult) -> Result<(), HistoryError> {
        self.record_at(run_id, result, SystemTime::now())
    }

    /// Record several attempts in one transaction: one WAL commit for the lot. warden batches
    /// a run's results this way (the journal, not history, is what must survive a crash).
    pub fn record_batch(
        &self,
        run_id: &str,
        results: &[(TestResult, SystemTime)],
    ) -> Result<(), HistoryError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(self.query_err("record results"))?;
        for (r, finished) in results {
            self.record_at(run_id, r, *finished)?;
        }
        tx.commit().map_err(self.query_err("record results"))
    }

    /// Record one attempt that finished at `finished` (e.g. the event's time).
    pub fn record_at(
        &self,
        run_id: &str,
        r: &TestResult,
        finished: SystemTime,
    ) -> Result<(), HistoryError> {
        let started = finished.checked_sub(r.duration).unwrap_or(finished);
        // One small autocommit transaction per result: with WAL and synchronous=NORMAL a commit
        // is an append to the WAL without fsync, cheap enough that batching (and losing a batch
        // when warden dies) buys nothing.
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO results (run_id, test_id, status, attempt, duration_ms,
                     peak_rss_bytes, cpu_ms, started_at, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(self.query_err("record a result"))?;
        stmt.execute(params![
            run_id,
            r.id,
            r.status.name(),
            r.attempt,
            sql_int(r.duration.as_millis()),
            r.peak_rss_bytes.map(sql_int),
            r.cpu_ms.map(sql_int),
            clock::rfc3339_utc_millis(started),
            clock::rfc3339_utc_millis(finished),
        ])
        .map(drop)
        .map_err(self.query_err("record a result"))
    }

    /// Note that a run ended; `completed` when it ran everything it selected.
    pub fn finish_run(
        &self,
        run_id: &str,
        completed: bool,
        exit_code: i32,
    ) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "INSERT INTO runs (id, started, finished, completed, exit_code)
                 VALUES (?1, ?2, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET
                     finished = excluded.finished,
                     completed = excluded.completed,
                     exit_code = excluded.exit_code",
                params![run_id, now_text(), completed, exit_code],
            )
            .map(drop)
            .map_err(self.query_err("record the end of a run"))
    }

    /// Expected duration of each test that history knows: the mean of its last 5 attempts
    /// (`error`s left out: they never really ran); for tests without local results, an
    /// imported duration. Unknown tests are absent from the map.
    pub fn expected_durations<S: AsRef<str>>(
        &self,
        ids: &[S],
    ) -> Result<HashMap<String, Duration>, HistoryError> {
        let err = self.query_err("read durations");
        // One read transaction: a consistent snapshot, and one lock instead of one per test.
        let tx = self.conn.unchecked_transaction().map_err(&err)?;
        let mut local = tx
            .prepare_cached(
                "SELECT AVG(duration_ms), COUNT(*) FROM (
                     SELECT duration_ms FROM results
                     WHERE test_id = ?1 AND status != 'error'
                     ORDER BY id DESC LIMIT ?2)",
            )
            .map_err(&err)?;
        let mut imported = tx
            .prepare_cached("SELECT duration_ms FROM imported_durations WHERE test_id = ?1")
            .map_err(&err)?;
        mean_or_imported(
            ids,
            |id| local.query_row(params![id, DURATION_SAMPLES], mean_and_count),
            &mut imported,
            &err,
        )
    }

    /// The tests whose most recent recorded result, in whatever run, is a failure (fail,
    /// timeout, oom, error, leak), sorted: what `--failed` reruns. A partial run (`-k math`)
    /// replaces only the results of the tests it ran; a run's last attempt of a test is its
    /// result there (a pass after a retried failure is `flaky`, no failure). `None` when no
    /// result is recorded at all.
    pub fn latest_failures(&self) -> Result<Option<Vec<String>>, HistoryError> {
        let err = self.query_err("read the latest results");
        let tx = self.conn.unchecked_transaction().map_err(&err)?;
        // Row ids grow with every insert: the highest of a test is its latest attempt.
        let mut stmt = tx
            .prepare(
                "SELECT r.test_id, r.status FROM results r
                 JOIN (SELECT MAX(id) AS id FROM results GROUP BY test_id) latest
                 ON r.id = latest.id",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(&err)?;
        let mut any = false;
        let mut failed = Vec::new();
        for row in rows {
            let (test, status) = row.map_err(&err)?;
            any = true;
            if Status::parse(&status).is_some_and(Status::is_failure) {
                failed.push(test);
            }
        }
        failed.sort();
        Ok(any.then_some(failed))
    }

    /// Per-test statistics over the runs history remembers; tests without history are absent.
    pub fn stats<S: AsRef<str>>(
        &self,
        ids: &[S],
    ) -> Result<HashMap<String, TestStats>, HistoryError> {
        let err = self.query_err("read statistics");
        let tx = self.conn.unchecked_transaction().map_err(&err)?;
        let mut stmt = tx
            .prepare_cached(
                "SELECT run_id, status, duration_ms FROM results WHERE test_id = ?1 ORDER BY id",
            )
            .map_err(&err)?;
        let mut out = HashMap::new();
        for id in ids {
            let id = id.as_ref();
            // The final attempt of each run, keyed by run.
            let mut finals: HashMap<String, (String, i64)> = HashMap::new();
            let rows = stmt
                .query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))
                .map_err(&err)?;
            for row in rows {
                let (run, status, ms) = row.map_err(&err)?;
                finals.insert(run, (status, ms));
            }
            if finals.is_empty() {
                continue;
            }
            let mut s = TestStats {
                runs: finals.len() as u32,
                passed: 0,
                failed: 0,
                skipped: 0,
                flaky: 0,
                pass_rate: None,
                mean_duration_ms: None,
            };
            let (mut total_ms, mut timed) = (0i64, 0i64);
            for (status, ms) in finals.values() {
                let status = Status::parse(status);
                match status {
                    Some(Status::Pass) => s.passed += 1,
                    Some(Status::Flaky) => {
                        s.passed += 1;
                        s.flaky += 1;
                    }
                    Some(Status::Skip) => s.skipped += 1,
                    Some(st) if st.is_failure() => s.failed += 1,
                    _ => {}
                }
                if status != Some(Status::Error) {
                    total_ms += ms;
                    timed += 1;
                }
            }
            let decided = s.runs - s.skipped;
            s.pass_rate = (decided > 0).then(|| f64::from(s.passed) / f64::from(decided));
            s.mean_duration_ms = (timed > 0).then(|| (total_ms / timed).max(0) as u64);
            out.insert(id.to_string(), s);
        }
        Ok(out)
    }

    /// Each test's final status in its newest `runs` runs with a result that finished no later
    /// than `until` (RFC 3339 UTC, as stored), oldest first: the strip of recent results a
    /// report shows. Tests without such results are absent.
    pub fn recent_statuses<S: AsRef<str>>(
        &self,
        ids: &[S],
        runs: usize,
        until: &str,
    ) -> Result<HashMap<String, Vec<Status>>, HistoryError> {
        let err = self.query_err("read recent results");
        let tx = self.conn.unchecked_transaction().map_err(&err)?;
        // Newest first by the (test_id, id) index: the first row of each run is its final
        // attempt, and the scan stops once `runs` runs are in.
        let mut stmt = tx
            .prepare_cached(
                "SELECT run_id, status FROM results
                 WHERE test_id = ?1 AND finished_at <= ?2 ORDER BY id DESC",
            )
            .map_err(&err)?;
        let mut out = HashMap::new();
        for id in ids {
            let id = id.as_ref();
            let mut seen: Vec<String> = Vec::new();
            let mut statuses = Vec::new();
            let mut rows = stmt.query(params![id, until]).map_err(&err)?;
            while seen.len() < runs {
                let Some(row) = rows.next().map_err(&err)? else {
                    break;
                };
                let run: String = row.get(0).map_err(&err)?;
                if seen.contains(&run) {
                    continue;
                }
                let status: String = row.get(1).map_err(&err)?;
                seen.push(run);
                if let Some(s) = Status::parse(&status) {
                    statuses.push(s);
                }
            }
            if !statuses.is_empty() {
                statuses.reverse();
                out.insert(id.to_string(), statuses);
            }
        }
        Ok(out)
    }

    /// Keep the results of each test's newest `keep_runs_per_test` runs (at least one) and
    /// forget runs that no longer have results, so the file stops growing. Returns the number
    /// of results removed.
    pub fn prune(&mut self, keep_runs_per_test: usize) -> Result<usize, HistoryError> {
        let keep = keep_runs_per_test.max(1) as i64;
        let path = self.path.clone();
        let err = move |source| HistoryError::Query {
            path: path.clone(),
            what: "prune",
            source,
        };
        let tx = self.conn.transaction().map_err(&err)?;
        // No test can have more runs than there are: with at most `keep` of them (every run of
        // a young history) the ranking below, a sort of every result, has nothing to find.
        let (result_runs, runs): (i64, i64) = tx
            .query_row(
                "SELECT (SELECT COUNT(DISTINCT run_id) FROM results), (SELECT COUNT(*) FROM runs)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(&err)?;
        if result_runs <= keep && runs <= keep {
            return Ok(0);
        }
        // Run ids sort by start time, so the newest runs of a test rank first.
        let removed = tx
            .execute(
                "DELETE FROM results WHERE id IN (
                     SELECT id FROM (
                         SELECT id, DENSE_RANK() OVER (
                             PARTITION BY test_id ORDER BY run_id DESC) AS rank
                         FROM results)
                     WHERE rank > ?1)",
                [keep],
            )
            .map_err(&err)?;
        tx.execute(
            "DELETE FROM runs
             WHERE id NOT IN (SELECT DISTINCT run_id FROM results)
               AND id NOT IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?1)",
            [keep],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(removed)
    }

    /// Write the expected duration of every test history knows to `path` as JSON lines
    /// (`{"id":…,"duration_ms":…}`), sorted by id: what another machine imports to balance
    /// `duration:` partitions. Returns the number of tests written.
    pub fn export(&self, path: &Path) -> Result<usize, HistoryError> {
        let mut out =
            BufWriter::new(fs::File::create(path).map_err(|source| HistoryError::Io {
                path: path.to_path_buf(),
                source,
            })?);
        let n = self.export_to(&mut out)?;
        out.flush().map_err(|source| HistoryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(n)
    }

    /// [`History::export`] into any writer (the CLI writes the bytes through its user-path
    /// rules).
    pub fn export_to(&self, out: &mut impl Write) -> Result<usize, HistoryError> {
        let path = Path::new("<export>");
        let err = self.query_err("list tests");
        let ids: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT test_id FROM results UNION SELECT test_id FROM imported_durations
                     ORDER BY 1",
                )
                .map_err(&err)?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(&err)?;
            rows.collect::<Result<_, _>>().map_err(&err)?
        };
        let durations = self.expected_durations(&ids)?;
        let io_err = |source| HistoryError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut written = 0;
        for id in ids {
            let Some(d) = durations.get(&id) else {
                continue;
            };
            let line = DurationLine {
                id,
                duration_ms: u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            };
            serde_json::to_writer(&mut *out, &line).map_err(|e| io_err(e.into()))?;
            out.write_all(b"\n").map_err(io_err)?;
            written += 1;
        }
        Ok(written)
    }

    /// Load durations written by `export`. They stand in for tests without local results and
    /// replace earlier imports of the same test. All or nothing: a bad line imports none.
    /// Returns the number of tests imported.
    pub fn import(&mut self, path: &Path) -> Result<usize, HistoryError> {
        let file = fs::File::open(path).map_err(|source| HistoryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut lines = Vec::new();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|source| HistoryError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let parsed: DurationLine =
                serde_json::from_str(&line).map_err(|e| HistoryError::Parse {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason: format!("expected {{\"id\":…,\"duration_ms\":…}}: {e}"),
                })?;
            lines.push(parsed);
        }
        let db = self.path.clone();
        let err = move |source| HistoryError::Query {
            path: db.clone(),
            what: "import durations",
            source,
        };
        let tx = self.conn.transaction().map_err(&err)?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO imported_durations (test_id, duration_ms) VALUES (?1, ?2)
                     ON CONFLICT (test_id) DO UPDATE SET duration_ms = excluded.duration_ms",
                )
                .map_err(&err)?;
            for l in &lines {
                stmt.execute(params![l.id, sql_int(l.duration_ms)])
                    .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)?;
        Ok(lines.len())
    }
}

fn now_text() -> String {
    clock::rfc3339_utc_millis(SystemTime::now())
}

/// SQLite integers are i64; larger values (never seen in practice) saturate.
fn sql_int<T: TryInto<i64>>(v: T) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

/// `AVG(duration_ms), COUNT(*)` of a durations query.
fn mean_and_count(r: &rusqlite::Row) -> rusqlite::Result<(Option<f64>, i64)> {
    Ok((r.get(0)?, r.get(1)?))
}

/// Each test's mean of its recorded durations (`local`), else its imported duration; tests
/// with neither are absent.
fn mean_or_imported<S: AsRef<str>>(
    ids: &[S],
    mut local: impl FnMut(&str) -> rusqlite::Result<(Option<f64>, i64)>,
    imported: &mut rusqlite::CachedStatement,
    err: &impl Fn(rusqlite::Error) -> HistoryError,
) -> Result<HashMap<String, Duration>, HistoryError> {
    let mut out = HashMap::with_capacity(ids.len());
    for id in ids {
        let id = id.as_ref();
        let ms = match local(id).map_err(err)? {
            (Some(mean), n) if n > 0 => Some(mean.round() as u64),
            _ => imported
                .query_row([id], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(err)?
                .map(|v| v.max(0) as u64),
        };
        if let Some(ms) = ms {
            out.insert(id.to_string(), Duration::from_millis(ms));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
