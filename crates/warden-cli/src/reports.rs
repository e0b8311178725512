//! The machine-readable reports: opened before the first test runs (a bad path is a usage
//! error, not a lost run), fed from the event stream, finished at the end.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use warden::config::{OutputConfig, ReportTarget};
use warden::events::Event;
use warden::report::{JsonLinesWriter, JunitReport};

pub struct Reports {
    json: Option<JsonLinesWriter<Box<dyn Write>>>,
    junit: Option<(JunitReport, PathBuf, File)>,
    json_error: Option<String>,
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
        Ok(Reports {
            json,
            junit,
            json_error: None,
        })
    }

    pub fn on_event(&mut self, event: &Event) {
        if let Some((j, _, _)) = &mut self.junit {
            j.on_event(event);
        }
        if let Some(w) = &mut self.json {
            if let Err(e) = w.write_event(event) {
                self.json_error = Some(format!("cannot write the JSON report: {e}"));
                self.json = None;
            }
        }
    }

    /// Write the JUnit document; returns a problem to warn about, if any.
    pub fn finish(self) -> Result<Option<String>> {
        if let Some((j, path, file)) = self.junit {
            let mut w = BufWriter::new(file);
            w.write_all(j.to_xml().as_bytes())
                .and_then(|()| w.flush())
                .with_context(|| format!("cannot write JUnit report {}", path.display()))?;
        }
        Ok(self.json_error)
    }
}

fn create(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    File::create(path).with_context(|| format!("cannot create report file {}", path.display()))
}
