//! The grammar of one TAP line, as pure functions over bytes (TAP 13/14).
//!
//! Every function takes a line without its newline, with a trailing `\r` and trailing
//! whitespace already removed, and without leading indentation unless it says otherwise.
//! Nothing here allocates except where a message for a human is built.

/// Longest number accepted anywhere (a plan bound, a test id, a version): 20 digits is the
/// most a `u64` can need. Longer runs are not numbers at all, so the answer never depends on
/// how many leading zeros a producer printed, and the parser's early "not TAP" decision can
/// look at a bounded prefix.
pub(crate) const MAX_DIGITS: usize = 20;

/// What a directive turns a test point into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Directive {
    Skip,
    Todo,
}

/// A parsed `ok` / `not ok` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestPoint<'a> {
    pub ok: bool,
    pub id: Option<u64>,
    /// Description as written (still escaped), without the ` - ` separator.
    pub description: &'a [u8],
    pub directive: Option<Directive>,
}

/// A parsed plan line `M..N [# comment]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlanLine<'a> {
    pub first: u64,
    pub last: u64,
    /// Text after the `#`, still escaped.
    pub comment: Option<&'a [u8]>,
}

pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
}

pub(crate) fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| is_space(b)).count();
    &s[n..]
}

pub(crate) fn trim_end(s: &[u8]) -> &[u8] {
    let n = s.iter().rev().take_while(|&&b| is_space(b)).count();
    &s[..s.len() - n]
}

pub(crate) fn is_blank(s: &[u8]) -> bool {
    s.iter().all(|&b| is_space(b))
}

/// Number of leading spaces (only spaces: TAP indents subtests and YAML with spaces).
pub(crate) fn indent(s: &[u8]) -> usize {
    s.iter().take_while(|&&b| b == b' ').count()
}

/// `[0-9]{1,20}` as a u64; `None` for anything else, including values past `u64::MAX`.
pub(crate) fn parse_number(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > MAX_DIGITS {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

fn digit_run(s: &[u8]) -> usize {
    s.iter().take_while(|b| b.is_ascii_digit()).count()
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// `TAP version N` → N.
pub(crate) fn parse_version(line: &[u8]) -> Option<u64> {
    parse_number(line.strip_prefix(b"TAP version ")?)
}

/// `M..N`, optionally followed by whitespace and a `#` comment.
pub(crate) fn parse_plan(line: &[u8]) -> Option<PlanLine<'_>> {
    let a = digit_run(line);
    let first = parse_number(&line[..a])?;
    let rest = line[a..].strip_prefix(b"..")?;
    let b = digit_run(rest);
    let last = parse_number(&rest[..b])?;
    let tail = trim_start(&rest[b..]);
    let comment = match tail.split_first() {
        None => None,
        Some((b'#', comment)) => Some(comment),
        Some(_) => return None,
    };
    Some(PlanLine {
        first,
        last,
        comment,
    })
}

/// `Bail out! reason` (the words are case-insensitive) → the reason, still escaped.
pub(crate) fn parse_bail_out(line: &[u8]) -> Option<&[u8]> {
    const WORDS: &[u8] = b"bail out!";
    if !starts_with_ignore_case(line, WORDS) {
        return None;
    }
    Some(trim_start(&line[WORDS.len()..]))
}

/// `ok` / `not ok`, optional id, optional ` - `, description, optional `# SKIP|TODO`.
pub(crate) fn parse_test_point(line: &[u8]) -> Option<TestPoint<'_>> {
    let (ok, after) = if let Some(r) = line.strip_prefix(b"not ok") {
        (false, r)
    } else if let Some(r) = line.strip_prefix(b"ok") {
        (true, r)
    } else {
        return None;
    };
    // `okay` or `ok1` is prose, not a test point.
    if after.first().is_some_and(|&b| !is_space(b)) {
        return None;
    }
    let mut rest = trim_start(after);

    // An id must stand alone: in `ok 1st try` the digits belong to the description.
    let d = digit_run(rest);
    let mut id = None;
    if d > 0 && rest.get(d).is_none_or(|&b| is_space(b)) {
        // A run too long for a u64 is still an id, just one outside any plan.
        id = Some(parse_number(&rest[..d]).unwrap_or(u64::MAX));
        rest = trim_start(&rest[d..]);
    }
    if rest.first() == Some(&b'-') && rest.get(1).is_none_or(|&b| is_space(b)) {
        rest = trim_start(&rest[1..]);
    }

    let (description, directive) = match find_directive_hash(rest) {
        Some(at) => match parse_directive(&rest[at + 1..]) {
            Some(dir) => (trim_end(&rest[..at]), Some(dir)),
            // TAP 14: an unknown directive stays part of the description.
            None => (rest, None),
        },
        None => (rest, None),
    };
    Some(TestPoint {
        ok,
        id,
        description,
        directive,
    })
}

/// Position of the `#` that starts a directive: the first unescaped `#` at the start or
/// after whitespace. Requiring whitespace keeps `page.html#skip` in a description; an
/// escaped backslash counts like whitespace, as in the spec's `hello \\# todo` example.
fn find_directive_hash(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    let mut may_start = true;
    while i < s.len() {
        match s[i] {
            b'\\' if s.get(i + 1) == Some(&b'\\') => {
                i += 2;
                may_start = true;
                continue;
            }
            b'\\' if s.get(i + 1) == Some(&b'#') => {
                i += 2;
                may_start = false;
                continue;
            }
            b'#' if may_start => return Some(i),
            b => may_start = is_space(b),
        }
        i += 1;
    }
    None
}

/// `SKIP\S*` or `TODO\S*`, case-insensitive (TAP 14 keeps `# Skipped: why` working).
fn parse_directive(s: &[u8]) -> Option<Directive> {
    let s = trim_start(s);
    if starts_with_ignore_case(s, b"skip") {
        Some(Directive::Skip)
    } else if starts_with_ignore_case(s, b"todo") {
        Some(Directive::Todo)
    } else {
        None
    }
}

/// Reason of a skip-all plan: the comment without a leading `SKIP\S*` word.
pub(crate) fn skip_reason(comment: &[u8]) -> &[u8] {
    let c = trim_start(comment);
    if starts_with_ignore_case(c, b"skip") {
        let word = c.iter().take_while(|&&b| !is_space(b)).count();
        trim_start(&c[word..])
    } else {
        c
    }
}

/// Undo TAP escaping (`\\` → `\`, `\#` → `#`; any other `\` is literal), lossily decode,
/// and keep at most `max_chars` characters so one huge line cannot bloat a report.
pub(crate) fn unescape(s: &[u8], max_chars: usize) -> String {
    let mut bytes = Vec::with_capacity(s.len().min(max_chars * 4));
    let mut i = 0;
    while i < s.len() && bytes.len() < max_chars * 4 {
        if s[i] == b'\\' && matches!(s.get(i + 1), Some(b'\\' | b'#')) {
            bytes.push(s[i + 1]);
            i += 2;
        } else {
            bytes.push(s[i]);
            i += 1;
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

/// Whether a line that is not finished yet could still be a `TAP version` or plan line, a
/// first test point or a comment before it.
/// `false` only when no continuation could make it one: the parser uses it to give up on
/// non-TAP output without waiting for a newline. It looks at a bounded prefix only.
pub(crate) fn may_be_header(prefix: &[u8]) -> bool {
    const VERSION: &[u8] = b"TAP version ";
    // A first test point (plan last) or a comment before it: decided at the newline.
    let starts = |word: &[u8]| {
        let n = prefix.len().min(word.len());
        prefix[..n] == word[..n]
    };
    if starts(b"ok") || starts(b"not ok") || prefix.first() == Some(&b'#') {
        return true;
    }
    match prefix.first() {
        None => true,
        Some(b'T') => {
            let n = prefix.len().min(VERSION.len());
            prefix[..n] == VERSION[..n]
        }
        Some(b) if b.is_ascii_digit() => {
            let a = digit_run(prefix);
            if a > MAX_DIGITS {
                return false;
            }
            let rest = &prefix[a..];
            let want: &[fn(u8) -> bool] = &[|b| b == b'.', |b| b == b'.', |b| b.is_ascii_digit()];
            rest.iter().zip(want).all(|(&b, ok)| ok(b))
        }
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(line: &str) -> Option<TestPoint<'_>> {
        parse_test_point(line.as_bytes())
    }

    fn desc(line: &str) -> String {
        unescape(tp(line).expect("a test point").description, 200)
    }

    #[test]
    fn test_point_status_id_and_description() {
        let t = tp("ok 1 - adds numbers").unwrap();
        assert!(t.ok);
        assert_eq!(t.id, Some(1));
        assert_eq!(t.description, b"adds numbers");
        assert_eq!(t.directive, None);

        let t = tp("not ok 12 subtracts").unwrap();
        assert!(!t.ok);
        assert_eq!(t.id, Some(12));
        assert_eq!(t.description, b"subtracts");

        let t = tp("not ok").unwrap();
        assert_eq!((t.ok, t.id, t.description), (false, None, &b""[..]));
        let t = tp("ok - no number").unwrap();
        assert_eq!((t.id, t.description), (None, &b"no number"[..]));
        assert_eq!(tp("ok\t3").unwrap().id, Some(3));
    }

    #[test]
    fn prose_that_starts_like_a_test_point_is_not_one() {
        for line in [
            "okay", "ok1", "not okay", "Ok 1", "NOT OK 1", "nok 1", " ok 1", "not  ok",
        ] {
            assert_eq!(tp(line), None, "{line:?}");
        }
    }

    #[test]
    fn digits_glued_to_words_belong_to_the_description() {
        let t = tp("ok 1st try").unwrap();
        assert_eq!(t.id, None);
        assert_eq!(t.description, b"1st try");
        let t = tp("ok 2 - 3 apples").unwrap();
        assert_eq!(t.id, Some(2));
        assert_eq!(t.description, b"3 apples");
    }

    #[test]
    fn an_id_too_large_for_u64_is_kept_as_out_of_range() {
        assert_eq!(
            tp("ok 99999999999999999999999 - big").unwrap().id,
            Some(u64::MAX)
        );
    }

    #[test]
    fn directives_are_case_insensitive_and_accept_suffixes() {
        for (line, want) in [
            ("ok 1 # SKIP no db", Directive::Skip),
            ("ok 1 - x # skip", Directive::Skip),
            ("ok 1 - x # SkIp why", Directive::Skip),
            ("ok 1 - x # Skipped: windows only", Directive::Skip),
            ("ok 1 - x #skip", Directive::Skip),
            ("not ok 2 # TODO later", Directive::Todo),
            ("not ok 2 - y # todo", Directive::Todo),
            ("not ok 2 - y\t#\tTODO: soon", Directive::Todo),
            ("ok # TODO", Directive::Todo),
        ] {
            assert_eq!(tp(line).unwrap().directive, Some(want), "{line:?}");
        }
    }

    #[test]
    fn directive_splits_description() {
        let t = tp("ok 23 - mung the gums # SKIP leave gums unmunged").unwrap();
        assert_eq!(t.description, b"mung the gums");
        let t = tp("ok 1 # skip this test is skipped").unwrap();
        assert_eq!(t.description, b"");
    }

    #[test]
    fn a_hash_that_is_not_a_directive_stays_in_the_description() {
        let t = tp("ok 2 not skipped: https://example.com/page.html#skip is a url").unwrap();
        assert_eq!(t.directive, None);
        assert_eq!(
            t.description,
            b"not skipped: https://example.com/page.html#skip is a url"
        );

        // Only the first delimiter counts; an unknown directive stays in the description.
        let t = tp("ok 7 - hello # description # todo").unwrap();
        assert_eq!(t.directive, None);
        assert_eq!(t.description, b"hello # description # todo");

        let t = tp("not ok 3 - issue #12 # TODO").unwrap();
        assert_eq!(
            t.directive, None,
            "`#12` is the first delimiter and not a directive"
        );
    }

    #[test]
    fn escaped_hash_is_not_a_delimiter() {
        // Cases from the escaping examples of the TAP 14 specification.
        let t = tp(r"ok 2 - hello \# todo").unwrap();
        assert_eq!(t.directive, None);
        assert_eq!(desc(r"ok 2 - hello \# todo"), "hello # todo");

        let t = tp(r"ok 3 - hello # todo hash \# character").unwrap();
        assert_eq!(t.directive, Some(Directive::Todo));
        assert_eq!(desc(r"ok 3 - hello # todo hash \# character"), "hello");

        let t = tp(r"ok 5 - hello \\# todo hash \# character").unwrap();
        assert_eq!(t.directive, Some(Directive::Todo));
        assert_eq!(desc(r"ok 5 - hello \\# todo hash \# character"), r"hello \");

        let t = tp(r"ok 8 - hello \\\\\\\# todo").unwrap();
        assert_eq!(t.directive, None);
        assert_eq!(desc(r"ok 8 - hello \\\\\\\# todo"), r"hello \\\# todo");

        let t = tp(r"not ok 4 - a \# b # SKIP").unwrap();
        assert_eq!(t.directive, Some(Directive::Skip));
        assert_eq!(desc(r"not ok 4 - a \# b # SKIP"), "a # b");
    }

    #[test]
    fn unescape_leaves_other_backslashes_and_bounds_length() {
        assert_eq!(unescape(br"a\nb\\c\#d\", 100), r"a\nb\c#d\");
        assert_eq!(unescape(b"abcdef", 3), "abc…");
        assert_eq!(unescape("héllo wörld".as_bytes(), 5), "héllo…");
        assert_eq!(unescape(b"\xff\xfeok", 10), "\u{fffd}\u{fffd}ok");
        // Bounded work: a huge input is cut before it is decoded.
        assert_eq!(unescape(&vec![b'x'; 1 << 20], 4), "xxxx…");
    }

    #[test]
    fn plans() {
        let p = parse_plan(b"1..3").unwrap();
        assert_eq!((p.first, p.last, p.comment), (1, 3, None));
        let p = parse_plan(b"1..0 # SKIP no network").unwrap();
        assert_eq!((p.first, p.last), (1, 0));
        assert_eq!(p.comment, Some(&b" SKIP no network"[..]));
        assert_eq!(parse_plan(b"1..5#x").unwrap().comment, Some(&b"x"[..]));
        assert_eq!(parse_plan(b"5..8").unwrap().first, 5);
        for bad in [
            "1..",
            "..3",
            "1..3 tests",
            "1.3",
            "a..3",
            "1..3x",
            "1..-1",
            "-1..3",
        ] {
            assert_eq!(parse_plan(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse_plan(b"1..000000000000000000001"), None, "21 digits");
        assert_eq!(parse_plan(b"1..18446744073709551616"), None, "u64::MAX + 1");
        assert_eq!(
            parse_plan(b"1..18446744073709551615").unwrap().last,
            u64::MAX
        );
    }

    #[test]
    fn skip_reasons() {
        assert_eq!(skip_reason(b" SKIP no network"), b"no network");
        assert_eq!(
            skip_reason(b" Skipped: WWW::Mechanize not installed"),
            b"WWW::Mechanize not installed"
        );
        assert_eq!(skip_reason(b" skip"), b"");
        assert_eq!(
            skip_reason(b" WWW::Mechanize not installed"),
            b"WWW::Mechanize not installed"
        );
    }

    #[test]
    fn versions_and_bail_outs() {
        assert_eq!(parse_version(b"TAP version 13"), Some(13));
        assert_eq!(parse_version(b"TAP version 14"), Some(14));
        assert_eq!(parse_version(b"TAP version"), None);
        assert_eq!(parse_version(b"tap version 14"), None);
        assert_eq!(parse_version(b"TAP version 14 beta"), None);

        assert_eq!(parse_bail_out(b"Bail out! db down"), Some(&b"db down"[..]));
        assert_eq!(parse_bail_out(b"BAIL OUT!"), Some(&b""[..]));
        assert_eq!(parse_bail_out(b"bail out!no space"), Some(&b"no space"[..]));
        assert_eq!(parse_bail_out(b"Bail out"), None);
        assert_eq!(parse_bail_out(b"please Bail out!"), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number(b"0"), Some(0));
        assert_eq!(parse_number(b"007"), Some(7));
        assert_eq!(parse_number(b""), None);
        assert_eq!(parse_number(b"1a"), None);
        assert_eq!(parse_number(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_number(b"18446744073709551616"), None);
    }

    #[test]
    fn header_prefixes() {
        for ok in [
            "",
            "1",
            "12",
            "1.",
            "1..",
            "1..3",
            "1..3 # x",
            "T",
            "TAP",
            "TAP version 1",
            "TAP version x",
            "#",
            "# Testing Foo",
            "o",
            "ok 1",
            "not",
            "not ok 2 - x",
        ] {
            assert!(may_be_header(ok.as_bytes()), "{ok:?}");
        }
        for no in [
            "x",
            " 1..3",
            "1.x",
            "1..x",
            "1-",
            "TAB",
            "TAP Version",
            "oK",
            "note",
        ] {
            assert!(!may_be_header(no.as_bytes()), "{no:?}");
        }
        assert!(
            !may_be_header(b"111111111111111111111"),
            "21 digits can never be a plan"
        );
    }

    #[test]
    fn whitespace_helpers() {
        assert_eq!(indent(b"    ok"), 4);
        assert_eq!(indent(b"\t ok"), 0);
        assert!(is_blank(b" \t\r"));
        assert!(!is_blank(b" x"));
        assert_eq!(trim_end(b"ok 1 \t\r"), b"ok 1");
        assert_eq!(trim_start(b" \tok"), b"ok");
    }
}
