//! Job queue operations: validation and status transitions of entries (reference 1.2, with
//! its flaws fixed), on top of the repository.

use crate::creates::CreateBatcher;
use crate::error::ServiceError;
use crate::repo::{Entry, EntryFilter, EntryState, Repo, RunFilter, RunRow};
use crate::schedule::{RunPolicy, first_run};
use crate::shops::Shops;
use crate::wakeup::Wakeup;
use chrono::Utc;
use shopsync_common::{EntrySpec, JobStatus, ValidationError};
use std::sync::Arc;
use uuid::Uuid;

pub struct JobQueue {
    repo: Repo,
    /// Entries of unknown or disabled shops are refused (none: every shop is accepted, as in
    /// the repository tests).
    shops: Option<Arc<Shops>>,
    /// How creates wake the claimers; None: a NOTIFY in the create's transaction.
    wakeup: Option<Arc<Wakeup>>,
    /// Concurrent creates share an insert (with a wakeup only: a batch sends no NOTIFY).
    creates: Option<CreateBatcher>,
}

impl JobQueue {
    pub fn new(repo: Repo) -> Self {
        Self { repo, shops: None, wakeup: None, creates: None }
    }

    /// Refuse entries of shops that `shops` does not know or has disabled.
    pub fn with_shops(mut self, shops: Arc<Shops>) -> Self {
        self.shops = Some(shops);
        self
    }

    /// The shop of a "sync now", enabled (else the error names `field`).
    pub async fn enabled_shop(
        &self,
        shop: &str,
        field: &str,
    ) -> Result<shopsync_common::shop::Shop, ServiceError> {
        let Some(shops) = &self.shops else {
            return Err(ServiceError::FailedPrecondition("this scheduler serves no shops".into()));
        };
        shops.check_enabled(shop, field).await?;
        match shops.get(shop).await {
            Ok(s) if s.shop.enabled => Ok(s.shop),
            Ok(_) => Err(ValidationError::new(field, format!("shop {shop:?} is disabled")).into()),
            Err(ServiceError::ShopNotFound(_)) => {
                Err(ValidationError::new(field, format!("shop {shop:?} is not known")).into())
            }
            Err(e) => Err(e),
        }
    }

    async fn check_shop(&self, spec: &EntrySpec) -> Result<(), ServiceError> {
        match &self.shops {
            Some(s) => s.check_enabled(&spec.shop, "spec.shop").await,
            None => Ok(()),
        }
    }

    /// A queue whose creates wake claimers through `wakeup` (whose broadcaster must run),
    /// and whose concurrent creates are inserted in batches by up to `create_writers`
    /// statements at once (0: each create is a statement of its own). Needs a Tokio runtime.
    pub fn with_wakeup(repo: Repo, wakeup: Arc<Wakeup>, create_writers: usize) -> Self {
        let creates =
            (create_writers > 0).then(|| CreateBatcher::start(repo.clone(), create_writers));
        Self { repo, shops: None, wakeup: Some(wakeup), creates }
    }

    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    pub async fn create(
        &self,
        spec: EntrySpec,
        on_hold: bool,
        request_id: Option<&str>,
    ) -> Result<Entry, ServiceError> {
        let now = Utc::now();
        let (next, fire) = first_run(&spec, now)?;
        self.check_shop(&spec).await?;
        let state = EntryState {
            status: if on_hold { JobStatus::OnHold } else { JobStatus::Ready },
            next_run_at: if on_hold { None } else { next },
            next_fire_time: if on_hold { None } else { fire },
            manual_pending: false,
            attempts: 0,
            hold_requested: false,
            reschedule_pending: false,
            last_error: None,
        };
        if let Some(r) = request_id
            && (r.len() > 200 || r.trim().is_empty())
        {
            return Err(ValidationError::new("request_id", "must be 1-200 characters").into());
        }
        let (entry, created) = match &self.creates {
            Some(batcher) => batcher.insert(spec, state, request_id).await?,
            None => {
                self.repo.insert_entry(&spec, &state, request_id, self.wakeup.is_none()).await?
            }
        };
        if let Some(w) = &self.wakeup
            && created
            && entry.state.next_run_at.is_some()
        {
            w.due();
        }
        if created {
            tracing::info!(entry = %entry.id, task = %entry.spec.task(), shop = %entry.spec.shop, "entry created");
        }
        Ok(entry)
    }

    pub async fn update(
        &self,
        id: Uuid,
        spec: EntrySpec,
        expected_version: Option<i64>,
    ) -> Result<Entry, ServiceError> {
        let now = Utc::now();
        spec.validate(now)?;
        self.check_shop(&spec).await?;
        self.modify(id, |e| {
            if let Some(v) = expected_version
                && v != e.version
            {
                return Err(ServiceError::Aborted(format!(
                    "entry {id} changed (version {} now, {v} expected); read it again",
                    e.version
                )));
            }
            if e.spec.task() != spec.task() && e.state.status == JobStatus::InProcess {
                return Err(ServiceError::FailedPrecondition(
                    "the task of a running entry cannot change".into(),
                ));
            }
            let mut s = e.state.clone();
            if s.status == JobStatus::InProcess {
                s.reschedule_pending = true;
            } else if s.next_run_at.is_some() {
                let (next, fire) = first_run(&spec, now)?;
                s.next_run_at = next;
                s.next_fire_time = fire;
                s.manual_pending = false;
            }
            Ok((Some(spec), s))
        })
        .await
    }

    pub async fn get(&self, id: Uuid) -> Result<Entry, ServiceError> {
        self.repo.get_entry(id).await?.ok_or(ServiceError::EntryNotFound(id))
    }

    pub async fn list(&self, f: &EntryFilter) -> Result<Vec<Entry>, ServiceError> {
        Ok(self.repo.list_entries(f).await?)
    }

    pub async fn delete(&self, id: Uuid) -> Result<(), ServiceError> {
        let e = self.get(id).await?;
        if !self.repo.delete_entry(id).await? {
            return Err(ServiceError::FailedPrecondition(format!(
                "entry {id} is {} and cannot be deleted while a job runs; cancel it or wait",
                e.state.status
            )));
        }
        Ok(())
    }

    /// On hold: no further runs. A running job is not interrupted; the entry goes On Hold
    /// when it ends, and an entry that allows overlapping runs starts no other one meanwhile.
    pub async fn set_on_hold(&self, id: Uuid) -> Result<Entry, ServiceError> {
        self.modify(id, |e| {
            let mut s = e.state.clone();
            if e.state.status == JobStatus::InProcess {
                s.hold_requested = true;
            } else {
                s.status = JobStatus::OnHold;
            }
            s.next_run_at = None;
            s.manual_pending = false;
            Ok((None, s))
        })
        .await
    }

    /// Ready: clear error and attempts and schedule the next run (restart).
    pub async fn set_ready(&self, id: Uuid) -> Result<Entry, ServiceError> {
        let now = Utc::now();
        self.modify(id, |e| {
            let mut s = e.state.clone();
            if e.state.status == JobStatus::InProcess {
                if !e.state.hold_requested {
                    return Err(ServiceError::FailedPrecondition(format!(
                        "entry {id} is already running"
                    )));
                }
                s.hold_requested = false;
                return Ok((None, s));
            }
            if e.spec.expires_at.is_some_and(|x| x <= now) {
                return Err(ServiceError::FailedPrecondition(format!(
                    "entry {id} expired; set a later expires_at first"
                )));
            }
            let (next, fire) = first_run(&e.spec, now)?;
            s.status = JobStatus::Ready;
            s.next_run_at = next;
            s.next_fire_time = fire;
            s.manual_pending = false;
            s.attempts = 0;
            s.last_error = None;
            Ok((None, s))
        })
        .await
    }

    /// Run once as soon as possible. A recurring entry keeps its schedule: the run carries no
    /// fire time and the pending fire still comes.
    pub async fn run_now(&self, id: Uuid) -> Result<Entry, ServiceError> {
        let now = Utc::now();
        self.modify(id, |e| {
            let overlap = e.spec.recurrence.as_ref().is_some_and(|r| r.allow_overlap);
            if e.state.status == JobStatus::InProcess && !overlap {
                return Err(ServiceError::FailedPrecondition(format!(
                    "entry {id} is already running"
                )));
            }
            if e.spec.expires_at.is_some_and(|x| x <= now) {
                return Err(ServiceError::FailedPrecondition(format!("entry {id} expired")));
            }
            let mut s = e.state.clone();
            if s.status != JobStatus::InProcess && s.status != JobStatus::Waiting {
                s.status = JobStatus::Ready;
            }
            s.hold_requested = false;
            s.next_run_at = Some(now);
            s.manual_pending = e.recurring();
            if e.recurring() && s.next_fire_time.is_none() {
                s.next_fire_time = RunPolicy::of(&e.spec).schedule.and_then(|sch| {
                    sch.first_fire(now)
                        .and_then(|f| if f <= now { sch.next_fire(f) } else { Some(f) })
                });
            }
            s.attempts = 0;
            Ok((None, s))
        })
        .await
    }

    /// Cancel the entry's running attempt(s).
    pub async fn cancel(&self, id: Uuid, by: &str) -> Result<Entry, ServiceError> {
        let e = self.get(id).await?;
        let runs = self.repo.request_cancel(id, by).await?;
        if runs.is_empty() {
            return Err(ServiceError::FailedPrecondition(format!(
                "entry {id} has no running job (status {})",
                e.state.status
            )));
        }
        tracing::info!(entry = %id, runs = runs.len(), %by, "cancel requested");
        self.get(id).await
    }

    pub async fn get_run(&self, id: Uuid) -> Result<RunRow, ServiceError> {
        self.repo.get_run(id).await?.ok_or(ServiceError::RunNotFound(id))
    }

    pub async fn list_runs(&self, f: &RunFilter) -> Result<Vec<RunRow>, ServiceError> {
        Ok(self.repo.list_runs(f).await?)
    }

    pub async fn latest_run(&self, entry: Uuid) -> Result<Option<RunRow>, ServiceError> {
        Ok(self.repo.latest_run(entry).await?)
    }

    async fn modify<F>(&self, id: Uuid, f: F) -> Result<Entry, ServiceError>
    where
        F: FnOnce(&Entry) -> Result<(Option<EntrySpec>, EntryState), ServiceError>,
    {
        self.repo.modify_entry(id, f).await.map_err(ServiceError::about_entry(id))?
    }
}
