//! Wall-clock formatting (UTC), computed by hand so the engine needs no date crate.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `at + d`, never panicking: a sum past what the clock can hold (a timeout of
/// `u64::MAX` seconds) is a deadline decades away, which is what such a value means.
pub fn instant_after(at: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 366 * 24 * 3600);
    at.checked_add(d)
        .or_else(|| at.checked_add(FAR))
        .unwrap_or(at)
}

/// `2023-11-14T22:13:20.123Z`: UTC, millisecond precision, truncated (never rounded up, so a
/// timestamp is never later than the instant it describes).
pub fn rfc3339_utc_millis(t: SystemTime) -> String {
    let total_ms: i128 = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i128,
        // Before 1970: round towards the past, as for positive times.
        Err(e) => -((e.duration().as_nanos() as i128 + 999_999) / 1_000_000),
    };
    let secs = total_ms.div_euclid(1000) as i64;
    let ms = total_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// `20261126T091500Z`: sortable and safe in file names (run ids).
pub fn compact_utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Milliseconds since 1970 of a UTC time as [`rfc3339_utc_millis`] writes it
/// (`2023-11-14T22:13:20.123Z`; the fraction may be absent or of any length, only its first
/// three digits count). `None` for anything else: reports read back only what warden wrote.
pub fn parse_rfc3339_utc_millis(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(r)?;
        digits.iter().all(u8::is_ascii_digit).then(|| {
            digits
                .iter()
                .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'))
        })
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if !seps.iter().all(|&(i, c)| b.get(i) == Some(&c)) || b.last() != Some(&b'Z') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let ms = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', frac @ ..] if !frac.is_empty() && frac.iter().all(u8::is_ascii_digit) => frac
            .iter()
            .chain(std::iter::repeat(&b'0'))
            .take(3)
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0')),
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms)
}

/// Day count since 1970-01-01 of a proleptic Gregorian date: the inverse of
/// [`civil_from_days`], by the same March-based eras.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm:
/// 400-year eras of 146 097 days, years starting in March so the leap day comes last).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_after_saturates_instead_of_panicking() {
        let now = Instant::now();
        assert_eq!(
            instant_after(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        let far = instant_after(now, Duration::from_secs(u64::MAX));
        assert!(far > now + Duration::from_secs(10 * 365 * 24 * 3600));
    }
    use std::time::Duration;

    fn at_ms(ms: i64) -> SystemTime {
        if ms >= 0 {
            UNIX_EPOCH + Duration::from_millis(ms as u64)
        } else {
            UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
        }
    }

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339_utc_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_utc_millis(at_ms(1_000_000_000_000)),
            "2001-09-09T01:46:40.000Z"
        );
        assert_eq!(
            rfc3339_utc_millis(at_ms(1_700_000_000_123)),
            "2023-11-14T22:13:20.123Z"
        );
        // Leap days: a divisible-by-400 year has one, a divisible-by-100 year does not.
        assert_eq!(
            rfc3339_utc_millis(at_ms(951_782_400_000)),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_utc_millis(at_ms(4_107_542_400_000)),
            "2100-03-01T00:00:00.000Z"
        );
        assert_eq!(rfc3339_utc_millis(at_ms(-1)), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_back_what_it_writes() {
        for ms in [
            0,
            -1,
            1_700_000_000_123,
            951_782_400_000,
            4_107_542_400_000,
            1_795_684_500_999,
        ] {
            let text = rfc3339_utc_millis(at_ms(ms));
            assert_eq!(parse_rfc3339_utc_millis(&text), Some(ms), "{text}");
        }
        assert_eq!(
            parse_rfc3339_utc_millis("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_rfc3339_utc_millis("2023-11-14T22:13:20.1234Z"),
            Some(1_700_000_000_123)
        );
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20.123",
            "2023-11-14T22:13:20.123+01:00",
            "2023-13-14T22:13:20.123Z",
            "2023-11-14 22:13:20.123Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:2x.123Z",
            "２023-11-14T22:13:20.123Z",
        ] {
            assert_eq!(parse_rfc3339_utc_millis(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn compact_form_for_run_ids() {
        assert_eq!(compact_utc(at_ms(1_795_684_500_999)), "20261126T091500Z");
    }

    #[test]
    fn sub_millisecond_part_is_truncated() {
        let t = UNIX_EPOCH + Duration::from_nanos(1_999_999);
        assert_eq!(rfc3339_utc_millis(t), "1970-01-01T00:00:00.001Z");
    }

    /// An independent inverse (days from a civil date, by counting leap years) must give back
    /// every day of 1900..2400, and consecutive days must be consecutive dates.
    #[test]
    fn round_trips_through_an_independent_inverse() {
        fn is_leap(y: i64) -> bool {
            (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        }
        fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
            const CUM: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
            let mut days = 0;
            if y >= 1970 {
                for yy in 1970..y {
                    days += if is_leap(yy) { 366 } else { 365 };
                }
            } else {
                for yy in y..1970 {
                    days -= if is_leap(yy) { 366 } else { 365 };
                }
            }
            days += CUM[(m - 1) as usize] + d - 1;
            if m > 2 && is_leap(y) {
                days += 1;
            }
            days
        }
        let start = days_from_civil(1900, 1, 1);
        let end = days_from_civil(2400, 1, 1);
        let mut prev = civil_from_days(start - 1);
        for day in start..end {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day, "{y}-{m}-{d}");
            let next_ok = (y, m, d) == (prev.0, prev.1, prev.2 + 1)
                || (d == 1 && ((y, m) == (prev.0, prev.1 + 1) || (y, m) == (prev.0 + 1, 1)));
            assert!(next_ok, "{prev:?} then {y}-{m}-{d}");
            prev = (y, m, d);
        }
    }
}
