//! Order webhooks: near-real-time import, with polling staying the safety net.
//!
//! - [`http`]: the endpoint Shopify delivers to (`POST /webhooks/shopify` on
//!   `SHOPSYNC_WEBHOOK_LISTEN`). The shop is found by `X-Shopify-Shop-Domain` (the myshopify
//!   domain Shopify reported when the subscriptions were made, or a shop whose store domain is
//!   that domain), the body is HMAC-checked in constant time with the shop's webhook secret
//!   before anything is read or stored (bad or missing: 401), bodies over the limit are 413,
//!   deliveries are de-duplicated by `X-Shopify-Webhook-Id` (a unique key), and the answer is
//!   sent at once: the sync never runs inside the request.
//! - [`debounce`]: the first delivery of a shop opens a window (a row per shop, so replicas
//!   share it); when it closes one background sync-orders job is queued (`SyncNow`), unless one
//!   of the shop's is queued and not started yet. A sweeper closes windows whose opener died.
//! - [`subscribe`]: the wanted subscriptions (the topics below, to
//!   `SHOPSYNC_WEBHOOK_PUBLIC_URL`) are compared with the shop's and missing ones made, by the
//!   shop's SyncOrders runs at most every `SHOPSYNC_WEBHOOK_REPAIR_MINUTES`.
//! - [`gaps`]: orders polling imported that no delivery announced within
//!   `SHOPSYNC_WEBHOOK_GAP_SECS` are a gap (the `WEBHOOK_GAPS` cue, a warning event counted as
//!   `order_webhook_gaps`); its window is reconciled (ids and `updatedAt` from Shopify against
//!   the mirror, missing and outdated orders imported), as is the window a SyncOrders run asks
//!   for with `reconcile_hours`.

pub mod debounce;
pub mod gaps;
pub mod http;
pub mod subscribe;

use crate::config::WebhookConfig;
use shopsync_common::RunReport;
use shopsync_common::params::SyncOrders;
use shopsync_runtime::shop::ShopContext;
use shopsync_runtime::worker::{RunContext, TaskError};
use sqlx::PgPool;

/// The endpoint's path; subscriptions deliver to `<public url><PATH>`.
pub const PATH: &str = "/webhooks/shopify";

/// The topics order sync subscribes to: (Shopify's enum value, the header's form).
pub const TOPICS: [(&str, &str); 6] = [
    ("ORDERS_CREATE", "orders/create"),
    ("ORDERS_UPDATED", "orders/updated"),
    ("ORDERS_CANCELLED", "orders/cancelled"),
    ("REFUNDS_CREATE", "refunds/create"),
    ("FULFILLMENTS_CREATE", "fulfillments/create"),
    ("FULFILLMENTS_UPDATE", "fulfillments/update"),
];

/// After a SyncOrders import: the shop's subscriptions checked (when its webhooks are on and
/// the check is due), the gap check, and the reconciliation of a gap's window or of the
/// window the run asked for.
pub async fn after_import(
    ctx: &RunContext,
    shop: &ShopContext,
    db: &PgPool,
    cfg: &WebhookConfig,
    p: &SyncOrders,
    report: &mut RunReport,
) -> Result<(), TaskError> {
    let name = shop.shop.name.as_str();
    if shop.shop.settings.order_webhooks {
        match cfg.callback() {
            Some(callback) => {
                // A subscription problem never stops the run's orders: it is reported, and
                // polling goes on.
                if let Err(e) = subscribe::ensure(shop, db, &callback, cfg, report).await {
                    report.record_error(shopsync_common::report::RecordError {
                        record: "order webhooks".into(),
                        reason: format!("the subscriptions could not be checked: {e}"),
                        retryable: true,
                    });
                }
            }
            None => report.record_error(shopsync_common::report::RecordError {
                record: "order webhooks".into(),
                reason: "the shop has order_webhooks on but order-sync has no public address \
                         (SHOPSYNC_WEBHOOK_PUBLIC_URL): polling only"
                    .into(),
                retryable: false,
            }),
        }
        // Announced but not brought by the import: read by id (a failure is reported, and
        // the next run tries again while the delivery is recent).
        if let Err(e) = gaps::announced(shop, db, p, report).await {
            report.record_error(shopsync_common::report::RecordError {
                record: "order webhooks".into(),
                reason: format!("announced orders could not be read again: {e}"),
                retryable: true,
            });
        }
        gaps::check(db, name, cfg, report).await?;
    } else {
        crate::repo::webhooks::unsubscribed(db, name).await.map_err(db_failure)?;
    }
    let pending = crate::repo::webhooks::shop_state(db, name).await.map_err(db_failure)?;
    let asked = (p.reconcile_hours > 0)
        .then(|| chrono::Utc::now() - chrono::TimeDelta::hours(i64::from(p.reconcile_hours)));
    let since = match (asked, pending.reconcile_from) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(since) = since
        && let Err(e) = gaps::reconcile(ctx, shop, db, p, since, report).await
    {
        if matches!(e, TaskError::Cancelled) {
            return Err(e);
        }
        report.record_error(shopsync_common::report::RecordError {
            record: "order reconciliation".into(),
            reason: format!("the reconciliation did not finish (it is tried again): {e}"),
            retryable: true,
        });
    }
    Ok(())
}

fn db_failure(e: sqlx::Error) -> TaskError {
    crate::fail(crate::Failure::Db(e))
}
