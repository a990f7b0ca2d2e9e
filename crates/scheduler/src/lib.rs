//! shopsync-scheduler: the job queue service. Owns the `scheduler` schema; serves gRPC
//! `JobQueue`; dispatches due work to the sync services' `Worker.Run`.

pub mod config;
pub mod creates;
pub mod dispatch;
pub mod error;
pub mod executor;
pub mod grpc;
pub mod repo;
pub mod schedule;
pub mod service;
pub mod shops;
pub mod wakeup;

/// The scheduler's migrations: the `scheduler` schema (the job queue) and the `shops` schema
/// (shops, links, cursors), both owned by this service.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
pub static SCHEMA: shopsync_store::Schema =
    shopsync_store::Schema { name: "scheduler", migrator: &MIGRATOR };

use anyhow::Context;
pub use config::{Config, WorkerEndpoints};
use shopsync_common::Service;
use shopsync_runtime::{ClientAuth, ServerAuth};
use shopsync_store::Plans;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

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
    let pool = shopsync_store::connect(
        &cfg.database_url,
        cfg.db_max_connections,
        "shopsync-scheduler",
        &[&SCHEMA],
    )
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
    let keyring = cfg
        .secret_keys
        .as_ref()
        .map(shopsync_runtime::secrets::Keyring::parse)
        .transpose()
        .context("secret_keys")?;
    let shops = Arc::new(shops::Shops::new(shops::repo::ShopsRepo::new(pool.clone()), keyring));
    // After a key rotation, what the old key sealed is sealed again under the new one.
    match shops.reseal_all().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(shops = n, "shop credentials sealed under the new key"),
        Err(e) => tracing::warn!(error = %e, "re-sealing shop credentials failed"),
    }
    let queue = Arc::new(
        service::JobQueue::with_wakeup(repo.clone(), wake.clone(), cfg.create_writers)
            .with_shops(shops.clone()),
    );
    let (router, health) = shopsync_runtime::server::router(&[
        shopsync_proto::pb::job_queue_server::SERVICE_NAME,
        shopsync_proto::pb::shops_server::SERVICE_NAME,
    ])
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
    let shops_api = shops::grpc::ShopsService::new(shops).into_server();
    let router = router
        .add_service(InterceptedService::new(api, ServerAuth::new(token)))
        .add_service(InterceptedService::new(shops_api, ServerAuth::new(token)));
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
