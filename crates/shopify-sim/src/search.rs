//! Shopify's `query:` search syntax, the subset sync uses: `field:value`, comparators
//! (`:<`, `:>`, `:<=`, `:>=`), quoted values, `*` prefix match, implicit AND, `AND`, `OR`,
//! `NOT`/`-`, parentheses, and bare words matched against the title.

use chrono::{DateTime, NaiveDate, Utc};

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Term { field: Option<String>, op: Op, value: String },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A record's value for a search field.
pub enum FieldValue {
    Text(String),
    Texts(Vec<String>),
    Number(u64),
    Time(DateTime<Utc>),
    Bool(bool),
}

#[derive(Debug, PartialEq)]
enum Tok {
    Open,
    Close,
    Or,
    And,
    Not,
    Word(String),
}

fn tokenize(q: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = q.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '(' {
            chars.next();
            out.push(Tok::Open);
            continue;
        }
        if c == ')' {
            chars.next();
            out.push(Tok::Close);
            continue;
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            match quote {
                Some(q) if c == q => {
                    quote = None;
                    word.push(c);
                    chars.next();
                }
                Some(_) if c == '\\' => {
                    chars.next();
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                }
                Some(_) => {
                    word.push(c);
                    chars.next();
                }
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    word.push(c);
                    chars.next();
                }
                None if c.is_whitespace() || c == '(' || c == ')' => break,
                None => {
                    word.push(c);
                    chars.next();
                }
            }
        }
        if quote.is_some() {
            return Err(format!("unterminated quote in {q:?}"));
        }
        out.push(match word.as_str() {
            "OR" => Tok::Or,
            "AND" => Tok::And,
            "NOT" => Tok::Not,
            _ => Tok::Word(word),
        });
    }
    Ok(out)
}

fn unquote(v: &str) -> String {
    let t = v.trim();
    for q in ['\'', '"'] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            return t[1..t.len() - 1].to_owned();
        }
    }
    t.to_owned()
}

fn term(word: &str) -> Expr {
    let Some((field, rest)) = word.split_once(':').filter(|(f, _)| !f.starts_with(['\'', '"']))
    else {
        return Expr::Term { field: None, op: Op::Eq, value: unquote(word) };
    };
    let (op, v) = if let Some(v) = rest.strip_prefix("<=") {
        (Op::Le, v)
    } else if let Some(v) = rest.strip_prefix(">=") {
        (Op::Ge, v)
    } else if let Some(v) = rest.strip_prefix('<') {
        (Op::Lt, v)
    } else if let Some(v) = rest.strip_prefix('>') {
        (Op::Gt, v)
    } else {
        (Op::Eq, rest)
    };
    Expr::Term { field: Some(field.to_ascii_lowercase()), op, value: unquote(v) }
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn or(&mut self) -> Expr {
        let mut parts = vec![self.and()];
        while self.toks.get(self.pos) == Some(&Tok::Or) {
            self.pos += 1;
            parts.push(self.and());
        }
        if parts.len() == 1 { parts.remove(0) } else { Expr::Or(parts) }
    }

    fn and(&mut self) -> Expr {
        let mut parts = Vec::new();
        loop {
            match self.toks.get(self.pos) {
                None | Some(Tok::Or) | Some(Tok::Close) => break,
                Some(Tok::And) => self.pos += 1,
                _ => parts.push(self.unary()),
            }
        }
        if parts.len() == 1 { parts.remove(0) } else { Expr::And(parts) }
    }

    fn unary(&mut self) -> Expr {
        let tok = self.toks.get(self.pos);
        self.pos += 1;
        match tok {
            Some(Tok::Not) => Expr::Not(Box::new(self.unary())),
            Some(Tok::Open) => {
                let e = self.or();
                if self.toks.get(self.pos) == Some(&Tok::Close) {
                    self.pos += 1;
                }
                e
            }
            Some(Tok::Word(w)) if w.len() > 1 && w.starts_with('-') => {
                Expr::Not(Box::new(term(&w[1..])))
            }
            Some(Tok::Word(w)) => term(w),
            _ => Expr::And(vec![]),
        }
    }
}

pub fn parse(q: &str) -> Result<Expr, String> {
    let toks = tokenize(q)?;
    let mut p = Parser { toks, pos: 0 };
    Ok(p.or())
}

fn parse_time(v: &str) -> Option<DateTime<Utc>> {
    if v.eq_ignore_ascii_case("now") {
        return Some(Utc::now());
    }
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
        .or_else(|| {
            v.parse::<i32>()
                .ok()
                .and_then(|y| NaiveDate::from_ymd_opt(y, 1, 1))
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

fn cmp<T: PartialOrd>(a: T, op: Op, b: T) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
    }
}

fn text_match(have: &str, op: Op, want: &str) -> bool {
    if op != Op::Eq {
        return cmp(have.to_lowercase().as_str(), op, want.to_lowercase().as_str());
    }
    match want.strip_suffix('*') {
        Some(prefix) => have.to_lowercase().starts_with(&prefix.to_lowercase()),
        None => have.eq_ignore_ascii_case(want),
    }
}

/// Does a record match? `get` answers a field's value (None: the record has no such field;
/// `None` as field name means a bare word).
pub fn matches(e: &Expr, get: &dyn Fn(Option<&str>) -> Option<FieldValue>) -> bool {
    match e {
        Expr::And(v) => v.iter().all(|e| matches(e, get)),
        Expr::Or(v) => v.iter().any(|e| matches(e, get)),
        Expr::Not(e) => !matches(e, get),
        Expr::Term { field, op, value } => {
            if value == "*" {
                return get(field.as_deref()).is_some();
            }
            match get(field.as_deref()) {
                None => false,
                Some(FieldValue::Text(t)) if field.is_none() => {
                    t.to_lowercase().contains(&value.to_lowercase())
                }
                Some(FieldValue::Text(t)) => text_match(&t, *op, value),
                Some(FieldValue::Texts(ts)) => ts.iter().any(|t| text_match(t, *op, value)),
                Some(FieldValue::Number(n)) => {
                    let want = value.rsplit('/').next().unwrap_or(value);
                    want.parse::<u64>().is_ok_and(|w| cmp(n, *op, w))
                }
                Some(FieldValue::Time(t)) => parse_time(value).is_some_and(|w| cmp(t, *op, w)),
                Some(FieldValue::Bool(b)) => value.parse::<bool>().is_ok_and(|w| b == w),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_strings_sync_sends() {
        let e = parse("status:open updated_at:>'2026-01-01T00:00:00Z'").unwrap();
        let Expr::And(parts) = e else { panic!("{e:?}") };
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[1],
            Expr::Term {
                field: Some("updated_at".into()),
                op: Op::Gt,
                value: "2026-01-01T00:00:00Z".into()
            }
        );
        let e = parse("id:>=5 AND (tag:a OR -tag:b)").unwrap();
        let get = |f: Option<&str>| match f {
            Some("id") => Some(FieldValue::Number(7)),
            Some("tag") => Some(FieldValue::Texts(vec!["c".into()])),
            _ => None,
        };
        assert!(matches(&e, &get), "7 >= 5 and not tagged b");
        assert!(!matches(&parse("id:<5").unwrap(), &get));
        assert!(matches(&parse("email:\"a@b.com\" OR id:7").unwrap(), &get));
    }
}
