//! shopsync-scheduler: the job queue service. Owns the `scheduler` schema; serves gRPC
//! `JobQueue`; dispatches due work to the sync services' `Worker.Run`.

pub mod creates;
pub mod dispatch;
pub mod error;
pub mod executor;
pub mod grpc;
pub mod repo;
pub mod service;
pub mod wakeup;

use anyhow::Context;
use secrecy::SecretString;
use serde::Deserialize;
use shopsync_common::Service;
use shopsync_runtime::{ClientAuth, ConfigError, ServerAuth};
use shopsync_store::Plans;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct WorkerEndpoints {
    pub order_sync: Option<String>,
    pub product_sync: Option<String>,
    pub inventory_sync: Option<String>,
    pub posting: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub db_max_connections: u32,
    /// Connections reserved for the dispatcher's claims and completions (its heartbeats,
    /// reaper and maintenance have two more of their own).
    pub db_dispatch_connections: u32,
    /// Shared secret every internal gRPC call carries (`SHOPSYNC_SERVICE_TOKEN`).
    pub service_token: Option<SecretString>,
    /// Accept unauthenticated calls (local development only).
    pub insecure_no_auth: bool,
    /// This replica's name in the run log (default: host name and pid).
    pub replica_name: Option<String>,
    pub workers: WorkerEndpoints,
    /// Dispatch work (false: serve the API only).
    pub dispatch: bool,
    pub max_concurrency: usize,
    pub claim_batch: usize,
    pub lease_ms: u64,
    pub heartbeat_ms: u64,
    pub stall_timeout_ms: u64,
    pub worker_heartbeat_ms: u64,
    pub poll_ms: u64,
    pub reaper_ms: u64,
    pub retention_days: u64,
    pub watch_ms: u64,
    pub drain_secs: u64,
    /// Batched create inserts in flight at once; 0: every create is its own statement.
    pub create_writers: usize,
    /// How often the database is probed for the health status (NOT_SERVING while it fails).
    pub health_check_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 50050)),
            database_url: String::new(),
            db_max_connections: 10,
            db_dispatch_connections: 6,
            service_token: None,
            insecure_no_auth: false,
            replica_name: None,
            workers: WorkerEndpoints::default(),
            dispatch: true,
            max_concurrency: 256,
            claim_batch: 500,
            lease_ms: 10_000,
            heartbeat_ms: 1_000,
            stall_timeout_ms: 10_000,
            worker_heartbeat_ms: 1_000,
            poll_ms: 1_000,
            reaper_ms: 1_000,
            retention_days: 30,
            watch_ms: 200,
            drain_secs: 30,
            create_writers: creates::WRITERS,
            health_check_ms: 1_000,
        }
    }
}

impl Config {
    pub fn load() -> Result<Self, ConfigError> {
        let cfg: Config = shopsync_runtime::load_config()?;
        cfg.check()?;
        Ok(cfg)
    }

    pub fn check(&self) -> Result<(), ConfigError> {
        if self.database_url.trim().is_empty() {
            return Err(ConfigError::new(
                "database_url is required (SHOPSYNC_DATABASE_URL or DATABASE_URL)",
            ));
        }
        if self.service_token.is_none() && !self.insecure_no_auth {
            return Err(ConfigError::new(
                "service_token is required (SHOPSYNC_SERVICE_TOKEN); set SHOPSYNC_INSECURE_NO_AUTH=true only for local development",
            ));
        }
        if self.db_dispatch_connections < 3 {
            return Err(ConfigError::new(
                "db_dispatch_connections must be at least 3 (claims, completions, and one spare)",
            ));
        }
        if self.max_concurrency == 0 || self.claim_batch == 0 {
            return Err(ConfigError::new("max_concurrency and claim_batch must be positive"));
        }
        if self.heartbeat_ms * 2 > self.lease_ms {
            return Err(ConfigError::new("lease_ms must be at least twice heartbeat_ms"));
        }
        Ok(())
    }

    pub fn dispatcher(&self) -> dispatch::DispatcherConfig {
        let name = self.replica_name.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "scheduler".into());
            format!("{host}-{}", std::process::id())
        });
        dispatch::DispatcherConfig {
            name,
            max_concurrency: self.max_concurrency,
            claim_batch: self.claim_batch,
            lease: Duration::from_millis(self.lease_ms),
            heartbeat_every: Duration::from_millis(self.heartbeat_ms),
            stall_timeout: Duration::from_millis(self.stall_timeout_ms),
            poll_interval: Duration::from_millis(self.poll_ms),
            reaper_interval: Duration::from_millis(self.reaper_ms),
            retention: Duration::from_secs(self.retention_days * 86_400),
            prune_interval: Duration::from_secs(600),
        }
    }
}

/// The dispatcher's connections for claims and completions (its heartbeats, reaper and
/// maintenance have a pool of their own, with ordinary plans). These statements are key
/// lookups, batch writes by key or row address, and index-ordered claims, so they are planned
/// once, as key lookups (`Plans::Keyed`). With custom plans, a claim of a large batch was planned at every
/// execution, and the planner's look at the ends of the queue's indexes (over the dead
/// entries a burst leaves) cost about 5 ms a claim, 13 % of the claim's time when draining a
/// backlog; a plain generic plan, made while the tables were small, scanned them whole later.
pub async fn dispatcher_pool(url: &str, connections: u32) -> anyhow::Result<sqlx::PgPool> {
    shopsync_store::pool(url, connections, "shopsync-scheduler-dispatch", Plans::Keyed)
        .await
        .context("opening the dispatcher's database connections")
}

/// Run the scheduler until `shutdown`: migrate, serve `JobQueue` (+ health, reflection),
/// and dispatch.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let pool =
        shopsync_store::connect(&cfg.database_url, cfg.db_max_connections, "shopsync-scheduler")
            .await
            .context("opening the database")?;
    let repo = repo::Repo::new(pool.clone());
    let token = if cfg.insecure_no_auth { None } else { cfg.service_token.as_ref() };
    if token.is_none() {
        tracing::warn!("service authentication is disabled (insecure_no_auth)");
    }
    let client_auth = ClientAuth::new(token).map_err(anyhow::Error::msg)?;
    let mut workers = HashMap::new();
    for (service, url) in [
        (Service::OrderSync, &cfg.workers.order_sync),
        (Service::ProductSync, &cfg.workers.product_sync),
        (Service::InventorySync, &cfg.workers.inventory_sync),
        (Service::Posting, &cfg.workers.posting),
    ] {
        if let Some(url) = url {
            let ch = shopsync_runtime::client::connect_lazy(url, client_auth.clone())
                .with_context(|| format!("worker endpoint for {service}: {url:?}"))?;
            workers.insert(service, (ch, url.clone()));
        } else {
            tracing::warn!(%service, "no worker endpoint configured; its tasks will fail");
        }
    }
    let executor =
        executor::GrpcExecutor::new(workers, Duration::from_millis(cfg.worker_heartbeat_ms));
    // Creates wake this process's dispatcher directly and the other replicas by one coalesced
    // NOTIFY (see wakeup.rs).
    let wake = Arc::new(wakeup::Wakeup::default());
    let wake_stop = CancellationToken::new();
    let broadcaster = tokio::spawn(wake.clone().broadcast(pool.clone(), wake_stop.clone()));
    let queue =
        Arc::new(service::JobQueue::with_wakeup(repo.clone(), wake.clone(), cfg.create_writers));
    let (router, health) =
        shopsync_runtime::server::router(&[shopsync_proto::pb::job_queue_server::SERVICE_NAME])
            .await?;
    // NOT_SERVING while the database cannot be reached, so traffic goes to other replicas.
    let health_stop = CancellationToken::new();
    let watcher = health.watch(
        {
            let pool = pool.clone();
            shopsync_runtime::server::probe(move || shopsync_store::ping(pool.clone()))
        },
        Duration::from_millis(cfg.health_check_ms.max(50)),
        health_stop.clone(),
    );
    let api = grpc::JobQueueService::new(queue, Duration::from_millis(cfg.watch_ms)).into_server();
    let router = router.add_service(InterceptedService::new(api, ServerAuth::new(token)));
    let listener = shopsync_runtime::server::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "scheduler listening");

    // The dispatcher has connections of its own: claims and completions never queue behind
    // a burst of API calls for a pooled connection. They plan their statements once (see
    // `dispatcher_pool`).
    let dispatcher = if cfg.dispatch {
        let keyed = dispatcher_pool(&cfg.database_url, cfg.db_dispatch_connections).await?;
        // Heartbeats, the reaper and maintenance: two connections of their own, so that
        // leases are renewed whatever the API is doing.
        let aux = shopsync_store::pool(
            &cfg.database_url,
            2,
            "shopsync-scheduler-dispatch-aux",
            Plans::Auto,
        )
        .await
        .context("opening the dispatcher's connections")?;
        Some(dispatch::Dispatcher::with_wakeup(
            cfg.dispatcher(),
            repo::Repo::with_keyed(aux, keyed),
            executor,
            wake.clone(),
        ))
    } else {
        None
    };
    let drain = Duration::from_secs(cfg.drain_secs);
    let serve_stop = CancellationToken::new();
    let server =
        tokio::spawn(shopsync_runtime::server::serve(router, listener, serve_stop.clone(), drain));
    let dispatched = match dispatcher {
        Some(d) => d.run(shutdown.clone(), drain).await.context("dispatcher"),
        None => {
            shutdown.cancelled().await;
            Ok(())
        }
    };
    health_stop.cancel();
    let _ = watcher.await;
    health.set_serving(false).await;
    serve_stop.cancel();
    server.await.context("server task")?.context("gRPC server")?;
    wake_stop.cancel();
    let _ = broadcaster.await;
    pool.close().await;
    tracing::info!("scheduler stopped");
    dispatched
}
