//! Waking the claimers when an entry becomes due through this process's API.
//!
//! A `NOTIFY` in every create's transaction would serialise the creates: PostgreSQL holds a
//! database-wide lock from a notifying transaction's pre-commit to its end, WAL flush
//! included, so notifying creates commit one at a time (about 1,000 per second here, whatever
//! the number of connections). Instead the create wakes this process's dispatcher directly,
//! and one coalesced `NOTIFY` (at most one per [`COALESCE`]) wakes the other replicas, which
//! only matter when this one has no free slot. Without a broadcaster (tests that build a
//! [`crate::service::JobQueue`] alone), creates notify in their transaction as before.

use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The longest a burst of creates waits for its one cross-replica NOTIFY.
pub const COALESCE: Duration = Duration::from_millis(20);

#[derive(Default)]
pub struct Wakeup {
    /// This process's dispatcher waits on it.
    pub(crate) local: Notify,
    /// A NOTIFY for the other replicas is requested and not sent yet.
    pending: AtomicBool,
    remote: Notify,
}

impl Wakeup {
    /// Work became due.
    pub fn due(&self) {
        self.local.notify_one();
        if !self.pending.swap(true, Ordering::AcqRel) {
            self.remote.notify_one();
        }
    }

    /// Send the coalesced NOTIFYs until `stop`. A failed NOTIFY is logged: the other replicas
    /// still poll.
    pub async fn broadcast(self: Arc<Self>, pool: PgPool, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = self.remote.notified() => {}
                _ = stop.cancelled() => return,
            }
            tokio::time::sleep(COALESCE).await;
            self.pending.store(false, Ordering::Release);
            if let Err(e) = crate::repo::notify_wake(&pool).await {
                tracing::warn!(error = ?e, "could not wake the other schedulers; they poll");
            }
        }
    }
}
