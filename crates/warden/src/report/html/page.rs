//! The page: header (verdict, counts, where and how it ran), the timeline with the host
//! charts under it, failure cards, the smaller panels and the tests table, with the style and
//! script inline so that the one file is the whole report.

use crate::exit_code::ExitCode;
use crate::report::shell_words;
use std::collections::HashMap;
use std::fmt::Write;

use super::markup::{esc, fmt_clock, fmt_ms};
use super::model::{BarEnd, Model, Shown};
use super::resources::resources;
use super::sections::panels;
use super::tests_view::{cards, table_data};
use super::timeline::{axis, exit_class, timeline};
use crate::events::Status;

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// The whole page.
pub fn page(model: &Model, history: &HashMap<String, Vec<Status>>) -> String {
    let (cards_html, card_index) = cards(model, history);
    let title = match &model.finished {
        Some(f) => format!(
            "{} · {} passed, {} failed · warden",
            verdict(model).0,
            f.passed,
            model.tests.iter().filter(|t| t.shown.is_failure()).count()
        ),
        None => format!("{} · warden", verdict(model).0),
    };
    let mut out =
        String::with_capacity(64 * 1024 + model.bars.len() * 180 + model.tests.len() * 120);
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="warden {}"><title>{}</title><style>{STYLE}</style></head>
<body><main>"#,
        esc(model.started.warden_version.as_deref().unwrap_or("")),
        esc(&title)
    );
    out.push_str(&header(model));
    out.push_str(&counts(model));
    out.push_str(&timeline_panel(model));
    out.push_str(&cards_html);
    out.push_str(&panels(model));
    out.push_str(&table_panel(model, history));
    let _ = write!(
        out,
        r#"<footer>Made by warden {} from {} events · one self-contained file: it loads nothing from anywhere</footer></main>"#,
        esc(model.started.warden_version.as_deref().unwrap_or("")),
        model.events
    );
    let _ = writeln!(
        out,
        r#"<div id="tip" role="tooltip" hidden></div><script type="application/json" id="warden-data">{}</script><script>{SCRIPT}</script></body></html>"#,
        table_data(model, history, &card_index)
    );
    out
}

/// The verdict word and the class of its colour.
fn verdict(model: &Model) -> (&'static str, &'static str) {
    let Some(f) = &model.finished else {
        return ("INCOMPLETE", "stop");
    };
    let word = ExitCode::from_raw(f.exit_code).verdict();
    (word, exit_class(f.exit_code))
}

fn header(model: &Model) -> String {
    let s = &model.started;
    let (word, class) = verdict(model);
    let mut meta: Vec<String> = vec![format!("started {}", fmt_clock(model.origin))];
    match &model.finished {
        Some(f) => meta.push(format!("took {}", fmt_ms(f.duration_ms))),
        None => meta.push(format!(
            "{} until the stream ends",
            fmt_ms(model.span as u64)
        )),
    }
    if model.is_merged() {
        meta.push(format!("{} shards merged", s.merged.len()));
    } else if let Some(h) = &s.host {
        meta.push(format!("on {h}"));
    }
    meta.push(format!(
        "{} worker{}",
        s.workers,
        if s.workers == 1 { "" } else { "s" }
    ));
    if let Some(t) = s.timeout_ms {
        meta.push(format!("timeout {}", fmt_ms(t)));
    }
    if let Some(r) = s.retries.filter(|r| *r > 0) {
        meta.push(format!("retries {r}"));
    }
    if let (Some(c), Some(m)) = (s.cpu_threshold, s.mem_threshold) {
        meta.push(format!("--self-protect at CPU {c}%, memory {m}%"));
    }
    if let Some(p) = &s.partition {
        meta.push(format!("shard {}", p.spec));
    }
    if let Some(r) = &s.resumed_from {
        meta.push(format!("resumes {r}"));
    }
    if let Some(v) = &s.warden_version {
        meta.push(format!("warden {v}"));
    }
    let exit = match &model.finished {
        Some(f) => {
            let stopped = match f.stopped.as_deref() {
                Some("fail-fast") => " · stopped by --fail-fast",
                Some("max-fail") => " · stopped by --max-fail",
                Some("signal") => " · stopped by a signal",
                Some("guard") => " · stopped by --self-protect",
                _ => "",
            };
            format!("exit {}{stopped}", f.exit_code)
        }
        None => "no run-finished event".to_string(),
    };
    let command = if s.argv.is_empty() {
        String::new()
    } else {
        format!(
            r#"<div class="cmd"><code>$ warden {}</code></div>"#,
            esc(&shell_words(&s.argv))
        )
    };
    format!(
        r#"<header class="top"><div class="brand"><span class="logo" aria-hidden="true"></span>warden</div><div class="what"><h1>Run <code>{}</code></h1><div class="meta">{}</div>{command}</div><div class="verdict {class}"><b>{word}</b><span>{}</span></div></header>"#,
        esc(&s.run_id),
        meta.iter().map(|m| esc(m)).collect::<Vec<_>>().join(" · "),
        esc(&exit)
    )
}

/// The command line as one could type it again: words with spaces or quotes quoted.
fn counts(model: &Model) -> String {
    let total = model.tests.len();
    let mut tiles = String::new();
    let mut ratio = String::new();
    for shown in Shown::ALL {
        let n = model.count(shown);
        let always = matches!(shown, Shown::Pass | Shown::Fail | Shown::Skip);
        if n == 0 && !always {
            continue;
        }
        let label = match shown {
            Shown::Pass => "passed",
            Shown::Fail => "failed",
            Shown::Timeout => "timed out",
            Shown::Oom => "out of memory",
            Shown::Error => "errors",
            Shown::Leak => "leaked",
            Shown::Flaky => "flaky",
            Shown::Cancelled => "cancelled",
            Shown::Unfinished => "unfinished",
            Shown::Skip => "skipped",
        };
        let _ = write!(
            tiles,
            r##"<a class="tile {}{}" href="#tests" data-status="{}"><b>{n}</b><span>{label}</span></a>"##,
            shown.key(),
            if n == 0 { " zero" } else { "" },
            shown.key()
        );
        if n > 0 {
            let _ = write!(
                ratio,
                r#"<i class="{}" style="flex-grow:{n}" title="{n} {label}"></i>"#,
                shown.key()
            );
        }
    }
    let left_behind = model
        .tests
        .iter()
        .filter(|t| t.done.as_ref().is_some_and(|d| !d.leaked.is_empty()))
        .count();
    if left_behind > 0 {
        let _ = write!(
            tiles,
            r#"<span class="tile aside"><b>{left_behind}</b><span>left processes</span></span>"#
        );
    }
    if let Some(n) = model
        .finished
        .as_ref()
        .map(|f| f.not_run)
        .filter(|n| *n > 0)
    {
        let _ = write!(
            tiles,
            r#"<span class="tile aside"><b>{n}</b><span>never started</span></span>"#
        );
    }
    let attempts = model.bars.len();
    // The terminal's summary line, word for word, then what the tiles do not say.
    let mut sum = match &model.finished {
        Some(f) => {
            let mut s = format!(
                "{} passed, {} failed, {} skipped",
                f.passed, f.failed, f.skipped
            );
            for (n, what) in [
                (f.timed_out, "timed out"),
                (f.flaky, "flaky"),
                (f.leaky, "leaky"),
                (f.oom, "out of memory"),
                (f.errors, "errors"),
            ] {
                if n > 0 {
                    let _ = write!(s, ", {n} {what}");
                }
            }
            s
        }
        None => "the run did not finish".to_string(),
    };
    let _ = write!(
        sum,
        " · {total} of {} selected test{} reported · {attempts} attempt{} run",
        model.started.selected,
        if model.started.selected == 1 { "" } else { "s" },
        if attempts == 1 { "" } else { "s" }
    );
    format!(
        r#"<section class="counts"><div class="tiles">{tiles}</div><div class="ratio" aria-hidden="true">{ratio}</div><p class="sum">{}</p></section>"#,
        esc(&sum)
    )
}

fn timeline_panel(model: &Model) -> String {
    // What the bars of this run are, and nothing else.
    let present: std::collections::HashSet<String> = model
        .bars
        .iter()
        .map(|b| match b.end_kind {
            BarEnd::Retried(_) => "fail retried".to_string(),
            BarEnd::Unfinished => "cancelled".to_string(),
            other => other.classes(),
        })
        .collect();
    let legend: String = [
        ("pass", "pass"),
        ("fail", "fail"),
        ("timeout", "timeout"),
        ("oom", "OOM"),
        ("error", "error"),
        ("leak", "leak"),
        ("flaky", "flaky (passed on a retry)"),
        ("skip", "skip"),
        ("fail retried", "failed, retried"),
        ("requeued", "requeued by the guard"),
        ("cancelled", "cancelled"),
    ]
    .iter()
    .filter(|(class, _)| present.contains(*class))
    .map(|(class, label)| format!(r#"<span><i class="sw {class}"></i>{label}</span>"#))
    .collect();
    let slots = model.lanes.len();
    format!(
        r#"<section class="panel" id="timeline"><h2>Timeline <small>{} attempt{} on {slots} worker slot{}</small><button type="button" id="unzoom" hidden>reset zoom</button></h2><div class="legend">{legend}</div><div class="tlwrap"><div class="rows axisrow"><div class="labels"></div><div class="plot">{}</div></div>{}{}<div id="brush" hidden></div></div><p class="hint">Hover a bar for its test · drag across the chart to zoom in, double-click to zoom out · click a bar to find its test below.</p></section>"#,
        model.bars.len(),
        if model.bars.len() == 1 { "" } else { "s" },
        if slots == 1 { "" } else { "s" },
        axis(model),
        timeline(model),
        resources(model)
    )
}

fn table_panel(model: &Model, history: &HashMap<String, Vec<Status>>) -> String {
    let hist_col = if history.is_empty() {
        String::new()
    } else {
        r#"<th data-k="hist" title="last runs, oldest first; sorted by how often the status changed">History</th>"#.to_string()
    };
    format!(
        r#"<section class="panel" id="tests"><h2>Tests <span class="count">{}</span></h2><div class="tools"><input id="q" type="search" placeholder="Filter by test id…" aria-label="filter by test id"><div id="chips"></div></div><div class="tablewrap"><table id="t"><thead><tr><th data-k="status">Status</th><th data-k="id">Test</th><th data-k="dur" class="num">Duration</th><th data-k="peak" class="num">Peak memory</th><th data-k="cpu" class="num">CPU</th><th data-k="att" class="num">Attempts</th>{hist_col}</tr></thead><tbody></tbody></table></div><div id="more"></div><noscript><p class="note">The table needs JavaScript; everything above this works without it.</p></noscript></section>"#,
        model.tests.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_quoted_as_a_shell_would_read_them() {
        let argv: Vec<String> = ["run", "-k", "with space", "it's", "--html=r.html", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            shell_words(&argv),
            r#"run -k 'with space' 'it'\''s' --html=r.html ''"#
        );
    }
}
