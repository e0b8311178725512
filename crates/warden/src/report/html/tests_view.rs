//! The tests on the page: a card for each failure (and each flaky test) with the end of its
//! output, and the data of the sortable table, which the page's script draws (one row per
//! test would be too much markup for 10,000 tests).

use std::collections::HashMap;
use std::fmt::Write;

use serde_json::{json, Value};

use super::input::TestDone;
use super::markup::{clean_output, esc, fmt_bytes, fmt_ms, push_esc, script_safe_json};
use super::model::{Model, Shown, TestRow};
use crate::events::Status;

/// Output embedded in the page, all cards together; past it a card shows only the log path.
/// 10,000 failing tests must not make a 40 MB page.
pub const OUTPUT_BUDGET: usize = 1024 * 1024;
/// Cards drawn at most; more failures than this are in the table only.
pub const MAX_CARDS: usize = 300;
/// Cards open when the page loads: the first few failures are what a reader came for.
const OPEN_CARDS: usize = 8;
/// Runs shown in a history strip.
pub const HISTORY_RUNS: usize = 12;

/// One letter per status, for history strips in the data (`p` pass, `f` fail, ...).
pub fn status_letter(s: Status) -> char {
    match s {
        Status::Pass => 'p',
        Status::Fail => 'f',
        Status::Timeout => 't',
        Status::Skip => 's',
        Status::Flaky => 'k',
        Status::Leak => 'l',
        Status::Error => 'e',
        Status::Oom => 'o',
    }
}

/// Why a test ended as it did, in a few words; `None` for a plain pass.
pub fn reason(row: &TestRow) -> Option<String> {
    let Some(d) = &row.done else {
        return Some(
            match (row.shown, row.cancelled.as_deref()) {
                (Shown::Cancelled, Some("fail-fast")) => "cancelled: --fail-fast stopped the run",
                (Shown::Cancelled, Some("max-fail")) => "cancelled: --max-fail stopped the run",
                (Shown::Cancelled, Some("guard")) => "cancelled: the host guard stopped the run",
                (Shown::Cancelled, _) => "cancelled: the run was interrupted",
                _ => "still running when the event stream ended",
            }
            .to_string(),
        );
    };
    done_reason(d)
}

fn done_reason(d: &TestDone) -> Option<String> {
    let message = d.message.as_deref().filter(|m| !m.trim().is_empty());
    let leaked = || {
        let n = d.leaked.len();
        format!("left {n} process{} behind", if n == 1 { "" } else { "es" })
    };
    Some(match d.status {
        Status::Pass if !d.leaked.is_empty() => leaked(),
        Status::Pass => return None,
        Status::Skip => return message.map(str::to_string),
        Status::Flaky => format!("passed on attempt {}", d.attempt),
        Status::Fail => {
            let mut parts: Vec<String> = exit_description(d).into_iter().collect();
            if let Some(m) = message {
                parts.push(m.to_string());
            } else if let Some(st) = d.subtests.as_ref().filter(|s| s.failed > 0) {
                let total = st.passed + st.failed + st.skipped;
                parts.push(format!("{} of {total} subtests failed", st.failed));
            }
            if parts.is_empty() {
                "failed".into()
            } else {
                parts.join(", ")
            }
        }
        Status::Timeout => message.unwrap_or("timed out").to_string(),
        Status::Leak => message.map_or_else(leaked, str::to_string),
        Status::Error => message.unwrap_or("could not be run").to_string(),
        Status::Oom => message.unwrap_or("out of memory").to_string(),
    })
}

/// `exit 3` or `killed by SIGSEGV`, when the main process did not simply exit 0.
pub fn exit_description(d: &TestDone) -> Option<String> {
    match (&d.signal, d.exit_code) {
        (Some(sig), _) => Some(format!("killed by {sig}")),
        (None, Some(code)) if code != 0 => Some(format!("exit {code}")),
        _ => None,
    }
}

/// The tests that get a card: failures first, then flaky tests, each group in finishing order.
pub fn card_tests(model: &Model) -> Vec<usize> {
    let failing = (0..model.tests.len()).filter(|&i| model.tests[i].shown.is_failure());
    let flaky = (0..model.tests.len()).filter(|&i| model.tests[i].shown == Shown::Flaky);
    failing.chain(flaky).take(MAX_CARDS).collect()
}

/// A strip of the test's last results (oldest first), or nothing without history.
pub fn history_strip(history: Option<&Vec<Status>>) -> String {
    let Some(h) = history.filter(|h| !h.is_empty()) else {
        return String::new();
    };
    let mut out = String::from(r#"<span class="strip" title="last runs, oldest first">"#);
    for s in h {
        let _ = write!(out, r#"<i class="{}"></i>"#, Shown::from_status(*s).key());
    }
    out.push_str("</span>");
    out
}

/// The failure and flaky cards; `cards[i]` is the card index of test `i` in the data.
pub fn cards(
    model: &Model,
    history: &HashMap<String, Vec<Status>>,
) -> (String, HashMap<usize, usize>) {
    let chosen = card_tests(model);
    let mut index = HashMap::new();
    let mut budget = OUTPUT_BUDGET;
    let mut failures = String::new();
    let mut flaky = String::new();
    for (n, &i) in chosen.iter().enumerate() {
        index.insert(i, n);
        let row = &model.tests[i];
        let out = if row.shown == Shown::Flaky {
            &mut flaky
        } else {
            &mut failures
        };
        card(
            out,
            n,
            row,
            history.get(&row.id),
            &mut budget,
            n < OPEN_CARDS && row.shown != Shown::Flaky,
        );
    }
    let failing_total = model.tests.iter().filter(|t| t.shown.is_failure()).count();
    let flaky_total = model
        .tests
        .iter()
        .filter(|t| t.shown == Shown::Flaky)
        .count();
    let mut html = String::new();
    if failing_total > 0 {
        let _ = write!(
            html,
            r#"<section class="panel" id="failures"><h2>Failures <span class="count">{failing_total}</span></h2>{failures}"#
        );
        more_note(
            &mut html,
            failing_total,
            chosen
                .iter()
                .filter(|&&i| model.tests[i].shown.is_failure())
                .count(),
        );
        html.push_str("</section>");
    }
    if flaky_total > 0 {
        let _ = write!(
            html,
            r#"<section class="panel" id="flaky"><h2>Flaky <span class="count">{flaky_total}</span><small>failed, then passed on a retry</small></h2>{flaky}"#
        );
        more_note(
            &mut html,
            flaky_total,
            chosen
                .iter()
                .filter(|&&i| model.tests[i].shown == Shown::Flaky)
                .count(),
        );
        html.push_str("</section>");
    }
    (html, index)
}

fn more_note(html: &mut String, total: usize, shown: usize) {
    if total > shown {
        let _ = write!(
            html,
            r#"<p class="note">{} more are in the table below (this page shows at most {MAX_CARDS} cards).</p>"#,
            total - shown
        );
    }
}

fn card(
    out: &mut String,
    n: usize,
    row: &TestRow,
    history: Option<&Vec<Status>>,
    budget: &mut usize,
    open: bool,
) {
    let key = row.shown.key();
    let _ = write!(
        out,
        r#"<details class="card {key}" id="c{n}"{}><summary><span class="chip {key}">{}</span><code class="tid">"#,
        if open { " open" } else { "" },
        row.shown.word()
    );
    push_esc(out, &row.id);
    out.push_str("</code>");
    if let Some(why) = reason(row) {
        let _ = write!(out, r#"<span class="why">{}</span>"#, esc(&why));
    }
    if let Some(ms) = row.duration_ms() {
        let _ = write!(out, r#"<span class="dur">{}</span>"#, fmt_ms(ms));
    }
    out.push_str(r#"</summary><div class="body">"#);
    facts(out, row, history);
    if let Some(d) = &row.done {
        leaks(out, d);
        output(out, d, budget);
    }
    for e in &row.earlier {
        let _ = write!(
            out,
            r#"<details class="earlier"><summary>attempt {} · <span class="chip {}">{}</span> {} · {}</summary>"#,
            e.attempt,
            Shown::from_status(e.status).key(),
            Shown::from_status(e.status).word(),
            esc(&done_reason(e).unwrap_or_default()),
            fmt_ms(e.duration_ms)
        );
        output(out, e, budget);
        out.push_str("</details>");
    }
    out.push_str("</div></details>");
}

fn facts(out: &mut String, row: &TestRow, history: Option<&Vec<Status>>) {
    let mut facts: Vec<(&str, String)> = Vec::new();
    if let Some(d) = &row.done {
        if let Some(e) = exit_description(d) {
            facts.push(("ended", e));
        } else if let Some(code) = d.exit_code {
            facts.push(("ended", format!("exit {code}")));
        }
        if let Some(s) = &d.subtests {
            facts.push((
                "subtests",
                format!(
                    "{} passed, {} failed, {} skipped",
                    s.passed, s.failed, s.skipped
                ),
            ));
        }
        if let Some(p) = d.peak_rss_bytes {
            facts.push(("peak memory", fmt_bytes(p)));
        }
        if let Some(c) = d.cpu_ms {
            facts.push(("CPU time", fmt_ms(c)));
        }
    }
    facts.push(("attempts", row.attempts.to_string()));
    if row.requeues > 0 {
        facts.push(("requeued", row.requeues.to_string()));
    }
    if let Some(w) = row.worker {
        facts.push(("worker", format!("w{w}")));
    }
    if row.shard > 0 {
        facts.push(("shard", row.shard.to_string()));
    }
    out.push_str(r#"<dl class="facts">"#);
    for (k, v) in facts {
        let _ = write!(out, "<div><dt>{k}</dt><dd>{}</dd></div>", esc(&v));
    }
    let strip = history_strip(history);
    if !strip.is_empty() {
        let _ = write!(out, "<div><dt>history</dt><dd>{strip}</dd></div>");
    }
    out.push_str("</dl>");
    if let Some(log) = row.done.as_ref().and_then(|d| d.log.as_deref()) {
        let _ = write!(
            out,
            r#"<p class="log">full log: <code>{}</code></p>"#,
            esc(log)
        );
    }
}

fn leaks(out: &mut String, d: &TestDone) {
    if d.leaked.is_empty() {
        return;
    }
    out.push_str(r#"<p class="sub">processes left behind (killed):</p><ul class="leaks">"#);
    for l in &d.leaked {
        let _ = write!(
            out,
            "<li><code>{}</code> <span class=\"pid\">pid {}</span></li>",
            esc(&l.cmd),
            l.pid
        );
    }
    out.push_str("</ul>");
}

fn output(out: &mut String, d: &TestDone, budget: &mut usize) {
    match d.output_tail.as_deref().map(clean_output) {
        Some(text) if text.len() <= *budget => {
            *budget -= text.len();
            out.push_str(r#"<pre class="out">"#);
            push_esc(out, text.trim_end_matches('\n'));
            out.push_str("</pre>");
        }
        Some(_) => out.push_str(
            r#"<p class="note">Output left out: this page already holds as much output as it may (see the full log).</p>"#,
        ),
        None => out.push_str(r#"<p class="note">No output.</p>"#),
    }
}

/// The table's data as JSON: one array per test (see `COL` in report.js), plus what the
/// script needs to show it. Log paths under the run's log directory are kept relative to it.
pub fn table_data(
    model: &Model,
    history: &HashMap<String, Vec<Status>>,
    cards: &HashMap<usize, usize>,
) -> String {
    let log_dir = model
        .started
        .log_dir
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(|d| format!("{}/", d.trim_end_matches('/')));
    let rows: Vec<Value> = model
        .tests
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let d = t.done.as_ref();
            let log = d.and_then(|d| d.log.as_deref()).map(|l| {
                match log_dir.as_deref().and_then(|dir| l.strip_prefix(dir)) {
                    Some(rel) => format!("+{rel}"),
                    None => l.to_string(),
                }
            });
            let strip: Option<String> = history
                .get(&t.id)
                .filter(|h| !h.is_empty())
                .map(|h| h.iter().map(|s| status_letter(*s)).collect());
            json!([
                t.id,
                t.shown.key(),
                d.map(|d| d.duration_ms),
                d.and_then(|d| d.peak_rss_bytes),
                d.and_then(|d| d.cpu_ms),
                t.attempts,
                t.requeues,
                t.shard,
                cards.get(&i).map_or(-1, |&c| c as i64),
                strip,
                log,
                reason(t),
                t.worker,
                d.is_some_and(|d| d.carried_over),
                d.map_or(0, |d| d.leaked.len()),
            ])
        })
        .collect();
    let data = json!({
        "span": model.span,
        "logDir": log_dir,
        "history": !history.is_empty(),
        "tests": rows,
    });
    script_safe_json(&data.to_string())
}
