//! Where a test's output goes as it arrives, for processes and containers alike: the bounded
//! capture and its log file, the TAP parser, and with `--no-capture` a channel to the
//! scheduler, which makes events of it (the engine never writes to a terminal).

use std::path::PathBuf;

use tokio::sync::mpsc;

use super::capture::OutputCapture;
use super::process::{CaptureSpec, TapMode};
use crate::events::CapturedOutput;
use crate::tap::{TapParser, TapReport};

pub struct OutputSink {
    capture: Option<OutputCapture>,
    tap: Option<TapParser>,
    echo: Option<Echo>,
}

/// Where live output goes (`--no-capture`): chunks tagged with the test's worker slot.
#[derive(Debug, Clone)]
pub struct Echo {
    pub worker: usize,
    pub tx: mpsc::UnboundedSender<(usize, Vec<u8>)>,
}

/// Everything the sink kept once the output ended.
#[derive(Default)]
pub struct SinkResult {
    pub output: CapturedOutput,
    /// The full log, when there was output and it was written completely.
    pub log: Option<PathBuf>,
    /// Why the log is missing or short, when it is.
    pub log_error: Option<String>,
    pub tap: Option<TapReport>,
}

impl OutputSink {
    /// `None`: the output is not captured at all.
    pub fn new(spec: Option<&CaptureSpec>) -> OutputSink {
        OutputSink {
            capture: spec.map(|c| OutputCapture::new(c.log_path.as_deref())),
            tap: spec.and_then(|c| match c.tap {
                TapMode::Off => None,
                TapMode::Detect => Some(TapParser::new()),
                TapMode::Assume => Some(TapParser::assume_tap()),
            }),
            echo: spec.and_then(|c| c.echo.clone()),
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        if let Some(e) = &self.echo {
            // Nobody listening any more (the run is ending): the log still has it.
            let _ = e.tx.send((e.worker, chunk.to_vec()));
        }
        if let Some(c) = self.capture.as_mut() {
            c.push(chunk);
        }
        if let Some(t) = self.tap.as_mut() {
            t.feed(chunk);
        }
    }

    pub fn finish(self) -> SinkResult {
        let (output, log, log_error) = self.capture.map(OutputCapture::finish).unwrap_or_default();
        SinkResult {
            output,
            log,
            log_error,
            tap: self.tap.map(TapParser::finish),
        }
    }
}
