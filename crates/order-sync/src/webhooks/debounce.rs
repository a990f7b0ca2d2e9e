//! One sync-orders job per burst of deliveries. The first delivery of a shop opens a window in
//! `order_sync.webhook_shops` (one row per shop: replicas share it, exactly one opens it);
//! its replica closes it after the debounce and queues one background `SyncNow`, unless one
//! of the shop's sync-orders jobs is queued and has not started (it will read the orders the
//! deliveries announced). Deliveries inside the window join it. A window whose opener died is
//! closed by any replica's sweeper. Closing claims the window for a lease and clears it only
//! once the job is queued (SyncNow's request id makes a repeat the same job), so a crash or a
//! hung queue call leaves it to the sweeper; a job the queue refuses for good drops it.

use crate::repo::webhooks as repo;
use chrono::{DateTime, Utc};
use shopsync_common::Task;
use shopsync_proto::pb;
use shopsync_proto::pb::job_queue_client::JobQueueClient;
use shopsync_runtime::client::AuthedChannel;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct Debouncer {
    pub db: sqlx::PgPool,
    pub queue: JobQueueClient<AuthedChannel>,
    pub debounce: Duration,
    pub shutdown: CancellationToken,
}

/// A window is the sweeper's when it has been open this much longer than the debounce.
const SWEEP_GRACE: Duration = Duration::from_secs(2);

/// The longest a window waits for the job queue (within the claim's lease).
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors the same request always gets again.
fn permanent(s: &tonic::Status) -> bool {
    matches!(
        s.code(),
        tonic::Code::InvalidArgument
            | tonic::Code::NotFound
            | tonic::Code::PermissionDenied
            | tonic::Code::FailedPrecondition
    )
}

impl Debouncer {
    /// A delivery opened `shop`'s window at `at`: close it after the debounce.
    pub fn opened(self: &Arc<Self>, shop: &str, at: DateTime<Utc>) {
        let this = self.clone();
        let shop = shop.to_owned();
        tokio::spawn(async move {
            tokio::select! {
                _ = this.shutdown.cancelled() => {}
                _ = tokio::time::sleep(this.debounce) => this.close(&shop, Some(at), 0).await,
            }
        });
    }

    /// Close the shop's window (this replica's own, or any older than `older_than_ms`) and
    /// queue its job.
    async fn close(&self, shop: &str, own: Option<DateTime<Utc>>, older_than_ms: i64) {
        let since = match repo::close_window(&self.db, shop, own, older_than_ms).await {
            Ok(Some(since)) => since,
            Ok(None) => return,
            Err(e) => {
                // The window stays open: the sweeper closes it.
                tracing::warn!(shop, error = %e, "webhooks: closing the window");
                return;
            }
        };
        let queued = tokio::time::timeout(QUEUE_TIMEOUT, self.queue_job(shop, since))
            .await
            .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("the job queue is slow")));
        let done = match queued {
            Ok(Some(entry)) => {
                tracing::debug!(shop, entry, "webhooks: sync-orders queued");
                if let Err(e) = repo::queued(&self.db, shop, &entry).await {
                    tracing::warn!(shop, error = %e, "webhooks: recording the job");
                }
                true
            }
            Ok(None) => {
                tracing::debug!(shop, "webhooks: a queued sync-orders job will read them");
                true
            }
            // The queue refuses the shop for good (disabled, unknown, bad saved filters): the
            // window goes; polling reads the orders once the shop is fixed.
            Err(s) if permanent(&s) => {
                tracing::warn!(shop, error = %s, "webhooks: the shop's job is refused; dropped");
                true
            }
            Err(s) => {
                tracing::warn!(shop, error = %s, "webhooks: the job could not be queued; later");
                false
            }
        };
        let r = if done {
            repo::window_done(&self.db, shop, since).await
        } else {
            repo::reopen_window(&self.db, shop, since).await
        };
        if let Err(e) = r {
            // The claim runs out and the sweeper takes the window again.
            tracing::warn!(shop, error = %e, "webhooks: settling the window");
        }
    }

    /// Queue one background sync-orders job for the shop (with the saved filters of its
    /// recurring sync-orders entry, if it has one), unless one is queued and not started.
    async fn queue_job(
        &self,
        shop: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, tonic::Status> {
        let mut q = self.queue.clone();
        let (params, not_started) = shop_sync_orders(&mut q, shop).await?;
        if not_started {
            return Ok(None);
        }
        let mut events = q
            .sync_now(pb::SyncNowRequest {
                shop: shop.to_owned(),
                params: Some(params),
                request_id: format!("webhooks/{shop}/{}", since.timestamp_micros()),
                created_by: "order webhooks".into(),
                wait: false,
            })
            .await?
            .into_inner();
        // The first event names the entry; the run goes on without us.
        let first = events.message().await?;
        Ok(Some(
            first.and_then(|e| e.snapshot).and_then(|s| s.entry).map(|e| e.id).unwrap_or_default(),
        ))
    }

    /// Close the windows whose opener is gone, every second, until shutdown.
    pub async fn sweep(self: Arc<Self>) {
        let older = (self.debounce + SWEEP_GRACE).as_millis() as i64;
        let mut tick = 0u64;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            // Every ten minutes: deliveries past Shopify's retries and then some go, for every
            // shop (also those whose gap check does not run).
            tick += 1;
            if tick % 600 == 1
                && let Err(e) = repo::prune_deliveries(&self.db).await
            {
                tracing::warn!(error = %e, "webhooks: pruning deliveries");
            }
            match repo::stale_windows(&self.db, older).await {
                Ok(shops) => {
                    for shop in shops {
                        self.close(shop.as_str(), None, older).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "webhooks: sweeping windows"),
            }
        }
    }
}

/// The parameters for an extra sync-orders job of the shop (the saved filters of its
/// recurring sync-orders entry, if it has one, without reconciliation), and whether one of its
/// sync-orders jobs is queued and not started.
pub async fn shop_sync_orders(
    q: &mut JobQueueClient<AuthedChannel>,
    shop: &str,
) -> Result<(pb::TaskParams, bool), tonic::Status> {
    let entries = q
        .list_entries(pb::ListEntriesRequest {
            statuses: vec![
                pb::JobStatus::Ready as i32,
                pb::JobStatus::Waiting as i32,
                pb::JobStatus::InProcess as i32,
                pb::JobStatus::OnHold as i32,
                pb::JobStatus::Error as i32,
            ],
            shop: shop.to_owned(),
            task: shopsync_proto::task_to_pb(Task::SyncOrders) as i32,
            page_size: 1000,
            ..Default::default()
        })
        .await?
        .into_inner()
        .entries;
    let soon = chrono::Utc::now() + chrono::TimeDelta::seconds(1);
    let not_started = entries.iter().any(|e| {
        let status = e.status;
        let due = e.next_run_at.as_ref().is_some_and(|t| {
            DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32).is_some_and(|t| t <= soon)
        });
        (status == pb::JobStatus::Ready as i32 || status == pb::JobStatus::Waiting as i32)
            && (!e.recurring || due)
    });
    let mut params = entries
        .iter()
        .filter(|e| e.recurring)
        .max_by_key(|e| e.entry_no)
        .and_then(|e| e.spec.as_ref())
        .and_then(|s| s.params.clone())
        .unwrap_or(pb::TaskParams {
            params: Some(pb::task_params::Params::SyncOrders(Default::default())),
        });
    if let Some(pb::task_params::Params::SyncOrders(p)) = &mut params.params {
        p.reconcile_hours = 0;
    }
    Ok((params, not_started))
}
