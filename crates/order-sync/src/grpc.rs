//! The `Cues` gRPC boundary: requests checked and parsed, answers built (errors become
//! statuses in [`crate::error`]).

use crate::cues::{CueError, Cues, Kind};
use shopsync_proto::limits::CheckText;
use shopsync_proto::pb;
use shopsync_proto::{cue_kind_from_pb, cue_kind_to_pb};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct CuesService {
    pub cues: Arc<Cues>,
}

fn kind_from_pb(v: i32) -> Result<Kind, CueError> {
    cue_kind_from_pb(v, "kind").map_err(|e| CueError::invalid("kind", e.reason))
}

/// What to do about a group of this kind.
fn action(k: Kind) -> &'static str {
    match k {
        Kind::UnmappedCustomers => "create or link the ERP customer, then retry the group",
        Kind::UnmappedProducts => "create the ERP item or link the variant, then retry the group",
        Kind::UnprocessedOrders => "fix the reason, then retry the group",
        Kind::ChangedOrders => "correct the posted documents, then retry to accept the changes",
        Kind::SyncErrors => "fix the cause, then retry to run the entry now",
        Kind::HighRiskOrders => {
            "review the orders in Shopify, then retry the group to release them"
        }
        Kind::WebhookGaps => {
            "check the shop's webhook subscriptions and the endpoint, then retry to resolve the gap (its window is reconciled)"
        }
        Kind::UnprocessedShipments => {
            "they go with the next sync-shipments run; retry to send them now"
        }
        Kind::ShipmentErrors => {
            "fix the cause in Shopify or the ERP, then retry: the shipments are set back to pending and sent again"
        }
        Kind::HeldRefunds => "fix the reason, then retry the group",
    }
}

fn shop_of(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

fn texts<T: CheckText>(m: &T) -> Result<(), CueError> {
    Ok(m.check_text()?)
}

#[tonic::async_trait]
impl pb::cues_server::Cues for CuesService {
    async fn get_cues(
        &self,
        req: Request<pb::GetCuesRequest>,
    ) -> Result<Response<pb::GetCuesResponse>, Status> {
        let r = req.into_inner();
        texts(&r)?;
        let counts = self.cues.counts(shop_of(&r.shop)).await?;
        Ok(Response::new(pb::GetCuesResponse {
            cues: counts
                .into_iter()
                .map(|(k, count)| pb::Cue { kind: cue_kind_to_pb(k) as i32, count })
                .collect(),
        }))
    }

    async fn list_cue_groups(
        &self,
        req: Request<pb::ListCueGroupsRequest>,
    ) -> Result<Response<pb::ListCueGroupsResponse>, Status> {
        let r = req.into_inner();
        texts(&r)?;
        let kind = kind_from_pb(r.kind)?;
        let limit = match r.limit {
            0 => 50,
            n @ 1..=500 => i64::from(n),
            n => return Err(CueError::invalid("limit", format!("{n} is over 500")).into()),
        };
        let groups = self.cues.groups(shop_of(&r.shop), kind, limit).await?;
        Ok(Response::new(pb::ListCueGroupsResponse {
            groups: groups
                .into_iter()
                .map(|g| pb::CueGroup {
                    kind: cue_kind_to_pb(kind) as i32,
                    shop: g.shop,
                    key: g.key,
                    reason: g.reason,
                    count: g.count,
                    records: g.records,
                    action: action(kind).to_owned(),
                })
                .collect(),
        }))
    }

    async fn retry_cue_group(
        &self,
        req: Request<pb::RetryCueGroupRequest>,
    ) -> Result<Response<pb::RetryCueGroupResponse>, Status> {
        let r = req.into_inner();
        texts(&r)?;
        let kind = kind_from_pb(r.kind)?;
        let shop = shop_of(&r.shop).ok_or_else(|| CueError::invalid("shop", "required"))?;
        if r.key.trim().is_empty() {
            return Err(CueError::invalid("key", "required (as ListCueGroups gives it)").into());
        }
        let by = if r.requested_by.trim().is_empty() { "cues" } else { r.requested_by.trim() };
        let (retried, entry) = self.cues.retry(shop, kind, r.key.trim(), by).await?;
        Ok(Response::new(pb::RetryCueGroupResponse {
            retried,
            entry_id: entry.unwrap_or_default(),
        }))
    }
}
