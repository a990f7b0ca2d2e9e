//! shopsync-inventory-sync: the inventory-sync service. Serves gRPC `Worker` for its tasks
//! (SyncInventory) and the built-in test task.
//! The real tasks arrive with their issues; until then they fail with a clear,
//! non-retryable "not implemented yet" error instead of pretending to run.

use shopsync_common::Service;
use shopsync_runtime::worker::NoTasks;

pub const SERVICE: Service = Service::InventorySync;

/// This service's task runner.
pub fn runner() -> NoTasks {
    NoTasks(SERVICE)
}
