//! The `Stock` gRPC boundary: requests checked (every string first, INVALID_ARGUMENT naming the
//! field), answers built from [`crate::reconcile`] (a dry run) and [`crate::repo`], failures as
//! statuses ([`crate::error`]).

use crate::error::Failure;
use crate::{reconcile, repo};
use shopsync_common::params::SyncInventory;
use shopsync_proto::limits::CheckText;
use shopsync_proto::pb;
use shopsync_runtime::shop::ShopContexts;
use sqlx::PgPool;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Rows a list answers without a limit, and at most.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

pub struct StockService {
    pub db: PgPool,
    /// None without `SHOPSYNC_SHOPS_URL`/`_POSTING_URL`: Diff answers FAILED_PRECONDITION.
    pub contexts: Option<Arc<ShopContexts>>,
}

fn texts<T: CheckText>(m: &T) -> Result<(), Status> {
    m.check_text().map_err(|e| Status::invalid_argument(e.to_string()))
}

fn shop_of(s: &str) -> Result<&str, Status> {
    Some(s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Status::invalid_argument("shop: required"))
}

fn limit_of(l: u32, field: &str) -> Result<i64, Status> {
    match l {
        0 => Ok(DEFAULT_LIMIT.into()),
        l if l <= MAX_LIMIT => Ok(l.into()),
        _ => Err(Status::invalid_argument(format!("{field}: at most {MAX_LIMIT}"))),
    }
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

#[tonic::async_trait]
impl pb::stock_server::Stock for StockService {
    async fn diff(
        &self,
        request: Request<pb::DiffRequest>,
    ) -> Result<Response<pb::DiffResponse>, Status> {
        let r = request.into_inner();
        texts(&r)?;
        let shop = shop_of(&r.shop)?;
        let contexts = self.contexts.as_ref().ok_or_else(|| {
            Status::failed_precondition("inventory-sync has no shops or posting service configured")
        })?;
        let ctx = contexts.get(shop).await.map_err(|e| Status::from(Failure::from(e)))?;
        let p = SyncInventory { dry_run: true, ..Default::default() };
        let planned = reconcile::plan(&ctx, &self.db, &p, "diff").await.map_err(Status::from)?;
        let (diffs, unchanged) = reconcile::differences(&planned, false);
        Ok(Response::new(pb::DiffResponse {
            differences: diffs
                .into_iter()
                .map(|d| pb::LevelDifference {
                    inventory_item_id: d.line.inventory_item_id,
                    location_id: d.line.location_id,
                    item_no: d.line.item_no,
                    variant_code: d.line.variant_code,
                    erp_quantity: d.erp,
                    shopify_quantity: d.shopify,
                    reason: d.reason,
                })
                .collect(),
            unsynced: planned
                .unsynced
                .into_iter()
                .map(|e| pb::UnsyncedRecord { record: e.record, reason: e.reason })
                .collect(),
            unchanged,
        }))
    }

    async fn list_drift(
        &self,
        request: Request<pb::ListDriftRequest>,
    ) -> Result<Response<pb::ListDriftResponse>, Status> {
        let r = request.into_inner();
        texts(&r)?;
        let shop = shop_of(&r.shop)?;
        let limit = limit_of(r.limit, "limit")?;
        let rows = repo::list_drift(&self.db, shop, limit)
            .await
            .map_err(|e| Status::from(Failure::from(e)))?;
        Ok(Response::new(pb::ListDriftResponse {
            drift: rows
                .into_iter()
                .map(|d| pb::DriftRecord {
                    inventory_item_id: d.inventory_item_id,
                    location_id: d.location_id,
                    ours: d.ours,
                    shopify: d.shopify,
                    source: d.source,
                    seen_at: Some(ts(d.seen_at)),
                })
                .collect(),
        }))
    }

    async fn get_level_history(
        &self,
        request: Request<pb::GetLevelHistoryRequest>,
    ) -> Result<Response<pb::GetLevelHistoryResponse>, Status> {
        let r = request.into_inner();
        texts(&r)?;
        let shop = shop_of(&r.shop)?;
        let item = r.inventory_item_id.trim();
        if !item.starts_with("gid://shopify/InventoryItem/") {
            return Err(Status::invalid_argument(
                "inventory_item_id: a gid://shopify/InventoryItem/… id",
            ));
        }
        let location = r.location_id.trim();
        if !location.starts_with("gid://shopify/Location/") {
            return Err(Status::invalid_argument("location_id: a gid://shopify/Location/… id"));
        }
        let limit = limit_of(r.limit, "limit")?;
        let rows = repo::history(&self.db, shop, item, location, limit)
            .await
            .map_err(|e| Status::from(Failure::from(e)))?;
        Ok(Response::new(pb::GetLevelHistoryResponse {
            events: rows
                .into_iter()
                .map(|h| pb::LevelEvent {
                    kind: h.kind,
                    quantity: h.quantity,
                    compare: h.compare,
                    change: h.change.unwrap_or_default(),
                    source: h.source,
                    at: Some(ts(h.at)),
                })
                .collect(),
        }))
    }
}
