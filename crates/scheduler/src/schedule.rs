//! When an entry runs: its spec's schedule and overlap policy compiled once per attempt
//! ([`RunPolicy`]), where a (re)started entry runs first, and the new schedule of an entry
//! edited during its run. Shared by the API (service.rs) and the dispatcher, below both.

use crate::error::ServiceError;
use crate::repo::Repo;
use chrono::{DateTime, Utc};
use shopsync_common::{EntrySpec, JobStatus, Schedule, ValidationError};
use uuid::Uuid;

/// (next run, its recurring fire).
pub type NextRun = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Where a (re)started entry runs first. Errors when the spec is invalid or its schedule has
/// no future fire.
pub fn first_run(spec: &EntrySpec, now: DateTime<Utc>) -> Result<NextRun, ValidationError> {
    let schedule = spec.validate(now)?;
    let next = spec
        .first_run(schedule.as_ref(), now)
        .ok_or_else(|| ValidationError::new("spec.recurrence", "has no future run"))?;
    let fire = schedule.is_some().then_some(next);
    Ok((Some(next), fire))
}

/// A spec's schedule (recurring entries whose recurrence compiles) and whether its runs may
/// overlap: what the dispatcher needs at an attempt's start and end.
pub struct RunPolicy {
    pub schedule: Option<Schedule>,
    pub overlap: bool,
}

impl RunPolicy {
    pub fn of(spec: &EntrySpec) -> Self {
        let recurrence = spec.recurrence.as_ref();
        Self {
            schedule: recurrence.and_then(|r| r.compile(&spec.time_zone).ok()),
            overlap: recurrence.is_some_and(|r| r.allow_overlap),
        }
    }
}

/// After a run ends for an entry whose spec was edited meanwhile: recompute its schedule.
pub async fn reschedule_after_edit(repo: &Repo, id: Uuid) -> Result<(), ServiceError> {
    let now = Utc::now();
    repo.modify_entry(id, |e| {
        let mut s = e.state.clone();
        s.reschedule_pending = false;
        if s.next_run_at.is_some() && s.status != JobStatus::InProcess && s.attempts == 0 {
            let (next, fire) = first_run(&e.spec, now)?;
            s.next_run_at = next;
            s.next_fire_time = fire;
        }
        Ok::<_, ServiceError>((None, s))
    })
    .await
    .map_err(ServiceError::about_entry(id))??;
    Ok(())
}
