//! `warden list`: exactly the tests `run` would run, in the order it would run them.

use std::io::Write;

use anyhow::Result;
use warden::test_case::TestCase;

use crate::args::SelectArgs;
use crate::run_cmd::{prepare, Prepared};

pub fn run_list(args: &SelectArgs, json: bool) -> Result<u8> {
    let Prepared {
        tests, warnings, ..
    } = prepare(args.to_options(), args.config.as_deref())?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &tests)?;
        writeln!(out)?;
    } else {
        for t in &tests {
            writeln!(out, "{}", describe(t))?;
        }
        eprintln!(
            "{} test{} selected",
            tests.len(),
            if tests.len() == 1 { "" } else { "s" }
        );
    }
    Ok(0)
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
