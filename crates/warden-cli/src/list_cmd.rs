//! `warden list`: exactly the tests `run` would run, in the order it would run them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;
use warden::test_case::{OutputFormat, TestCase};

use crate::args::SelectArgs;
use crate::run_cmd::{prepare, Prepared};

pub fn run_list(args: &SelectArgs, json: bool) -> Result<u8> {
    let prepared = prepare(args, args.to_options())?;
    let shard_note = prepared.shard_note();
    let Prepared {
        tests, warnings, ..
    } = prepared;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let mut out = std::io::stdout().lock();
    if json {
        let listed: Vec<Listed> = tests.iter().map(Listed::from).collect();
        serde_json::to_writer_pretty(&mut out, &listed)?;
        writeln!(out)?;
    } else {
        for t in &tests {
            writeln!(out, "{}", describe(t))?;
        }
        match shard_note {
            Some(note) => eprintln!("{note}"),
            None => eprintln!(
                "{} test{} selected",
                tests.len(),
                if tests.len() == 1 { "" } else { "s" }
            ),
        }
    }
    Ok(0)
}

/// One test as `warden list --json` shows it: the discovery facts plus the command or why
/// there is none.
#[derive(Serialize)]
struct Listed<'a> {
    id: &'a str,
    path: &'a Path,
    suite: &'a str,
    level: Option<&'a str>,
    tags: &'a [String],
    slow: bool,
    skip: Option<&'a str>,
    timeout_ms: Option<u64>,
    serial: bool,
    command: Option<&'a [String]>,
    error: Option<&'a str>,
    format: OutputFormat,
    env: &'a BTreeMap<String, String>,
}

impl<'a> From<&'a TestCase> for Listed<'a> {
    fn from(t: &'a TestCase) -> Self {
        Listed {
            id: &t.id,
            path: &t.path,
            suite: &t.suite,
            level: t.level.as_deref(),
            tags: &t.tags,
            slow: t.slow,
            skip: t.skip.as_deref(),
            timeout_ms: t.timeout.map(|d| d.as_millis() as u64),
            serial: t.serial,
            command: t.command.as_deref().ok(),
            error: t.command.as_ref().err().map(String::as_str),
            format: t.format,
            env: &t.env,
        }
    }
}

/// `test/unit/a_test.sh  [unit] tags=db,smoke slow serial skip(reason)`
fn describe(t: &TestCase) -> String {
    let mut s = t.id.clone();
    if let Some(level) = &t.level {
        s.push_str(&format!("  [{level}]"));
    }
    if !t.tags.is_empty() {
        s.push_str(&format!(" tags={}", t.tags.join(",")));
    }
    if t.slow {
        s.push_str(" slow");
    }
    if t.serial {
        s.push_str(" serial");
    }
    if let Some(reason) = &t.skip {
        if reason.is_empty() {
            s.push_str(" skip");
        } else {
            s.push_str(&format!(" skip({reason})"));
        }
    }
    if let Err(e) = &t.command {
        s.push_str(&format!(" error({e})"));
    }
    s
}
