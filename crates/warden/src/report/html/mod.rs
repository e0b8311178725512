//! `--html` and `warden report`: one self-contained page about a run (SPEC §10). A pure writer:
//! events in, bytes out. It reads the events as the JSON-lines stream carries them, so that the
//! page of a live run and the page rendered later from its `--json` file (or from a `warden
//! merge` of several shards) are the same.
//!
//! - `input`: the event lines, checked and typed;
//! - `model`: lanes, one bar per attempt, one row per test, host samples, guard decisions;
//! - `timeline`, `resources`: the SVG charts on one time axis;
//! - `tests_view`, `sections`: failure cards, the table's data, the smaller panels;
//! - `page`: the page, with `report.css` and `report.js` inline.

mod input;
mod markup;
mod model;
mod page;
mod resources;
mod sections;
mod tests_view;
mod timeline;

use std::collections::HashMap;

pub use input::InputError;
pub use tests_view::HISTORY_RUNS;

use crate::events::{Event, Status};
use crate::report::event_to_json;

/// Collects a run's events, then renders the page.
#[derive(Default)]
pub struct HtmlReport {
    builder: model::ModelBuilder,
    lines: usize,
}

impl HtmlReport {
    pub fn new() -> HtmlReport {
        HtmlReport::default()
    }

    /// An event of a live run (through its JSON form, as a saved stream would give it).
    pub fn on_event(&mut self, event: &Event) -> Result<(), InputError> {
        let Some(value) = event_to_json(event) else {
            return Ok(());
        };
        self.lines += 1;
        let line = input::parse_value(self.lines, value)?;
        self.builder.push(self.lines, line)
    }

    /// The next line of a saved JSON-lines stream; errors name its line number.
    pub fn push_line(&mut self, text: &str) -> Result<(), InputError> {
        self.lines += 1;
        match input::parse_line(self.lines, text)? {
            Some(line) => self.builder.push(self.lines, line),
            None => Ok(()),
        }
    }

    /// Ids of the tests seen, for looking up their history.
    pub fn test_ids(&self) -> Vec<String> {
        self.builder.test_ids()
    }

    /// When the stream's last event happened (RFC 3339): history after it is not this run's.
    pub fn last_time(&self) -> Option<String> {
        self.builder.last_at().map(|ms| {
            let t = if ms >= 0 {
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64)
            } else {
                std::time::UNIX_EPOCH
            };
            crate::clock::rfc3339_utc_millis(t)
        })
    }

    /// The page. `history` holds each test's last results, oldest first (empty: no history
    /// strip). `None` when no event was given (an empty stream).
    pub fn render(self, history: &HashMap<String, Vec<Status>>) -> Option<String> {
        let model = self.builder.finish()?;
        Some(page::page(&model, history))
    }
}

#[cfg(test)]
mod tests;
