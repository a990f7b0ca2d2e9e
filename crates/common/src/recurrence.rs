//! Recurrence of job queue entries and next-fire computation.
//!
//! A recurring entry has a rule (an interval, a date formula, a 5-field cron expression, or
//! "daily") plus optional allowed weekdays and a daily window (starting/ending time of day,
//! which may cross midnight), all in the entry's own IANA time zone.
//!
//! DST: wall-clock times that do not exist (spring forward) run at the first instant after the
//! gap; wall-clock times that occur twice (fall back) run once, at the first occurrence. Cron
//! expressions follow the same rules (croner implements OCPS/Vixie semantics).
//!
//! Interval rules are anchored on the previous *fire time*, not on when the run ended, so an
//! entry "every 10 s" fires at t, t+10, t+20… without drift.

use crate::date_formula::DateFormula;
use crate::error::ValidationError;
use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use serde::{Deserialize, Serialize};

/// Longest interval between runs: 31 days.
pub const MAX_INTERVAL_SECS: u32 = 31 * 24 * 3600;
/// How many fire times we step through when catching up before giving up and re-anchoring.
const MAX_STEPS: usize = 2_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Every n seconds (the reference's "No. of Minutes between Runs", in seconds).
    Interval { seconds: u32 },
    /// A date formula applied to the date of the previous fire, at the starting time.
    DateFormula { formula: String },
    /// A 5-field cron expression (minute hour day-of-month month day-of-week).
    Cron { expr: String },
    /// Once a day at the starting time (or midnight) on the allowed weekdays.
    Daily,
}

/// What to do with fire times missed while nothing could run (all schedulers down, entry
/// busy with a long previous run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Drop missed fires; wait for the next one.
    Skip,
    /// Run once now for the most recent missed fire, then continue on schedule.
    #[default]
    One,
    /// Run every missed fire, oldest first, as long as it is within the catch-up window.
    AllWithinWindow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Window {
    pub start: Option<NaiveTime>,
    pub end: Option<NaiveTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    pub rule: Rule,
    /// Allowed weekdays; empty means every day.
    #[serde(default)]
    pub weekdays: Vec<Weekday>,
    #[serde(default)]
    pub window: Window,
    #[serde(default)]
    pub catch_up: CatchUp,
    /// For `AllWithinWindow`: how far back missed fires are still run (seconds).
    #[serde(default = "default_catch_up_window")]
    pub catch_up_window_secs: u32,
    /// Start a run for a fire even while the previous run is still going.
    #[serde(default)]
    pub allow_overlap: bool,
    /// Stop recurring (status Error, no next run) when a run uses up its attempts.
    #[serde(default)]
    pub stop_on_error: bool,
}

fn default_catch_up_window() -> u32 {
    3600
}

/// A validated recurrence bound to a time zone, ready to compute fire times.
#[derive(Debug, Clone)]
pub struct Schedule {
    rec: Recurrence,
    tz: Tz,
    cron: Option<Cron>,
    formula: Option<DateFormula>,
}

pub fn parse_time_zone(name: &str) -> Result<Tz, ValidationError> {
    name.parse::<Tz>().map_err(|_| {
        ValidationError::new(
            "",
            format!(
                "unknown time zone {} (use an IANA name such as Europe/Copenhagen)",
                crate::text::quoted(name)
            ),
        )
    })
}

/// Parse `HH:MM` or `HH:MM:SS`.
pub fn parse_time_of_day(s: &str) -> Result<NaiveTime, ValidationError> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(s.trim(), "%H:%M"))
        .map_err(|_| {
            ValidationError::new(
                "",
                format!("{} is not a time of day (HH:MM or HH:MM:SS)", crate::text::quoted(s)),
            )
        })
}

impl Recurrence {
    pub fn every(seconds: u32) -> Self {
        Self::with_rule(Rule::Interval { seconds })
    }

    pub fn with_rule(rule: Rule) -> Self {
        Self {
            rule,
            weekdays: Vec::new(),
            window: Window::default(),
            catch_up: CatchUp::default(),
            catch_up_window_secs: default_catch_up_window(),
            allow_overlap: false,
            stop_on_error: false,
        }
    }

    /// Validate and bind to a time zone. Field names in errors are relative to `recurrence`.
    pub fn compile(&self, time_zone: &str) -> Result<Schedule, ValidationError> {
        let tz = parse_time_zone(time_zone).map_err(|e| e.within("time_zone"))?;
        let mut cron = None;
        let mut formula = None;
        match &self.rule {
            Rule::Interval { seconds } => {
                if *seconds == 0 || *seconds > MAX_INTERVAL_SECS {
                    return Err(ValidationError::new(
                        "interval_seconds",
                        format!("must be between 1 and {MAX_INTERVAL_SECS} (31 days)"),
                    ));
                }
            }
            Rule::DateFormula { formula: f } => {
                let parsed = DateFormula::parse(f).map_err(|e| e.within("date_formula"))?;
                if !parsed.advances() {
                    return Err(ValidationError::new(
                        "date_formula",
                        format!("{} never moves the date forward", crate::text::quoted(f)),
                    ));
                }
                if !self.weekdays.is_empty() {
                    return Err(ValidationError::new(
                        "weekdays",
                        "cannot be combined with a date formula",
                    ));
                }
                if self.window.end.is_some() {
                    return Err(ValidationError::new(
                        "ending_time",
                        "cannot be combined with a date formula (it runs once, at the starting time)",
                    ));
                }
                formula = Some(parsed);
            }
            Rule::Cron { expr } => {
                if !self.weekdays.is_empty()
                    || self.window.start.is_some()
                    || self.window.end.is_some()
                {
                    return Err(ValidationError::new(
                        "cron",
                        "cannot be combined with weekdays or a daily window; put them in the cron expression",
                    ));
                }
                if expr.split_whitespace().count() != 5 {
                    return Err(ValidationError::new(
                        "cron",
                        format!(
                            "{} must have 5 fields: minute hour day-of-month month day-of-week",
                            crate::text::quoted(expr)
                        ),
                    ));
                }
                let parser = CronParser::builder().seconds(Seconds::Disallowed).build();
                let c = parser.parse(expr).map_err(|e| {
                    ValidationError::new("cron", format!("{}: {e}", crate::text::quoted(expr)))
                })?;
                cron = Some(c);
            }
            Rule::Daily => {}
        }
        if self.catch_up_window_secs == 0 && self.catch_up == CatchUp::AllWithinWindow {
            return Err(ValidationError::new("catch_up_window_seconds", "must be positive"));
        }
        let mut wd = self.weekdays.clone();
        wd.sort_by_key(|d| d.num_days_from_monday());
        wd.dedup();
        let s = Schedule { rec: Recurrence { weekdays: wd, ..self.clone() }, tz, cron, formula };
        // A schedule that can never fire is a mistake the user wants to hear about now.
        let probe = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_else(Utc::now);
        if s.first_fire(probe).is_none() {
            return Err(ValidationError::new("", "this recurrence never fires"));
        }
        Ok(s)
    }
}

impl Schedule {
    pub fn recurrence(&self) -> &Recurrence {
        &self.rec
    }

    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The first fire at or after `earliest` (creating an entry, setting it ready).
    pub fn first_fire(&self, earliest: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.cron {
            Some(c) => {
                let local = earliest.with_timezone(&self.tz);
                c.find_next_occurrence(&local, true).ok().map(|t| t.with_timezone(&Utc))
            }
            None => self.adjust(earliest),
        }
    }

    /// The fire after `prev` on the schedule.
    pub fn next_fire(&self, prev: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match (&self.rec.rule, &self.cron, &self.formula) {
            (_, Some(c), _) => {
                let local = prev.with_timezone(&self.tz);
                c.find_next_occurrence(&local, false).ok().map(|t| t.with_timezone(&Utc))
            }
            (_, _, Some(f)) => {
                let at = self.rec.window.start.unwrap_or(NaiveTime::MIN);
                let mut date = prev.with_timezone(&self.tz).date_naive();
                for _ in 0..800 {
                    let d = f.apply(date)?;
                    let t = resolve_local(self.tz, d.and_time(at));
                    if t > prev {
                        return Some(t);
                    }
                    date = date.succ_opt()?;
                }
                None
            }
            (Rule::Interval { seconds }, _, _) => {
                self.adjust(prev + TimeDelta::seconds(i64::from(*seconds)))
            }
            _ => {
                // Daily: the next local day at the starting time.
                let at = self.rec.window.start.unwrap_or(NaiveTime::MIN);
                let next_day = prev.with_timezone(&self.tz).date_naive().succ_opt()?;
                self.adjust(resolve_local(self.tz, next_day.and_time(at)))
            }
        }
    }

    /// The next run after a fire at `anchor` completed at `now`, applying the catch-up policy.
    /// `None` only when the schedule has no future fire.
    pub fn plan_after(&self, anchor: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let first = self.next_fire(anchor)?;
        if first > now {
            return Some(first);
        }
        match self.rec.catch_up {
            CatchUp::AllWithinWindow => {
                let horizon = now - TimeDelta::seconds(i64::from(self.rec.catch_up_window_secs));
                let mut t = first;
                for _ in 0..MAX_STEPS {
                    if t >= horizon {
                        return Some(t);
                    }
                    t = self.next_fire(t)?;
                }
                self.first_fire(horizon)
            }
            CatchUp::One | CatchUp::Skip => {
                let mut last_missed = first;
                let mut t = first;
                for _ in 0..MAX_STEPS {
                    let n = self.next_fire(t)?;
                    if n > now {
                        return Some(if self.rec.catch_up == CatchUp::One {
                            last_missed
                        } else {
                            n
                        });
                    }
                    last_missed = n;
                    t = n;
                }
                // Very long outage of a very frequent entry: re-anchor on now.
                if self.rec.catch_up == CatchUp::One { Some(now) } else { self.first_fire(now) }
            }
        }
    }

    fn day_allowed(&self, d: NaiveDate) -> bool {
        self.rec.weekdays.is_empty() || self.rec.weekdays.contains(&d.weekday())
    }

    /// Move `t` forward into the allowed weekdays and daily window (in local time).
    fn adjust(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let Window { start, end } = self.rec.window;
        let end = match (start, end) {
            (Some(s), Some(e)) if s == e => None, // equal start and end: only the start applies
            (_, e) => e,
        };
        let mut t = t;
        for _ in 0..16 {
            let local = t.with_timezone(&self.tz).naive_local();
            let (day, time) = (local.date(), local.time());
            let at_day = |d: NaiveDate, tm: NaiveTime| resolve_local(self.tz, d.and_time(tm));
            let next_day_start = |d: NaiveDate| -> Option<DateTime<Utc>> {
                Some(at_day(d.succ_opt()?, start.unwrap_or(NaiveTime::MIN)))
            };
            match (start, end) {
                (None, None) => {
                    if self.day_allowed(day) {
                        return Some(t);
                    }
                    t = next_day_start(day)?;
                }
                (Some(s), None) => {
                    if !self.day_allowed(day) {
                        t = next_day_start(day)?;
                    } else if time < s {
                        t = at_day(day, s);
                    } else {
                        return Some(t);
                    }
                }
                (None, Some(e)) => {
                    if self.day_allowed(day) && time < e {
                        return Some(t);
                    }
                    t = next_day_start(day)?;
                }
                (Some(s), Some(e)) if s < e => {
                    if self.day_allowed(day) && time >= s && time < e {
                        return Some(t);
                    }
                    if self.day_allowed(day) && time < s {
                        t = at_day(day, s);
                    } else {
                        t = next_day_start(day)?;
                    }
                }
                (Some(s), Some(e)) => {
                    // The window crosses midnight and belongs to the day it starts on.
                    let prev_day = day.pred_opt()?;
                    if (time >= s && self.day_allowed(day))
                        || (time < e && self.day_allowed(prev_day))
                    {
                        return Some(t);
                    }
                    if time < s && self.day_allowed(day) {
                        t = at_day(day, s);
                    } else {
                        t = next_day_start(day)?;
                    }
                }
            }
        }
        None
    }
}

/// Wall-clock time in a zone to an instant: a time in a DST gap becomes the first instant
/// after the gap; a repeated time becomes its first occurrence.
pub fn resolve_local(tz: Tz, naive: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => {
            // Search the gap (at most a few hours) for the first instant whose wall clock
            // is at or past `naive`: that is the transition itself.
            let mut lo = naive.and_utc().timestamp() - 26 * 3600;
            let mut hi = naive.and_utc().timestamp() + 26 * 3600;
            let wall = |secs: i64| {
                DateTime::<Utc>::from_timestamp(secs, 0).map(|t| t.with_timezone(&tz).naive_local())
            };
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if wall(mid).is_none_or(|w| w >= naive) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            DateTime::<Utc>::from_timestamp(hi, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
        }
    }
}

/// The calendar day `t` falls on in `tz` plus `n` days, at `time`.
pub fn local_day_at(tz: Tz, t: DateTime<Utc>, n: u64, time: NaiveTime) -> Option<DateTime<Utc>> {
    let d = t.with_timezone(&tz).date_naive().checked_add_days(Days::new(n))?;
    Some(resolve_local(tz, d.and_time(time)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    fn hm(s: &str) -> NaiveTime {
        parse_time_of_day(s).unwrap()
    }

    #[test]
    fn interval_is_anchored_on_the_fire_time() {
        let s = Recurrence::every(10).compile("UTC").unwrap();
        let t = utc("2026-11-22T10:00:00Z");
        assert_eq!(s.next_fire(t), Some(utc("2026-11-22T10:00:10Z")));
        assert_eq!(s.first_fire(t), Some(t));
    }

    #[test]
    fn window_across_midnight_belongs_to_the_day_it_starts() {
        let mut r = Recurrence::every(3600);
        r.window = Window { start: Some(hm("22:00")), end: Some(hm("02:00")) };
        r.weekdays = vec![Weekday::Fri];
        let s = r.compile("UTC").unwrap();
        // Friday 2026-11-20 23:00 -> 00:00, 01:00 (still Friday's window), then next Friday 22:00.
        let t = utc("2026-11-20T23:00:00Z");
        assert_eq!(s.next_fire(t), Some(utc("2026-11-21T00:00:00Z")));
        assert_eq!(s.next_fire(utc("2026-11-21T00:00:00Z")), Some(utc("2026-11-21T01:00:00Z")));
        assert_eq!(s.next_fire(utc("2026-11-21T01:00:00Z")), Some(utc("2026-11-27T22:00:00Z")));
        // Before the window on a Friday: waits for 22:00.
        assert_eq!(s.first_fire(utc("2026-11-20T12:00:00Z")), Some(utc("2026-11-20T22:00:00Z")));
        // Thursday 23:30 is not in a Friday window.
        assert_eq!(s.first_fire(utc("2026-11-19T23:30:00Z")), Some(utc("2026-11-20T22:00:00Z")));
    }

    #[test]
    fn weekdays_and_daytime_window() {
        let mut r = Recurrence::every(15 * 60);
        r.window = Window { start: Some(hm("08:00")), end: Some(hm("17:00")) };
        r.weekdays = vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];
        let s = r.compile("Europe/Copenhagen").unwrap();
        // Friday 2026-11-20 16:50 local (15:50Z): next would be 17:05, outside -> Monday 08:00 local.
        assert_eq!(s.next_fire(utc("2026-11-20T15:50:00Z")), Some(utc("2026-11-23T07:00:00Z")));
        assert_eq!(s.next_fire(utc("2026-11-23T07:00:00Z")), Some(utc("2026-11-23T07:15:00Z")));
    }

    #[test]
    fn date_formula_runs_at_the_starting_time() {
        let mut r = Recurrence::with_rule(Rule::DateFormula { formula: "CW+1D".into() });
        r.window.start = Some(hm("06:30"));
        let s = r.compile("Europe/Copenhagen").unwrap();
        // Wednesday 2026-11-18 -> Monday 2026-11-23 06:30 CET (05:30Z), then the Monday after.
        let first = s.next_fire(utc("2026-11-18T09:00:00Z")).unwrap();
        assert_eq!(first, utc("2026-11-23T05:30:00Z"));
        assert_eq!(s.next_fire(first), Some(utc("2026-11-30T05:30:00Z")));
        let daily = Recurrence::with_rule(Rule::DateFormula { formula: "1D".into() })
            .compile("UTC")
            .unwrap();
        assert_eq!(daily.next_fire(utc("2026-11-18T09:00:00Z")), Some(utc("2026-11-19T00:00:00Z")));
    }

    #[test]
    fn cron_across_spring_forward_and_fall_back() {
        // Europe/Copenhagen: 2026-03-29 02:00 -> 03:00; 2026-10-25 03:00 -> 02:00.
        let s = Recurrence::with_rule(Rule::Cron { expr: "30 2 * * *".into() })
            .compile("Europe/Copenhagen")
            .unwrap();
        let before = utc("2026-03-28T01:30:00Z"); // 02:30 CET on the 28th
        let gap_day = s.next_fire(before).unwrap();
        // 02:30 does not exist on the 29th: runs once right after the gap, 03:00 CEST = 01:00Z.
        assert_eq!(gap_day, utc("2026-03-29T01:00:00Z"));
        assert_eq!(s.next_fire(gap_day), Some(utc("2026-03-30T00:30:00Z")));
        // 02:30 happens twice on 2026-10-25: runs once, at the first (CEST, 00:30Z).
        let fb = s.next_fire(utc("2026-10-24T12:00:00Z")).unwrap();
        assert_eq!(fb, utc("2026-10-25T00:30:00Z"));
        assert_eq!(s.next_fire(fb), Some(utc("2026-10-26T01:30:00Z")));
    }

    #[test]
    fn hourly_cron_through_fall_back_runs_every_real_hour() {
        let s = Recurrence::with_rule(Rule::Cron { expr: "0 * * * *".into() })
            .compile("America/New_York")
            .unwrap();
        // 2026-11-01 01:00 EDT (05:00Z), 01:00 EST (06:00Z), 02:00 EST (07:00Z).
        let a = s.next_fire(utc("2026-11-01T04:30:00Z")).unwrap();
        assert_eq!(a, utc("2026-11-01T05:00:00Z"));
        let b = s.next_fire(a).unwrap();
        let c = s.next_fire(b).unwrap();
        assert!(b > a && c > b);
        assert_eq!(c, utc("2026-11-01T07:00:00Z"));
    }

    #[test]
    fn window_start_in_a_dst_gap_runs_after_the_gap() {
        let mut r = Recurrence::with_rule(Rule::Daily);
        r.window.start = Some(hm("02:30"));
        let s = r.compile("Europe/Copenhagen").unwrap();
        let t = s.next_fire(utc("2026-03-28T01:30:00Z")).unwrap();
        assert_eq!(t, utc("2026-03-29T01:00:00Z"));
        // Daily local time is kept across the change: 02:30 CEST the day after = 00:30Z.
        assert_eq!(s.next_fire(t), Some(utc("2026-03-30T00:30:00Z")));
    }

    #[test]
    fn catch_up_policies() {
        let mut r = Recurrence::every(60);
        let t0 = utc("2026-11-22T10:00:00Z");
        let now = utc("2026-11-22T10:05:30Z");
        r.catch_up = CatchUp::Skip;
        assert_eq!(
            r.compile("UTC").unwrap().plan_after(t0, now),
            Some(utc("2026-11-22T10:06:00Z"))
        );
        r.catch_up = CatchUp::One;
        assert_eq!(
            r.compile("UTC").unwrap().plan_after(t0, now),
            Some(utc("2026-11-22T10:05:00Z"))
        );
        r.catch_up = CatchUp::AllWithinWindow;
        r.catch_up_window_secs = 180;
        assert_eq!(
            r.compile("UTC").unwrap().plan_after(t0, now),
            Some(utc("2026-11-22T10:03:00Z"))
        );
        r.catch_up_window_secs = 3600;
        assert_eq!(
            r.compile("UTC").unwrap().plan_after(t0, now),
            Some(utc("2026-11-22T10:01:00Z"))
        );
        // Nothing missed: the next fire.
        assert_eq!(
            r.compile("UTC").unwrap().plan_after(t0, utc("2026-11-22T10:00:05Z")),
            Some(utc("2026-11-22T10:01:00Z"))
        );
    }

    #[test]
    fn invalid_recurrences_name_the_field() {
        let e = Recurrence::every(0).compile("UTC").unwrap_err();
        assert_eq!(e.field, "interval_seconds");
        let e = Recurrence::every(60).compile("Mars/Olympus").unwrap_err();
        assert_eq!(e.field, "time_zone");
        let e = Recurrence::with_rule(Rule::Cron { expr: "61 * * * *".into() })
            .compile("UTC")
            .unwrap_err();
        assert_eq!(e.field, "cron");
        let e = Recurrence::with_rule(Rule::Cron { expr: "* * * * * *".into() })
            .compile("UTC")
            .unwrap_err();
        assert_eq!(e.field, "cron");
        let mut r = Recurrence::with_rule(Rule::Cron { expr: "0 * * * *".into() });
        r.weekdays = vec![Weekday::Mon];
        assert_eq!(r.compile("UTC").unwrap_err().field, "cron");
        let e = Recurrence::with_rule(Rule::DateFormula { formula: "0D".into() })
            .compile("UTC")
            .unwrap_err();
        assert_eq!(e.field, "date_formula");
        let e = Recurrence::with_rule(Rule::DateFormula { formula: "1X".into() })
            .compile("UTC")
            .unwrap_err();
        assert_eq!(e.field, "date_formula");
    }
}
