//! The machine-readable reports: opened before the first test runs (a bad path is a usage
//! error, not a lost run), fed from the event stream, finished at the end.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use warden::config::{OutputConfig, ReportTarget};
use warden::events::Event;
use warden::report::{HtmlReport, JsonLinesWriter, JunitReport};

use crate::report_cmd::history_strips;

pub struct Reports {
    json: Option<JsonLinesWriter<Box<dyn Write>>>,
    junit: Option<(JunitReport, PathBuf, File)>,
    /// The page is written whole when the run ends (also a stopped run: 42, 130, 143).
    html: Option<(HtmlReport, PathBuf)>,
    warnings: Vec<String>,
}

impl Reports {
    pub fn open(out: &OutputConfig, run_id: &str) -> Result<Reports> {
        let json = match &out.json {
            None => None,
            Some(ReportTarget::Stdout) => Some(JsonLinesWriter::new(
                Box::new(std::io::stdout()) as Box<dyn Write>
            )),
            Some(ReportTarget::File(path)) => Some(JsonLinesWriter::new(Box::new(BufWriter::new(
                create(path)?,
            ))
                as Box<dyn Write>)),
        };
        let junit = match &out.junit {
            None => None,
            Some(path) => Some((JunitReport::new(run_id), path.clone(), create(path)?)),
        };
        let html = match &out.html {
            None => None,
            Some(path) => {
                check_writable(path)?;
                Some((HtmlReport::new(), path.clone()))
            }
        };
        Ok(Reports {
            json,
            junit,
            html,
            warnings: Vec::new(),
        })
    }

    pub fn on_event(&mut self, event: &Event) {
        if let Some((j, _, _)) = &mut self.junit {
            j.on_event(event);
        }
        if let Some(w) = &mut self.json {
            if let Err(e) = w.write_event(event) {
                self.warnings
                    .push(format!("cannot write the JSON report: {e}"));
                self.json = None;
            }
        }
        if let Some((h, path)) = &mut self.html {
            // Our own events always read back; if one does not, say so rather than draw a lie.
            if let Err(e) = h.on_event(event) {
                self.warnings.push(format!(
                    "no HTML report {}: event {} cannot be read back: {}",
                    path.display(),
                    e.line,
                    e.message
                ));
                self.html = None;
            }
        }
    }

    /// Write the JUnit document and the HTML page (with history strips from `state_dir`);
    /// returns problems to warn about.
    pub fn finish(self, state_dir: Option<&Path>) -> Result<Vec<String>> {
        let mut warnings = self.warnings;
        if let Some((j, path, file)) = self.junit {
            let mut w = BufWriter::new(file);
            w.write_all(j.to_xml().as_bytes())
                .and_then(|()| w.flush())
                .with_context(|| format!("cannot write JUnit report {}", path.display()))?;
        }
        if let Some((h, path)) = self.html {
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
                write_user_file(&path, page.as_bytes())
                    .with_context(|| format!("cannot write HTML report {}", path.display()))?;
            }
        }
        Ok(warnings)
    }
}

fn create(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    File::create(path).with_context(|| format!("cannot create report file {}", path.display()))
}

/// A report written at the end must not fail only then: its directory is created now, and a
/// path that names a directory, or a place this user cannot write, is a usage error now.
fn check_writable(path: &Path) -> Result<()> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
            dir
        }
        None => Path::new("."),
    };
    if path.is_dir() {
        bail!(
            "cannot write report file {}: it is a directory",
            path.display()
        );
    }
    // A path that exists is written through (or replaced when it is a regular file, which
    // needs the directory); one that does not is created in the directory.
    let regular = std::fs::metadata(path).map(|m| m.is_file()).unwrap_or(true);
    let probe = if regular { dir } else { path };
    if !writable(probe) {
        bail!(
            "cannot write report file {}: {} is not writable",
            path.display(),
            probe.display()
        );
    }
    Ok(())
}

fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access(2) reads a NUL-terminated path that lives for the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// Writes a whole file at a path the user named, without ever destroying what is there: a
/// regular file (or none) is replaced atomically through a temporary file and a rename in its
/// directory, so readers never see half a page; a symlink keeps pointing where it did (its
/// target is replaced the same way); a FIFO or a device is written into, never replaced.
pub fn write_user_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(real) => real,
            // A dangling link: writing through it creates its target.
            Err(_) => return write_through(path, bytes),
        },
        _ => path.to_path_buf(),
    };
    match std::fs::metadata(&target) {
        Ok(m) if !m.is_file() => write_through(&target, bytes),
        _ => replace(&target, bytes),
    }
}

fn write_through(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // A FIFO or a device has nothing to truncate, and a dangling link's target is new.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    f.write_all(bytes)?;
    f.flush()
}

fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileTypeExt;

    use super::*;

    #[test]
    fn a_regular_file_is_replaced_and_a_symlink_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.html");
        std::fs::write(&file, "old").unwrap();
        write_user_file(&file, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
        let link = dir.path().join("link.html");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        write_user_file(&link, b"through").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "through");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }

    #[test]
    fn a_fifo_is_written_into_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) on a NUL-terminated path in our own temp dir.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_user_file(&fifo, b"page").unwrap();
        assert_eq!(reader.join().unwrap(), b"page");
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo());
    }

    #[test]
    fn a_directory_is_refused_before_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_writable(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("it is a directory"), "{err}");
        let nested = dir.path().join("a/b/r.html");
        check_writable(&nested).unwrap();
        assert!(dir.path().join("a/b").is_dir());
    }
}
