//! The run journal, warden's checkpoint (SPEC §7): `<run-dir>/journal.jsonl`, a header line
//! describing the run, then one JSON line per finished test, written the moment it finishes.
//!
//! Crash safety without fsync: each record is one `write(2)` of a whole line to an unbuffered
//! file, so once `append` returns the line is in the kernel's page cache and survives any death
//! of warden, SIGKILL included (not a power cut, which `--resume` does not promise to survive).
//! A write cut short leaves at most one torn line at the end, which the reader ignores.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::invocation::Invocation;
use crate::clock;
use crate::events::{CapturedOutput, Leak, Status, Subtests, TestResult};

/// File name of the journal inside a run directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";
const JOURNAL_TMP: &str = "journal.jsonl.tmp";

/// Options that older journals kept in the fingerprint but that only change how tests run.
const HOW_KEYS: [&str; 8] = [
    "timeout",
    "grace",
    "retries",
    "leak",
    "test_mem_limit",
    "test_pids_limit",
    "safe_mode",
    "container",
];

/// How many names `Fingerprint::compare` lists before summarising the rest.
const LIST_LIMIT: usize = 5;

#[derive(Debug, Error)]
pub enum JournalError {
    #[error("cannot create journal {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot append to journal {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read journal {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot remove journal {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("journal {path} is corrupt at line {line}: {reason}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// What a run was asked to do; `--resume` refuses when the current selection differs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Selected test ids in queue order.
    pub tests: Vec<String>,
    /// `fingerprint_hash` of the suites and levels warden.toml defines (empty without one).
    pub config_hash: String,
    /// Selection options that are not visible in `tests` (`only_skipped`), as text.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl Fingerprint {
    /// Differences from `self` (the checkpoint) to `other` (the run asked for now), in words;
    /// empty when the two match. Test order is not compared: history reorders the queue
    /// between runs, and the order does not change what a result means.
    pub fn compare(&self, other: &Fingerprint) -> Vec<String> {
        let mut out = Vec::new();
        let old: HashSet<&str> = self.tests.iter().map(String::as_str).collect();
        let new: HashSet<&str> = other.tests.iter().map(String::as_str).collect();
        let added = unique_not_in(&other.tests, &old);
        let removed = unique_not_in(&self.tests, &new);
        if !added.is_empty() {
            out.push(format!(
                "{} added: {}",
                count_of(added.len(), "test"),
                name_list(&added)
            ));
        }
        if !removed.is_empty() {
            out.push(format!(
                "{} removed: {}",
                count_of(removed.len(), "test"),
                name_list(&removed)
            ));
        }
        let keys: BTreeSet<&String> = self.options.keys().chain(other.options.keys()).collect();
        // Execution options override on resume (named in a note, not a mismatch); older
        // journals still list some of them here.
        for key in keys.into_iter().filter(|k| !HOW_KEYS.contains(&k.as_str())) {
            let (a, b) = (self.options.get(key), other.options.get(key));
            if a != b {
                let show = |v: Option<&String>| v.map_or("(unset)".to_string(), Clone::clone);
                out.push(format!("option {key}: {} → {}", show(a), show(b)));
            }
        }
        if self.config_hash != other.config_hash {
            out.push("config changed".to_string());
        }
        out
    }
}

/// Entries of `list` absent from `other`, first occurrence only, in `list` order.
fn unique_not_in<'a>(list: &'a [String], other: &HashSet<&str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    list.iter()
        .map(String::as_str)
        .filter(|t| !other.contains(t) && seen.insert(*t))
        .collect()
}

fn count_of(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn name_list(names: &[&str]) -> String {
    let mut s = names[..names.len().min(LIST_LIMIT)].join(", ");
    if names.len() > LIST_LIMIT {
        s.push_str(&format!(" and {} more", names.len() - LIST_LIMIT));
    }
    s
}

/// A stable hash of the config file's bytes (FNV-1a 64, hex): the same bytes give the same
/// hash on every platform and warden version, which `std`'s hashers do not promise.
pub fn fingerprint_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// First line of a journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub warden_version: String,
    pub run_id: String,
    /// RFC 3339 UTC.
    pub created: String,
    pub resumed_from: Option<String>,
    pub fingerprint: Fingerprint,
    /// The command line and options, for `--resume` alone (absent in older journals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<Invocation>,
}

impl Header {
    /// A header for a run starting now, written by this warden.
    pub fn new(run_id: &str, resumed_from: Option<&str>, fingerprint: Fingerprint) -> Header {
        Header {
            warden_version: env!("CARGO_PKG_VERSION").to_string(),
            run_id: run_id.to_string(),
            created: clock::rfc3339_utc_millis(SystemTime::now()),
            resumed_from: resumed_from.map(str::to_string),
            fingerprint,
            invocation: None,
        }
    }

    pub fn with_invocation(mut self, invocation: Invocation) -> Header {
        self.invocation = Some(invocation);
        self
    }
}

/// One finished test as the journal stores it: everything of a `TestResult` a report needs
/// later. Output bytes become text (invalid UTF-8 replaced) and the duration whole
/// milliseconds, as in the JSON report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRecord {
    pub id: String,
    pub status: Status,
    pub attempt: u32,
    pub worker: usize,
    pub duration_ms: u64,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub subtests: Option<Subtests>,
    pub peak_rss_bytes: Option<u64>,
    pub cpu_ms: Option<u64>,
    #[serde(default)]
    pub leaked: Vec<Leak>,
    pub log: Option<String>,
    pub message: Option<String>,
    #[serde(default)]
    pub head: String,
    #[serde(default)]
    pub tail: String,
    #[serde(default)]
    pub total_bytes: u64,
    /// With `--coverage`: where the test's coverage data went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<String>,
}

impl From<&TestResult> for TestRecord {
    fn from(r: &TestResult) -> Self {
        TestRecord {
            id: r.id.clone(),
            status: r.status,
            attempt: r.attempt,
            worker: r.worker,
            duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
            exit_code: r.exit_code,
            signal: r.signal.clone(),
            subtests: r.subtests.clone(),
            peak_rss_bytes: r.peak_rss_bytes,
            cpu_ms: r.cpu_ms,
            leaked: r.leaked.clone(),
            log: r.log.as_deref().map(|p| p.to_string_lossy().into_owned()),
            message: r.message.clone(),
            head: String::from_utf8_lossy(&r.output.head).into_owned(),
            tail: String::from_utf8_lossy(&r.output.tail).into_owned(),
            total_bytes: r.output.total_bytes,
            coverage_dir: r
                .coverage_dir
                .as_deref()
                .map(|p| p.to_string_lossy().into_owned()),
            net: r.net.clone(),
        }
    }
}

impl From<TestRecord> for TestResult {
    fn from(r: TestRecord) -> Self {
        TestResult {
            id: r.id,
            status: r.status,
            attempt: r.attempt,
            worker: r.worker,
            duration: Duration::from_millis(r.duration_ms),
            exit_code: r.exit_code,
            signal: r.signal,
            subtests: r.subtests.clone(),
            peak_rss_bytes: r.peak_rss_bytes,
            cpu_ms: r.cpu_ms,
            leaked: r.leaked,
            log: r.log.map(PathBuf::from),
            output: CapturedOutput {
                head: r.head.into_bytes(),
                tail: r.tail.into_bytes(),
                total_bytes: r.total_bytes,
            },
            message: r.message,
            // Whoever reads a journal back is carrying its results into a later run.
            carried_over: true,
            coverage_dir: r.coverage_dir.map(PathBuf::from),
            net: r.net,
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum LineOut<'a> {
    Header(&'a Header),
    Test(&'a TestRecord),
    Alone { id: &'a str },
}

// One line at a time, gone as soon as it is read: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum LineIn {
    Header(Box<Header>),
    Test(TestRecord),
    /// A test that was running when the host guard stopped the run, or that the guard
    /// requeued: a resumed run runs it alone.
    Alone {
        id: String,
    },
}

/// `<run-dir>/journal.jsonl`.
pub fn journal_path(run_dir: &Path) -> PathBuf {
    run_dir.join(JOURNAL_FILE)
}

/// An open journal, appended to as tests finish.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Length after the last whole line: a failed write is cut back to it.
    len: u64,
    line: Vec<u8>,
}

impl Journal {
    /// Start the journal of a new run in `run_dir` (created if missing).
    pub fn create(run_dir: &Path, header: &Header) -> Result<Journal, JournalError> {
        Journal::create_with_records(run_dir, header, &[])
    }

    /// Start a journal that already holds `records`: a resumed run carries the results of the
    /// run it continues, so that being interrupted again loses none of them.
    /// The file appears complete or not at all (written aside, then renamed), so a journal
    /// without its header never exists.
    pub fn create_with_records(
        run_dir: &Path,
        header: &Header,
        records: &[TestResult],
    ) -> Result<Journal, JournalError> {
        Journal::create_resumed(run_dir, header, records, &[])
    }

    /// [`Journal::create_with_records`] that also carries the tests that must run alone.
    pub fn create_resumed(
        run_dir: &Path,
        header: &Header,
        records: &[TestResult],
        alone: &[String],
    ) -> Result<Journal, JournalError> {
        let path = journal_path(run_dir);
        let tmp = run_dir.join(JOURNAL_TMP);
        let create_err = |source| JournalError::Create {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(run_dir).map_err(create_err)?;
        let mut buf = Vec::new();
        push_line(&mut buf, &LineOut::Header(header)).map_err(create_err)?;
        for r in records {
            push_line(&mut buf, &LineOut::Test(&TestRecord::from(r))).map_err(create_err)?;
        }
        for id in alone {
            push_line(&mut buf, &LineOut::Alone { id }).map_err(create_err)?;
        }
        let written = File::create(&tmp)
            .and_then(|mut f| f.write_all(&buf))
            .and_then(|()| fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(create_err(e));
        }
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(create_err)?;
        Ok(Journal {
            path,
            file,
            len: buf.len() as u64,
            line: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record one finished test. When this returns `Ok`, a SIGKILL of warden no longer loses
    /// the record.
    pub fn append(&mut self, result: &TestResult) -> Result<(), JournalError> {
        let record = TestRecord::from(result);
        self.append_line(&LineOut::Test(&record))
    }

    /// Record that test `id` must run alone when the run is resumed (the host guard stopped
    /// the run while it ran, or requeued it).
    pub fn append_alone(&mut self, id: &str) -> Result<(), JournalError> {
        self.append_line(&LineOut::Alone { id })
    }

    fn append_line(&mut self, line: &LineOut<'_>) -> Result<(), JournalError> {
        self.line.clear();
        push_line(&mut self.line, line).map_err(|source| JournalError::Write {
            path: self.path.clone(),
            source,
        })?;
        // One write of the whole line: no buffer of ours can hold a finished test back.
        match self.file.write_all(&self.line) {
            Ok(()) => {
                self.len += self.line.len() as u64;
                Ok(())
            }
            Err(source) => {
                // A short write (disk full, file size limit) left part of a line; cut it off so
                // that later records do not follow garbage, which would make the journal
                // unreadable rather than merely one record short.
                let _ = self.file.set_len(self.len);
                Err(JournalError::Write {
                    path: self.path.clone(),
                    source,
                })
            }
        }
    }
}

fn push_line(buf: &mut Vec<u8>, line: &LineOut<'_>) -> io::Result<()> {
    serde_json::to_writer(&mut *buf, line).map_err(io::Error::other)?;
    buf.push(b'\n');
    Ok(())
}

/// Everything a journal holds.
#[derive(Debug, Clone)]
pub struct JournalContents {
    pub header: Header,
    /// Finished tests in the order they finished.
    pub records: Vec<TestResult>,
    /// Tests to run alone when resumed (see `LineIn::Alone`), each once, in journal order.
    pub alone: Vec<String>,
    /// What was skipped while reading (a torn last record, unknown record kinds).
    pub warnings: Vec<String>,
}

impl JournalContents {
    /// Ids of the tests that have a record: what `--resume` does not run again.
    pub fn finished_ids(&self) -> HashSet<&str> {
        self.records.iter().map(|r| r.id.as_str()).collect()
    }
}

/// Read a journal. The last line may be torn (warden died while writing it): it is skipped with
/// a warning. Anything unreadable before it, or a missing header, is `Corrupt`.
pub fn read_journal(path: &Path) -> Result<JournalContents, JournalError> {
    let bytes = fs::read(path).map_err(|source| JournalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let corrupt = |line: usize, reason: String| JournalError::Corrupt {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut warnings = Vec::new();
    // Everything after the last newline is a line whose write never completed.
    let complete_len = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let (complete, torn) = bytes.split_at(complete_len);
    let mut lines: Vec<&[u8]> = complete.split(|&b| b == b'\n').collect();
    lines.pop(); // the empty piece after the final newline

    let Some(first) = lines.first() else {
        let reason = if torn.is_empty() {
            "the file is empty: no header"
        } else {
            "the header line is incomplete"
        };
        return Err(corrupt(1, reason.to_string()));
    };
    let header = match serde_json::from_slice::<LineIn>(first) {
        Ok(LineIn::Header(h)) => *h,
        Ok(LineIn::Test(_) | LineIn::Alone { .. }) => {
            return Err(corrupt(1, "expected a header, found a test record".into()))
        }
        Err(e) => return Err(corrupt(1, format!("bad header: {e}"))),
    };

    let mut records: Vec<TestResult> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut alone: Vec<String> = Vec::new();
    let last = lines.len();
    for (i, line) in lines.iter().enumerate().skip(1) {
        let n = i + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            warnings.push(format!(
                "journal {}:{n}: empty line skipped",
                path.display()
            ));
            continue;
        }
        match serde_json::from_slice::<LineIn>(line) {
            Ok(LineIn::Alone { id }) => {
                if !alone.contains(&id) {
                    alone.push(id);
                }
            }
            Ok(LineIn::Test(r)) => {
                let r = TestResult::from(r);
                // One record per finished test; a repeated line (a copy, a replayed write)
                // must not carry the test over twice. The later record wins.
                match index.get(&r.id) {
                    Some(&i) => {
                        warnings.push(format!(
                            "journal {}:{n}: a second record of {}; the later one is kept",
                            path.display(),
                            r.id
                        ));
                        records[i] = r;
                    }
                    None => {
                        index.insert(r.id.clone(), records.len());
                        records.push(r);
                    }
                }
            }
            Ok(LineIn::Header(_)) => return Err(corrupt(n, "a second header".into())),
            Err(e) => {
                if let Some(kind) = unknown_kind(line) {
                    // Written by a newer warden: its other records are still good.
                    warnings.push(format!(
                        "journal {}:{n}: unknown record kind `{kind}` skipped",
                        path.display()
                    ));
                } else if n == last && torn.is_empty() {
                    warnings.push(format!(
                        "journal {}:{n}: unreadable last record ignored ({e})",
                        path.display()
                    ));
                } else {
                    return Err(corrupt(n, format!("bad record: {e}")));
                }
            }
        }
    }
    if !torn.is_empty() {
        warnings.push(format!(
            "journal {}:{}: incomplete last record ({} bytes) ignored",
            path.display(),
            last + 1,
            torn.len()
        ));
    }
    Ok(JournalContents {
        header,
        records,
        alone,
        warnings,
    })
}

/// The `kind` of a well-formed JSON object whose kind this warden does not know.
fn unknown_kind(line: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let kind = v.get("kind")?.as_str()?;
    (!["header", "test", "alone"].contains(&kind)).then(|| kind.to_string())
}

/// Mark the run in `run_dir` as complete: its journal goes, so it is no longer resumable.
/// A journal already gone is not an error.
pub fn complete(run_dir: &Path) -> Result<(), JournalError> {
    let _ = fs::remove_file(run_dir.join(JOURNAL_TMP));
    let path = journal_path(run_dir);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(JournalError::Remove { path, source }),
    }
}

/// The newest run directory under `<state-dir>/runs` that still has a journal: the run that
/// `--resume` continues. Run ids sort by their start second; runs started in the same second
/// are told apart by when their journal was last written.
pub fn find_resumable(state_dir: &Path) -> Option<PathBuf> {
    let entries = fs::read_dir(state_dir.join("runs")).ok()?;
    entries
        .flatten()
        .filter_map(|e| {
            let dir = e.path();
            let modified = fs::metadata(journal_path(&dir)).ok()?.modified().ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            let second = name.split('-').next().unwrap_or_default().to_string();
            Some(((second, modified, name), dir))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, dir)| dir)
}

#[cfg(test)]
mod tests;
