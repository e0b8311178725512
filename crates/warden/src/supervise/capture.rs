//! Bounded output capture: the first and last bytes stay in memory for display, the whole stream
//! goes to a log file on disk. A test that prints gigabytes costs warden a fixed amount of memory.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::events::CapturedOutput;

/// Bytes kept from the start of the output.
pub const HEAD_BYTES: usize = 8 * 1024;
/// Bytes kept from the end of the output.
pub const TAIL_BYTES: usize = 32 * 1024;

pub struct OutputCapture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
    log: Log,
    /// First error on the log file: reported once, capture continues in memory.
    log_error: Option<String>,
}

/// The log file is created on the first byte of output: a silent test costs no file.
enum Log {
    Off,
    Pending(PathBuf),
    Open(PathBuf, BufWriter<File>),
}

impl OutputCapture {
    /// Capture into memory and, when `log_path` is given, into that file once there is output.
    pub fn new(log_path: Option<&Path>) -> Self {
        OutputCapture {
            head: Vec::new(),
            tail: VecDeque::new(),
            total: 0,
            log: log_path.map_or(Log::Off, |p| Log::Pending(p.to_path_buf())),
            log_error: None,
        }
    }

    pub fn push(&mut self, mut chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        self.total += chunk.len() as u64;
        self.write_log(chunk);
        let room = HEAD_BYTES - self.head.len();
        if room > 0 {
            let n = room.min(chunk.len());
            self.head.extend_from_slice(&chunk[..n]);
            chunk = &chunk[n..];
        }
        if chunk.len() >= TAIL_BYTES {
            self.tail.clear();
            self.tail.extend(&chunk[chunk.len() - TAIL_BYTES..]);
        } else {
            let overflow = (self.tail.len() + chunk.len()).saturating_sub(TAIL_BYTES);
            self.tail.drain(..overflow);
            self.tail.extend(chunk);
        }
    }

    fn write_log(&mut self, chunk: &[u8]) {
        if let Log::Pending(path) = &self.log {
            self.log = match File::create(path) {
                Ok(f) => Log::Open(path.clone(), BufWriter::with_capacity(64 * 1024, f)),
                Err(e) => {
                    self.log_error = Some(format!("cannot create log {}: {e}", path.display()));
                    Log::Off
                }
            };
        }
        if let Log::Open(path, w) = &mut self.log {
            if let Err(e) = w.write_all(chunk) {
                self.log_error = Some(format!("cannot write log {}: {e}", path.display()));
                self.log = Log::Off;
            }
        }
    }

    /// Flush the log and return what was kept, the log path (when there was output and it was
    /// written completely) and any log error.
    pub fn finish(mut self) -> (CapturedOutput, Option<PathBuf>, Option<String>) {
        let mut log_path = None;
        if let Log::Open(path, mut w) = std::mem::replace(&mut self.log, Log::Off) {
            match w.flush() {
                Ok(()) => log_path = Some(path),
                Err(e) => {
                    self.log_error = Some(format!("cannot write log {}: {e}", path.display()))
                }
            }
        }
        let out = CapturedOutput {
            head: self.head,
            tail: self.tail.into_iter().collect(),
            total_bytes: self.total,
        };
        (out, log_path, self.log_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail_and_spills_everything() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("t.log");
        let mut c = OutputCapture::new(Some(&log));
        let mut all = Vec::new();
        for i in 0..10_000u32 {
            let line = format!("line {i}\n");
            all.extend_from_slice(line.as_bytes());
            c.push(line.as_bytes());
        }
        let (out, path, err) = c.finish();
        assert!(err.is_none());
        assert_eq!(out.total_bytes, all.len() as u64);
        assert_eq!(out.head, all[..HEAD_BYTES]);
        assert_eq!(out.tail, all[all.len() - TAIL_BYTES..]);
        assert_eq!(
            out.omitted_bytes(),
            (all.len() - HEAD_BYTES - TAIL_BYTES) as u64
        );
        assert_eq!(std::fs::read(path.unwrap()).unwrap(), all);
    }

    #[test]
    fn one_huge_chunk_keeps_its_end() {
        let mut c = OutputCapture::new(None);
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        c.push(&big);
        let (out, _, _) = c.finish();
        assert_eq!(out.head, big[..HEAD_BYTES]);
        assert_eq!(out.tail, big[big.len() - TAIL_BYTES..]);
    }

    #[test]
    fn short_output_is_all_in_head() {
        let mut c = OutputCapture::new(None);
        c.push(b"hello\n");
        let (out, _, _) = c.finish();
        assert_eq!(out.head, b"hello\n");
        assert!(out.tail.is_empty());
        assert_eq!(out.omitted_bytes(), 0);
    }

    #[test]
    fn silent_test_writes_no_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("t.log");
        let (out, path, err) = OutputCapture::new(Some(&log)).finish();
        assert_eq!((out.total_bytes, path, err), (0, None, None));
        assert!(!log.exists());
    }

    #[test]
    fn unwritable_log_is_reported_not_fatal() {
        let mut c = OutputCapture::new(Some(Path::new("/nonexistent-dir/x.log")));
        c.push(b"x");
        let (out, path, err) = c.finish();
        assert_eq!(out.head, b"x");
        assert!(path.is_none());
        assert!(err.unwrap().contains("/nonexistent-dir/x.log"));
    }
}
