//! The timeline: one lane per worker slot (grouped by shard), one SVG `<rect>` per attempt,
//! coloured by how it ended, on a time axis shared with the host chart.
//!
//! The SVG is drawn in a virtual width of [`WIDTH`] units stretched to the page's width
//! (`preserveAspectRatio="none"`), so it needs no script to fit any window; heights are pixels.
//! The page's script zooms by changing the `viewBox` and keeps thin bars visible.

use std::fmt::Write;

use super::markup::{coord, esc, fmt_bytes, fmt_ms, push_esc};
use super::model::{BarEnd, Model};

/// Virtual width of the time axis.
pub const WIDTH: f64 = 1000.0;
/// The band above a shard's lanes in a merged stream, where its label goes.
pub const GROUP_H: u32 = 24;
/// A bar is never drawn thinner than this (about a pixel), or short tests would vanish.
pub const MIN_BAR_W: f64 = 0.6;
/// Bars narrower than this (about 3 pixels) are drawn without an outline.
const THIN: f64 = 2.5;

/// Height of a lane and of the bars in it, in pixels: roomy for a few workers, compact for the
/// many lanes of a big merged run.
pub fn lane_size(model: &Model) -> (u32, u32) {
    match model.lanes.len() {
        0..=8 => (30, 22),
        9..=24 => (24, 17),
        _ => (18, 13),
    }
}

/// Maps milliseconds from the start to virtual x.
pub fn x_of(model: &Model, t: i64) -> f64 {
    t as f64 / model.span as f64 * WIDTH
}

/// Axis ticks for `[lo, hi]` ms: about six, at round steps. Mirrored by `ticks` in report.js.
pub fn ticks(lo: i64, hi: i64) -> Vec<(i64, String)> {
    const STEPS: [i64; 27] = [
        1, 2, 5, 10, 20, 50, 100, 200, 250, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000,
        60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000,
        21_600_000, 43_200_000,
    ];
    let span = (hi - lo).max(1);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 7)
        .unwrap_or(86_400_000);
    let first = (lo + step - 1).div_euclid(step) * step;
    (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= hi)
        .map(|t| (t, tick_label(t, step)))
        .collect()
}

/// `0`, `250ms`, `1.5s`, `30s`, `1m 30s`, `5m`, `1h 30m`. Mirrored in report.js.
fn tick_label(t: i64, step: i64) -> String {
    if t == 0 {
        return "0".into();
    }
    if step < 1_000 && t < 1_000 {
        return format!("{t}ms");
    }
    if step < 1_000 {
        return format!("{}s", coord(t as f64 / 1000.0));
    }
    let (h, m, s) = (t / 3_600_000, t / 60_000 % 60, t / 1000 % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

/// The axis labels (HTML, positioned in percent of the width).
pub fn axis(model: &Model) -> String {
    let mut out = String::from(r#"<div class="axis" aria-hidden="true">"#);
    for (t, label) in ticks(0, model.span) {
        let _ = write!(
            out,
            r#"<span style="left:{}%">{}</span>"#,
            coord(x_of(model, t) / WIDTH * 100.0),
            esc(&label)
        );
    }
    out.push_str("</div>");
    out
}

/// Vertical grid lines at the ticks, for any chart on the shared axis.
pub fn grid_lines(model: &Model, height: u32) -> String {
    let mut out = String::from(r#"<g class="grid">"#);
    for (t, _) in ticks(0, model.span) {
        let x = coord(x_of(model, t));
        let _ = write!(out, r#"<line x1="{x}" x2="{x}" y1="0" y2="{height}"/>"#);
    }
    out.push_str("</g>");
    out
}

/// The guard's decisions (of one shard, or all) as vertical lines from `top` to `bottom`, each
/// with a wide invisible twin that carries the tooltip.
pub fn guard_lines(model: &Model, shard: Option<u32>, top: u32, bottom: u32) -> String {
    let mut out = String::from(r#"<g class="marks">"#);
    for g in model
        .guard
        .iter()
        .filter(|g| shard.is_none_or(|s| s == g.shard))
    {
        let x = coord(x_of(model, g.t));
        let action = esc(&g.decision.action);
        let _ = write!(
            out,
            r#"<line class="gm {action}" x1="{x}" x2="{x}" y1="{top}" y2="{bottom}"/><line class="hit" x1="{x}" x2="{x}" y1="{top}" y2="{bottom}"><title>guard {action} at +{}&#10;"#,
            fmt_ms(g.t.max(0) as u64)
        );
        push_esc(&mut out, &g.decision.reason);
        out.push_str("</title></line>");
    }
    out.push_str("</g>");
    out
}

/// Fill patterns for attempts that did not end in a result: stripes over the status colour.
fn defs() -> &'static str {
    concat!(
        r#"<defs>"#,
        r#"<pattern id="p-retried-fail" class="stripes" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)"><rect width="6" height="6" class="pf fail"/><rect width="2.5" height="6" class="ps"/></pattern>"#,
        r#"<pattern id="p-retried-timeout" class="stripes" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)"><rect width="6" height="6" class="pf timeout"/><rect width="2.5" height="6" class="ps"/></pattern>"#,
        r#"<pattern id="p-retried-other" class="stripes" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)"><rect width="6" height="6" class="pf oom"/><rect width="2.5" height="6" class="ps"/></pattern>"#,
        r#"<pattern id="p-requeued" class="stripes" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)"><rect width="6" height="6" class="pf requeued"/><rect width="2.5" height="6" class="ps"/></pattern>"#,
        r#"<pattern id="p-cancelled" class="stripes" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)"><rect width="6" height="6" class="pf cancelled"/><rect width="2.5" height="6" class="ps"/></pattern>"#,
        r#"</defs>"#
    )
}

/// Height of the timeline in pixels.
pub fn height(model: &Model) -> u32 {
    let headers = if model.is_merged() {
        model.groups.len() as u32 * GROUP_H
    } else {
        0
    };
    headers + model.lanes.len().max(1) as u32 * lane_size(model).0
}

/// Top of each lane in pixels.
fn lane_tops(model: &Model) -> Vec<u32> {
    let mut tops = vec![0; model.lanes.len()];
    let lane_h = lane_size(model).0;
    let mut y = 0;
    for g in &model.groups {
        if model.is_merged() {
            y += GROUP_H;
        }
        for i in g.lanes.clone() {
            tops[i] = y;
            y += lane_h;
        }
    }
    tops
}

/// The lane labels (left column) and the SVG with every attempt's bar.
pub fn timeline(model: &Model) -> String {
    let h = height(model);
    let (lane_h, bar_h) = lane_size(model);
    let tops = lane_tops(model);
    let mut labels = String::from(r#"<div class="labels">"#);
    for g in &model.groups {
        if model.is_merged() {
            labels.push_str(&group_label(g));
        }
        for i in g.lanes.clone() {
            let _ = write!(
                labels,
                r#"<div class="lab" style="height:{lane_h}px">w{}</div>"#,
                model.lanes[i].worker
            );
        }
    }
    labels.push_str("</div>");

    let mut svg = String::with_capacity(200 + model.bars.len() * 160);
    let _ = write!(
        svg,
        r#"<svg class="chart tl zoomable" viewBox="0 0 {WIDTH} {h}" preserveAspectRatio="none" height="{h}" data-h="{h}" role="img" aria-label="timeline: {} attempt{} on {} worker slot{}">"#,
        model.bars.len(),
        if model.bars.len() == 1 { "" } else { "s" },
        model.lanes.len(),
        if model.lanes.len() == 1 { "" } else { "s" },
    );
    svg.push_str(defs());
    svg.push_str(r#"<g class="lanes">"#);
    for (i, top) in tops.iter().enumerate() {
        if i % 2 == 1 {
            let _ = write!(
                svg,
                r#"<rect x="-100000" y="{top}" width="200000" height="{lane_h}"/>"#
            );
        }
    }
    svg.push_str("</g>");
    svg.push_str(&grid_lines(model, h));
    svg.push_str(r#"<g class="bars">"#);
    for bar in &model.bars {
        let test = &model.tests[bar.test];
        let x = x_of(model, bar.start);
        let real_w = x_of(model, bar.end) - x;
        let w = real_w.max(MIN_BAR_W);
        let y = tops[bar.lane] + (lane_h - bar_h) / 2;
        let _ = write!(
            svg,
            r#"<rect class="b {}{}" x="{}" y="{y}" width="{}" height="{bar_h}" data-i="{}""#,
            bar.end_kind.classes(),
            // The outline that parts neighbours would eat a bar a few pixels wide.
            if w < THIN { " thin" } else { "" },
            coord(x),
            coord(w),
            bar.test
        );
        if bar.attempt > 1 {
            let _ = write!(svg, r#" data-a="{}""#, bar.attempt);
        }
        if w > real_w {
            let _ = write!(svg, r#" data-w="{}""#, coord(real_w.max(0.0)));
        }
        svg.push_str("><title>");
        push_esc(&mut svg, &test.id);
        let ended = match bar.end_kind {
            BarEnd::Final(s) => s.word().to_string(),
            BarEnd::Retried(s) => format!("{}, retried", s.word()),
            BarEnd::Requeued => "requeued by the guard".to_string(),
            BarEnd::Cancelled => "cancelled".to_string(),
            BarEnd::Unfinished => "not finished".to_string(),
        };
        let took = bar
            .duration_ms
            .unwrap_or_else(|| (bar.end - bar.start).max(0) as u64);
        let _ = write!(
            svg,
            "&#10;attempt {} · {} · {}",
            bar.attempt,
            ended,
            fmt_ms(took)
        );
        if let Some(peak) = bar.peak_rss_bytes {
            let _ = write!(svg, " · peak {}", fmt_bytes(peak));
        }
        // Where and when it ran is what the bar's place says (the script adds it in words).
        svg.push_str("</title></rect>");
    }
    svg.push_str("</g>");
    if model.is_merged() {
        // Each shard's guard decided for its own host: its marks cross its own lanes only.
        for g in model.groups.iter().filter(|g| !g.lanes.is_empty()) {
            let top = tops[g.lanes.start].saturating_sub(GROUP_H);
            let bottom = tops[g.lanes.end - 1] + lane_h;
            svg.push_str(&guard_lines(model, Some(g.shard), top, bottom));
        }
    } else {
        svg.push_str(&guard_lines(model, None, 0, h));
    }
    svg.push_str("</svg>");
    // Test names on the bars wide enough to hold one: placed by the script, which knows the
    // width the page has.
    format!(
        r#"<div class="rows">{labels}<div class="plot">{svg}<div class="blabels" aria-hidden="true"></div></div></div>"#
    )
}

/// The band above a shard's lanes: which shard, where it ran, how it ended.
fn group_label(g: &super::model::Group) -> String {
    let mut parts = vec![format!("shard {}", g.shard)];
    if let Some(p) = &g.partition {
        parts.push(p.clone());
    }
    if let Some(h) = &g.host {
        parts.push(h.clone());
    }
    if let Some(f) = &g.file {
        parts.push(f.clone());
    }
    if let Some(ms) = g.duration_ms {
        parts.push(fmt_ms(ms));
    }
    let exit = g
        .exit_code
        .map(|c| format!(r#" <span class="exit e{}">exit {c}</span>"#, exit_class(c)))
        .unwrap_or_default();
    let lanes = g.lanes.len();
    format!(
        r#"<div class="glab" style="height:{GROUP_H}px" title="run {} · {lanes} worker slot{}">{}{exit}</div>"#,
        esc(g.run_id.as_deref().unwrap_or("?")),
        if lanes == 1 { "" } else { "s" },
        esc(&parts.join(" · "))
    )
}

/// `ok`, `fail` or `stop`: the colour of an exit code.
pub fn exit_class(code: i32) -> &'static str {
    match code {
        0 => "ok",
        1 => "fail",
        _ => "stop",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_few() {
        let labels = |lo, hi| -> Vec<String> { ticks(lo, hi).into_iter().map(|t| t.1).collect() };
        assert_eq!(
            labels(0, 1_000),
            ["0", "200ms", "400ms", "600ms", "800ms", "1s"]
        );
        assert_eq!(labels(0, 9_500), ["0", "2s", "4s", "6s", "8s"]);
        assert_eq!(
            labels(0, 100_000),
            ["0", "15s", "30s", "45s", "1m", "1m 15s", "1m 30s"]
        );
        assert_eq!(
            labels(0, 1_900_000),
            ["0", "5m", "10m", "15m", "20m", "25m", "30m"]
        );
        assert_eq!(
            labels(0, 5_500_000),
            ["0", "15m", "30m", "45m", "1h", "1h 15m", "1h 30m"]
        );
        assert_eq!(
            labels(1_100, 2_300),
            ["1.2s", "1.4s", "1.6s", "1.8s", "2s", "2.2s"]
        );
        assert_eq!(labels(0, 0), ["0"]);
        for span in [3, 77, 1_234, 56_789, 987_654, 12_345_678, 99_999_999] {
            let n = ticks(0, span).len();
            assert!((2..=8).contains(&n), "{span}: {n} ticks");
        }
    }
}
