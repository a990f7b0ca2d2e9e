//! gRPC `JobQueue`: request parsing (naming bad fields), responses, and the watch stream.

use crate::error::ServiceError;
use crate::repo::{Entry, EntryFilter, RunFilter, RunRow};
use crate::service::JobQueue;
use shopsync_common::{EntrySpec, JobStatus, RunReport, TaskParams, ValidationError};
use shopsync_proto::limits::fit_page;
use shopsync_proto::pb;
use shopsync_proto::pb::job_queue_server::JobQueue as JobQueueApi;
use shopsync_proto::{
    CheckText, failure_to_pb, opt_ts, params_from_pb, params_to_pb, report_to_pb, run_status_to_pb,
    spec_from_pb, spec_to_pb, status_from_pb, status_to_pb, task_from_pb, task_to_pb, ts,
};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use uuid::Uuid;

pub struct JobQueueService {
    queue: Arc<JobQueue>,
    watch_every: Duration,
}

impl JobQueueService {
    pub fn new(queue: Arc<JobQueue>, watch_every: Duration) -> Self {
        Self { queue, watch_every }
    }

    pub fn into_server(self) -> pb::job_queue_server::JobQueueServer<Self> {
        pb::job_queue_server::JobQueueServer::new(self)
    }
}

fn invalid(e: ValidationError) -> Status {
    Status::invalid_argument(e.to_string())
}

fn parse_id(s: &str, field: &str) -> Result<Uuid, Status> {
    s.trim().parse::<Uuid>().map_err(|_| {
        invalid(ValidationError::new(
            field,
            format!("{} is not an entry id (UUID)", shopsync_common::quoted(s)),
        ))
    })
}

/// Every string of a request: no NUL, within its length limit (see `shopsync_proto::limits`).
fn texts(r: &impl CheckText) -> Result<(), Status> {
    r.check_text().map_err(invalid)
}

fn page_size(v: u32) -> Result<i64, Status> {
    match v {
        0 => Ok(100),
        1..=1000 => Ok(i64::from(v)),
        _ => Err(invalid(ValidationError::new("page_size", "at most 1000"))),
    }
}

pub fn entry_to_pb(e: &Entry) -> pb::JobEntry {
    pb::JobEntry {
        id: e.id.to_string(),
        entry_no: e.entry_no,
        task: task_to_pb(e.spec.task()) as i32,
        spec: Some(spec_to_pb(&e.spec)),
        status: status_to_pb(e.state.status) as i32,
        recurring: e.recurring(),
        next_run_at: opt_ts(e.state.next_run_at),
        attempts: e.state.attempts.max(0) as u32,
        last_error: e.state.last_error.clone().unwrap_or_default(),
        created_at: Some(ts(e.created_at)),
        updated_at: Some(ts(e.updated_at)),
        version: e.version,
        hold_requested: e.state.hold_requested,
        lock_keys: e.lock_keys.clone(),
    }
}

pub fn run_to_pb(r: &RunRow) -> pb::JobRun {
    let params =
        serde_json::from_value::<TaskParams>(r.params.clone()).ok().map(|p| params_to_pb(&p));
    // A run that reported nothing (failed, lost) has no counters.
    let report = r.counters.as_ref().map(|c| {
        report_to_pb(&RunReport {
            counters: c.0.clone(),
            record_errors: r.record_errors.max(0) as u64,
            errors: r.errors.as_ref().map(|e| e.0.clone()).unwrap_or_default(),
        })
    });
    let error = r.error.as_ref().map(|e| failure_to_pb(&e.0));
    pb::JobRun {
        id: r.id.to_string(),
        entry_id: r.entry_id.to_string(),
        task: r.task.parse().map(|t| task_to_pb(t) as i32).unwrap_or_default(),
        shop: r.shop.clone(),
        status: r.status.parse().map(|s| run_status_to_pb(s) as i32).unwrap_or_default(),
        attempt: r.attempt.max(0) as u32,
        fire_time: opt_ts(r.fire_time),
        started_at: Some(ts(r.started_at)),
        finished_at: opt_ts(r.finished_at),
        scheduler: r.scheduler.clone(),
        worker: r.worker.clone().unwrap_or_default(),
        params,
        record_errors: r.record_errors.max(0) as u64,
        counters: report.as_ref().and_then(|p| p.counters.clone()),
        errors: report.map(|p| p.errors).unwrap_or_default(),
        error,
        progress_done: r.progress_done.max(0) as u64,
        progress_total: r.progress_total.max(0) as u64,
        step: r.step.clone().unwrap_or_default(),
        description: r.description.clone(),
        category: r.category.clone().unwrap_or_default(),
        fencing_token: r.fencing_token,
    }
}

fn required_spec(spec: &Option<pb::JobSpec>) -> Result<shopsync_common::EntrySpec, Status> {
    let spec = spec.as_ref().ok_or_else(|| invalid(ValidationError::new("spec", "required")))?;
    spec_from_pb(spec, "spec").map_err(invalid)
}

/// Prefix domain errors with `spec.` so the caller sees the full field path.
fn spec_errors(e: ServiceError) -> Status {
    match e {
        ServiceError::Invalid(v) if !v.field.starts_with("spec") && v.field != "request_id" => {
            invalid(v.within("spec"))
        }
        other => other.into(),
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::EntrySnapshot, Status>> + Send>>;
type SyncNowStream = Pin<Box<dyn Stream<Item = Result<pb::SyncNowEvent, Status>> + Send>>;

#[tonic::async_trait]
impl JobQueueApi for JobQueueService {
    async fn create_entry(
        &self,
        req: Request<pb::CreateEntryRequest>,
    ) -> Result<Response<pb::JobEntry>, Status> {
        let r = req.into_inner();
        texts(&r)?;
        let spec = required_spec(&r.spec)?;
        let request_id = Some(r.request_id.trim()).filter(|s| !s.is_empty());
        let e = self.queue.create(spec, r.on_hold, request_id).await.map_err(spec_errors)?;
        Ok(Response::new(entry_to_pb(&e)))
    }

    async fn update_entry(
        &self,
        req: Request<pb::UpdateEntryRequest>,
    ) -> Result<Response<pb::JobEntry>, Status> {
        let r = req.into_inner();
        texts(&r)?;
        let id = parse_id(&r.id, "id")?;
        let spec = required_spec(&r.spec)?;
        let e = self.queue.update(id, spec, r.expected_version).await.map_err(spec_errors)?;
        Ok(Response::new(entry_to_pb(&e)))
    }

    async fn get_entry(
        &self,
        req: Request<pb::GetEntryRequest>,
    ) -> Result<Response<pb::JobEntry>, Status> {
        texts(req.get_ref())?;
        let id = parse_id(&req.get_ref().id, "id")?;
        Ok(Response::new(entry_to_pb(&self.queue.get(id).await?)))
    }

    async fn list_entries(
        &self,
        req: Request<pb::ListEntriesRequest>,
    ) -> Result<Response<pb::ListEntriesResponse>, Status> {
        let r = req.into_inner();
        texts(&r)?;
        let limit = page_size(r.page_size)?;
        let statuses = r
            .statuses
            .iter()
            .enumerate()
            .map(|(i, s)| status_from_pb(*s, &format!("statuses[{i}]")))
            .collect::<Result<Vec<JobStatus>, _>>()
            .map_err(invalid)?;
        let task = if r.task == 0 {
            None
        } else {
            Some(task_from_pb(r.task, "task").map_err(invalid)?.as_str().to_owned())
        };
        let after = if r.page_token.is_empty() {
            0
        } else {
            r.page_token.parse::<i64>().map_err(|_| {
                invalid(ValidationError::new("page_token", "not a token from a previous page"))
            })?
        };
        let filter = EntryFilter {
            statuses,
            shop: Some(r.shop.trim().to_owned()).filter(|s| !s.is_empty()),
            task,
            category: Some(r.category.trim().to_owned()).filter(|s| !s.is_empty()),
            after_entry_no: after,
            limit,
        };
        let entries = self.queue.list(&filter).await?;
        let mut page: Vec<pb::JobEntry> = entries.iter().map(entry_to_pb).collect();
        let next_page_token = if fit_page(&mut page) || entries.len() as i64 == limit {
            page.last().map(|e| e.entry_no.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListEntriesResponse { entries: page, next_page_token }))
    }

    async fn delete_entry(
        &self,
        req: Request<pb::DeleteEntryRequest>,
    ) -> Result<Response<pb::DeleteEntryResponse>, Status> {
        texts(req.get_ref())?;
        let id = parse_id(&req.get_ref().id, "id")?;
        self.queue.delete(id).await?;
        Ok(Response::new(pb::DeleteEntryResponse {}))
    }

    async fn set_on_hold(
        &self,
        req: Request<pb::EntryRef>,
    ) -> Result<Response<pb::JobEntry>, Status> {
        texts(req.get_ref())?;
        let id = parse_id(&req.get_ref().id, "id")?;
        Ok(Response::new(entry_to_pb(&self.queue.set_on_hold(id).await?)))
    }

    async fn set_ready(
        &self,
        req: Request<pb::EntryRef>,
    ) -> Result<Response<pb::JobEntry>, Status> {
        texts(req.get_ref())?;
        let id = parse_id(&req.get_ref().id, "id")?;
        Ok(Response::new(entry_to_pb(&self.queue.set_ready(id).await.map_err(spec_errors)?)))
    }

    async fn run_now(&self, req: Request<pb::EntryRef>) -> Result<Response<pb::JobEntry>, Status> {
        texts(req.get_ref())?;
        let id = parse_id(&req.get_ref().id, "id")?;
        Ok(Response::new(entry_to_pb(&self.queue.run_now(id).await?)))
    }

    async fn cancel_run(
        &self,
        req: Request<pb::EntryRef>,
    ) -> Result<Response<pb::JobEntry>, Status> {
        texts(req.get_ref())?;
        let r = req.into_inner();
        let id = parse_id(&r.id, "id")?;
        let by = Some(r.requested_by.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "api".into());
        Ok(Response::new(entry_to_pb(&self.queue.cancel(id, &by).await?)))
    }

    async fn list_runs(
        &self,
        req: Request<pb::ListRunsRequest>,
    ) -> Result<Response<pb::ListRunsResponse>, Status> {
        let r = req.into_inner();
        texts(&r)?;
        let limit = page_size(r.page_size)?;
        let entry_id =
            if r.entry_id.is_empty() { None } else { Some(parse_id(&r.entry_id, "entry_id")?) };
        let statuses = r
            .statuses
            .iter()
            .enumerate()
            .map(|(i, s)| shopsync_proto::run_status_from_pb(*s, &format!("statuses[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let task = if r.task == 0 {
            None
        } else {
            Some(task_from_pb(r.task, "task").map_err(invalid)?.as_str().to_owned())
        };
        let before_id = if r.page_token.is_empty() {
            None
        } else {
            Some(parse_id(&r.page_token, "page_token")?)
        };
        let f = RunFilter {
            entry_id,
            statuses,
            shop: Some(r.shop.trim().to_owned()).filter(|s| !s.is_empty()),
            task,
            before_id,
            limit,
        };
        let runs = self.queue.list_runs(&f).await?;
        let mut page: Vec<pb::JobRun> = runs.iter().map(run_to_pb).collect();
        let next_page_token = if fit_page(&mut page) || runs.len() as i64 == limit {
            page.last().map(|r| r.id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListRunsResponse { runs: page, next_page_token }))
    }

    async fn get_run(
        &self,
        req: Request<pb::GetRunRequest>,
    ) -> Result<Response<pb::JobRun>, Status> {
        texts(req.get_ref())?;
        let id = parse_id(&req.get_ref().id, "id")?;
        Ok(Response::new(run_to_pb(&self.queue.get_run(id).await?)))
    }

    type WatchEntryStream = WatchStream;

    type SyncNowStream = SyncNowStream;

    async fn sync_now(
        &self,
        req: Request<pb::SyncNowRequest>,
    ) -> Result<Response<Self::SyncNowStream>, Status> {
        let r = req.into_inner();
        texts(&r)?;
        let params = match &r.params {
            Some(p) => params_from_pb(p, "params").map_err(invalid)?,
            None => return Err(invalid(ValidationError::new("params", "required"))),
        };
        let shop = self.queue.enabled_shop(r.shop.trim(), "shop").await?;
        let background = shop.settings.allow_background_syncs && !r.wait;
        let mut spec = EntrySpec::new(shop.name.clone(), params);
        spec.description = Some(format!("sync now: {}", spec.task()));
        spec.created_by = r.created_by.clone();
        let request_id = Some(r.request_id.trim()).filter(|s| !s.is_empty());
        let entry = self.queue.create(spec, false, request_id).await.map_err(spec_errors)?;
        tracing::info!(entry = %entry.id, shop = %shop.name, background, "sync now");
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let first = pb::SyncNowEvent {
            background,
            snapshot: Some(pb::EntrySnapshot { entry: Some(entry_to_pb(&entry)), run: None }),
        };
        // The channel is empty: the first event always fits.
        let _ = tx.try_send(Ok(first));
        if !background {
            let wrap = |s| pb::SyncNowEvent { background: false, snapshot: Some(s) };
            tokio::spawn(watch(self.queue.clone(), entry.id, self.watch_every, true, tx, wrap));
        }
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn watch_entry(
        &self,
        req: Request<pb::WatchEntryRequest>,
    ) -> Result<Response<Self::WatchEntryStream>, Status> {
        let r = req.into_inner();
        texts(&r)?;
        let id = parse_id(&r.id, "id")?;
        self.queue.get(id).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(watch(self.queue.clone(), id, self.watch_every, r.until_idle, tx, |s| s));
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}

/// What makes a snapshot new: the entry's version and the latest run's id, status and progress.
type SnapshotKey = (i64, Option<(Uuid, String, i64, i64)>);

/// Send the entry and its latest run now and on every change (as `wrap` makes them), until the
/// receiver hangs up or, with `until_idle`, the entry has nothing left to do.
async fn watch<T: Send + 'static>(
    queue: Arc<JobQueue>,
    id: Uuid,
    every: Duration,
    until_idle: bool,
    tx: tokio::sync::mpsc::Sender<Result<T, Status>>,
    wrap: impl Fn(pb::EntrySnapshot) -> T + Send + 'static,
) {
    let mut last: Option<SnapshotKey> = None;
    loop {
        let snap = async {
            let e = queue.get(id).await?;
            let run = queue.latest_run(id).await?;
            Ok::<_, ServiceError>((e, run))
        }
        .await;
        let (entry, run) = match snap {
            Ok(v) => v,
            Err(e) => {
                let _ = tx.send(Err(Status::from(e))).await;
                return;
            }
        };
        let key = (
            entry.version,
            run.as_ref().map(|r| (r.id, r.status.clone(), r.progress_done, r.progress_total)),
        );
        if last.as_ref() != Some(&key) {
            let msg = pb::EntrySnapshot {
                entry: Some(entry_to_pb(&entry)),
                run: run.as_ref().map(run_to_pb),
            };
            if tx.send(Ok(wrap(msg))).await.is_err() {
                return;
            }
            last = Some(key);
        }
        if until_idle && is_idle(&entry, run.as_ref()) {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = tx.closed() => return,
        }
    }
}

/// Nothing to do right now: not running or waiting, not due, and the latest run has ended.
fn is_idle(e: &Entry, run: Option<&RunRow>) -> bool {
    let busy = matches!(e.state.status, JobStatus::InProcess | JobStatus::Waiting);
    let due = e
        .state
        .next_run_at
        .is_some_and(|t| t <= chrono::Utc::now() + chrono::TimeDelta::seconds(1));
    let running = run.is_some_and(|r| r.status == "running");
    !busy && !due && !running
}
