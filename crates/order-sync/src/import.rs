//! Sync orders from Shopify (T1, reference 3.1): the orders changed since the cursor, page by
//! page (25 orders a page with their lines, shipping, tax, transactions, refunds, fulfillment
//! orders, fulfillments and risk in one query), into the mirror.
//!
//! The cursor (`Shops` API, resource `orders`) holds the `updatedAt` the next run starts from
//! and, during a run, the query and the page cursor to resume from: it is saved after each
//! page is stored, so a crash re-reads at most one page and never skips one. The first run
//! reads the open orders or, when asked (`history_from`), every order created since a date
//! (the reference never imports history). Each order stands alone: one that cannot be read is
//! kept with its reason (a per-record error and the unprocessed-orders cue); one outside the
//! saved filters is skipped (and read again when it changes). Shopify failing fails the run
//! (retryable).

use crate::mirror::{self, Order};
use crate::repo::orders::{self as repo, Stored};
use crate::{Failure, fail};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use shopsync_common::RunReport;
use shopsync_common::params::SyncOrders;
use shopsync_common::report::RecordError;
use shopsync_proto::pb;
use shopsync_runtime::shop::ShopContext;
use shopsync_runtime::worker::{RunContext, TaskError};
use shopsync_shopify::ops::{self, orders_page};
use sqlx::PgPool;

/// Orders per page to start with: Shopify's sublinear cost makes a big page far cheaper per
/// order (332 requested points for 250 orders, 32 for one). A page over Shopify's
/// 1,000-point query limit (its cost rules changed, or a stricter model) is asked again
/// smaller, at the size its reported cost allows, and the shop's cursor keeps that size.
pub const PAGE_SIZE: i64 = 250;

/// The requested cost a page is sized to stay under (Shopify's limit is 1,000).
const PAGE_COST_TARGET: f64 = 950.0;

/// What the `orders` cursor holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCursor {
    /// The next run reads orders updated at or after this (none: the first run).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// A run in progress: its query and the page to resume after.
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    /// The newest `updatedAt` stored so far in the run in progress.
    #[serde(default)]
    pub high_water: Option<DateTime<Utc>>,
    /// Orders per page when the default page was over Shopify's query cost limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<i64>,
    /// Where the shop's history begins (the first run's `history_from`, or its start): an
    /// unknown order closed and created before it is not imported later either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<DateTime<Utc>>,
}

/// The first run with history: the open orders and every order created since `day`.
fn history_filter(day: chrono::NaiveDate) -> String {
    format!("status:open OR created_at:>='{day}'")
}

/// The saved filters of the request page.
pub fn passes(p: &SyncOrders, o: &Order) -> Result<(), String> {
    if p.only_fully_paid && !o.fully_paid {
        return Err("not fully paid".into());
    }
    if !p.financial_statuses.is_empty() && !p.financial_statuses.contains(&o.financial_status) {
        return Err(format!("financial status {}", o.financial_status));
    }
    if !p.fulfillment_statuses.is_empty() && !p.fulfillment_statuses.contains(&o.fulfillment_status)
    {
        return Err(format!("fulfillment status {}", o.fulfillment_status));
    }
    if !p.tags.is_empty()
        && !o.tags.iter().any(|t| p.tags.iter().any(|f| f.eq_ignore_ascii_case(t)))
    {
        return Err("none of the tags".into());
    }
    if let Some(c) = &p.channel
        && o.source_name.as_deref().is_none_or(|s| !s.eq_ignore_ascii_case(c))
    {
        return Err(format!("channel {}", o.source_name.as_deref().unwrap_or("-")));
    }
    if p.exclude_high_risk && o.high_risk {
        return Err("high risk".into());
    }
    Ok(())
}

pub(crate) fn key(shop: &str) -> pb::CursorKey {
    pb::CursorKey { shop: shop.to_owned(), resource: pb::SyncResource::Orders as i32 }
}

pub async fn run(
    ctx: &RunContext,
    shop: &ShopContext,
    db: &PgPool,
    p: &SyncOrders,
) -> Result<RunReport, TaskError> {
    let name = shop.shop.name.as_str();
    let mut shops = shop.shops.clone();
    let stored = shops
        .get_cursor(key(name))
        .await
        .map_err(|s| fail(Failure::Api("reading the orders cursor", s)))?
        .into_inner();
    let mut version = stored.version;
    let mut cursor: ImportCursor = if stored.value.trim().is_empty() {
        ImportCursor::default()
    } else {
        serde_json::from_str(&stored.value).map_err(|e| TaskError::Failed {
            source: anyhow::anyhow!(
                "the orders cursor {:?} is not one this version wrote ({e}); reset it with `shopsync cursors reset {name} orders`",
                stored.value
            ),
            retryable: false,
        })?
    };
    let started = Utc::now();
    if cursor.since.is_none() && cursor.history.is_none() {
        cursor.history = Some(match p.history_from {
            Some(day) => day.and_time(chrono::NaiveTime::MIN).and_utc(),
            None => started - TimeDelta::minutes(5),
        });
    }
    let history = cursor.history;
    // A first run with history reads it as one bulk operation (cheaper than pages).
    if let (None, None, Some(day)) = (cursor.since, &cursor.query, p.history_from) {
        let cursor = ImportCursor {
            since: Some(started - TimeDelta::minutes(5)),
            history,
            ..Default::default()
        };
        return bulk_load(ctx, shop, db, p, &history_filter(day), version, cursor).await;
    }
    let query = cursor.query.clone().unwrap_or_else(|| match (cursor.since, &p.history_from) {
        (Some(since), _) => format!("updated_at:>='{}'", since.to_rfc3339()),
        (None, Some(day)) => history_filter(*day),
        (None, None) => "status:open".to_owned(),
    });
    let mut report = RunReport::default();
    let mut read = 0u64;
    let mut size = cursor.page_size.unwrap_or(PAGE_SIZE).clamp(1, PAGE_SIZE);
    'pages: loop {
        let resume = cursor.after.clone().map(shopsync_shopify::Cursor);
        let vars = orders_page::Variables { first: size, after: None, query: Some(query.clone()) };
        let mut pages = prefetched(shop.shopify.clone(), vars, resume);
        loop {
            let next = tokio::select! {
                _ = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
                n = pages.rx.recv() => n,
            };
            let Some(page) = next else { break 'pages };
            let page = match page {
                Ok(p) => p,
                Err(shopsync_shopify::ShopifyError::MaxCostExceeded { cost, .. }) if size > 1 => {
                    let smaller = ((size as f64) * PAGE_COST_TARGET / cost).floor() as i64;
                    let smaller = smaller.clamp(1, size - 1);
                    tracing::info!(
                        shop = name,
                        size,
                        smaller,
                        cost,
                        "orders page over the query cost limit: smaller pages"
                    );
                    size = smaller;
                    cursor.page_size = Some(size);
                    continue 'pages;
                }
                Err(e) => return Err(fail(Failure::Shopify(e))),
            };
            let mut orders = Vec::with_capacity(page.nodes.len());
            for node in page.nodes {
                read += 1;
                take(db, name, Ok(node), &mut orders, &mut report).await?;
            }
            store(db, name, p, &orders, history, &mut report).await?;
            let newest = orders.iter().map(|o| o.updated_at).max();
            cursor.high_water = cursor.high_water.max(newest);
            // Checkpoint: the next attempt resumes after this page.
            cursor.query = Some(query.clone());
            if page.resume.is_some() {
                cursor.after = page.resume.map(|c| c.0);
            }
            version = save(&mut shops, name, &cursor, version).await?;
            let more = if page.has_next_page { size as u64 } else { 0 };
            ctx.progress.report(read, read + more, format!("{read} orders read")).await;
        }
    }
    // Done: the next run starts from the newest change stored (re-reading that second is
    // harmless), or from a little before this run began when nothing was read.
    let next_since = cursor.high_water.or(cursor.since).unwrap_or(started - TimeDelta::minutes(5));
    let done = ImportCursor {
        since: Some(next_since),
        query: None,
        after: None,
        high_water: None,
        page_size: cursor.page_size,
        history,
    };
    save(&mut shops, name, &done, version).await?;
    report.count("read", read as i64);
    report.count("page_size", size);
    Ok(report)
}

async fn save(
    shops: &mut shopsync_proto::pb::shops_client::ShopsClient<
        shopsync_runtime::client::AuthedChannel,
    >,
    shop: &str,
    c: &ImportCursor,
    version: i64,
) -> Result<i64, TaskError> {
    let value = serde_json::to_string(c).map_err(|e| TaskError::retryable(anyhow::anyhow!(e)))?;
    let saved = shops
        .save_cursor(pb::SaveCursorRequest {
            key: Some(key(shop)),
            value,
            expected_version: version,
        })
        .await
        .map_err(|s| fail(Failure::Api("saving the orders cursor", s)))?
        .into_inner();
    Ok(saved.version)
}

/// Orders stored per transaction by the bulk load.
const BULK_BATCH: usize = 250;

/// The first run with history as one bulk operation: every order is stored (in batches), then
/// the cursor moves to the newest change stored (`done` when none was). A crash runs the whole load again (idempotent
/// upserts: nothing doubles, nothing is skipped).
async fn bulk_load(
    ctx: &RunContext,
    shop: &ShopContext,
    db: &PgPool,
    p: &SyncOrders,
    filter: &str,
    version: i64,
    // The cursor to save when done if nothing is read (`since`: before the load began).
    mut done: ImportCursor,
) -> Result<RunReport, TaskError> {
    let history = done.history;
    let name = shop.shop.name.as_str();
    let mut report = RunReport::default();
    let records = shop
        .shopify
        .bulk_query(&crate::bulk::query(filter), std::time::Duration::from_secs(1))
        .await
        .map_err(|e| fail(Failure::Shopify(e)))?;
    let mut records = std::pin::pin!(records);
    let mut assembler = crate::bulk::Assembler::default();
    let mut batch = Vec::new();
    let mut high_water: Option<DateTime<Utc>> = None;
    let mut read = 0u64;
    loop {
        let next = tokio::select! {
            _ = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
            n = records.next() => n,
        };
        let Some(r) = next else { break };
        let r = r.map_err(|e| fail(Failure::Shopify(e)))?;
        let done = assembler.push(r).map_err(|e| TaskError::retryable(anyhow::anyhow!(e)))?;
        if let Some(order) = done {
            read += 1;
            take(db, name, order, &mut batch, &mut report).await?;
            if batch.len() >= BULK_BATCH {
                high_water = high_water.max(batch.iter().map(|o| o.updated_at).max());
                store(db, name, p, &batch, history, &mut report).await?;
                batch.clear();
                ctx.progress.report(read, read, format!("{read} orders read")).await;
            }
        }
    }
    if let Some(order) = assembler.finish() {
        read += 1;
        take(db, name, order, &mut batch, &mut report).await?;
    }
    high_water = high_water.max(batch.iter().map(|o| o.updated_at).max());
    store(db, name, p, &batch, history, &mut report).await?;
    let mut shops = shop.shops.clone();
    if high_water.is_some() {
        done.since = high_water;
    }
    save(&mut shops, name, &done, version).await?;
    report.count("read", read as i64);
    report.count("bulk", 1);
    Ok(report)
}

/// Read one order into `batch` (the saved filters are applied by [`store`]); kept with its
/// reason (and a per-record error) when it cannot be read.
pub(crate) async fn take(
    db: &PgPool,
    shop: &str,
    node: crate::bulk::Assembled,
    batch: &mut Vec<Order>,
    report: &mut RunReport,
) -> Result<(), TaskError> {
    let (gid, order_name, reason) = match node {
        Ok(node) => {
            let (gid, order_name) = (node.id.clone(), node.name.clone());
            match Order::from_node(node) {
                Ok(o) => {
                    batch.push(o);
                    return Ok(());
                }
                Err(reason) => (gid, order_name, reason),
            }
        }
        Err(e) => e,
    };
    report.record_error(RecordError {
        record: mirror::record(&order_name, &gid),
        reason: reason.clone(),
        retryable: false,
    });
    if let Some(id) = gid.rsplit('/').next().and_then(|s| s.parse::<i64>().ok()) {
        repo::store_unreadable(db, shop, id, &order_name, &reason)
            .await
            .map_err(|e| fail(Failure::Db(e)))?;
    }
    Ok(())
}

/// Store a batch of orders in one transaction and count what it did. The saved filters
/// decide which new orders come in; an order already imported is always brought up to date
/// (its refund, cancellation or edit must reach its document, whatever it looks like now).
pub(crate) async fn store(
    db: &PgPool,
    shop: &str,
    p: &SyncOrders,
    orders: &[Order],
    history: Option<DateTime<Utc>>,
    report: &mut RunReport,
) -> Result<(), TaskError> {
    if orders.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
    let known = repo::known(db, shop, &ids).await.map_err(|e| fail(Failure::Db(e)))?;
    let mut kept = Vec::with_capacity(orders.len());
    for o in orders {
        if known.contains(&o.id) || passes(p, o).is_ok() {
            kept.push(o.clone());
        } else {
            report.count("skipped", 1);
        }
    }
    if kept.is_empty() {
        return Ok(());
    }
    let orders = &kept[..];
    let outcomes =
        repo::store_page(db, shop, orders, history).await.map_err(|e| fail(Failure::Db(e)))?;
    for (o, s) in orders.iter().zip(&outcomes) {
        match s {
            Stored::New => report.count("imported", 1),
            Stored::Updated => report.count("updated", 1),
            Stored::Unchanged => report.count("unchanged", 1),
            Stored::OutsideHistory => report.count("outside_history", 1),
            Stored::ChangedAfterProcessing(what) => {
                report.count("changed_after_processing", 1);
                tracing::info!(shop, order = %o.name, changes = %what.join("; "), "order changed after processing");
            }
        }
    }
    Ok(())
}

type OrdersPage = shopsync_shopify::Page<orders_page::OrdersPageOrdersNodes>;

/// Pages read one ahead: the next page is fetched while this one is stored (the cursor still
/// moves only past stored pages). Dropping it stops the reads.
struct Prefetched {
    rx: tokio::sync::mpsc::Receiver<Result<OrdersPage, shopsync_shopify::ShopifyError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Prefetched {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn prefetched(
    client: std::sync::Arc<shopsync_shopify::ShopifyClient>,
    vars: orders_page::Variables,
    resume: Option<shopsync_shopify::Cursor>,
) -> Prefetched {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let task = tokio::spawn(async move {
        let mut pages = std::pin::pin!(client.pages::<ops::OrdersPage>(vars, resume));
        while let Some(page) = pages.next().await {
            let failed = page.is_err();
            if tx.send(page).await.is_err() || failed {
                return;
            }
        }
    });
    Prefetched { rx, task }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_reads_back_and_old_fields_default() {
        let c = ImportCursor {
            since: Some(Utc::now()),
            query: Some("status:open".into()),
            after: Some("abc".into()),
            high_water: None,
            page_size: Some(7),
            history: None,
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<ImportCursor>(&json).unwrap(), c);
        assert_eq!(serde_json::from_str::<ImportCursor>("{}").unwrap(), ImportCursor::default());
    }
}
