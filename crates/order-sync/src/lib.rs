//! shopsync-order-sync: the order-sync service. Owns the `order_sync` schema (the mirror of
//! the Shopify orders it imported and where each stands) and serves gRPC `Worker` for its
//! tasks and `Cues` (activity cues with drill-down and retry).
//!
//! Tasks: SyncOrders ([`import`]; with the shop's auto-create setting also [`create`] right
//! after; then [`refunds`] and [`archive`]), CreateSalesOrders ([`create`], then
//! [`refunds`]) and SyncShipments ([`shipments`]; the orders it fulfilled are archived by the
//! next import, which sees them fulfilled). SyncCustomers,
//! SyncCompanies and SyncPayments arrive with their issues; until then they fail with a
//! clear, non-retryable "not implemented yet" error instead of pretending to run.

pub mod archive;
pub mod bulk;
pub mod config;
pub mod create;
pub mod cues;
pub mod error;
pub mod grpc;
pub mod import;
pub mod mirror;
pub mod refunds;
pub mod repo;
pub mod shipments;
pub mod webhooks;

use anyhow::Context;
pub use config::Config;
pub use error::{Failure, fail};
use shopsync_common::{Service, Task, TaskParams};
use shopsync_proto::pb;
use shopsync_runtime::worker::{RunContext, TaskError, TaskFuture, TaskRunner};
use sqlx::PgPool;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub const SERVICE: Service = Service::OrderSync;

/// order-sync's migrations (the `order_sync` schema).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
pub static SCHEMA: shopsync_store::Schema =
    shopsync_store::Schema { name: "order_sync", migrator: &MIGRATOR };

/// order-sync's tasks.
pub struct OrderTasks {
    pub db: PgPool,
    pub webhooks: config::WebhookConfig,
}

impl TaskRunner for OrderTasks {
    fn tasks(&self) -> Vec<Task> {
        vec![Task::SyncOrders, Task::CreateSalesOrders, Task::SyncShipments]
    }

    fn run(&self, ctx: RunContext) -> TaskFuture {
        let db = self.db.clone();
        let webhooks = self.webhooks.clone();
        Box::pin(async move {
            let shop = ctx.shop_context()?.clone();
            match &ctx.params {
                TaskParams::SyncOrders(p) => {
                    let mut report = import::run(&ctx, &shop, &db, p).await?;
                    webhooks::after_import(&ctx, &shop, &db, &webhooks, p, &mut report).await?;
                    if shop.shop.settings.auto_create_sales_orders {
                        let made = create::run(&ctx, &shop, &db, &Default::default()).await?;
                        merge(&mut report, made);
                    }
                    refunds::run(&ctx, &shop, &db, &mut report).await?;
                    archive::run(&ctx, &shop, &db, &mut report).await?;
                    Ok(report)
                }
                TaskParams::CreateSalesOrders(p) => {
                    let mut report = create::run(&ctx, &shop, &db, p).await?;
                    refunds::run(&ctx, &shop, &db, &mut report).await?;
                    Ok(report)
                }
                TaskParams::SyncShipments(p) => shipments::run(&ctx, &shop, &db, p).await,
                _ => Err(TaskError::NotImplemented { task: ctx.task, service: SERVICE }),
            }
        })
    }
}

/// Add `more`'s counters and errors to `into`.
fn merge(into: &mut shopsync_common::RunReport, more: shopsync_common::RunReport) {
    for (k, v) in more.counters {
        into.count(&k, v);
    }
    into.record_errors += more.record_errors - more.errors.len() as u64;
    for e in more.errors {
        into.record_error(e);
    }
}

/// Connect (and migrate) the database, then serve `Worker` and `Cues` until `shutdown`.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let Config { sync, webhooks: hooks } = cfg;
    let cfg = sync.worker;
    anyhow::ensure!(
        !cfg.database_url.trim().is_empty(),
        "order-sync needs its database (SHOPSYNC_DATABASE_URL)"
    );
    let pool = shopsync_store::connect_with(
        &cfg.database_url,
        cfg.db_max_connections,
        "shopsync-order-sync",
        shopsync_store::Plans::Generic,
        &[&SCHEMA],
    )
    .await
    .context("order-sync database")?;
    let token = if cfg.insecure_no_auth { None } else { cfg.service_token.as_ref() };
    let auth = shopsync_runtime::ClientAuth::new(token).map_err(anyhow::Error::msg)?;
    // The scheduler serves `Shops` and `JobQueue`: without it (SHOPSYNC_SHOPS_URL) runs fail
    // clearly and the cues that need the job queue answer FAILED_PRECONDITION.
    let queue = channel(cfg.shops_url.as_deref(), &auth, "scheduler address")?
        .map(pb::job_queue_client::JobQueueClient::new);
    // The posting service: the shipment cues read and reset shipments there.
    let posting = channel(cfg.posting_url.as_deref(), &auth, "posting service address")?
        .map(pb::posting_client::PostingClient::new);
    let cues =
        grpc::CuesService { cues: Arc::new(cues::Cues { db: pool.clone(), queue, posting }) };
    let apis = shopsync_runtime::worker::Apis {
        services: vec![pb::cues_server::SERVICE_NAME],
        probe: Some({
            let pool = pool.clone();
            shopsync_runtime::server::probe(move || shopsync_store::ping(pool.clone()))
        }),
    };
    let hooks_stop = shutdown.child_token();
    let endpoint = webhooks::http::start(&cfg, &hooks, &pool, auth.clone(), &hooks_stop).await?;
    let runner = OrderTasks { db: pool.clone(), webhooks: hooks };
    let r = shopsync_runtime::worker::serve_worker_with(
        &cfg,
        SERVICE,
        runner,
        shutdown,
        apis,
        |router, auth| {
            router
                .add_service(InterceptedService::new(pb::cues_server::CuesServer::new(cues), auth))
        },
    )
    .await;
    hooks_stop.cancel();
    if let Some(t) = endpoint {
        let _ = t.await;
    }
    pool.close().await;
    r
}

/// A channel to `url` (connected on first use), when there is one; `what` names it in the error.
fn channel(
    url: Option<&str>,
    auth: &shopsync_runtime::ClientAuth,
    what: &'static str,
) -> anyhow::Result<Option<shopsync_runtime::client::AuthedChannel>> {
    url.map(|u| shopsync_runtime::client::connect_lazy(u, auth.clone()).context(what)).transpose()
}
