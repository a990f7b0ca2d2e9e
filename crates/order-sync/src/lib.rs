//! shopsync-order-sync: the order-sync service. Serves gRPC `Worker` for its tasks
//! (SyncOrders, CreateSalesOrders, SyncShipments, SyncCustomers, SyncCompanies, SyncPayments) and the built-in test task.
//! The real tasks arrive with their issues; until then they fail with a clear,
//! non-retryable "not implemented yet" error instead of pretending to run.

pub mod config;

pub use config::Config;
use shopsync_common::Service;
use shopsync_runtime::worker::NoTasks;
use tokio_util::sync::CancellationToken;

pub const SERVICE: Service = Service::OrderSync;

/// This service's task runner.
pub fn runner() -> NoTasks {
    NoTasks(SERVICE)
}

/// Serve the service until `shutdown`: `Worker` (authenticated), health and reflection.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    shopsync_runtime::worker::serve_worker(&cfg.worker, SERVICE, runner(), shutdown).await
}
