//! Entry specs from the command line: the recurrence, retry and timing flags (`SpecOpts`)
//! applied to a spec, and task parameters given as JSON.

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use shopsync_common::recurrence::parse_time_of_day;
use shopsync_common::{CatchUp, EntrySpec, Priority, Recurrence, Rule, Task, TaskParams};
use std::time::Duration;

#[derive(Clone, Copy, ValueEnum)]
pub enum CatchUpArg {
    One,
    Skip,
    All,
}

#[derive(Args, Default)]
pub struct SpecOpts {
    #[arg(long)]
    description: Option<String>,
    /// Recur every DURATION (10s, 15m, 1h).
    #[arg(long, value_parser = humantime::parse_duration, group = "rule")]
    every: Option<Duration>,
    /// Recur by a 5-field cron expression.
    #[arg(long, group = "rule")]
    cron: Option<String>,
    /// Recur by a date formula (1D, CW+1D, CM…), at --start-time.
    #[arg(long, group = "rule")]
    date_formula: Option<String>,
    /// Recur once a day at --start-time.
    #[arg(long, group = "rule")]
    daily: bool,
    /// Allowed weekdays: mon,tue,…
    #[arg(long, value_delimiter = ',')]
    weekdays: Vec<chrono::Weekday>,
    /// Daily window start, HH:MM.
    #[arg(long)]
    start_time: Option<String>,
    /// Daily window end, HH:MM (before the start: the window crosses midnight).
    #[arg(long)]
    end_time: Option<String>,
    /// IANA time zone of the recurrence.
    #[arg(long)]
    tz: Option<String>,
    #[arg(long, value_enum)]
    catch_up: Option<CatchUpArg>,
    #[arg(long)]
    allow_overlap: Option<bool>,
    #[arg(long)]
    stop_on_error: Option<bool>,
    #[arg(long)]
    category: Option<String>,
    #[arg(long)]
    priority: Option<Priority>,
    #[arg(long)]
    max_attempts: Option<u32>,
    #[arg(long, value_parser = humantime::parse_duration)]
    rerun_delay: Option<Duration>,
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// RFC 3339 time.
    #[arg(long)]
    earliest_start: Option<DateTime<Utc>>,
    #[arg(long)]
    expires: Option<DateTime<Utc>>,
    #[arg(long, env = "USER")]
    created_by: Option<String>,
}

impl SpecOpts {
    fn rule(&self) -> Result<Option<Rule>> {
        Ok(match (&self.every, &self.cron, &self.date_formula, self.daily) {
            (Some(d), ..) => {
                let secs = d.as_secs();
                if secs == 0 || d.subsec_nanos() != 0 {
                    bail!("--every must be a whole number of seconds (at least 1s)");
                }
                Some(Rule::Interval {
                    seconds: u32::try_from(secs).context("--every is too long")?,
                })
            }
            (_, Some(c), ..) => Some(Rule::Cron { expr: c.clone() }),
            (_, _, Some(f), _) => Some(Rule::DateFormula { formula: f.clone() }),
            (.., true) => Some(Rule::Daily),
            _ => None,
        })
    }

    fn touches_recurrence(&self) -> bool {
        self.every.is_some()
            || self.cron.is_some()
            || self.date_formula.is_some()
            || self.daily
            || !self.weekdays.is_empty()
            || self.start_time.is_some()
            || self.end_time.is_some()
            || self.catch_up.is_some()
            || self.allow_overlap.is_some()
            || self.stop_on_error.is_some()
    }

    pub fn apply(&self, spec: &mut EntrySpec) -> Result<()> {
        if let Some(d) = &self.description {
            spec.description = Some(d.clone());
        }
        if self.touches_recurrence() {
            let mut rec = match (self.rule()?, spec.recurrence.take()) {
                (Some(rule), Some(mut r)) => {
                    r.rule = rule;
                    r
                }
                (Some(rule), None) => Recurrence::with_rule(rule),
                (None, Some(r)) => r,
                (None, None) => bail!(
                    "weekdays, windows and catch-up need a rule: --every, --cron, --date-formula or --daily"
                ),
            };
            if !self.weekdays.is_empty() {
                rec.weekdays = self.weekdays.clone();
            }
            if let Some(t) = &self.start_time {
                rec.window.start =
                    Some(parse_time_of_day(t).map_err(|e| anyhow!("--start-time: {}", e.reason))?);
            }
            if let Some(t) = &self.end_time {
                rec.window.end =
                    Some(parse_time_of_day(t).map_err(|e| anyhow!("--end-time: {}", e.reason))?);
            }
            if let Some(c) = self.catch_up {
                rec.catch_up = match c {
                    CatchUpArg::One => CatchUp::One,
                    CatchUpArg::Skip => CatchUp::Skip,
                    CatchUpArg::All => CatchUp::AllWithinWindow,
                };
            }
            if let Some(v) = self.allow_overlap {
                rec.allow_overlap = v;
            }
            if let Some(v) = self.stop_on_error {
                rec.stop_on_error = v;
            }
            spec.recurrence = Some(rec);
        }
        if let Some(tz) = &self.tz {
            spec.time_zone = tz.clone();
        }
        if let Some(c) = &self.category {
            spec.category = Some(c.clone()).filter(|c| !c.is_empty());
        }
        if let Some(p) = self.priority {
            spec.priority = p;
        }
        if let Some(m) = self.max_attempts {
            spec.retry.max_attempts = m;
        }
        if let Some(d) = self.rerun_delay {
            spec.retry.rerun_delay_secs = u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        }
        if let Some(d) = self.timeout {
            spec.timeout_secs = u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        }
        if let Some(t) = self.earliest_start {
            spec.earliest_start = Some(t);
        }
        if let Some(t) = self.expires {
            spec.expires_at = Some(t);
        }
        if let Some(u) = &self.created_by {
            spec.created_by = u.clone();
        }
        Ok(())
    }
}

pub fn parse_params(task: Task, json: Option<&str>) -> Result<TaskParams> {
    let Some(json) = json else { return Ok(TaskParams::default_for(task)) };
    let value: serde_json::Value =
        serde_json::from_str(json).context("--params is not valid JSON")?;
    let wrapped = serde_json::json!({ task.as_str(): value });
    serde_json::from_value(wrapped)
        .with_context(|| format!("--params does not fit the {task} task"))
}
