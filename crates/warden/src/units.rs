//! Durations and sizes as users type them (`500ms`, `1m30s`, `512M`, `2GiB`) and durations as
//! people read them. Arithmetic is done in integers so that `0.1s` is exactly 100 ms.

use std::time::Duration;

/// A duration or size that could not be understood; the message quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("invalid duration `{text}`: {reason}")]
    Duration { text: String, reason: String },
    #[error("invalid size `{text}`: {reason}")]
    Size { text: String, reason: String },
}

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The longest duration warden accepts anywhere (timeouts, grace, markers): one year. Longer
/// is never meant, and values near `u64::MAX` seconds overflow every clock they are added to.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);
/// How [`MAX_DURATION`] is written in messages.
pub const MAX_DURATION_TEXT: &str = "8784h (a year)";
const DURATION_UNITS: &str = "ns, us, ms, s, m or h";

/// Parses `500ms`, `30s`, `5m`, `1h`, `1.5s`, compounds like `1m30s`; a plain number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let fail = |reason: &str| UnitError::Duration {
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(fail("empty; expected e.g. 500ms, 30s, 5m, 1h"));
    }
    if s.starts_with('-') {
        return Err(fail("must not be negative"));
    }
    let mut rest = s;
    let mut total: u128 = 0;
    let mut parts = 0;
    while !rest.is_empty() {
        let (number, after) = split_number(rest);
        if number.is_empty() {
            return Err(fail("expected a number such as 500ms, 30s, 5m, 1h"));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_nanos: u128 = match unit.trim() {
            // A bare number means seconds, but only on its own: `1m30` is more likely a typo.
            "" if parts == 0 && after.is_empty() => NANOS_PER_SEC,
            "" => return Err(fail(&format!("missing unit after `{number}`"))),
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            other => {
                return Err(fail(&format!(
                    "unknown unit `{other}` (expected {DURATION_UNITS})"
                )))
            }
        };
        if !well_formed(number) {
            return Err(fail(&format!("malformed number `{number}`")));
        }
        let too_large = || fail(&format!("too large (at most {MAX_DURATION_TEXT})"));
        let nanos = scale_decimal(number, unit_nanos).ok_or_else(too_large)?;
        total = total.checked_add(nanos).ok_or_else(too_large)?;
        parts += 1;
        rest = after;
    }
    let too_large = || fail(&format!("too large (at most {MAX_DURATION_TEXT})"));
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| too_large())?;
    let d = Duration::new(secs, (total % NANOS_PER_SEC) as u32);
    if d > MAX_DURATION {
        return Err(too_large());
    }
    Ok(d)
}

/// Parses `512M`, `2G`, `1024K`, `1T`, optional `B`/`iB` suffix, or plain bytes. K = 1024.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let fail = |reason: &str| UnitError::Size {
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(fail(
            "empty; expected e.g. 512M, 2G, 1024K or a number of bytes",
        ));
    }
    if s.starts_with('-') {
        return Err(fail("must not be negative"));
    }
    let (number, unit) = split_number(s);
    if number.is_empty() {
        return Err(fail("expected a number such as 512M, 2G, 1024K"));
    }
    let unit = unit.trim();
    let (prefix, suffix) = match unit.char_indices().nth(1) {
        Some((i, _)) => unit.split_at(i),
        None => (unit, ""),
    };
    let multiplier: u128 = match (prefix.to_ascii_uppercase().as_str(), suffix) {
        ("", "") | ("B", "") => 1,
        ("K", s) | ("M", s) | ("G", s) | ("T", s) if matches!(s, "" | "B" | "iB" | "ib" | "b") => {
            let power = "KMGT".find(&prefix.to_ascii_uppercase()).unwrap_or(0) as u32 + 1;
            1024u128.pow(power)
        }
        _ => {
            return Err(fail(&format!(
                "unknown unit `{unit}` (expected K, M, G or T, optionally followed by B or iB)"
            )))
        }
    };
    if !well_formed(number) {
        return Err(fail(&format!("malformed number `{number}`")));
    }
    let bytes = scale_decimal(number, multiplier).ok_or_else(|| fail("too large"))?;
    u64::try_from(bytes).map_err(|_| fail("too large"))
}

/// Human form: `250ms`, `1.5s`, `2s`, `5m`, `5m30s`, `1h2m`. Parses back with [`parse_duration`]
/// to the same value at millisecond precision.
pub fn format_duration(d: Duration) -> String {
    let total_ms = d.as_millis();
    if total_ms == 0 {
        return match d.as_micros() {
            0 => format!("{}ns", d.as_nanos()),
            us => format!("{us}us"),
        };
    }
    if total_ms < 1000 {
        return format!("{total_ms}ms");
    }
    let hours = total_ms / 3_600_000;
    let minutes = (total_ms / 60_000) % 60;
    let ms_in_minute = total_ms % 60_000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if ms_in_minute > 0 || out.is_empty() {
        let secs = ms_in_minute / 1000;
        let frac = ms_in_minute % 1000;
        if frac == 0 {
            out.push_str(&format!("{secs}s"));
        } else {
            let frac = format!("{frac:03}");
            out.push_str(&format!("{secs}.{}s", frac.trim_end_matches('0')));
        }
    }
    out
}

/// Human form of a byte count: `512B`, `1.5K`, `256M`, `1.2G` (binary units, one decimal
/// where it matters). `parse_size` reads it back to within the rounding.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["K", "M", "G", "T"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text}{}", UNITS[unit])
}

/// Splits a leading decimal number (`12`, `1.5`, `.5`) from the rest.
fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    s.split_at(end)
}

/// Digits with at most one `.` and at least one digit (`1`, `1.5`, `.5`, `5.`).
fn well_formed(number: &str) -> bool {
    number.bytes().filter(|&b| b == b'.').count() <= 1 && number.bytes().any(|b| b.is_ascii_digit())
}

/// `number × multiplier` for a well-formed decimal number, truncating below one unit of the
/// result; `None` on overflow.
fn scale_decimal(number: &str, multiplier: u128) -> Option<u128> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let int_value: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    // 18 fractional digits are beyond nanoseconds and bytes alike, and keep this in u128.
    let frac = &frac[..frac.len().min(18)];
    let frac_value: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    let frac_part = frac_value * multiplier / 10u128.pow(frac.len() as u32);
    let value = int_value.checked_mul(multiplier)?.checked_add(frac_part)?;
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("30s"), Ok(ms(30_000)));
        assert_eq!(parse_duration("5m"), Ok(ms(300_000)));
        assert_eq!(parse_duration("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("0.1s"), Ok(ms(100)));
        assert_eq!(parse_duration(".25s"), Ok(ms(250)));
        assert_eq!(parse_duration("12"), Ok(ms(12_000)));
        assert_eq!(parse_duration("2.5"), Ok(ms(2500)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("1h2m3.5s"), Ok(ms(3_723_500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration(" 10s "), Ok(ms(10_000)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations_quote_the_text() {
        for bad in [
            "",
            "  ",
            "-5s",
            "abc",
            "5x",
            "s",
            "1.2.3s",
            ".s",
            "1m30",
            "5 minutes",
            "1e3s",
            "5M",
        ] {
            let err = parse_duration(bad).expect_err(bad);
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("invalid duration `{bad}`")),
                "{bad:?}: {msg}"
            );
        }
        assert!(parse_duration("-5s")
            .unwrap_err()
            .to_string()
            .contains("negative"));
        assert!(parse_duration("5x")
            .unwrap_err()
            .to_string()
            .contains("`x`"));
    }

    #[test]
    fn huge_durations_overflow_cleanly() {
        let err = parse_duration("99999999999999999999999h").unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
        let err = parse_duration("18446744073709551616s").unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
        // Representable, but past any clock it is added to (issue 19): refused, saying the
        // limit.
        for past in [
            "18446744073709551615s",
            "5124095576030431h",
            "8785h",
            "366d",
        ] {
            let err = parse_duration(past).unwrap_err().to_string();
            assert!(
                err.contains("at most 8784h") || err.contains("unknown unit"),
                "{err}"
            );
        }
        assert_eq!(parse_duration("8784h"), Ok(MAX_DURATION));
    }

    #[test]
    fn sizes_with_and_without_suffixes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1024K"), Ok(1 << 20));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert_eq!(parse_size("512MB"), Ok(512 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("0"), Ok(0));
    }

    #[test]
    fn bad_sizes_quote_the_text() {
        for bad in ["", "-1M", "M", "12X", "1.2.3G", "2GB2", "5 MiBs", "1KiBB"] {
            let msg = parse_size(bad).expect_err(bad).to_string();
            assert!(
                msg.starts_with(&format!("invalid size `{bad}`")),
                "{bad:?}: {msg}"
            );
        }
        let msg = parse_size("99999999999T").unwrap_err().to_string();
        assert!(msg.contains("too large"), "{msg}");
    }

    #[test]
    fn formats_like_a_person_would() {
        assert_eq!(format_duration(ms(2000)), "2s");
        assert_eq!(format_duration(ms(1500)), "1.5s");
        assert_eq!(format_duration(ms(250)), "250ms");
        assert_eq!(format_duration(ms(300_000)), "5m");
        assert_eq!(format_duration(ms(330_000)), "5m30s");
        assert_eq!(format_duration(ms(3_600_000)), "1h");
        assert_eq!(format_duration(ms(3_723_450)), "1h2m3.45s");
        assert_eq!(format_duration(ms(12)), "12ms");
        assert_eq!(format_duration(Duration::from_micros(40)), "40us");
        assert_eq!(format_duration(Duration::ZERO), "0ns");
    }

    #[test]
    fn sizes_read_like_a_person_would() {
        assert_eq!(format_size(0), "0B");
        assert_eq!(format_size(1023), "1023B");
        assert_eq!(format_size(1536), "1.5K");
        assert_eq!(format_size(256 << 20), "256M");
        assert_eq!(format_size((1 << 30) + (200 << 20)), "1.2G");
        assert_eq!(format_size(3 << 40), "3T");
        assert_eq!(parse_size(&format_size(256 << 20)), Ok(256 << 20));
    }

    proptest! {
        #[test]
        fn format_parses_back(millis in 0u64..10_000_000_000) {
            let d = ms(millis);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,20}") {
            let _ = parse_duration(&s);
            let _ = parse_size(&s);
        }
    }
}
