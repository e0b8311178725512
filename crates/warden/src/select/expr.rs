//! Filter expressions (`-E/--filter-expr`): predicates over a test combined with `and`, `or`,
//! `not` and parentheses, e.g. `test(parse) and not (slow() or tag(net))`.
//!
//! ```text
//! expr    := and ( ("or" | "|") and )*
//! and     := unary ( ("and" | "&") unary )*
//! unary   := ("not" | "!") unary | "(" expr ")" | call
//! call    := test(TEXT | /REGEX/) | file(GLOB) | suite(NAME) | level(NAME) | tag(NAME)
//!          | slow() | failed() | all() | none()
//! ```
//! An argument is the text up to `)`, trimmed, or a `"quoted"` string (`\"` and `\\` escape).

use std::collections::HashSet;
use std::fmt;

use globset::GlobMatcher;
use regex::Regex;

use crate::config::compile_glob;
use crate::test_case::TestCase;

/// A parsed expression.
#[derive(Debug, Clone)]
pub enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// Substring of the id.
    TestText(String),
    TestRegex(Regex),
    /// Glob over the id of the test's file or binary.
    File(GlobMatcher),
    Suite(String),
    Level(String),
    Tag(String),
    Slow,
    Failed,
    All,
    None,
}

/// What an expression is evaluated with besides the test: the ids whose last recorded result
/// was a failure (for `failed()`).
#[derive(Debug, Default)]
pub struct ExprContext {
    pub failed: HashSet<String>,
}

/// A bad expression: what is wrong and where (a char offset and length into `text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub text: String,
    pub at: usize,
    pub len: usize,
    pub message: String,
}

impl fmt::Display for ExprError {
    /// `message`, then the expression, then carets under the bad token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self
            .text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        write!(
            f,
            "{}\n  {shown}\n  {}{}",
            self.message,
            " ".repeat(self.at),
            "^".repeat(self.len.max(1))
        )
    }
}

impl std::error::Error for ExprError {}

impl Expr {
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let mut p = Parser {
            text,
            chars: text.chars().collect(),
            pos: 0,
        };
        p.skip_space();
        if p.pos == p.chars.len() {
            return Err(p.error(0, 1, "empty filter expression"));
        }
        let expr = p.or()?;
        p.skip_space();
        if p.pos < p.chars.len() {
            let len = p.word_len().max(1);
            let found = p.slice(p.pos, p.pos + len);
            return Err(p.error(
                p.pos,
                len,
                &format!("expected `and`, `or` or the end, found `{found}`"),
            ));
        }
        Ok(expr)
    }

    /// Whether `t` matches.
    pub fn matches(&self, t: &TestCase, cx: &ExprContext) -> bool {
        match self {
            Expr::Or(a, b) => a.matches(t, cx) || b.matches(t, cx),
            Expr::And(a, b) => a.matches(t, cx) && b.matches(t, cx),
            Expr::Not(a) => !a.matches(t, cx),
            Expr::TestText(s) => t.id.contains(s.as_str()),
            Expr::TestRegex(r) => r.is_match(&t.id),
            Expr::File(g) => g.is_match(t.file_id()),
            Expr::Suite(s) => &t.suite == s,
            Expr::Level(l) => t.level.as_deref() == Some(l.as_str()),
            Expr::Tag(tag) => t.tags.contains(tag),
            Expr::Slow => t.slow,
            Expr::Failed => cx.failed.contains(&t.id),
            Expr::All => true,
            Expr::None => false,
        }
    }

    /// Whether `failed()` appears: only then is the history read for it.
    pub fn uses_failed(&self) -> bool {
        match self {
            Expr::Or(a, b) | Expr::And(a, b) => a.uses_failed() || b.uses_failed(),
            Expr::Not(a) => a.uses_failed(),
            Expr::Failed => true,
            _ => false,
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    pos: usize,
}

const FUNCTIONS: &str = "test, file, suite, level, tag, slow, failed, all, none";

impl Parser<'_> {
    fn error(&self, at: usize, len: usize, message: &str) -> ExprError {
        ExprError {
            text: self.text.to_string(),
            at,
            len,
            message: message.to_string(),
        }
    }

    fn slice(&self, from: usize, to: usize) -> String {
        self.chars[from..to.min(self.chars.len())].iter().collect()
    }

    fn skip_space(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    /// Length of the identifier at the cursor.
    fn word_len(&self) -> usize {
        self.chars[self.pos..]
            .iter()
            .take_while(|c| c.is_alphanumeric() || **c == '_')
            .count()
    }

    /// Consumes `word` (a keyword not followed by more identifier characters) or `symbol`.
    fn eat(&mut self, word: &str, symbol: char) -> bool {
        self.skip_space();
        if self.chars.get(self.pos) == Some(&symbol) {
            self.pos += 1;
            return true;
        }
        let n = self.word_len();
        if n > 0 && self.slice(self.pos, self.pos + n) == word {
            self.pos += n;
            return true;
        }
        false
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.eat("or", '|') {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        while self.eat("and", '&') {
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.eat("not", '!') {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.skip_space();
        match self.chars.get(self.pos) {
            None => Err(self.error(self.pos, 1, "expected a test predicate, found the end")),
            Some('(') => {
                let open = self.pos;
                self.pos += 1;
                let inner = self.or()?;
                self.skip_space();
                if self.chars.get(self.pos) != Some(&')') {
                    return Err(self.error(open, 1, "this `(` is never closed"));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(_) => self.call(),
        }
    }

    fn call(&mut self) -> Result<Expr, ExprError> {
        let start = self.pos;
        let n = self.word_len();
        if n == 0 {
            let c = self.chars[self.pos];
            return Err(self.error(
                start,
                1,
                &format!("expected a predicate such as test(...), found `{c}`"),
            ));
        }
        let name = self.slice(start, start + n);
        self.pos += n;
        self.skip_space();
        if self.chars.get(self.pos) != Some(&'(') {
            return Err(self.error(
                start,
                n,
                &format!("`{name}` needs parentheses: {name}(...) (predicates: {FUNCTIONS})"),
            ));
        }
        self.pos += 1;
        let arg_start = self.pos;
        let arg = self.argument(name == "test")?;
        let arg_len = (self.pos - 1).saturating_sub(arg_start).max(1);
        let needs_arg = |arg: &Arg| -> Result<String, ExprError> {
            match arg {
                Arg::Text(s) if !s.is_empty() => Ok(s.clone()),
                Arg::Regex(..) => Err(self.error(
                    arg_start,
                    arg_len,
                    &format!("`{name}(...)` takes text, not a /regex/"),
                )),
                _ => Err(self.error(
                    start,
                    self.pos - start,
                    &format!("`{name}(...)` needs an argument"),
                )),
            }
        };
        let no_arg = |expr: Expr| match &arg {
            Arg::Text(s) if s.is_empty() => Ok(expr),
            _ => Err(self.error(arg_start, arg_len, &format!("`{name}()` takes no argument"))),
        };
        match name.as_str() {
            "test" => match arg {
                Arg::Regex(text, at) => Regex::new(&text).map(Expr::TestRegex).map_err(|e| {
                    let why = e.to_string();
                    let last = why.lines().last().unwrap_or("").trim().to_string();
                    self.error(
                        at,
                        text.chars().count().max(1),
                        &format!("bad regex: {last}"),
                    )
                }),
                other => Ok(Expr::TestText(needs_arg(&other)?)),
            },
            "file" => {
                let glob = needs_arg(&arg)?;
                compile_glob(&glob)
                    .map(|g| Expr::File(g.compile_matcher()))
                    .map_err(|e| self.error(arg_start, arg_len, &format!("bad glob: {}", e.kind())))
            }
            "suite" => Ok(Expr::Suite(needs_arg(&arg)?)),
            "level" => Ok(Expr::Level(needs_arg(&arg)?)),
            "tag" => Ok(Expr::Tag(needs_arg(&arg)?)),
            "slow" => no_arg(Expr::Slow),
            "failed" => no_arg(Expr::Failed),
            "all" => no_arg(Expr::All),
            "none" => no_arg(Expr::None),
            _ => Err(self.error(
                start,
                n,
                &format!("unknown predicate `{name}` (predicates: {FUNCTIONS})"),
            )),
        }
    }

    /// The argument after `(`, with the closing `)` consumed.
    fn argument(&mut self, regex_ok: bool) -> Result<Arg, ExprError> {
        let open = self.pos - 1;
        self.skip_space();
        let first = self.chars.get(self.pos).copied();
        let arg = match first {
            Some(q @ ('"' | '/')) if q == '"' || regex_ok => {
                let quote_at = self.pos;
                self.pos += 1;
                let mut text = String::new();
                loop {
                    match self.chars.get(self.pos).copied() {
                        None => {
                            let what = if q == '"' { "string" } else { "regex" };
                            return Err(self.error(
                                quote_at,
                                1,
                                &format!("this {what} is never closed with `{q}`"),
                            ));
                        }
                        Some('\\') if self.chars.get(self.pos + 1) == Some(&q) => {
                            text.push(q);
                            self.pos += 2;
                        }
                        Some('\\') if q == '"' && self.chars.get(self.pos + 1) == Some(&'\\') => {
                            text.push('\\');
                            self.pos += 2;
                        }
                        Some(c) if c == q => {
                            self.pos += 1;
                            break;
                        }
                        Some(c) => {
                            text.push(c);
                            self.pos += 1;
                        }
                    }
                }
                self.skip_space();
                if q == '/' {
                    Arg::Regex(text, quote_at + 1)
                } else {
                    Arg::Text(text)
                }
            }
            _ => {
                let start = self.pos;
                while self.chars.get(self.pos).is_some_and(|c| *c != ')') {
                    self.pos += 1;
                }
                Arg::Text(self.slice(start, self.pos).trim().to_string())
            }
        };
        if self.chars.get(self.pos) != Some(&')') {
            return Err(self.error(open, 1, "this `(` is never closed"));
        }
        self.pos += 1;
        Ok(arg)
    }
}

enum Arg {
    Text(String),
    /// The pattern and the offset of its first character.
    Regex(String, usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str, f: impl FnOnce(&mut TestCase)) -> TestCase {
        let mut t = TestCase::for_test(id);
        f(&mut t);
        t
    }

    fn ids(expr: &str, cx: &ExprContext) -> Vec<String> {
        let e = Expr::parse(expr).unwrap_or_else(|e| panic!("{e}"));
        let tests = [
            t("t/unit/a_test.sh", |t| {
                t.level = Some("unit".into());
                t.tags = vec!["db".into()];
            }),
            t("t/b_test.py test_parse[x)]", |t| {
                t.case = Some("test_parse[x)]".into());
                t.suite = "py".into();
                t.slow = true;
            }),
            t("demo::api runs_tool", |t| {
                t.case = Some("runs_tool".into());
                t.level = Some("integration".into());
            }),
        ];
        tests
            .iter()
            .filter(|t| e.matches(t, cx))
            .map(|t| t.id.clone())
            .collect()
    }

    #[test]
    fn predicates_and_operators() {
        let cx = ExprContext {
            failed: ["demo::api runs_tool".to_string()].into(),
        };
        let all = [
            "t/unit/a_test.sh",
            "t/b_test.py test_parse[x)]",
            "demo::api runs_tool",
        ];
        assert_eq!(ids("all()", &cx), all);
        assert!(ids("none()", &cx).is_empty());
        assert_eq!(ids("test(parse)", &cx), [all[1]]);
        assert_eq!(ids("test(/^demo::.* runs_/)", &cx), [all[2]]);
        assert_eq!(ids(r#"test("[x)]")"#, &cx), [all[1]]);
        assert_eq!(ids("file(t/*.py)", &cx), [all[1]]);
        assert_eq!(ids("file(demo::*)", &cx), [all[2]]);
        assert_eq!(ids("file(t/**)", &cx), [all[0], all[1]]);
        assert_eq!(ids("suite(py) | level(unit)", &cx), [all[0], all[1]]);
        assert_eq!(ids("tag(db) or slow()", &cx), [all[0], all[1]]);
        assert_eq!(ids("not failed() and not slow()", &cx), [all[0]]);
        assert_eq!(ids("!(tag(db) | failed())", &cx), [all[1]]);
        // `and` binds tighter than `or`.
        assert_eq!(ids("slow() or tag(db) and failed()", &cx), [all[1]]);
        assert_eq!(
            ids("(slow() or tag(db)) and not failed()", &cx),
            [all[0], all[1]]
        );
        assert!(Expr::parse("failed() or slow()").unwrap().uses_failed());
        assert!(!Expr::parse("slow()").unwrap().uses_failed());
    }

    fn err(expr: &str) -> String {
        Expr::parse(expr).unwrap_err().to_string()
    }

    #[test]
    fn errors_put_a_caret_under_the_bad_token() {
        assert_eq!(
            err("tset(parse) and slow()"),
            format!(
                "unknown predicate `tset` (predicates: {FUNCTIONS})\n  tset(parse) and slow()\n  ^^^^"
            )
        );
        assert_eq!(
            err("slow() andd tag(x)"),
            "expected `and`, `or` or the end, found `andd`\n  slow() andd tag(x)\n         ^^^^"
        );
        assert_eq!(
            err("(slow() or tag(x)"),
            "this `(` is never closed\n  (slow() or tag(x)\n  ^"
        );
        assert_eq!(
            err("test(/a(b/)"),
            "bad regex: error: unclosed group\n  test(/a(b/)\n        ^^^"
        );
        assert!(err("slow(x)").starts_with("`slow()` takes no argument\n  slow(x)\n       ^"));
        assert!(err("tag()").starts_with("`tag(...)` needs an argument\n  tag()\n  ^^^^^"));
        assert!(err("file([)").starts_with("bad glob: "));
        assert!(err("slow() and").starts_with("expected a test predicate, found the end"));
        assert!(err("slow").starts_with("`slow` needs parentheses"));
        assert!(err("test(\"abc)").starts_with("this string is never closed"));
        assert!(err("  ").starts_with("empty filter expression"));
        assert!(err("tag(x) ) ").starts_with("expected `and`, `or` or the end, found `)`"));
    }
}
