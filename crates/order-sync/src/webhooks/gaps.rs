//! Gaps and reconciliation.
//!
//! **Gaps.** With webhooks on, every order the mirror holds was either announced by a
//! delivery or found by polling alone. After each SyncOrders run the orders updated since the
//! last check, up to `SHOPSYNC_WEBHOOK_GAP_SECS` ago (a delivery had that long to come), are
//! compared with the deliveries: the unannounced ones make a gap (the window of their
//! `updatedAt`, how many, some names, and why: deliveries stopped, or fell behind polling).
//! It is stored (the `WEBHOOK_GAPS` cue), logged as a warning event counted as
//! `order_webhook_gaps`, and its window is reconciled. A gap resolves itself when deliveries
//! announce orders again, or when a person retries it.
//!
//! **Reconciliation.** Shopify's orders updated since a time, ids and `updatedAt` only (cheap
//! pages of 250), against the mirror: the missing and outdated ones are read whole and stored
//! as the import stores them. Counters: `reconcile_checked`, `reconcile_missing`,
//! `reconcile_outdated`, `reconcile_repaired`.

use crate::config::WebhookConfig;
use crate::repo::webhooks as repo;
use crate::{Failure, fail};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use shopsync_common::RunReport;
use shopsync_common::params::SyncOrders;
use shopsync_runtime::shop::ShopContext;
use shopsync_runtime::worker::{RunContext, TaskError};
use shopsync_shopify::ops::{self, order_stamps, orders_page};
use sqlx::PgPool;

/// Why the orders went unannounced, as a person reads it.
pub fn reason(
    g: &repo::Unannounced,
    last_delivery: Option<DateTime<Utc>>,
    grace_secs: u64,
) -> String {
    let why = match last_delivery {
        None => "no delivery has arrived since the subscriptions were made".to_owned(),
        Some(t) if t < g.from => {
            format!("deliveries stopped: the last arrived at {}", t.to_rfc3339())
        }
        Some(t) => format!(
            "deliveries fell behind polling by more than {grace_secs} s (the last arrived at {})",
            t.to_rfc3339()
        ),
    };
    format!(
        "{} orders updated between {} and {} came by polling, not by webhook: {why}",
        g.orders,
        g.from.to_rfc3339(),
        g.to.to_rfc3339()
    )
}

/// The gap check of one shop (a no-op until its subscriptions were made).
pub async fn check(
    db: &PgPool,
    shop: &str,
    cfg: &WebhookConfig,
    report: &mut RunReport,
) -> Result<(), TaskError> {
    let dbf = |e| fail(Failure::Db(e));
    let state = repo::shop_state(db, shop).await.map_err(dbf)?;
    let Some(from) = state.gaps_checked_until else { return Ok(()) };
    // Whole seconds, as Shopify's `updatedAt`: each order time is checked exactly once (the
    // check starts at the second the subscriptions were made).
    let to = Utc::now() - chrono::TimeDelta::seconds(cfg.webhook_gap_secs as i64);
    let to = DateTime::from_timestamp(to.timestamp(), 0).unwrap_or(to);
    if to <= from {
        return Ok(());
    }
    let found = repo::unannounced(db, shop, from, to).await.map_err(dbf)?;
    let Some(g) = found else {
        repo::checked(db, shop, None, to).await.map_err(dbf)?;
        return Ok(());
    };
    let last = repo::last_delivery(db, shop).await.map_err(dbf)?;
    let why = reason(&g, last, cfg.webhook_gap_secs);
    let id = repo::checked(db, shop, Some((&g, &why)), to).await.map_err(dbf)?;
    tracing::warn!(
        monotonic_counter.order_webhook_gaps = 1,
        shop,
        gap = id,
        orders = g.orders,
        from = %g.from,
        to = %g.to,
        reason = %why,
        "order webhook gap"
    );
    report.count("webhook_gaps", 1);
    report.count("webhook_gap_orders", g.orders);
    Ok(())
}

/// Orders re-read whole per request.
const REREAD: usize = 50;

/// Reconcile the orders updated since `since`: the missing and outdated ones imported.
pub async fn reconcile(
    ctx: &RunContext,
    shop: &ShopContext,
    db: &PgPool,
    p: &SyncOrders,
    since: DateTime<Utc>,
    report: &mut RunReport,
) -> Result<(), TaskError> {
    let name = shop.shop.name.as_str();
    let query = format!("updated_at:>='{}'", since.to_rfc3339());
    let mut pages = std::pin::pin!(shop.shopify.pages::<ops::OrderStamps>(
        order_stamps::Variables { first: 250, after: None, query: Some(query) },
        None,
    ));
    let (mut checked, mut missing, mut outdated) = (0i64, 0i64, 0i64);
    let mut need: Vec<i64> = Vec::new();
    loop {
        let next = tokio::select! {
            _ = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
            n = pages.next() => n,
        };
        let Some(page) = next else { break };
        let page = page.map_err(|e| fail(Failure::Shopify(e)))?;
        let stamps: Vec<(i64, Option<DateTime<Utc>>)> = page
            .nodes
            .iter()
            .filter_map(|n| {
                let id = n.id.rsplit('/').next()?.parse::<i64>().ok()?;
                let at =
                    DateTime::parse_from_rfc3339(&n.updated_at).ok().map(|t| t.with_timezone(&Utc));
                Some((id, at))
            })
            .collect();
        let ids: Vec<i64> = stamps.iter().map(|(id, _)| *id).collect();
        let ours: std::collections::HashMap<i64, DateTime<Utc>> =
            repo::mirror_stamps(db, name, &ids)
                .await
                .map_err(|e| fail(Failure::Db(e)))?
                .into_iter()
                .collect();
        for (id, at) in stamps {
            checked += 1;
            match (ours.get(&id), at) {
                (None, _) => {
                    missing += 1;
                    need.push(id);
                }
                (Some(mine), Some(theirs)) if *mine < theirs => {
                    outdated += 1;
                    need.push(id);
                }
                _ => {}
            }
        }
    }
    let repaired = reread(shop, db, p, &need, report).await?;
    report.count("reconcile_checked", checked);
    report.count("reconcile_missing", missing);
    report.count("reconcile_outdated", outdated);
    report.count("reconcile_repaired", repaired);
    if missing + outdated > 0 {
        tracing::info!(shop = name, since = %since, missing, outdated, repaired, "orders reconciled");
    }
    repo::reconciled(db, name, since).await.map_err(|e| fail(Failure::Db(e)))?;
    Ok(())
}

/// Read `ids` again whole and store them (through the saved filters for new ones); how many
/// came in or changed.
pub async fn reread(
    shop: &ShopContext,
    db: &PgPool,
    p: &SyncOrders,
    ids: &[i64],
    report: &mut RunReport,
) -> Result<i64, TaskError> {
    let name = shop.shop.name.as_str();
    // Where the shop's history begins: an unknown order closed before it stays out.
    let history = if ids.is_empty() { None } else { history(shop).await? };
    let mut sub = RunReport::default();
    for chunk in ids.chunks(REREAD) {
        let query = chunk.iter().map(|id| format!("id:{id}")).collect::<Vec<_>>().join(" OR ");
        let mut pages = std::pin::pin!(shop.shopify.pages::<ops::OrdersPage>(
            orders_page::Variables { first: chunk.len() as i64, after: None, query: Some(query) },
            None,
        ));
        let mut orders = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| fail(Failure::Shopify(e)))?;
            for node in page.nodes {
                crate::import::take(db, name, Ok(node), &mut orders, &mut sub).await?;
            }
        }
        crate::import::store(db, name, p, &orders, history, &mut sub).await?;
    }
    let repaired = ["imported", "updated", "changed_after_processing"]
        .iter()
        .map(|k| sub.counters.get(*k).copied().unwrap_or(0))
        .sum::<i64>();
    crate::merge(report, sub);
    Ok(repaired)
}

/// Orders a delivery announced that the import did not bring (not in the mirror, or the
/// mirror's copy older than the delivery's): Shopify's search may not show a change yet when
/// the job it triggered reads, or a change commits after a later one was read. Read by id.
pub async fn announced(
    shop: &ShopContext,
    db: &PgPool,
    p: &SyncOrders,
    report: &mut RunReport,
) -> Result<(), TaskError> {
    let ids = repo::announced_not_imported(db, &shop.shop.name)
        .await
        .map_err(|e| fail(Failure::Db(e)))?;
    if ids.is_empty() {
        return Ok(());
    }
    let repaired = reread(shop, db, p, &ids, report).await?;
    report.count("announced_reread", ids.len() as i64);
    report.count("announced_repaired", repaired);
    Ok(())
}

/// The open gaps as cue groups (key `gap:<id>`).
pub async fn groups(
    db: &PgPool,
    shop: Option<&str>,
    limit: i64,
) -> Result<Vec<crate::repo::cues::Group>, sqlx::Error> {
    Ok(repo::open_gaps(db, shop, limit)
        .await?
        .into_iter()
        .map(|g| crate::repo::cues::Group {
            shop: g.shop,
            key: format!("gap:{}", g.id),
            kind: "webhook_gap".into(),
            reason: match g.backfilled_at {
                Some(t) => format!("{} (window reconciled at {})", g.reason, t.to_rfc3339()),
                None => format!("{} (window not reconciled yet)", g.reason),
            },
            count: g.orders,
            records: g.records,
        })
        .collect())
}

/// Retry a gap's group: the gap is resolved and one sync-orders job reconciles its window.
pub async fn retry(
    db: &PgPool,
    mut queue: shopsync_proto::pb::job_queue_client::JobQueueClient<
        shopsync_runtime::client::AuthedChannel,
    >,
    shop: &str,
    key: &str,
    requested_by: &str,
) -> Result<(i64, Option<String>), crate::cues::CueError> {
    use crate::cues::CueError;
    use shopsync_proto::pb;
    let id =
        key.strip_prefix("gap:").and_then(|s| s.parse::<i64>().ok()).ok_or(CueError::Invalid {
            field: "key",
            reason: "expected gap:<id> as ListCueGroups gives it".into(),
        })?;
    let Some(from) = repo::resolve_gap(db, shop, id).await? else { return Ok((0, None)) };
    let hours = ((Utc::now() - from).num_minutes() / 60 + 1)
        .clamp(1, i64::from(shopsync_common::params::MAX_RECONCILE_HOURS)) as u32;
    let (mut params, _) =
        super::debounce::shop_sync_orders(&mut queue, shop).await.map_err(CueError::Queue)?;
    if let Some(pb::task_params::Params::SyncOrders(p)) = &mut params.params {
        p.reconcile_hours = hours;
    }
    let e = queue
        .create_entry(pb::CreateEntryRequest {
            spec: Some(pb::JobSpec {
                shop: shop.to_owned(),
                params: Some(params),
                description: format!("retry: {key}"),
                created_by: requested_by.to_owned(),
                ..Default::default()
            }),
            on_hold: false,
            request_id: String::new(),
        })
        .await
        .map_err(CueError::Queue)?
        .into_inner();
    Ok((1, Some(e.id)))
}

async fn history(shop: &ShopContext) -> Result<Option<DateTime<Utc>>, TaskError> {
    let stored = shop
        .shops
        .clone()
        .get_cursor(crate::import::key(&shop.shop.name))
        .await
        .map_err(|s| fail(Failure::Api("reading the orders cursor", s)))?
        .into_inner();
    Ok(serde_json::from_str::<crate::import::ImportCursor>(&stored.value)
        .ok()
        .and_then(|c| c.history))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_says_whether_deliveries_stopped_or_fell_behind() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let g = repo::Unannounced {
            orders: 3,
            from: t("2026-12-08T10:00:00Z"),
            to: t("2026-12-08T10:05:00Z"),
            records: vec![],
        };
        assert!(reason(&g, None, 120).contains("no delivery has arrived"));
        assert!(reason(&g, Some(t("2026-12-08T09:00:00Z")), 120).contains("deliveries stopped"));
        let r = reason(&g, Some(t("2026-12-08T10:03:00Z")), 120);
        assert!(r.starts_with("3 orders updated between"), "{r}");
        assert!(r.contains("fell behind polling by more than 120 s"), "{r}");
    }
}
