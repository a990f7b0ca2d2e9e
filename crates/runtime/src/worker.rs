//! The worker harness: turns a service's [`TaskRunner`] into the gRPC `Worker` service.
//!
//! For each `Run` call it validates the request, starts the task with a cancellation token,
//! streams progress (re-sending the last progress as a heartbeat when the task is quiet), and
//! ends the stream with one result or failure. When the caller goes away (cancel, timeout,
//! scheduler crash) the task is cancelled. While the service drains, new runs are refused
//! with UNAVAILABLE so the scheduler retries them elsewhere.
//!
//! Every worker also serves the built-in `Test` task (sleep/no-op with progress, can be told
//! to fail or stall), which the scheduler's tests, benchmarks and the demo use.

use crate::shop::{ShopContext, ShopContextConfig, ShopContexts};
use chrono::{DateTime, Utc};
use shopsync_common::params::TestParams;
use shopsync_common::{RunReport, Service, Task, TaskParams};
use shopsync_proto::pb::worker_server::Worker;
use shopsync_proto::pb::{self, run_event::Event};
use shopsync_proto::{
    from_opt_ts, params_from_pb, report_to_pb, service_to_pb, task_from_pb, task_to_pb,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// Everything a task gets for one attempt.
pub struct RunContext {
    pub run_id: String,
    pub entry_id: String,
    pub task: Task,
    pub shop: String,
    pub params: TaskParams,
    pub attempt: u32,
    pub fencing_token: i64,
    /// When the scheduler gives up on the attempt.
    pub deadline: Option<DateTime<Utc>>,
    /// The scheduled fire the run belongs to (none for one-off entries and "run now").
    pub fire_time: Option<DateTime<Utc>>,
    pub cancel: CancellationToken,
    pub progress: ProgressReporter,
    /// The shop's context, for runners that ask for one ([`TaskRunner::needs_shop`]).
    pub shop_context: Option<Arc<ShopContext>>,
}

impl RunContext {
    /// The shop context, or a non-retryable failure when the runner did not ask for one.
    pub fn shop_context(&self) -> Result<&Arc<ShopContext>, TaskError> {
        self.shop_context.as_ref().ok_or_else(|| TaskError::Failed {
            source: anyhow::anyhow!("task {} runs without a shop context", self.task),
            retryable: false,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("cancelled")]
    Cancelled,
    #[error("task {task} is not implemented by the {service} service yet")]
    NotImplemented { task: Task, service: Service },
    /// A failure; `retryable` false when retrying cannot help (bad configuration).
    #[error("{source}")]
    Failed { source: anyhow::Error, retryable: bool },
}

impl TaskError {
    pub fn retryable(e: impl Into<anyhow::Error>) -> Self {
        TaskError::Failed { source: e.into(), retryable: true }
    }
}

/// Whether a run that failed on another service's answer may succeed later with nothing
/// changed: not when the request was refused as invalid or unauthorised.
pub fn retryable_status(s: &tonic::Status) -> bool {
    !matches!(
        s.code(),
        tonic::Code::InvalidArgument | tonic::Code::PermissionDenied | tonic::Code::Unauthenticated
    )
}

pub type TaskFuture = Pin<Box<dyn Future<Output = Result<RunReport, TaskError>> + Send>>;

/// A service's tasks.
pub trait TaskRunner: Send + Sync + 'static {
    /// The tasks this runner implements (besides the built-in `Test`).
    fn tasks(&self) -> Vec<Task>;
    /// Whether the runner's tasks need a [`ShopContext`] (the sync services: yes; the posting
    /// service's batch posting: no). The harness resolves it before the task starts, and a
    /// run of an unknown or disabled shop fails without retry.
    fn needs_shop(&self) -> bool {
        true
    }
    fn run(&self, ctx: RunContext) -> TaskFuture;
}

/// A runner with no real tasks yet: every real task fails (not retryable) with a clear error.
pub struct NoTasks(pub Service);

impl TaskRunner for NoTasks {
    fn tasks(&self) -> Vec<Task> {
        Vec::new()
    }
    fn run(&self, ctx: RunContext) -> TaskFuture {
        let service = self.0;
        Box::pin(async move { Err(TaskError::NotImplemented { task: ctx.task, service }) })
    }
}

/// Sends progress; also the heartbeat source.
#[derive(Clone)]
pub struct ProgressReporter {
    tx: mpsc::Sender<Result<pb::RunEvent, Status>>,
    last: Arc<Mutex<pb::Progress>>,
    last_sent: Arc<AtomicU64>,
    heartbeats: Arc<AtomicBool>,
    epoch: Instant,
}

impl ProgressReporter {
    fn new(tx: mpsc::Sender<Result<pb::RunEvent, Status>>) -> Self {
        Self {
            tx,
            last: Arc::new(Mutex::new(pb::Progress::default())),
            last_sent: Arc::new(AtomicU64::new(0)),
            heartbeats: Arc::new(AtomicBool::new(true)),
            epoch: Instant::now(),
        }
    }

    pub async fn report(&self, done: u64, total: u64, step: impl Into<String>) {
        let p = pb::Progress { done, total, step: step.into() };
        if let Ok(mut last) = self.last.lock() {
            *last = p.clone();
        }
        self.send(p).await;
    }

    async fn send(&self, p: pb::Progress) {
        self.last_sent.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        let _ = self.tx.send(Ok(pb::RunEvent { event: Some(Event::Progress(p)) })).await;
    }

    /// Stop the automatic heartbeats: only the built-in test task uses it, to play a hung worker.
    pub fn suspend_heartbeats(&self) {
        self.heartbeats.store(false, Ordering::Relaxed);
    }

    async fn heartbeat_loop(self, every: Duration, stop: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let quiet_ms =
                self.epoch.elapsed().as_millis() as u64 - self.last_sent.load(Ordering::Relaxed);
            if self.heartbeats.load(Ordering::Relaxed) && quiet_ms >= every.as_millis() as u64 / 2 {
                let last = self.last.lock().map(|p| p.clone()).unwrap_or_default();
                self.send(last).await;
            }
        }
    }
}

/// The gRPC `Worker` service of one sync service.
pub struct WorkerService<R> {
    service: Service,
    runner: Arc<R>,
    draining: CancellationToken,
    shops: Option<Arc<ShopContexts>>,
}

impl<R: TaskRunner> WorkerService<R> {
    /// `draining` is the service's shutdown token: once cancelled, new runs are refused.
    pub fn new(
        service: Service,
        runner: R,
        draining: CancellationToken,
        shops: Option<Arc<ShopContexts>>,
    ) -> Self {
        Self { service, runner: Arc::new(runner), draining, shops }
    }

    pub fn into_server(self) -> pb::worker_server::WorkerServer<Self> {
        pb::worker_server::WorkerServer::new(self)
    }
}

fn invalid(e: shopsync_common::ValidationError) -> Status {
    Status::invalid_argument(e.to_string())
}

#[tonic::async_trait]
impl<R: TaskRunner> Worker for WorkerService<R> {
    type RunStream = ReceiverStream<Result<pb::RunEvent, Status>>;

    async fn run(&self, req: Request<pb::RunRequest>) -> Result<Response<Self::RunStream>, Status> {
        if self.draining.is_cancelled() {
            return Err(Status::unavailable("worker is draining"));
        }
        let r = req.into_inner();
        uuid::Uuid::parse_str(&r.run_id).map_err(|_| {
            Status::invalid_argument(format!("run_id: {:?} is not a UUID", r.run_id))
        })?;
        let task = task_from_pb(r.task, "task").map_err(invalid)?;
        let params = match &r.params {
            Some(p) => params_from_pb(p, "params").map_err(invalid)?,
            None => return Err(Status::invalid_argument("params: required")),
        };
        if params.task() != task {
            return Err(Status::invalid_argument(format!(
                "params: parameters of {} sent for task {task}",
                params.task()
            )));
        }
        if task != Task::Test
            && !self.runner.tasks().contains(&task)
            && task.service() != Some(self.service)
        {
            return Err(Status::failed_precondition(format!(
                "task {task} does not run on the {} service",
                self.service
            )));
        }
        let heartbeat = Duration::from_millis(u64::from(r.heartbeat_interval_ms.clamp(50, 60_000)));
        let (tx, rx) = mpsc::channel(32);
        let progress = ProgressReporter::new(tx.clone());
        let cancel = CancellationToken::new();
        let deadline = from_opt_ts(&r.deadline, "deadline").map_err(invalid)?;
        let fire_time = from_opt_ts(&r.fire_time, "fire_time").map_err(invalid)?;
        let mut ctx = RunContext {
            run_id: r.run_id.clone(),
            entry_id: r.entry_id,
            task,
            shop: r.shop,
            params,
            attempt: r.attempt,
            fencing_token: r.fencing_token,
            deadline,
            fire_time,
            cancel: cancel.clone(),
            progress: progress.clone(),
            shop_context: None,
        };
        let needs_shop =
            task != Task::Test && self.runner.needs_shop() && self.runner.tasks().contains(&task);
        let shops = self.shops.clone();
        let runner = self.runner.clone();
        let service = self.service;
        tokio::spawn(async move {
            // Caller gone -> cancel the task.
            let closed = {
                let tx = tx.clone();
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    tx.closed().await;
                    cancel.cancel();
                })
            };
            let hb_stop = CancellationToken::new();
            let hb = tokio::spawn(progress.clone().heartbeat_loop(heartbeat, hb_stop.clone()));
            let run_id = ctx.run_id.clone();
            let result = if task == Task::Test {
                test_task(ctx).await
            } else if needs_shop {
                match with_shop(shops.as_deref(), &mut ctx).await {
                    Ok(()) => runner.run(ctx).await,
                    Err(e) => Err(e),
                }
            } else {
                runner.run(ctx).await
            };
            hb_stop.cancel();
            let _ = hb.await;
            let event = match result {
                Ok(report) => Event::Result(report_to_pb(&report)),
                Err(TaskError::Cancelled) => {
                    tracing::info!(run = %run_id, %service, "run cancelled");
                    closed.abort();
                    return;
                }
                Err(e) => {
                    let retryable = !matches!(
                        e,
                        TaskError::NotImplemented { .. }
                            | TaskError::Failed { retryable: false, .. }
                    );
                    let (message, causes) = match &e {
                        TaskError::Failed { source, .. } => (
                            source.to_string(),
                            source.chain().skip(1).map(|c| c.to_string()).collect(),
                        ),
                        other => (other.to_string(), Vec::new()),
                    };
                    tracing::warn!(run = %run_id, %service, error = %message, "run failed");
                    Event::Failure(pb::RunFailure {
                        error: Some(pb::ErrorChain { message, causes }),
                        retryable,
                    })
                }
            };
            let _ = tx.send(Ok(pb::RunEvent { event: Some(event) })).await;
            closed.abort();
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn describe(
        &self,
        _req: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::DescribeResponse>, Status> {
        let mut tasks: Vec<i32> =
            self.runner.tasks().into_iter().map(|t| task_to_pb(t) as i32).collect();
        tasks.push(task_to_pb(Task::Test) as i32);
        Ok(Response::new(pb::DescribeResponse {
            service: service_to_pb(self.service) as i32,
            tasks,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }
}

/// Resolve the run's shop context (unknown or disabled shops fail without retry).
async fn with_shop(shops: Option<&ShopContexts>, ctx: &mut RunContext) -> Result<(), TaskError> {
    let Some(shops) = shops else {
        return Err(TaskError::Failed {
            source: anyhow::anyhow!(
                "this service has no shops API configured (SHOPSYNC_SHOPS_URL, SHOPSYNC_POSTING_URL, SHOPSYNC_SECRET_KEYS)"
            ),
            retryable: false,
        });
    };
    let shop = tokio::select! {
        _ = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
        s = shops.get(&ctx.shop) => s,
    };
    match shop {
        Ok(s) => {
            ctx.shop_context = Some(s);
            Ok(())
        }
        Err(e) => {
            let retryable = e.retryable();
            Err(TaskError::Failed { source: anyhow::Error::new(e), retryable })
        }
    }
}

/// The built-in test task.
async fn test_task(ctx: RunContext) -> Result<RunReport, TaskError> {
    let TaskParams::Test(p) = &ctx.params else {
        return Err(TaskError::Failed {
            source: anyhow::anyhow!("test task without test parameters"),
            retryable: false,
        });
    };
    let TestParams { steps, step_ms, fail_attempts, stall_after_step, .. } = p.clone();
    for i in 0..steps {
        if stall_after_step == Some(i) {
            ctx.progress.suspend_heartbeats();
            ctx.cancel.cancelled().await;
            return Err(TaskError::Cancelled);
        }
        tokio::select! {
            _ = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
            _ = tokio::time::sleep(Duration::from_millis(u64::from(step_ms))) => {}
        }
        ctx.progress.report(u64::from(i) + 1, u64::from(steps), format!("step {}", i + 1)).await;
    }
    if ctx.attempt <= fail_attempts {
        let inner = anyhow::anyhow!("simulated failure on attempt {}", ctx.attempt);
        return Err(TaskError::retryable(inner.context("test task failed")));
    }
    let mut counters = BTreeMap::new();
    counters.insert("steps".to_owned(), i64::from(steps));
    Ok(RunReport { counters, ..Default::default() })
}

/// Configuration every worker service shares (the `SHOPSYNC_*` environment).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct WorkerConfig {
    pub listen: std::net::SocketAddr,
    pub service_token: Option<secrecy::SecretString>,
    pub insecure_no_auth: bool,
    pub drain_secs: u64,
    /// The service's database (services that own a schema: posting).
    pub database_url: String,
    pub db_max_connections: u32,
    /// The scheduler's `Shops` API, for the shop context of sync runs.
    pub shops_url: Option<String>,
    /// The posting service (`Erp`, `Posting`), for the shop context of sync runs.
    pub posting_url: Option<String>,
    /// The keyring that opens shop credentials (see `secrets`).
    pub secret_keys: Option<secrecy::SecretString>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            listen: std::net::SocketAddr::from(([0, 0, 0, 0], 50051)),
            service_token: None,
            insecure_no_auth: false,
            drain_secs: 30,
            database_url: String::new(),
            db_max_connections: 16,
            shops_url: None,
            posting_url: None,
            secret_keys: None,
        }
    }
}

impl crate::service::ServiceConfig for WorkerConfig {
    fn check(&self) -> Result<(), crate::ConfigError> {
        if self.service_token.is_none() && !self.insecure_no_auth {
            return Err(crate::ConfigError::new(
                "service_token is required (SHOPSYNC_SERVICE_TOKEN); set SHOPSYNC_INSECURE_NO_AUTH=true only for local development",
            ));
        }
        if let Some(k) = &self.secret_keys {
            crate::secrets::Keyring::parse(k)
                .map_err(|e| crate::ConfigError::new(e.to_string()))?;
        }
        Ok(())
    }
}

/// The configuration of a sync service (order-sync, product-sync, inventory-sync): the worker
/// settings, with the shop contexts configured whole or not at all. A service with settings
/// of its own makes its `Config` a struct that flattens this one.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct SyncConfig {
    #[serde(flatten)]
    pub worker: WorkerConfig,
}

impl crate::service::ServiceConfig for SyncConfig {
    fn check(&self) -> Result<(), crate::ConfigError> {
        crate::service::ServiceConfig::check(&self.worker)?;
        self.worker.shop_contexts().map(|_| ())
    }
}

impl WorkerConfig {
    /// Where the shop contexts of a sync service come from: none when it is not configured
    /// for them (its runs then fail with a clear error), an error when it half is.
    pub fn shop_contexts(&self) -> Result<Option<ShopContextConfig>, crate::ConfigError> {
        match (&self.shops_url, &self.posting_url, &self.secret_keys) {
            (None, None, None) => Ok(None),
            (Some(shops), Some(posting), Some(keys)) => Ok(Some(ShopContextConfig {
                shops_url: shops.clone(),
                posting_url: posting.clone(),
                keyring: crate::secrets::Keyring::parse(keys)
                    .map_err(|e| crate::ConfigError::new(e.to_string()))?,
            })),
            _ => Err(crate::ConfigError::new(
                "shop contexts need all of shops_url, posting_url and secret_keys (SHOPSYNC_SHOPS_URL, SHOPSYNC_POSTING_URL, SHOPSYNC_SECRET_KEYS)",
            )),
        }
    }
}

/// Serve a worker service until `shutdown`: `Worker` (authenticated), health and reflection.
/// On shutdown: NOT_SERVING, refuse new runs, let running ones finish (up to `drain_secs`).
pub async fn serve_worker<R: TaskRunner>(
    cfg: &WorkerConfig,
    service: Service,
    runner: R,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    serve_worker_with(cfg, service, runner, shutdown, Apis::default(), |router, _| router).await
}

/// The gRPC services a worker binary serves besides `Worker` (for health and reflection), and
/// the dependency its health follows (see [`crate::server::Health::watch`]).
#[derive(Default)]
pub struct Apis {
    /// Fully qualified names (`pb::erp_server::SERVICE_NAME`...).
    pub services: Vec<&'static str>,
    /// Probed every [`HEALTH_CHECK_EVERY`]; while it fails, every service is NOT_SERVING.
    pub probe: Option<crate::server::Probe>,
}

/// How often a worker's dependency is probed.
pub const HEALTH_CHECK_EVERY: Duration = Duration::from_secs(1);

/// [`serve_worker`] plus the service's own gRPC services: `extra` adds them to the router,
/// wrapping each in the given authentication interceptor; `apis` names them.
pub async fn serve_worker_with<R: TaskRunner>(
    cfg: &WorkerConfig,
    service: Service,
    runner: R,
    shutdown: CancellationToken,
    apis: Apis,
    extra: impl FnOnce(
        tonic::transport::server::Router,
        crate::ServerAuth,
    ) -> tonic::transport::server::Router,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let token = if cfg.insecure_no_auth { None } else { cfg.service_token.as_ref() };
    if token.is_none() {
        tracing::warn!("service authentication is disabled (insecure_no_auth)");
    }
    let mut served = vec![pb::worker_server::SERVICE_NAME];
    served.extend(apis.services);
    let (router, health) = crate::server::router(&served).await?;
    let watcher = apis.probe.map(|p| health.watch(p, HEALTH_CHECK_EVERY, shutdown.clone()));
    let contexts = if runner.needs_shop() { cfg.shop_contexts()? } else { None };
    let shops = match contexts {
        Some(c) => {
            let auth = crate::ClientAuth::new(token).map_err(anyhow::Error::msg)?;
            // With a database, every replica of every sync service shares each shop's API
            // budget through `shopify.rate_budget`; without one, the processes' own views.
            let pool = match cfg.database_url.trim() {
                "" => None,
                url => Some(
                    shopsync_store::connect(
                        url,
                        2,
                        &format!("shopsync-{}-budget", service.as_str().replace('_', "-")),
                        &[&shopsync_shopify::SCHEMA],
                    )
                    .await
                    .context("the database of the shared Shopify budgets")?,
                ),
            };
            Some(Arc::new(ShopContexts::new(c, auth, pool).context("shop contexts")?))
        }
        None => None,
    };
    let worker = WorkerService::new(service, runner, shutdown.clone(), shops).into_server();
    let router = router.add_service(tonic::service::interceptor::InterceptedService::new(
        worker,
        crate::ServerAuth::new(token),
    ));
    let router = extra(router, crate::ServerAuth::new(token));
    let listener =
        crate::server::bind(cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
    tracing::info!(%service, addr = %listener.local_addr()?, "worker listening");
    let stop = CancellationToken::new();
    let server = tokio::spawn(crate::server::serve(
        router,
        listener,
        stop.clone(),
        Duration::from_secs(cfg.drain_secs),
    ));
    shutdown.cancelled().await;
    if let Some(w) = watcher {
        let _ = w.await;
    }
    health.set_serving(false).await;
    stop.cancel();
    server.await.context("server task")?.context("gRPC server")?;
    tracing::info!(%service, "worker stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_contexts_are_configured_whole_or_not_at_all() {
        let none = WorkerConfig::default();
        assert!(none.shop_contexts().unwrap().is_none());
        let half = WorkerConfig { shops_url: Some("http://s:50050".into()), ..Default::default() };
        assert!(half.shop_contexts().unwrap_err().to_string().contains("SHOPSYNC_SECRET_KEYS"));
        let (_, keys) = crate::secrets::Keyring::generate("k1");
        let whole = WorkerConfig {
            posting_url: Some("http://p:50051".into()),
            secret_keys: Some(keys),
            ..half
        };
        let c = whole.shop_contexts().unwrap().unwrap();
        assert_eq!((c.shops_url.as_str(), c.keyring.active_id()), ("http://s:50050", "k1"));
    }
}
