//! Bounded output capture: the first and last bytes stay in memory for display, the whole stream
//! goes to a log file on disk. A test that prints gigabytes costs warden a fixed amount of memory.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Write};
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
    log: Option<(PathBuf, BufWriter<File>)>,
    /// First write error on the log file: reported once, capture continues in memory.
    log_error: Option<String>,
}

impl OutputCapture {
    /// Capture into memory and, when `log_path` is given, into that file (created, truncated).
    pub fn new(log_path: Option<&Path>) -> Self {
        let mut log_error = None;
        let log = log_path.and_then(|p| match File::create(p) {
            Ok(f) => Some((p.to_path_buf(), BufWriter::with_capacity(64 * 1024, f))),
            Err(e) => {
                log_error = Some(format!("cannot create log {}: {e}", p.display()));
                None
            }
        });
        OutputCapture {
            head: Vec::new(),
            tail: VecDeque::new(),
            total: 0,
            log,
            log_error,
        }
    }

    pub fn push(&mut self, mut chunk: &[u8]) {
        self.total += chunk.len() as u64;
        if let Some((path, w)) = &mut self.log {
            if let Err(e) = w.write_all(chunk) {
                self.log_error = Some(format!("cannot write log {}: {e}", path.display()));
                self.log = None;
            }
        }
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

    /// Flush the log and return what was kept, the log path (if it was written completely) and
    /// any log error.
    pub fn finish(mut self) -> (CapturedOutput, Option<PathBuf>, Option<String>) {
        let mut log_path = None;
        if let Some((path, mut w)) = self.log.take() {
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

/// Write `bytes` to `path`, creating parent directories: used for logs of tests that never ran.
pub fn write_log(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)
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
    fn unwritable_log_is_reported_not_fatal() {
        let mut c = OutputCapture::new(Some(Path::new("/nonexistent-dir/x.log")));
        c.push(b"x");
        let (out, path, err) = c.finish();
        assert_eq!(out.head, b"x");
        assert!(path.is_none());
        assert!(err.unwrap().contains("/nonexistent-dir/x.log"));
    }
}
