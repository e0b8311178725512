//! Host resources under the timeline, on the same time axis: CPU and memory in use (percent)
//! from the `resource-sample` events, the guard's thresholds, and its decisions marked. One
//! chart per shard in a merged stream (each ran on its own host).

use std::fmt::Write;

use super::markup::{coord, esc};
use super::model::{Model, SamplePoint};
use super::timeline::{grid_lines, guard_lines, x_of};

/// Height of one chart in pixels.
pub const CHART_H: u32 = 96;
/// More points than a screen has pixels only make the file bigger: above this, samples are
/// merged into buckets that keep their highest readings (a short peak must stay visible).
const MAX_POINTS: usize = 1500;

/// Every host chart of the model (one per shard that has samples), or a note saying why there
/// is none.
pub fn resources(model: &Model) -> String {
    let mut out = String::new();
    for g in &model.groups {
        let samples: Vec<SamplePoint> = model
            .samples
            .iter()
            .filter(|s| s.shard == g.shard)
            .copied()
            .collect();
        if samples.is_empty() {
            continue;
        }
        let title = if model.is_merged() {
            let host = g
                .host
                .as_deref()
                .map(|h| format!(" · {h}"))
                .unwrap_or_default();
            format!("host of shard {}{host}", g.shard)
        } else {
            match &g.host {
                Some(h) => format!("host {h}"),
                None => "host".to_string(),
            }
        };
        out.push_str(&chart(
            model,
            &title,
            &samples,
            g.cpu_threshold,
            g.mem_threshold,
            model.is_merged().then_some(g.shard),
        ));
    }
    if out.is_empty() {
        out.push_str(
            r#"<p class="note">No host samples in this run. warden samples the host's CPU and memory when it runs with <code>--html</code> or <code>--self-protect</code>.</p>"#,
        );
    }
    out
}

/// The chart's y (0 at the top, 100 at the bottom) of a percentage, with a little room above
/// 100% and below 0% so that a line at either end is not cut in half by the edge.
fn y_of(pct: f64) -> f64 {
    2.0 + (100.0 - pct.clamp(0.0, 100.0)) * 0.96
}

fn chart(
    model: &Model,
    title: &str,
    samples: &[SamplePoint],
    cpu_threshold: Option<f64>,
    mem_threshold: Option<f64>,
    shard: Option<u32>,
) -> String {
    let points = decimate(samples, MAX_POINTS);
    let y = |pct: f64| coord(y_of(pct));
    let mut mem = String::new();
    let mut cpu = String::new();
    for p in &points {
        let x = coord(x_of(model, p.t));
        let _ = write!(mem, "{x},{} ", y(p.mem));
        if let Some(c) = p.cpu {
            let _ = write!(cpu, "{x},{} ", y(c));
        }
    }
    let first = coord(x_of(model, points[0].t));
    let last = coord(x_of(model, points[points.len() - 1].t));
    let peak_cpu = points.iter().filter_map(|p| p.cpu).fold(0.0, f64::max);
    let peak_mem = points.iter().map(|p| p.mem).fold(0.0, f64::max);

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart res zoomable" viewBox="0 0 1000 100" preserveAspectRatio="none" height="{CHART_H}" data-h="100" role="img" aria-label="{}: CPU peaked at {peak_cpu:.0}%, memory at {peak_mem:.0}%">"#,
        esc(title)
    );
    svg.push_str(r#"<g class="hgrid">"#);
    for pct in [25.0, 50.0, 75.0] {
        let _ = write!(
            svg,
            r#"<line x1="-100000" x2="200000" y1="{0}" y2="{0}"/>"#,
            y(pct)
        );
    }
    svg.push_str("</g>");
    svg.push_str(&grid_lines(model, 100));
    let _ = write!(
        svg,
        r#"<polygon class="mem-area" points="{first},100 {mem}{last},100"/><polyline class="mem" points="{}"/>"#,
        mem.trim_end()
    );
    if !cpu.is_empty() {
        let _ = write!(
            svg,
            r#"<polyline class="cpu" points="{}"/>"#,
            cpu.trim_end()
        );
    }
    let mut marks = String::new();
    for (class, value) in [("cpu", cpu_threshold), ("mem", mem_threshold)] {
        if let Some(v) = value {
            let _ = write!(
                svg,
                r#"<line class="thr {class}" x1="-100000" x2="200000" y1="{0}" y2="{0}"/>"#,
                y(v)
            );
            let _ = write!(
                marks,
                r#"<span class="thrlab {class}" style="top:{}%">{class} limit {}%</span>"#,
                y(v),
                coord(v)
            );
        }
    }
    svg.push_str(&guard_lines(model, shard, 0, 100));
    svg.push_str("</svg>");
    let guard: String = ["throttle", "requeue", "fail", "shutdown"]
        .iter()
        .filter(|a| {
            model
                .guard
                .iter()
                .any(|g| g.decision.action == **a && shard.is_none_or(|s| s == g.shard))
        })
        .map(|a| format!(r#"<span class="k g {a}">guard {a}</span>"#))
        .collect();
    let legend = format!(
        r#"<div class="reslegend"><b>{}</b><span class="k cpu">CPU</span> peak {peak_cpu:.0}% <span class="k mem">memory</span> peak {peak_mem:.0}%{guard}</div>"#,
        esc(title)
    );
    format!(
        r#"<div class="resblock">{legend}<div class="rows"><div class="labels ylab" style="height:{CHART_H}px"><span style="top:{}%">100%</span><span style="top:{}%">50%</span><span style="top:{}%">0%</span></div><div class="plot">{svg}{marks}</div></div></div>"#,
        y(100.0),
        y(50.0),
        y(0.0)
    )
}

/// At most `max` points: consecutive samples merged into equal time buckets, each keeping its
/// highest CPU and memory readings at the time of its last sample.
fn decimate(samples: &[SamplePoint], max: usize) -> Vec<SamplePoint> {
    if samples.len() <= max {
        return samples.to_vec();
    }
    let lo = samples[0].t;
    let hi = samples[samples.len() - 1].t.max(lo + 1);
    let width = (hi - lo) as f64 / max as f64;
    let mut out: Vec<SamplePoint> = Vec::with_capacity(max);
    let mut bucket = usize::MAX;
    for s in samples {
        let b = (((s.t - lo) as f64 / width) as usize).min(max - 1);
        match out.last_mut() {
            Some(p) if b == bucket => {
                p.t = s.t;
                p.mem = p.mem.max(s.mem);
                p.cpu = match (p.cpu, s.cpu) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                p.running = p.running.max(s.running);
            }
            _ => {
                bucket = b;
                out.push(*s);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: i64, cpu: f64, mem: f64) -> SamplePoint {
        SamplePoint {
            shard: 0,
            t,
            cpu: Some(cpu),
            mem,
            running: 1,
        }
    }

    #[test]
    fn decimation_keeps_peaks_and_bounds_the_points() {
        let mut samples: Vec<SamplePoint> =
            (0..10_000).map(|i| sample(i * 500, 10.0, 20.0)).collect();
        samples[4_321].cpu = Some(99.5);
        samples[7_777].mem = 88.0;
        let out = decimate(&samples, 1500);
        assert!(out.len() <= 1500 && out.len() > 1400, "{}", out.len());
        assert!(out.iter().any(|p| p.cpu == Some(99.5)));
        assert!(out.iter().any(|p| p.mem == 88.0));
        assert!(out.windows(2).all(|w| w[0].t < w[1].t));
        assert_eq!(out.last().map(|p| p.t), samples.last().map(|p| p.t));
        let few = &samples[..10];
        assert_eq!(decimate(few, 1500).len(), 10);
    }
}
