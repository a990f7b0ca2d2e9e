//! shopsync-posting: the posting service, the ERP side of shopsync. Owns the `posting`
//! schema and serves gRPC `Erp` (items, customers, locations, sales prices, the item ledger,
//! sales documents) and `Posting` (posting documents, posted documents, the change feeds the
//! sync services read), plus the `Worker` protocol for its job queue tasks
//! (BatchPostSalesOrders, BatchPostSalesInvoices).

pub mod batch;
pub mod config;
pub mod docs;
pub mod error;
pub mod grpc;
pub mod lookup;
pub mod master;
pub mod post;
pub mod posted;
pub mod repo;
pub mod stock;
pub mod util;

use anyhow::Context;
pub use config::Config;
use shopsync_common::Service;
use shopsync_proto::pb;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub const SERVICE: Service = Service::Posting;

/// The posting service's migrations (the `posting` schema).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
pub static SCHEMA: shopsync_store::Schema =
    shopsync_store::Schema { name: "posting", migrator: &MIGRATOR };

/// Connect (and migrate) the database, then serve `Worker`, `Erp` and `Posting` until
/// `shutdown`.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let cfg = cfg.worker;
    let pool = shopsync_store::connect_with(
        &cfg.database_url,
        cfg.db_max_connections,
        "shopsync-posting",
        shopsync_store::Plans::Generic,
        &[&SCHEMA],
    )
    .await
    .context("posting database")?;
    let erp = grpc::ErpService { pool: pool.clone(), refs: Default::default() };
    let posting = grpc::PostingService { pool: pool.clone() };
    let runner = batch::PostingTasks { pool: pool.clone() };
    // Everything this service does needs the database: NOT_SERVING while it is unreachable.
    let apis = shopsync_runtime::worker::Apis {
        services: vec![pb::erp_server::SERVICE_NAME, pb::posting_server::SERVICE_NAME],
        probe: Some({
            let pool = pool.clone();
            shopsync_runtime::server::probe(move || shopsync_store::ping(pool.clone()))
        }),
    };
    let r = shopsync_runtime::worker::serve_worker_with(
        &cfg,
        SERVICE,
        runner,
        shutdown,
        apis,
        |router, auth| {
            router
                .add_service(InterceptedService::new(
                    pb::erp_server::ErpServer::new(erp),
                    auth.clone(),
                ))
                .add_service(InterceptedService::new(
                    pb::posting_server::PostingServer::new(posting),
                    auth,
                ))
        },
    )
    .await;
    pool.close().await;
    r
}
