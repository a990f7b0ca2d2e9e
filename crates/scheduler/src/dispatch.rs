//! The dispatcher: claims due work, runs each attempt through an [`Executor`] (normally the
//! owning service's gRPC `Worker`), and writes the outcome.
//!
//! - Claim loop: woken by LISTEN/NOTIFY (`shopsync_scheduler`), by completions, or at the
//!   next due time, with a polling fallback; claims in batches up to the free slots.
//! - Each claim is one database row holding its attempts and a lease, which the heartbeat
//!   task renews while the claim has attempts running. A worker that goes quiet for
//!   `stall_timeout` is failed; a replica that dies stops renewing, and the reaper of any
//!   replica fails the attempts of its claims once the lease expires. Either way the entry's
//!   retry policy decides what happens next.
//! - Completions are written in batches, fenced by each attempt's token in its claim and by
//!   the run log's key: a result from an attempt that is no longer current is refused. The
//!   batch that writes a claim's last attempt deletes the claim.
//! - Cancellation (`shopsync_cancel` notifications, with the heartbeat as fallback) drops the
//!   worker stream, which cancels the task in the worker.

use crate::repo::{
    Beat, CANCEL_CHANNEL, ClaimedRun, Completion, Progress, Repo, RepoError, WAKE_CHANNEL,
};
use crate::schedule::{RunPolicy, reschedule_after_edit};
use crate::wakeup::Wakeup;
use chrono::Utc;
use shopsync_common::{FinishedRun, RunFailure, RunOutcome, RunReport, after_run};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// This replica's name, written on every run it starts.
    pub name: String,
    pub max_concurrency: usize,
    pub claim_batch: usize,
    pub lease: Duration,
    pub heartbeat_every: Duration,
    pub stall_timeout: Duration,
    pub poll_interval: Duration,
    pub reaper_interval: Duration,
    pub retention: Duration,
    pub prune_interval: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            name: format!("scheduler-{}", std::process::id()),
            max_concurrency: 256,
            claim_batch: 500,
            lease: Duration::from_secs(10),
            heartbeat_every: Duration::from_secs(1),
            stall_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            reaper_interval: Duration::from_secs(1),
            retention: Duration::from_secs(30 * 86_400),
            prune_interval: Duration::from_secs(600),
        }
    }
}

/// How an executor ended an attempt.
#[derive(Debug, Clone)]
pub enum ExecOutcome {
    Succeeded {
        worker: Option<String>,
        report: RunReport,
    },
    /// The task failed.
    Failed {
        worker: Option<String>,
        failure: RunFailure,
    },
    /// The worker went away (connection broke, stream ended without a result).
    Lost {
        worker: Option<String>,
        message: String,
    },
}

/// Runs one attempt. Progress goes to `handle.progress`.
pub trait Executor: Send + Sync + 'static {
    fn execute(
        &self,
        run: &ClaimedRun,
        handle: Arc<RunHandle>,
    ) -> impl Future<Output = ExecOutcome> + Send;
}

#[derive(Debug, Clone)]
enum CancelReason {
    User(String),
    LeaseLost,
}

/// The live state of one running attempt on this replica.
pub struct RunHandle {
    pub run_id: Uuid,
    pub claim_id: i64,
    pub fencing_token: i64,
    progress: Mutex<Progress>,
    last_event_ms: AtomicU64,
    epoch: Instant,
    cancel: CancellationToken,
    reason: Mutex<Option<CancelReason>>,
}

impl RunHandle {
    fn new(run: &ClaimedRun) -> Self {
        Self {
            run_id: run.run_id,
            claim_id: run.claim_id,
            fencing_token: run.fencing_token,
            progress: Mutex::new(Progress::default()),
            last_event_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            cancel: CancellationToken::new(),
            reason: Mutex::new(None),
        }
    }

    /// Record progress from the worker (also a heartbeat).
    pub fn progress(&self, done: u64, total: u64, step: &str) {
        if let Ok(mut p) = self.progress.lock() {
            *p = Progress { done: done as i64, total: total as i64, step: step.to_owned() };
        }
        self.touch();
    }

    /// Record a sign of life without progress.
    pub fn touch(&self) {
        self.last_event_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        Duration::from_millis(
            (self.epoch.elapsed().as_millis() as u64)
                .saturating_sub(self.last_event_ms.load(Ordering::Relaxed)),
        )
    }

    fn cancel_with(&self, reason: CancelReason) {
        if let Ok(mut r) = self.reason.lock()
            && r.is_none()
        {
            *r = Some(reason);
        }
        self.cancel.cancel();
    }
}

/// Where a completion comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// This scheduler's own dispatch: it counts towards releasing its claim.
    Dispatch,
    /// The reaper's failure of an expired attempt (it may repeat).
    Reaper,
}

/// A completion on its way to the completer, with the slot its run held.
struct Job {
    completion: Completion,
    slot: Option<OwnedSemaphorePermit>,
    origin: Origin,
}

/// Counters for tests, benchmarks and logs.
#[derive(Default, Debug)]
pub struct Stats {
    pub claimed: AtomicU64,
    pub completed: AtomicU64,
    pub refused: AtomicU64,
    pub reaped: AtomicU64,
}

struct Inner<E> {
    cfg: DispatcherConfig,
    repo: Repo,
    executor: E,
    active: Mutex<HashMap<Uuid, Arc<RunHandle>>>,
    /// This scheduler's claims with attempts whose completion is not written yet, and how
    /// many: the heartbeat renews their leases, the completer deletes a claim with its last.
    claims: Arc<Mutex<HashMap<i64, usize>>>,
    wake: Arc<Wakeup>,
    slots: Arc<Semaphore>,
    completions: mpsc::Sender<Job>,
    stats: Arc<Stats>,
}

pub struct Dispatcher<E> {
    inner: Arc<Inner<E>>,
    rx: mpsc::Receiver<Job>,
}

impl<E: Executor> Dispatcher<E> {
    pub fn new(cfg: DispatcherConfig, repo: Repo, executor: E) -> Self {
        Self::with_wakeup(cfg, repo, executor, Arc::new(Wakeup::default()))
    }

    /// A dispatcher that also wakes when this process's API makes work due.
    pub fn with_wakeup(cfg: DispatcherConfig, repo: Repo, executor: E, wake: Arc<Wakeup>) -> Self {
        let (tx, rx) = mpsc::channel(cfg.max_concurrency.max(16) * 2);
        let slots = Arc::new(Semaphore::new(cfg.max_concurrency));
        let inner = Arc::new(Inner {
            cfg,
            repo,
            executor,
            active: Mutex::new(HashMap::new()),
            claims: Arc::new(Mutex::new(HashMap::new())),
            wake,
            slots,
            completions: tx,
            stats: Arc::new(Stats::default()),
        });
        Self { inner, rx }
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.inner.stats.clone()
    }

    /// Run until `shutdown`; then stop claiming, let running attempts finish (up to `drain`)
    /// and write their outcomes.
    pub async fn run(self, shutdown: CancellationToken, drain: Duration) -> Result<(), RepoError> {
        let Dispatcher { inner, rx } = self;
        let tracker = TaskTracker::new();
        let stop_aux = CancellationToken::new();
        let completer = tokio::spawn(completer(inner.clone(), rx));
        let aux = [
            tokio::spawn(listener(inner.clone(), stop_aux.clone())),
            tokio::spawn(heartbeats(inner.clone(), stop_aux.clone())),
            tokio::spawn(reaper(inner.clone(), stop_aux.clone())),
        ];
        let result = claim_loop(inner.clone(), &tracker, shutdown).await;
        tracker.close();
        if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
            tracing::warn!(
                running = inner.active.lock().map(|a| a.len()).unwrap_or(0),
                "drain timeout: leaving running attempts to lease expiry"
            );
        }
        stop_aux.cancel();
        for t in aux {
            let _ = t.await;
        }
        drop(inner); // closes the completion channel once dispatch tasks are gone
        let _ = completer.await;
        result
    }
}

async fn claim_loop<E: Executor>(
    inner: Arc<Inner<E>>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<(), RepoError> {
    let cfg = &inner.cfg;
    let mut failures = 0u32;
    // Whether lock-bound work was due when last looked (every free claim says); the first
    // round looks anyway.
    let mut locked_due = true;
    loop {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        let free = inner.slots.available_permits();
        if free == 0 {
            tokio::select! {
                p = inner.slots.clone().acquire_owned() => drop(p),
                _ = shutdown.cancelled() => return Ok(()),
            }
            continue;
        }
        let want = free.min(cfg.claim_batch);
        // Usually one round trip: the free claim also says when work is due next and whether
        // lock-bound work is due, so the lock-bound claim (a transaction of its own) runs only
        // then.
        let claimed = async {
            let mut runs = if locked_due {
                inner.repo.claim_locked(want.min(64) as i64, &cfg.name, cfg.lease).await?
            } else {
                Vec::new()
            };
            let free_want = want - runs.len();
            if free_want == 0 {
                return Ok::<_, RepoError>((runs, true, None));
            }
            let more =
                inner.repo.claim_free_and_look(free_want as i64, &cfg.name, cfg.lease).await?;
            let full = more.runs.len() == free_want;
            // Lock-bound work that became due since: claim it next round, at once.
            let look_again = more.locked_due && !locked_due;
            locked_due = more.locked_due;
            runs.extend(more.runs);
            Ok((runs, full || look_again, more.next_due))
        }
        .await;
        let (runs, again, next_due) = match claimed {
            Ok(v) => {
                failures = 0;
                v
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = ?e, failures, "claiming due work failed, backing off");
                let backoff = Duration::from_millis(100 * u64::from(failures.min(50)));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => continue,
                    _ = shutdown.cancelled() => return Ok(()),
                }
            }
        };
        inner.stats.claimed.fetch_add(runs.len() as u64, Ordering::Relaxed);
        if let Ok(mut claims) = inner.claims.lock() {
            for run in &runs {
                *claims.entry(run.claim_id).or_default() += 1;
            }
        }
        for run in runs {
            let Ok(permit) = inner.slots.clone().try_acquire_owned() else {
                // Cannot happen (only this loop takes permits); keep the run anyway.
                tracing::error!("no free slot for a claimed run");
                tracker.spawn(Box::pin(dispatch(inner.clone(), run, None)));
                continue;
            };
            // Boxed: the dispatch future is a few kilobytes, which spawning would otherwise
            // copy into the task and its output slot for every job.
            tracker.spawn(Box::pin(dispatch(inner.clone(), run, Some(permit))));
        }
        if again {
            continue;
        }
        let sleep_for = match next_due {
            Some(t) => (t - Utc::now()).to_std().unwrap_or_default().min(cfg.poll_interval),
            None => cfg.poll_interval,
        };
        tokio::select! {
            _ = inner.wake.local.notified() => {}
            _ = tokio::time::sleep(sleep_for) => {}
            _ = shutdown.cancelled() => return Ok(()),
        }
    }
}

async fn dispatch<E: Executor>(
    inner: Arc<Inner<E>>,
    run: ClaimedRun,
    permit: Option<OwnedSemaphorePermit>,
) {
    let handle = Arc::new(RunHandle::new(&run));
    handle.touch();
    if let Ok(mut a) = inner.active.lock() {
        a.insert(run.run_id, handle.clone());
    }
    // Compiled once for the attempt: its start (overlap) and its completion both use it.
    let policy = RunPolicy::of(&run.spec);
    if let (true, Some(s)) = (policy.overlap, &policy.schedule) {
        // Overlapping entries move on to their next fire now rather than when this run ends.
        let next = run.fire_time.map_or(run.pending_fire, |f| s.plan_after(f, Utc::now()));
        // Boxed, as the executor's call below: a query future is kilobytes, and unboxed it
        // would size every dispatch task, overlapping or not.
        if let Err(e) = Box::pin(inner.repo.advance_overlapping(run.entry_id, next)).await {
            tracing::warn!(error = ?e, entry = %run.entry_id, "could not advance overlapping entry");
        }
    }
    let timeout = Duration::from_secs(u64::from(run.spec.timeout_secs));
    let stall = inner.cfg.stall_timeout;
    let watch = handle.clone();
    let stalled = async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if watch.quiet_for() > stall {
                return;
            }
        }
    };
    // The executor's future (a gRPC call) is large: boxed, it is built in place instead of
    // being copied into and around every spawned dispatch task.
    let execute = Box::pin(inner.executor.execute(&run, handle.clone()));
    // Biased: the result is looked at first, so a task that is already done (or finishes
    // with the first poll) never arms the timeout and stall timers.
    let (outcome, worker, report, error) = tokio::select! {
        biased;
        o = execute => match o {
            ExecOutcome::Succeeded { worker, report } =>
                (RunOutcome::Succeeded, worker, Some(report), None),
            ExecOutcome::Failed { worker, failure } => {
                let message = if failure.retryable {
                    failure.message.clone()
                } else {
                    format!("{} (not retried)", failure.message)
                };
                (RunOutcome::Failed { message }, worker, None, Some(failure))
            }
            ExecOutcome::Lost { worker, message } => {
                let err = RunFailure::new(message.clone());
                (RunOutcome::Lost { message }, worker, None, Some(err))
            }
        },
        _ = handle.cancel.cancelled() => {
            let reason = handle.reason.lock().ok().and_then(|r| r.clone());
            match reason {
                Some(CancelReason::User(by)) => {
                    let o = RunOutcome::Cancelled { by };
                    let err = RunFailure::new(o.error_message(0).unwrap_or_default());
                    (o, None, None, Some(err))
                }
                _ => {
                    let message = "lease lost: another scheduler took the attempt over".to_owned();
                    (RunOutcome::Lost { message: message.clone() }, None, None, Some(RunFailure::new(message)))
                }
            }
        }
        _ = tokio::time::sleep(timeout) => {
            let err = RunFailure::new(format!("timed out after {} s", run.spec.timeout_secs));
            (RunOutcome::TimedOut, None, None, Some(err))
        }
        _ = stalled => {
            let message = format!("worker stopped heartbeating for {} s", stall.as_secs());
            (RunOutcome::Lost { message: message.clone() }, None, None, Some(RunFailure::new(message)))
        }
    };
    if let Ok(mut a) = inner.active.lock() {
        a.remove(&run.run_id);
    }
    let mut completion = completion_under(&run, &policy, outcome, worker, report, error);
    if let Ok(p) = handle.progress.lock() {
        completion.progress = p.clone();
    }
    let job = Job { completion, slot: permit, origin: Origin::Dispatch };
    if inner.completions.send(job).await.is_err() {
        tracing::error!(run = %run.run_id, "completion channel closed; the lease will expire and the reaper will finish the run");
    }
}

/// Build the completion of an attempt: the run-log row and the entry's next state. A failure
/// that says retrying cannot help uses up the attempts of its fire.
pub fn completion_for(
    run: &ClaimedRun,
    outcome: RunOutcome,
    worker: Option<String>,
    report: Option<RunReport>,
    error: Option<RunFailure>,
) -> Completion {
    completion_under(run, &RunPolicy::of(&run.spec), outcome, worker, report, error)
}

/// [`completion_for`] with the attempt's policy compiled already.
fn completion_under(
    run: &ClaimedRun,
    policy: &RunPolicy,
    outcome: RunOutcome,
    worker: Option<String>,
    report: Option<RunReport>,
    error: Option<RunFailure>,
) -> Completion {
    let retryable = error.as_ref().is_none_or(|e| e.retryable);
    let attempt = run.attempt.max(1) as u32;
    // Overlapping entries and non-retryable failures are not retried within the fire.
    let attempt = if policy.overlap || !retryable {
        attempt.max(run.spec.retry.max_attempts)
    } else {
        attempt
    };
    let finished = FinishedRun {
        schedule: policy.schedule.as_ref(),
        retry: run.spec.retry,
        timeout_secs: run.spec.timeout_secs,
        attempt,
        fire_time: run.fire_time,
        pending_fire: run.pending_fire,
    };
    let transition = after_run(&finished, &outcome, Utc::now());
    Completion {
        run_id: run.run_id,
        claim_id: run.claim_id,
        attempt: run.attempt,
        fire_time: run.fire_time,
        started_at: run.claimed_at,
        claimed_by: run.claimed_by.clone(),
        entry_version: run.entry_version,
        task: run.spec.task().as_str(),
        shop: run.spec.shop.clone(),
        description: run.spec.display_description(),
        category: run.spec.category.as_ref().map(|c| c.to_ascii_uppercase()),
        entry_id: run.entry_id,
        fencing_token: run.fencing_token,
        run_status: outcome.run_status(),
        worker,
        report,
        error,
        progress: Progress::default(),
        transition,
    }
}

async fn completer<E: Executor>(inner: Arc<Inner<E>>, mut rx: mpsc::Receiver<Job>) {
    let weak = Arc::downgrade(&inner);
    let repo = inner.repo.clone();
    let stats = inner.stats.clone();
    let claims = inner.claims.clone();
    drop(inner);
    let mut pending: Vec<Job> = Vec::new();
    loop {
        if pending.is_empty() {
            match rx.recv().await {
                Some(j) => pending.push(j),
                None => return,
            }
        }
        while pending.len() < 2000 {
            match rx.try_recv() {
                Ok(j) => pending.push(j),
                Err(_) => break,
            }
        }
        // One completion per entry per statement; the rest wait for the next round.
        let mut seen = std::collections::HashSet::new();
        let (now, later): (Vec<Job>, Vec<Job>) =
            pending.drain(..).partition(|j| seen.insert(j.completion.entry_id));
        pending = later;
        // The claims whose last attempt this batch logs are deleted with it.
        let mut finished_claims = Vec::new();
        if let Ok(mut open) = claims.lock() {
            for j in now.iter().filter(|j| j.origin == Origin::Dispatch) {
                let claim = j.completion.claim_id;
                if let Some(left) = open.get_mut(&claim) {
                    *left = left.saturating_sub(1);
                    if *left == 0 {
                        open.remove(&claim);
                        finished_claims.push(claim);
                    }
                }
            }
        }
        // The reaper's completions may repeat (it reads an expired attempt again until the
        // failure is written): their batch looks each run up first.
        let guarded = now.iter().any(|j| j.origin == Origin::Reaper);
        let (batch, slots): (Vec<Completion>, Vec<_>) =
            now.into_iter().map(|j| (j.completion, j.slot)).unzip();
        let mut attempt = 0u32;
        let result = loop {
            match repo.complete_and_release(&batch, &finished_claims, guarded).await {
                Ok(r) => break r,
                Err(e) => {
                    attempt += 1;
                    tracing::warn!(error = ?e, attempt, runs = batch.len(), "writing completions failed, retrying");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(50))))
                        .await;
                }
            }
        };
        stats.completed.fetch_add(result.accepted.len() as u64, Ordering::Relaxed);
        if !result.refused.is_empty() {
            stats.refused.fetch_add(result.refused.len() as u64, Ordering::Relaxed);
            for id in &result.refused {
                tracing::warn!(run = %id, "stale result refused: the attempt is no longer current");
            }
        }
        for entry in &result.reschedule {
            if let Err(e) = reschedule_after_edit(&repo, *entry).await {
                tracing::warn!(error = ?e, %entry, "could not reschedule an entry edited during its run");
            }
        }
        drop(slots); // frees the slots (a claim loop waiting for one wakes by itself)
        // Work this batch made due wakes the local claim loop at once, ahead of the NOTIFY;
        // finished one-offs make nothing due, and waking for them cost a claim round trip
        // each (as many claims as completion batches under a steady load).
        if result.woke
            && let Some(inner) = weak.upgrade()
        {
            inner.wake.local.notify_one();
        }
    }
}

async fn heartbeats<E: Executor>(inner: Arc<Inner<E>>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(inner.cfg.heartbeat_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let handles: Vec<Arc<RunHandle>> =
            inner.active.lock().map(|a| a.values().cloned().collect()).unwrap_or_default();
        let claims: Vec<i64> =
            inner.claims.lock().map(|c| c.keys().copied().collect()).unwrap_or_default();
        if handles.is_empty() && claims.is_empty() {
            continue;
        }
        let beats: Vec<Beat> = handles
            .iter()
            .map(|h| Beat {
                run_id: h.run_id,
                progress: h.progress.lock().map(|p| p.clone()).unwrap_or_default(),
            })
            .collect();
        match inner.repo.heartbeat(&claims, &beats, inner.cfg.lease).await {
            Ok(hb) => {
                let renewed: std::collections::HashSet<i64> = hb.renewed.into_iter().collect();
                let cancels: HashMap<Uuid, String> = hb.cancels.into_iter().collect();
                let logged: std::collections::HashSet<Uuid> = hb.logged.into_iter().collect();
                for h in &handles {
                    if let Some(by) = cancels.get(&h.run_id) {
                        h.cancel_with(CancelReason::User(by.clone()));
                        continue;
                    }
                    // Its claim was reaped, or its attempt logged by another replica.
                    let lost = (claims.contains(&h.claim_id) && !renewed.contains(&h.claim_id))
                        || logged.contains(&h.run_id);
                    let still_ours =
                        inner.active.lock().map(|a| a.contains_key(&h.run_id)).unwrap_or(false);
                    if lost && still_ours {
                        tracing::warn!(run = %h.run_id, "lease lost, abandoning the attempt");
                        h.cancel_with(CancelReason::LeaseLost);
                    }
                }
            }
            Err(e) => tracing::warn!(error = ?e, "renewing leases failed"),
        }
    }
}

async fn reaper<E: Executor>(inner: Arc<Inner<E>>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(inner.cfg.reaper_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = Instant::now();
    let (mut ticks, mut reaped_last) = (0u64, false);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        match inner.repo.expired_runs(200).await {
            Ok(runs) => {
                reaped_last |= !runs.is_empty();
                for run in runs {
                    tracing::warn!(run = %run.run_id, entry = %run.entry_id, "lease expired, failing the attempt");
                    let message =
                        "lease expired: the scheduler or worker running it stopped".to_owned();
                    let err = RunFailure::new(message.clone());
                    let completion =
                        completion_for(&run, RunOutcome::Lost { message }, None, None, Some(err));
                    inner.stats.reaped.fetch_add(1, Ordering::Relaxed);
                    let job = Job { completion, slot: None, origin: Origin::Reaper };
                    let _ = inner.completions.send(job).await;
                }
            }
            Err(e) => tracing::warn!(error = ?e, "reaper query failed"),
        }
        // Expired claims are released once their failures are written: after a tick that
        // reaped, and every tenth tick in any case (each pass reads `claims` whole, which
        // under a steady load holds thousands of dead rows between vacuums).
        ticks += 1;
        if reaped_last || ticks % 10 == 0 {
            match inner.repo.release_expired_claims().await {
                Ok(_) => reaped_last = false,
                Err(e) => tracing::warn!(error = ?e, "releasing expired claims failed"),
            }
        }
        if let Err(e) = inner.repo.expire_entries().await {
            tracing::warn!(error = ?e, "expiring entries failed");
        }
        if last_prune.elapsed() >= inner.cfg.prune_interval {
            last_prune = Instant::now();
            match inner.repo.prune(inner.cfg.retention).await {
                Ok((runs, entries)) if runs + entries > 0 => {
                    tracing::info!(runs, entries, "pruned the run log")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = ?e, "pruning failed"),
            }
        }
    }
}

async fn listener<E: Executor>(inner: Arc<Inner<E>>, stop: CancellationToken) {
    let mut failures = 0u64;
    loop {
        let mut l = match sqlx::postgres::PgListener::connect_with(inner.repo.pool()).await {
            Ok(l) => l,
            Err(e) => {
                failures += 1;
                tracing::warn!(error = ?e, "LISTEN connection failed; polling meanwhile");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500 * failures.min(20))) => continue,
                    _ = stop.cancelled() => return,
                }
            }
        };
        if let Err(e) = l.listen_all([WAKE_CHANNEL, CANCEL_CHANNEL]).await {
            tracing::warn!(error = ?e, "LISTEN failed");
            continue;
        }
        failures = 0;
        // Anything that happened while we were not listening.
        inner.wake.local.notify_one();
        loop {
            let n = tokio::select! {
                n = l.recv() => n,
                _ = stop.cancelled() => return,
            };
            match n {
                Ok(n) if n.channel() == CANCEL_CHANNEL => {
                    if let Ok(id) = n.payload().parse::<Uuid>() {
                        let h = inner.active.lock().ok().and_then(|a| a.get(&id).cloned());
                        if let Some(h) = h {
                            // The name of who cancelled comes with the next heartbeat; the
                            // outcome is recorded as cancelled either way.
                            h.cancel_with(CancelReason::User(cancelled_by(&inner.repo, id).await));
                        }
                    }
                }
                Ok(_) => inner.wake.local.notify_one(),
                Err(e) => {
                    tracing::warn!(error = ?e, "LISTEN connection lost, reconnecting");
                    break;
                }
            }
        }
    }
}

async fn cancelled_by(repo: &Repo, run: Uuid) -> String {
    repo.cancel_requested_by(run).await.ok().flatten().unwrap_or_else(|| "a user".to_owned())
}
