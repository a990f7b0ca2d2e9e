//! Job queue entries: the spec a user saves, statuses, retry policy and the transitions
//! after a run.

use crate::error::ValidationError;
use crate::params::TaskParams;
use crate::recurrence::{Recurrence, Schedule, parse_time_zone};
use crate::task::Task;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Ready,
    InProcess,
    Error,
    OnHold,
    Finished,
    Waiting,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Ready,
        JobStatus::InProcess,
        JobStatus::Error,
        JobStatus::OnHold,
        JobStatus::Finished,
        JobStatus::Waiting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Ready => "ready",
            JobStatus::InProcess => "in_process",
            JobStatus::Error => "error",
            JobStatus::OnHold => "on_hold",
            JobStatus::Finished => "finished",
            JobStatus::Waiting => "waiting",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        JobStatus::ALL
            .into_iter()
            .find(|t| t.as_str() == norm)
            .ok_or_else(|| format!("unknown status {s:?}"))
    }
}

/// Status of one run (a row of the run log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
    /// The scheduler lost the run (worker or scheduler died; lease expired).
    Lost,
}

impl RunStatus {
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::TimedOut,
        RunStatus::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Lost => "lost",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        RunStatus::ALL
            .into_iter()
            .find(|t| t.as_str() == norm)
            .ok_or_else(|| format!("unknown run status {s:?}"))
    }
}

/// Priority within a category: waiting entries start High first, then first-in-first-out.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, PartialOrd, Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    High = 0,
    #[default]
    Normal = 1,
    Low = 2,
}

impl Priority {
    pub fn as_i16(self) -> i16 {
        self as i16
    }
    pub fn from_i16(v: i16) -> Self {
        match v {
            0 => Priority::High,
            2 => Priority::Low,
            _ => Priority::Normal,
        }
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "high" => Ok(Priority::High),
            "normal" => Ok(Priority::Normal),
            "low" => Ok(Priority::Low),
            _ => Err(format!("unknown priority {s:?} (high, normal, low)")),
        }
    }
}

/// Attempts and back-off. `max_attempts` counts every attempt, the first included; one-off
/// "sync now" entries get retries too (the reference's helper silently gave them none).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub rerun_delay_secs: u32,
    pub backoff_multiplier: f64,
    pub max_delay_secs: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            rerun_delay_secs: 30,
            backoff_multiplier: 2.0,
            max_delay_secs: 6 * 3600,
        }
    }
}

impl RetryPolicy {
    /// Delay before the attempt after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> TimeDelta {
        let exp = attempt.saturating_sub(1).min(64) as i32;
        let secs = f64::from(self.rerun_delay_secs) * self.backoff_multiplier.powi(exp);
        let capped = secs.min(f64::from(self.max_delay_secs)).max(0.0);
        TimeDelta::milliseconds((capped * 1000.0) as i64)
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        if !(1..=20).contains(&self.max_attempts) {
            return Err(ValidationError::new("max_attempts", "must be between 1 and 20"));
        }
        if self.rerun_delay_secs > 86_400 {
            return Err(ValidationError::new("rerun_delay_seconds", "at most 86400 (1 day)"));
        }
        if !(1.0..=10.0).contains(&self.backoff_multiplier) || self.backoff_multiplier.is_nan() {
            return Err(ValidationError::new("backoff_multiplier", "must be between 1.0 and 10.0"));
        }
        if self.max_delay_secs < self.rerun_delay_secs {
            return Err(ValidationError::new(
                "max_delay_seconds",
                "must not be below rerun_delay_seconds",
            ));
        }
        Ok(())
    }
}

pub const DEFAULT_TIMEOUT_SECS: u32 = 12 * 3600;

/// What a user saves: everything about an entry except its state.
///
/// Stored as JSON, which every claim reads and the dispatcher parses: options that are not set
/// are left out of it (a missing one reads back as not set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntrySpec {
    pub shop: String,
    pub params: TaskParams,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest_start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Recurrence>,
    pub time_zone: String,
    pub retry: RetryPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub priority: Priority,
    pub timeout_secs: u32,
    pub created_by: String,
}

impl EntrySpec {
    pub fn new(shop: impl Into<String>, params: TaskParams) -> Self {
        Self {
            shop: shop.into(),
            params,
            description: None,
            earliest_start: None,
            expires_at: None,
            recurrence: None,
            time_zone: "UTC".into(),
            retry: RetryPolicy::default(),
            category: None,
            priority: Priority::Normal,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            created_by: "system".into(),
        }
    }

    pub fn task(&self) -> Task {
        self.params.task()
    }

    /// Description shown in lists: the user's, or the task caption and shop.
    pub fn display_description(&self) -> String {
        match &self.description {
            Some(d) if !d.trim().is_empty() => d.clone(),
            _ => format!("{} for shop {}", self.task().caption(), self.shop),
        }
    }

    /// Validate everything; returns the compiled schedule for recurring entries.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<Option<Schedule>, ValidationError> {
        validate_shop(&self.shop)?;
        self.params.validate().map_err(|e| e.within("params"))?;
        if let Some(d) = &self.description
            && d.chars().count() > 250
        {
            return Err(ValidationError::new("description", "longer than 250 characters"));
        }
        parse_time_zone(&self.time_zone).map_err(|e| e.within("time_zone"))?;
        if let Some(exp) = self.expires_at {
            if exp <= now {
                return Err(ValidationError::new("expires_at", "is in the past"));
            }
            if let Some(start) = self.earliest_start
                && exp <= start
            {
                return Err(ValidationError::new("expires_at", "must be after earliest_start"));
            }
        }
        self.retry.validate().map_err(|e| e.within("retry"))?;
        if let Some(c) = &self.category {
            validate_category(c)?;
        }
        if self.timeout_secs == 0 || self.timeout_secs > 7 * 86_400 {
            return Err(ValidationError::new(
                "timeout_seconds",
                "must be between 1 and 604800 (7 days)",
            ));
        }
        if self.created_by.trim().is_empty() {
            return Err(ValidationError::new("created_by", "must not be blank"));
        }
        match &self.recurrence {
            Some(r) => r.compile(&self.time_zone).map(Some).map_err(|e| {
                if e.field.starts_with("time_zone") { e } else { e.within("recurrence") }
            }),
            None => Ok(None),
        }
    }

    /// The keys this entry must hold exclusively while it runs: its category, and each
    /// resource its task writes in its shop.
    pub fn lock_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(c) = &self.category {
            keys.push(format!("category:{}", c.to_ascii_uppercase()));
        }
        for r in self.params.writes() {
            keys.push(format!("shop:{}:{}", self.shop, r.as_str()));
        }
        keys
    }

    /// When the entry should first run, given when it is set ready.
    pub fn first_run(
        &self,
        schedule: Option<&Schedule>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let earliest = self.earliest_start.map_or(now, |s| s.max(now));
        match schedule {
            Some(s) => s.first_fire(earliest),
            None => Some(earliest),
        }
    }
}

pub fn validate_shop(shop: &str) -> Result<(), ValidationError> {
    if shop.trim().is_empty() {
        return Err(ValidationError::new("shop", "must not be blank"));
    }
    if shop.len() > 255
        || !shop.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(ValidationError::new(
            "shop",
            format!(
                "{} is not a shop code or domain (letters, digits, '-', '_', '.')",
                crate::text::quoted(shop)
            ),
        ));
    }
    Ok(())
}

pub fn validate_category(c: &str) -> Result<(), ValidationError> {
    if c.is_empty()
        || c.len() > 32
        || !c.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        return Err(ValidationError::new(
            "category",
            format!("{} must be 1-32 letters, digits, '-' or '_'", crate::text::quoted(c)),
        ));
    }
    Ok(())
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    Succeeded,
    Failed { message: String },
    TimedOut,
    Lost { message: String },
    Cancelled { by: String },
}

impl RunOutcome {
    pub fn run_status(&self) -> RunStatus {
        match self {
            RunOutcome::Succeeded => RunStatus::Succeeded,
            RunOutcome::Failed { .. } => RunStatus::Failed,
            RunOutcome::TimedOut => RunStatus::TimedOut,
            RunOutcome::Lost { .. } => RunStatus::Lost,
            RunOutcome::Cancelled { .. } => RunStatus::Cancelled,
        }
    }

    pub fn error_message(&self, timeout_secs: u32) -> Option<String> {
        match self {
            RunOutcome::Succeeded => None,
            RunOutcome::Failed { message } | RunOutcome::Lost { message } => Some(message.clone()),
            RunOutcome::TimedOut => Some(format!("timed out after {timeout_secs} s")),
            RunOutcome::Cancelled { by } => Some(format!("cancelled by {by}")),
        }
    }
}

/// The facts about a finished run that decide the entry's next state.
#[derive(Debug, Clone)]
pub struct FinishedRun<'a> {
    pub schedule: Option<&'a Schedule>,
    pub retry: RetryPolicy,
    pub timeout_secs: u32,
    /// The attempt that just ended (1-based).
    pub attempt: u32,
    /// The fire this run belonged to; `None` for one-off entries and manual "run now".
    pub fire_time: Option<DateTime<Utc>>,
    /// The entry's pending fire (recurring entries), unchanged while it ran.
    pub pending_fire: Option<DateTime<Utc>>,
}

/// The entry's new state after a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub status: JobStatus,
    pub next_run_at: Option<DateTime<Utc>>,
    /// The fire the next run belongs to (recurring entries).
    pub next_fire_time: Option<DateTime<Utc>>,
    /// Whether the next run is a retry of a manual run (so it carries no fire time).
    pub manual: bool,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// Decide what an entry does after a run (reference 1.2 and 1.5, with its flaws fixed:
/// one-off entries retry; a recurring entry that used up its attempts shows Error but keeps
/// firing unless `stop_on_error`; one-off entries stay as Finished instead of vanishing).
pub fn after_run(run: &FinishedRun<'_>, outcome: &RunOutcome, now: DateTime<Utc>) -> Transition {
    let error = outcome.error_message(run.timeout_secs);
    // Where the schedule goes on from: this run's fire, else the pending one.
    let continue_schedule = || -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let Some(s) = run.schedule else { return (None, None) };
        let next = match run.fire_time {
            Some(f) => s.plan_after(f, now),
            None => match run.pending_fire {
                Some(p) => Some(p),
                None => s.first_fire(now),
            },
        };
        (next, next)
    };
    match outcome {
        RunOutcome::Succeeded => match run.schedule {
            None => Transition {
                status: JobStatus::Finished,
                next_run_at: None,
                next_fire_time: None,
                manual: false,
                attempts: 0,
                last_error: None,
            },
            Some(_) => {
                let (next, fire) = continue_schedule();
                Transition {
                    status: if next.is_some() { JobStatus::Ready } else { JobStatus::Finished },
                    next_run_at: next,
                    next_fire_time: fire,
                    manual: false,
                    attempts: 0,
                    last_error: None,
                }
            }
        },
        RunOutcome::Cancelled { .. } => match run.schedule {
            None => Transition {
                status: JobStatus::OnHold,
                next_run_at: None,
                next_fire_time: None,
                manual: false,
                attempts: 0,
                last_error: error,
            },
            Some(_) => {
                let (next, fire) = continue_schedule();
                Transition {
                    status: JobStatus::Ready,
                    next_run_at: next,
                    next_fire_time: fire,
                    manual: false,
                    attempts: 0,
                    last_error: error,
                }
            }
        },
        RunOutcome::Failed { .. } | RunOutcome::TimedOut | RunOutcome::Lost { .. } => {
            if run.attempt < run.retry.max_attempts {
                let retry_at = now + run.retry.delay_after(run.attempt);
                // A retry of a fire may not run past the fire after it.
                return Transition {
                    status: JobStatus::Ready,
                    next_run_at: Some(retry_at),
                    next_fire_time: run.fire_time.or(run.pending_fire),
                    manual: run.fire_time.is_none() && run.schedule.is_some(),
                    attempts: run.attempt,
                    last_error: error,
                };
            }
            match run.schedule {
                Some(s) if !s.recurrence().stop_on_error => {
                    let (next, fire) = continue_schedule();
                    Transition {
                        status: JobStatus::Error,
                        next_run_at: next,
                        next_fire_time: fire,
                        manual: false,
                        attempts: 0,
                        last_error: error,
                    }
                }
                _ => Transition {
                    status: JobStatus::Error,
                    next_run_at: None,
                    next_fire_time: None,
                    manual: false,
                    attempts: run.attempt,
                    last_error: error,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::TaskParams;
    use crate::recurrence::Recurrence;

    #[test]
    fn stored_specs_leave_out_unset_options_and_read_older_ones() {
        let mut spec =
            EntrySpec::new("shop-1", TaskParams::Test(crate::params::TestParams::default()));
        let json = serde_json::to_value(&spec).unwrap();
        for unset in ["description", "earliest_start", "expires_at", "recurrence", "category"] {
            assert!(json.get(unset).is_none(), "{unset} is left out: {json}");
        }
        assert_eq!(serde_json::from_value::<EntrySpec>(json).unwrap(), spec);
        // As older releases stored it: every option present, null when unset.
        let mut old = serde_json::to_value(&spec).unwrap();
        for unset in ["description", "earliest_start", "expires_at", "recurrence", "category"] {
            old[unset] = serde_json::Value::Null;
        }
        assert_eq!(serde_json::from_value::<EntrySpec>(old).unwrap(), spec);
        spec.category = Some("POST".into());
        spec.recurrence = Some(Recurrence::every(60));
        let back: EntrySpec = serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn run<'a>(
        schedule: Option<&'a Schedule>,
        attempt: u32,
        fire: Option<DateTime<Utc>>,
    ) -> FinishedRun<'a> {
        FinishedRun {
            schedule,
            retry: RetryPolicy {
                max_attempts: 3,
                rerun_delay_secs: 10,
                backoff_multiplier: 2.0,
                max_delay_secs: 3600,
            },
            timeout_secs: 60,
            attempt,
            fire_time: fire,
            pending_fire: fire,
        }
    }

    #[test]
    fn one_off_finishes_or_retries_with_backoff_then_errors() {
        let now = utc("2026-11-22T10:00:00Z");
        let t = after_run(&run(None, 1, None), &RunOutcome::Succeeded, now);
        assert_eq!(t.status, JobStatus::Finished);
        assert_eq!(t.next_run_at, None);

        let fail = RunOutcome::Failed { message: "boom".into() };
        let t = after_run(&run(None, 1, None), &fail, now);
        assert_eq!(
            (t.status, t.next_run_at),
            (JobStatus::Ready, Some(utc("2026-11-22T10:00:10Z")))
        );
        let t = after_run(&run(None, 2, None), &fail, now);
        assert_eq!(t.next_run_at, Some(utc("2026-11-22T10:00:20Z")));
        let t = after_run(&run(None, 3, None), &fail, now);
        assert_eq!((t.status, t.next_run_at), (JobStatus::Error, None));
        assert_eq!(t.last_error.as_deref(), Some("boom"));
    }

    #[test]
    fn recurring_entry_that_used_its_attempts_keeps_firing_unless_told_to_stop() {
        let now = utc("2026-11-22T10:00:05Z");
        let fire = utc("2026-11-22T10:00:00Z");
        let s = Recurrence::every(60).compile("UTC").unwrap();
        let t = after_run(&run(Some(&s), 3, Some(fire)), &RunOutcome::TimedOut, now);
        assert_eq!(t.status, JobStatus::Error);
        assert_eq!(t.next_run_at, Some(utc("2026-11-22T10:01:00Z")));
        assert_eq!(t.last_error.as_deref(), Some("timed out after 60 s"));

        let mut r = Recurrence::every(60);
        r.stop_on_error = true;
        let s = r.compile("UTC").unwrap();
        let t = after_run(&run(Some(&s), 3, Some(fire)), &RunOutcome::TimedOut, now);
        assert_eq!((t.status, t.next_run_at), (JobStatus::Error, None));

        let ok = after_run(&run(Some(&s), 1, Some(fire)), &RunOutcome::Succeeded, now);
        assert_eq!((ok.status, ok.attempts), (JobStatus::Ready, 0));
        assert_eq!(ok.next_fire_time, Some(utc("2026-11-22T10:01:00Z")));
    }

    #[test]
    fn retry_keeps_the_fire_it_belongs_to() {
        let s = Recurrence::every(60).compile("UTC").unwrap();
        let fire = utc("2026-11-22T10:00:00Z");
        let t = after_run(
            &run(Some(&s), 1, Some(fire)),
            &RunOutcome::Lost { message: "worker died".into() },
            utc("2026-11-22T10:00:03Z"),
        );
        assert_eq!(t.status, JobStatus::Ready);
        assert_eq!(t.next_fire_time, Some(fire));
        assert_eq!(t.attempts, 1);
    }

    #[test]
    fn spec_validation_names_fields() {
        let now = utc("2026-11-22T10:00:00Z");
        let mut s = EntrySpec::new("shop-1", TaskParams::default_for(Task::SyncOrders));
        assert!(s.validate(now).unwrap().is_none());
        s.shop = "bad shop!".into();
        assert_eq!(s.validate(now).unwrap_err().field, "shop");
        s.shop = "shop-1".into();
        s.retry.max_attempts = 0;
        assert_eq!(s.validate(now).unwrap_err().field, "retry.max_attempts");
        s.retry.max_attempts = 3;
        s.category = Some("has space".into());
        assert_eq!(s.validate(now).unwrap_err().field, "category");
        s.category = Some("SHPFY".into());
        s.expires_at = Some(utc("2026-11-21T00:00:00Z"));
        assert_eq!(s.validate(now).unwrap_err().field, "expires_at");
        s.expires_at = None;
        s.recurrence = Some(Recurrence::every(0));
        assert_eq!(s.validate(now).unwrap_err().field, "recurrence.interval_seconds");
        s.recurrence = Some(Recurrence::every(10));
        s.time_zone = "Nowhere/Land".into();
        assert_eq!(s.validate(now).unwrap_err().field, "time_zone");
        s.time_zone = "Europe/Copenhagen".into();
        assert!(s.validate(now).unwrap().is_some());
        assert_eq!(
            s.lock_keys(),
            vec![
                "category:SHPFY",
                "shop:shop-1:orders",
                "shop:shop-1:sales_documents",
                "shop:shop-1:customers",
                "shop:shop-1:companies",
                "shop:shop-1:items"
            ]
        );
    }
}
