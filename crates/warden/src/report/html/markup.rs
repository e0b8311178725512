//! Small pieces of markup: escaping, captured output made safe to show, and numbers as a
//! person reads them (`1.23s`, `12.3 MiB`).

use std::fmt::Write;

/// Appends `text` with `& < > " '` escaped: safe in element content and in quoted attributes.
/// Bidirectional overrides are shown as `\u{202e}`: a test id or output line must not reorder
/// what the page shows after it.
pub fn push_esc(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    push_esc(&mut out, text);
    out
}

/// Captured output as plain text: terminal escape sequences (colours, cursor moves, titles)
/// removed, other control characters but newline and tab dropped, carriage-return progress
/// lines reduced to what the terminal would finally have shown.
pub fn clean_output(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut line_start = 0;
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                // CSI: parameters and intermediates up to a final byte in @..~.
                Some('[') => {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC (a window title, a hyperlink): up to BEL or ESC \.
                Some(']') => {
                    chars.next();
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            '\n' => {
                out.push('\n');
                line_start = out.len();
            }
            // `\r\n` ends a line; a lone `\r` starts it over (progress bars).
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' => out.truncate(line_start),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A duration as a person reads it: `0ms`, `850ms`, `1.23s`, `12.3s`, `2m 05s`, `1h 02m`.
pub fn fmt_ms(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=9_999 => format!("{:.2}s", ms as f64 / 1000.0),
        10_000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m {:02}s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{}h {:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// A size in binary units: `512 B`, `4.0 KiB`, `12.3 MiB`, `1.50 GiB`.
pub fn fmt_bytes(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB {
        format!("{bytes} B")
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else if b < KIB * KIB * KIB {
        format!("{:.1} MiB", b / KIB / KIB)
    } else {
        format!("{:.2} GiB", b / KIB / KIB / KIB)
    }
}

/// A wall-clock time for the header: `2026-11-26 10:30:56 UTC`.
pub fn fmt_clock(epoch_ms: i64) -> String {
    let text = crate::clock::rfc3339_utc_millis(if epoch_ms >= 0 {
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(epoch_ms as u64)
    } else {
        std::time::UNIX_EPOCH - std::time::Duration::from_millis(epoch_ms.unsigned_abs())
    });
    format!("{} {} UTC", &text[..10], &text[11..19])
}

/// A coordinate for SVG: at most two decimals, no trailing zeros (`12`, `12.5`, `0.07`).
pub fn coord(x: f64) -> String {
    let mut s = String::new();
    let _ = write!(s, "{:.2}", x);
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// JSON inside `<script type="application/json">`: no `<` at all, so neither `</script>` nor
/// `<!--<script` (which changes how the HTML parser looks for the end) can occur in it.
pub fn script_safe_json(json: &str) -> String {
    json.replace('<', "\\u003c")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_html_needs() {
        assert_eq!(
            esc(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(esc("ünïcødé ✓"), "ünïcødé ✓");
        assert_eq!(esc("a\u{202e}cba.sh"), "a\\u{202e}cba.sh");
    }

    #[test]
    fn output_loses_escapes_and_keeps_text() {
        assert_eq!(
            clean_output("\u{1b}[1;31mFAIL\u{1b}[0m: x\r\n"),
            "FAIL: x\n"
        );
        assert_eq!(
            clean_output("\u{1b}]0;title\u{7}a\u{1b}]8;;http://x\u{1b}\\b\tc\u{0}d\n"),
            "ab\tcd\n"
        );
        assert_eq!(clean_output("10%\r50%\r100%\ndone"), "100%\ndone");
        assert_eq!(clean_output("trailing \u{1b}"), "trailing ");
    }

    #[test]
    fn numbers_read_well() {
        let ms: Vec<String> = [0, 999, 1_234, 12_345, 125_000, 3_725_000]
            .into_iter()
            .map(fmt_ms)
            .collect();
        assert_eq!(ms, ["0ms", "999ms", "1.23s", "12.3s", "2m 05s", "1h 02m"]);
        let sizes: Vec<String> = [512, 4096, 12_900_000, 1_610_612_736]
            .into_iter()
            .map(fmt_bytes)
            .collect();
        assert_eq!(sizes, ["512 B", "4.0 KiB", "12.3 MiB", "1.50 GiB"]);
        assert_eq!(fmt_clock(1_700_000_000_123), "2023-11-14 22:13:20 UTC");
        let coords: Vec<String> = [12.0, 12.5, 0.071, -0.001, 1000.0]
            .into_iter()
            .map(coord)
            .collect();
        assert_eq!(coords, ["12", "12.5", "0.07", "0", "1000"]);
        assert_eq!(
            script_safe_json(r#"["</script>","<!--<script"]"#),
            r#"["\u003c/script>","\u003c!--\u003cscript"]"#
        );
    }
}
