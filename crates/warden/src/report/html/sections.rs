//! The smaller panels: the slowest tests, processes tests left behind, the guard's decisions
//! and the run's warnings.

use std::fmt::Write;

use super::markup::{esc, fmt_ms, push_esc};
use super::model::Model;

/// Slowest tests listed.
const SLOWEST: usize = 10;
/// Leaked processes listed at most.
const MAX_LEAKS: usize = 200;

/// The panels that have something to show, side by side.
pub fn panels(model: &Model) -> String {
    let parts = [
        slowest(model),
        leaks(model),
        guard(model),
        coverage(model),
        warnings(model),
    ];
    let body: String = parts.into_iter().flatten().collect();
    if body.is_empty() {
        return String::new();
    }
    format!(r#"<div class="panels">{body}</div>"#)
}

fn slowest(model: &Model) -> Option<String> {
    let mut timed: Vec<(usize, u64)> = model
        .tests
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.duration_ms().filter(|ms| *ms > 0).map(|ms| (i, ms)))
        .collect();
    if timed.is_empty() {
        return None;
    }
    timed.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let longest = timed[0].1.max(1) as f64;
    let mut out =
        String::from(r#"<section class="panel small"><h2>Slowest tests</h2><ol class="slow">"#);
    for &(i, ms) in timed.iter().take(SLOWEST) {
        let t = &model.tests[i];
        let _ = write!(
            out,
            r##"<li><a href="#tests" data-i="{i}" class="goto"><code>{}</code></a><span class="sbar"><i class="{}" style="width:{:.1}%"></i></span><span class="dur">{}</span></li>"##,
            esc(&t.id),
            t.shown.key(),
            ms as f64 / longest * 100.0,
            fmt_ms(ms)
        );
    }
    out.push_str("</ol></section>");
    Some(out)
}

fn leaks(model: &Model) -> Option<String> {
    let leaky: Vec<(usize, &super::input::TestDone)> = model
        .tests
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            t.done
                .as_ref()
                .filter(|d| !d.leaked.is_empty())
                .map(|d| (i, d))
        })
        .collect();
    if leaky.is_empty() {
        return None;
    }
    let total: usize = leaky.iter().map(|(_, d)| d.leaked.len()).sum();
    let mut out = format!(
        r#"<section class="panel small"><h2>Left behind <span class="count">{total}</span><small>processes found after their test ended, and killed</small></h2><ul class="leaklist">"#
    );
    let mut listed = 0;
    'tests: for (i, d) in leaky {
        for l in &d.leaked {
            if listed == MAX_LEAKS {
                break 'tests;
            }
            listed += 1;
            let _ = write!(
                out,
                r##"<li><a href="#tests" data-i="{i}" class="goto"><code>{}</code></a> <code class="pcmd">"##,
                esc(&d.id)
            );
            push_esc(&mut out, &l.cmd);
            let _ = write!(
                out,
                r#"</code> <span class="pid">pid {}</span></li>"#,
                l.pid
            );
        }
    }
    out.push_str("</ul>");
    if total > listed {
        let _ = write!(out, r#"<p class="note">and {} more</p>"#, total - listed);
    }
    out.push_str("</section>");
    Some(out)
}

fn guard(model: &Model) -> Option<String> {
    if model.guard.is_empty() {
        return None;
    }
    let mut out = format!(
        r#"<section class="panel small"><h2>Host guard <span class="count">{}</span><small>decisions of --self-protect</small></h2><ul class="guardlist">"#,
        model.guard.len()
    );
    for g in &model.guard {
        let d = &g.decision;
        let shard = if g.shard > 0 {
            format!("shard {} · ", g.shard)
        } else {
            String::new()
        };
        let action = esc(&d.action);
        let _ = write!(
            out,
            r#"<li><span class="at">{shard}+{}</span><span class="act {action}">{action}</span> "#,
            fmt_ms(g.t.max(0) as u64)
        );
        push_esc(&mut out, &d.reason);
        if let Some(id) = &d.id {
            let _ = write!(out, r#" <code>{}</code>"#, esc(id));
        }
        out.push_str("</li>");
    }
    out.push_str("</ul></section>");
    Some(out)
}

/// `--coverage`: per kind, where the merged result is, or why there is none and the command.
fn coverage(model: &Model) -> Option<String> {
    if model.coverage.is_empty() {
        return None;
    }
    let mut out =
        String::from(r#"<section class="panel small"><h2>Coverage</h2><ul class="warnlist">"#);
    for c in &model.coverage {
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        let _ = write!(
            out,
            "<li><b>{}</b>: {} test{}, {} file{} ",
            esc(&c.kind),
            c.tests,
            plural(c.tests),
            c.files,
            plural(c.files)
        );
        match &c.merged {
            Some(merged) => {
                let _ = write!(
                    out,
                    "merged by {} into <code>{}</code>",
                    esc(c.tool.as_deref().unwrap_or("?")),
                    esc(merged)
                );
            }
            None => {
                let _ = write!(
                    out,
                    "not merged ({}); raw data in <code>{}/&lt;test&gt;/</code>; merge with: \
                     <code>{}</code>",
                    esc(c.problem.as_deref().unwrap_or("no tool")),
                    esc(&c.raw_dir),
                    esc(c.command.as_deref().unwrap_or("?"))
                );
            }
        }
        out.push_str("</li>");
    }
    out.push_str("</ul></section>");
    Some(out)
}

fn warnings(model: &Model) -> Option<String> {
    let mut items: Vec<String> = model.warnings.clone();
    if model.finished.is_none() {
        items.insert(
            0,
            "The event stream ends before the run did (no run-finished): warden was killed, or \
             the file was cut. What happened until then is shown."
                .to_string(),
        );
    }
    if items.is_empty() {
        return None;
    }
    let mut out = format!(
        r#"<section class="panel small"><h2>Warnings <span class="count">{}</span></h2><ul class="warnlist">"#,
        items.len()
    );
    for w in items {
        let _ = write!(out, "<li>{}</li>", esc(&w));
    }
    out.push_str("</ul></section>");
    Some(out)
}
