//! Date formulas in the style of the reference's "Next Run Date Formula": `1D`, `2W`, `CM`,
//! `CW+1D`, `-CM`, `1M-1D`, `WD1`.
//!
//! Terms are applied left to right to a date:
//! - `[+|-]<n><unit>` moves by n days (D), weeks (W), months (M), quarters (Q) or years (Y);
//!   month arithmetic clamps to the end of a shorter month (Jan 31 + 1M = Feb 28/29).
//! - `C<unit>` moves to the end of the current week (Sunday), month, quarter or year;
//!   `-C<unit>` to its start (Monday, first of the month…). `CD` is today.
//! - `WD<n>` moves to the next weekday n (1 = Monday … 7 = Sunday), today if it already is.

use crate::error::ValidationError;
use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    Add { n: i32, unit: Unit },
    Current { start: bool, unit: Unit },
    Weekday(Weekday),
}

/// A parsed date formula.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormula {
    source: String,
    terms: Vec<Term>,
}

impl DateFormula {
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let err = |why: String| ValidationError::new("", why);
        let sq = crate::text::quoted(s);
        let cleaned: String = s
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        if cleaned.is_empty() {
            return Err(err("empty date formula".into()));
        }
        let b = cleaned.as_bytes();
        let mut i = 0;
        let mut terms = Vec::new();
        while i < b.len() {
            let mut sign = 1;
            if b[i] == b'+' || b[i] == b'-' {
                sign = if b[i] == b'-' { -1 } else { 1 };
                i += 1;
            }
            if i >= b.len() {
                return Err(err(format!("{sq} ends with a sign")));
            }
            if b[i..].starts_with(b"WD") {
                i += 2;
                let d = b.get(i).copied().unwrap_or(b'?');
                let wd = match d {
                    b'1' => Weekday::Mon,
                    b'2' => Weekday::Tue,
                    b'3' => Weekday::Wed,
                    b'4' => Weekday::Thu,
                    b'5' => Weekday::Fri,
                    b'6' => Weekday::Sat,
                    b'7' => Weekday::Sun,
                    _ => return Err(err(format!("{sq}: WD needs a weekday 1-7"))),
                };
                if sign < 0 {
                    return Err(err(format!("{sq}: WD cannot be negative")));
                }
                i += 1;
                terms.push(Term::Weekday(wd));
                continue;
            }
            if b[i] == b'C' {
                i += 1;
                let unit = unit_at(b, i).ok_or_else(|| {
                    err(format!("{sq}: C must be followed by a unit D, W, M, Q or Y"))
                })?;
                i += 1;
                terms.push(Term::Current { start: sign < 0, unit });
                continue;
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if start == i {
                return Err(err(format!(
                    "{sq}: expected a number, C or WD at position {}",
                    start + 1
                )));
            }
            let n: i32 =
                cleaned[start..i].parse().map_err(|_| err(format!("{sq}: number too large")))?;
            if n > 10_000 {
                return Err(err(format!("{sq}: number too large")));
            }
            let unit = unit_at(b, i).ok_or_else(|| {
                err(format!("{sq}: a number must be followed by D, W, M, Q or Y"))
            })?;
            i += 1;
            terms.push(Term::Add { n: sign * n, unit });
        }
        Ok(Self { source: cleaned, terms })
    }

    /// Apply the formula to a date.
    pub fn apply(&self, date: NaiveDate) -> Option<NaiveDate> {
        let mut d = date;
        for t in &self.terms {
            d = match *t {
                Term::Add { n, unit } => add(d, n, unit)?,
                Term::Current { start, unit } => current(d, start, unit)?,
                Term::Weekday(wd) => {
                    let ahead = (7 + wd.num_days_from_monday() as i64
                        - d.weekday().num_days_from_monday() as i64)
                        % 7;
                    d.checked_add_days(Days::new(ahead as u64))?
                }
            };
        }
        Some(d)
    }

    /// True when applying the formula can move a date forward (used to refuse `0D`, `-1D`).
    pub fn advances(&self) -> bool {
        // Probe a spread of dates: a formula that never moves any of them forward loops.
        let mut probe = NaiveDate::from_ymd_opt(2024, 1, 1);
        for _ in 0..400 {
            let Some(d) = probe else { return false };
            if self.apply(d).is_some_and(|n| n > d) {
                return true;
            }
            probe = d.checked_add_days(Days::new(1));
        }
        false
    }
}

fn unit_at(b: &[u8], i: usize) -> Option<Unit> {
    Some(match b.get(i)? {
        b'D' => Unit::Day,
        b'W' => Unit::Week,
        b'M' => Unit::Month,
        b'Q' => Unit::Quarter,
        b'Y' => Unit::Year,
        _ => return None,
    })
}

fn add(d: NaiveDate, n: i32, unit: Unit) -> Option<NaiveDate> {
    let months = |m: i32| {
        if m >= 0 {
            d.checked_add_months(Months::new(m as u32))
        } else {
            d.checked_sub_months(Months::new(m.unsigned_abs()))
        }
    };
    let days = |k: i64| {
        if k >= 0 {
            d.checked_add_days(Days::new(k as u64))
        } else {
            d.checked_sub_days(Days::new(k.unsigned_abs()))
        }
    };
    match unit {
        Unit::Day => days(n as i64),
        Unit::Week => days(n as i64 * 7),
        Unit::Month => months(n),
        Unit::Quarter => months(n * 3),
        Unit::Year => months(n * 12),
    }
}

fn current(d: NaiveDate, start: bool, unit: Unit) -> Option<NaiveDate> {
    let first_of = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1);
    let (first, months) = match unit {
        Unit::Day => return Some(d),
        Unit::Week => {
            let from_mon = d.weekday().num_days_from_monday() as u64;
            return if start {
                d.checked_sub_days(Days::new(from_mon))
            } else {
                d.checked_add_days(Days::new(6 - from_mon))
            };
        }
        Unit::Month => (first_of(d.year(), d.month())?, 1),
        Unit::Quarter => (first_of(d.year(), (d.month0() / 3) * 3 + 1)?, 3),
        Unit::Year => (first_of(d.year(), 1)?, 12),
    };
    if start { Some(first) } else { first.checked_add_months(Months::new(months))?.pred_opt() }
}

impl fmt::Display for DateFormula {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for DateFormula {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }
    fn f(s: &str) -> DateFormula {
        DateFormula::parse(s).unwrap()
    }

    #[test]
    fn simple_offsets() {
        // 2026-11-18 is a Wednesday.
        assert_eq!(f("1D").apply(d(2026, 11, 18)), Some(d(2026, 11, 19)));
        assert_eq!(f("2W").apply(d(2026, 11, 18)), Some(d(2026, 12, 2)));
        assert_eq!(f("1M").apply(d(2026, 1, 31)), Some(d(2026, 2, 28)));
        assert_eq!(f("1Q").apply(d(2026, 11, 18)), Some(d(2027, 2, 18)));
        assert_eq!(f("1Y").apply(d(2028, 2, 29)), Some(d(2029, 2, 28)));
        assert_eq!(f("-1D").apply(d(2026, 3, 1)), Some(d(2026, 2, 28)));
    }

    #[test]
    fn current_period_and_weekday() {
        // CW+1D: the Monday after this week.
        assert_eq!(f("CW+1D").apply(d(2026, 11, 18)), Some(d(2026, 11, 23)));
        assert_eq!(f("CW+1D").apply(d(2026, 11, 22)), Some(d(2026, 11, 23)));
        assert_eq!(f("CM").apply(d(2028, 2, 10)), Some(d(2028, 2, 29)));
        assert_eq!(f("-CM").apply(d(2026, 11, 18)), Some(d(2026, 11, 1)));
        assert_eq!(f("CM+1D").apply(d(2026, 12, 5)), Some(d(2027, 1, 1)));
        assert_eq!(f("CQ").apply(d(2026, 11, 18)), Some(d(2026, 12, 31)));
        assert_eq!(f("-CY").apply(d(2026, 11, 18)), Some(d(2026, 1, 1)));
        assert_eq!(f("WD1").apply(d(2026, 11, 18)), Some(d(2026, 11, 23)));
        assert_eq!(f("WD3").apply(d(2026, 11, 18)), Some(d(2026, 11, 18)));
        assert_eq!(f("<1M-1D>").apply(d(2026, 1, 15)), Some(d(2026, 2, 14)));
        assert_eq!(f("cw + 1d").to_string(), "CW+1D");
    }

    #[test]
    fn bad_formulas_are_refused() {
        for bad in ["", "D", "1X", "C", "CX", "WD8", "1D+", "-WD1", "99999D", "1.5D"] {
            assert!(DateFormula::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(!f("0D").advances());
        assert!(!f("-1D").advances());
        assert!(!f("CD").advances());
        assert!(f("1D").advances());
        assert!(f("CW+1D").advances());
        assert!(f("WD1").advances());
    }
}
