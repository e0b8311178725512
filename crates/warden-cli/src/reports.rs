//! The machine-readable reports: checked before the first test runs (a bad path is a usage
//! error, not a lost run), fed from the event stream, finished at the end. Every path goes
//! through the engine's `UserPath`, so a device, FIFO or symlink is written through, never
//! replaced.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{bail, Result};
use warden::config::{OutputConfig, ReportTarget};
use warden::events::Event;
use warden::report::output_path::same_file;
use warden::report::{HtmlReport, JsonLinesWriter, JunitReport, PathKind, UserPath};
use warden::test_case::TestCase;

use crate::report_cmd::history_strips;

pub struct Reports {
    json: Option<JsonLinesWriter<Box<dyn Write>>>,
    json_path: Option<UserPath>,
    junit: Option<(JunitReport, UserPath)>,
    /// The page is written whole when the run ends (also a stopped run: 42, 130, 143).
    html: Option<(HtmlReport, UserPath)>,
    /// What could not be written; each makes the run's exit code non-zero.
    lost: Vec<String>,
}

/// The report paths of `out` as user paths, with the option that named each.
fn user_paths(out: &OutputConfig) -> Vec<UserPath> {
    let json = match &out.json {
        Some(ReportTarget::File(p)) => Some(UserPath::new("--json", p)),
        _ => None,
    };
    let junit = out.junit.as_ref().map(|p| UserPath::new("--junit", p));
    let html = out.html.as_ref().map(|p| UserPath::new("--html", p));
    [json, junit, html].into_iter().flatten().collect()
}

/// Refuses (exit 2) report paths that would destroy something: two reports into one file, or
/// a report over one of the selected tests. Creates missing report directories.
pub fn check_paths(out: &OutputConfig, tests: &[TestCase]) -> Result<()> {
    let paths = user_paths(out);
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[i + 1..] {
            // A device (`/dev/null`) takes any number of writers.
            if a.same_file(b) && !is_device(&a.path) {
                bail!(
                    "{} and {} name the same file {}: each report needs its own",
                    a.option,
                    b.option,
                    a.path.display()
                );
            }
        }
    }
    for p in &paths {
        // Only an existing regular file can be a test; the inode comparison sees through
        // symlinks and `./`.
        if p.kind() == PathKind::Regular {
            if let Some(t) = tests.iter().find(|t| same_file(&p.path, &t.path)) {
                bail!(
                    "{} {} is the selected test {}: the report would overwrite it",
                    p.option,
                    p.path.display(),
                    t.id
                );
            }
        }
        p.check()?;
    }
    Ok(())
}

fn is_device(path: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| {
        let t = m.file_type();
        t.is_char_device() || t.is_block_device()
    })
}

impl Reports {
    pub fn open(out: &OutputConfig, run_id: &str) -> Result<Reports> {
        let mut json_path = None;
        let json = match &out.json {
            None => None,
            Some(ReportTarget::Stdout) => Some(JsonLinesWriter::new(
                Box::new(io::stdout()) as Box<dyn Write>
            )),
            Some(ReportTarget::File(path)) => {
                let up = UserPath::new("--json", path);
                let file = up.open_stream()?;
                json_path = Some(up);
                Some(JsonLinesWriter::new(
                    Box::new(WholeLines::new(file)) as Box<dyn Write>
                ))
            }
        };
        let junit = match &out.junit {
            None => None,
            Some(path) => {
                let up = UserPath::new("--junit", path);
                up.check()?;
                Some((JunitReport::new(run_id), up))
            }
        };
        let html = match &out.html {
            None => None,
            Some(path) => {
                let up = UserPath::new("--html", path);
                up.check()?;
                Some((HtmlReport::new(), up))
            }
        };
        Ok(Reports {
            json,
            json_path,
            junit,
            html,
            lost: Vec::new(),
        })
    }

    /// The tests this run will start: any never reported (the run stopped first) still
    /// appears in the JUnit report, as skipped, "not run".
    pub fn expect(&mut self, ids: impl IntoIterator<Item = String>) {
        if let Some((j, _)) = &mut self.junit {
            j.expect(ids);
        }
    }

    /// `(id, file)` of the selected tests that are cases: the JUnit classname of each.
    pub fn classes(&mut self, cases: impl IntoIterator<Item = (String, String)>) {
        if let Some((j, _)) = &mut self.junit {
            j.classes(cases);
        }
    }

    pub fn on_event(&mut self, event: &Event) {
        if let Some((j, _)) = &mut self.junit {
            j.on_event(event);
        }
        if let Some(w) = &mut self.json {
            if let Err(e) = w.write_event(event) {
                let place = self
                    .json_path
                    .as_ref()
                    .map(|p| format!("the JSON report {}", p.path.display()))
                    .unwrap_or_else(|| "the JSON report on stdout".to_string());
                self.lost.push(format!(
                    "{place} is incomplete: it ends with the last event before this error ({e})"
                ));
                self.json = None;
            }
        }
        if let Some((h, path)) = &mut self.html {
            // Our own events always read back; if one does not, say so rather than draw a lie.
            if let Err(e) = h.on_event(event) {
                self.lost.push(format!(
                    "the HTML report {} was not written: event {} cannot be read back: {}",
                    path.path.display(),
                    e.line,
                    e.message
                ));
                self.html = None;
            }
        }
    }

    /// Writes the JUnit document and the HTML page (with history strips from `state_dir`);
    /// returns what was lost (each one a reason for a non-zero exit) and what to warn about.
    pub fn finish(mut self, state_dir: Option<&Path>) -> (Vec<String>, Vec<String>) {
        let mut warnings = Vec::new();
        if let Some((j, path)) = self.junit.take() {
            if let Err(e) = path.write_atomic(j.to_xml().as_bytes()) {
                self.lost
                    .push(format!("the JUnit report was not written: {e}"));
            }
        }
        if let Some((h, path)) = self.html.take() {
            let history = match state_dir {
                Some(dir) => {
                    let (strips, warning) =
                        history_strips(dir, &h.test_ids(), h.last_time().as_deref());
                    warnings.extend(warning);
                    strips
                }
                None => Default::default(),
            };
            if let Some(page) = h.render(&history) {
                if let Err(e) = path.write_atomic(page.as_bytes()) {
                    self.lost
                        .push(format!("the HTML report was not written: {e}"));
                }
            }
        }
        (self.lost, warnings)
    }
}

/// A report file written a whole line at a time: when a write fails (the disk is full), the
/// file is cut back to the end of the last whole line, so a reader never meets half an event.
struct WholeLines {
    file: File,
    /// Bytes written in whole lines so far; `None` for a device or FIFO (nothing to cut).
    good: Option<u64>,
}

impl WholeLines {
    fn new(file: File) -> WholeLines {
        let regular = file.metadata().is_ok_and(|m| m.is_file());
        WholeLines {
            file,
            good: regular.then_some(0),
        }
    }
}

impl Write for WholeLines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf).map(|()| buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self.file.write_all(buf) {
            Ok(()) => {
                if let Some(g) = &mut self.good {
                    *g += buf.len() as u64;
                }
                Ok(())
            }
            Err(e) => {
                if let Some(g) = self.good {
                    let _ = self.file.set_len(g);
                }
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
