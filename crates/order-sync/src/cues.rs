//! Activity cues: the counts and groups of what needs a person, from the mirror (orders) and
//! the job queue (entries whose latest run failed), and the retry of one group.
//!
//! A group is the records failing for the same cause; its key is `<kind>:<key>` (e.g.
//! `unmapped_product:X-1`). Retrying it puts its orders back to be processed and queues one
//! background create-sales-orders job for the shop. Shipment cues (next issue) add kinds
//! here and groups from the shipments they own.

pub use crate::error::CueError;
use crate::repo::cues::{self as repo, Group, GroupOf};
use shopsync_common::{EntrySpec, Task, TaskParams};
use shopsync_proto::pb;
use shopsync_proto::pb::job_queue_client::JobQueueClient;
use shopsync_proto::pb::posting_client::PostingClient;
use shopsync_runtime::client::AuthedChannel;
use sqlx::PgPool;

/// The kinds of cue this service answers (the vocabulary is `common`'s).
pub use shopsync_common::cue::CueKind as Kind;

pub struct Cues {
    pub db: PgPool,
    /// The scheduler's job queue (none when order-sync is not configured with it).
    pub queue: Option<JobQueueClient<AuthedChannel>>,
    /// The posting service (shipments awaiting fulfillment, their reset).
    pub posting: Option<PostingClient<AuthedChannel>>,
}

/// Entries a cue lists at most (sync errors: one page of the queue per shop).
const QUEUE_PAGE: u32 = 1000;

impl Cues {
    fn queue(&self) -> Result<JobQueueClient<AuthedChannel>, CueError> {
        self.queue.clone().ok_or(CueError::NoQueue)
    }

    fn posting(&self) -> Result<PostingClient<AuthedChannel>, CueError> {
        self.posting.clone().ok_or(CueError::NoPosting)
    }

    /// Posted shipments awaiting fulfillment (of `shop`, or all): shop -> shipment nos.
    async fn awaiting(
        &self,
        shop: Option<&str>,
    ) -> Result<std::collections::BTreeMap<String, Vec<String>>, CueError> {
        let mut stream = self
            .posting()?
            .stream_shipments_awaiting_fulfillment(pb::StreamRequest {
                shop: shop.unwrap_or_default().to_owned(),
                ..Default::default()
            })
            .await
            .map_err(CueError::Posting)?
            .into_inner();
        let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        while let Some(s) = stream.message().await.map_err(CueError::Posting)? {
            out.entry(s.shop)
                .or_default()
                .push(format!("shipment {} (order {})", s.no, s.shopify_order_no));
        }
        Ok(out)
    }

    /// Queue one background job of `task` for `shop`, described by the group it retries.
    async fn queue_job(
        &self,
        shop: &str,
        task: shopsync_common::Task,
        key: &str,
        requested_by: &str,
    ) -> Result<String, CueError> {
        let mut spec = EntrySpec::new(shop.to_owned(), TaskParams::default_for(task));
        spec.description = Some(format!("retry: {key}"));
        spec.created_by = requested_by.to_owned();
        Ok(self
            .queue()?
            .create_entry(pb::CreateEntryRequest {
                spec: Some(shopsync_proto::spec_to_pb(&spec)),
                on_hold: false,
                request_id: String::new(),
            })
            .await
            .map_err(CueError::Queue)?
            .into_inner()
            .id)
    }

    pub async fn counts(&self, shop: Option<&str>) -> Result<Vec<(Kind, i64)>, CueError> {
        let c = repo::counts(&self.db, shop).await?;
        let errors = self.failed_entries(shop).await?.len() as i64;
        let gaps = crate::repo::webhooks::count_open_gaps(&self.db, shop).await?;
        // Without the posting service (not configured) there is nothing to count there.
        let awaiting: i64 = if self.posting.is_some() {
            self.awaiting(shop).await?.values().map(|v| v.len() as i64).sum()
        } else {
            0
        };
        let shipment_errors = crate::repo::shipments::failed_count(&self.db, shop).await?;
        let held_refunds = crate::repo::refunds::held_count(&self.db, shop).await?;
        Ok(Kind::ALL
            .into_iter()
            .map(|k| {
                let n = match k {
                    Kind::UnmappedCustomers => c.unmapped_customers,
                    Kind::UnmappedProducts => c.unmapped_products,
                    Kind::UnprocessedOrders => c.unprocessed_orders,
                    Kind::ChangedOrders => c.changed_orders,
                    Kind::SyncErrors => errors,
                    Kind::HighRiskOrders => c.high_risk_orders,
                    Kind::WebhookGaps => gaps,
                    Kind::UnprocessedShipments => awaiting,
                    Kind::ShipmentErrors => shipment_errors,
                    Kind::HeldRefunds => held_refunds,
                };
                (k, n)
            })
            .collect())
    }

    pub async fn groups(
        &self,
        shop: Option<&str>,
        kind: Kind,
        limit: i64,
    ) -> Result<Vec<Group>, CueError> {
        let of = match kind {
            Kind::UnmappedCustomers => GroupOf::Held(&["unmapped_customer"]),
            Kind::UnmappedProducts => GroupOf::Held(&["unmapped_product"]),
            Kind::UnprocessedOrders => GroupOf::Unprocessed,
            Kind::ChangedOrders => GroupOf::Changed,
            Kind::HighRiskOrders => GroupOf::Held(&["high_risk"]),
            Kind::WebhookGaps => {
                return Ok(crate::webhooks::gaps::groups(&self.db, shop, limit).await?);
            }
            Kind::UnprocessedShipments => {
                return Ok(self
                    .awaiting(shop)
                    .await?
                    .into_iter()
                    .take(limit as usize)
                    .map(|(shop, records)| Group {
                        shop,
                        key: "pending".into(),
                        kind: "unprocessed_shipment".into(),
                        reason: "posted in the ERP, not yet sent to Shopify".into(),
                        count: records.len() as i64,
                        records: records.into_iter().take(20).collect(),
                    })
                    .collect());
            }
            Kind::ShipmentErrors => {
                return Ok(crate::repo::shipments::failed_groups(&self.db, shop, limit).await?);
            }
            Kind::HeldRefunds => {
                return Ok(crate::repo::refunds::held_groups(&self.db, shop, limit).await?);
            }
            Kind::SyncErrors => {
                // One group per failing entry: its error is the reason.
                let entries = self.failed_entries(shop).await?;
                return Ok(entries
                    .into_iter()
                    .take(limit as usize)
                    .map(|e| {
                        let spec = e.spec.unwrap_or_default();
                        Group {
                            shop: spec.shop,
                            key: format!("entry:{}", e.id),
                            kind: "sync_error".into(),
                            reason: e.last_error,
                            count: 1,
                            records: vec![spec.description],
                        }
                    })
                    .collect());
            }
        };
        Ok(repo::groups(&self.db, shop, of, limit).await?)
    }

    /// Retry one group; returns how many records went back and the job queued for them.
    pub async fn retry(
        &self,
        shop: &str,
        kind: Kind,
        key: &str,
        requested_by: &str,
    ) -> Result<(i64, Option<String>), CueError> {
        let n = match kind {
            // One group per shop: its orders' documents are posted, a person accepts them all.
            Kind::ChangedOrders if key == "changed:changed" => {
                repo::accept_changed(&self.db, shop).await?
            }
            Kind::ChangedOrders => {
                return Err(CueError::Invalid {
                    field: "key",
                    reason: "the changed orders' group is \"changed:changed\"".into(),
                });
            }
            Kind::SyncErrors => {
                let id = key.strip_prefix("entry:").unwrap_or(key);
                let e = self
                    .queue()?
                    .run_now(pb::EntryRef { id: id.to_owned(), requested_by: requested_by.into() })
                    .await
                    .map_err(CueError::Queue)?
                    .into_inner();
                return Ok((1, Some(e.id)));
            }
            Kind::UnprocessedShipments => {
                let id = self.queue_job(shop, Task::SyncShipments, key, requested_by).await?;
                let n = self.awaiting(Some(shop)).await?.values().map(|v| v.len() as i64).sum();
                return Ok((n, Some(id)));
            }
            Kind::ShipmentErrors => {
                let shipments = crate::repo::shipments::failed_with(&self.db, shop, key).await?;
                if shipments.is_empty() {
                    return Ok((0, None));
                }
                // Not while a run sends the shop's shipments (it could be sending one of them).
                let Some(_lock) = crate::repo::shipments::try_lock_shop(&self.db, shop).await?
                else {
                    return Err(CueError::Busy(
                        "a sync-shipments run of the shop is sending now: retry when it ends"
                            .into(),
                    ));
                };
                let mut posting = self.posting()?;
                for no in &shipments {
                    posting
                        .reset_fulfillment_state(pb::ResetFulfillmentRequest {
                            shipment_no: no.clone(),
                        })
                        .await
                        .map_err(CueError::Posting)?;
                    crate::repo::shipments::clear_result(&self.db, shop, no).await?;
                }
                let id = self.queue_job(shop, Task::SyncShipments, key, requested_by).await?;
                return Ok((shipments.len() as i64, Some(id)));
            }
            Kind::HeldRefunds => {
                let n = crate::repo::refunds::retry_held(&self.db, shop, key).await?;
                if n == 0 {
                    return Ok((0, None));
                }
                let id = self.queue_job(shop, Task::CreateSalesOrders, key, requested_by).await?;
                return Ok((n, Some(id)));
            }
            Kind::WebhookGaps => {
                return crate::webhooks::gaps::retry(
                    &self.db,
                    self.queue()?,
                    shop,
                    key,
                    requested_by,
                )
                .await;
            }
            _ => {
                let (hold_kind, hold_key) = key.split_once(':').ok_or(CueError::Invalid {
                    field: "key",
                    reason: "expected <kind>:<key> as ListCueGroups gives it".into(),
                })?;
                repo::retry_held(&self.db, shop, hold_kind, hold_key).await?
            }
        };
        if n == 0 || kind == Kind::ChangedOrders {
            return Ok((n, None));
        }
        let id = self.queue_job(shop, Task::CreateSalesOrders, key, requested_by).await?;
        Ok((n, Some(id)))
    }

    /// Entries (of `shop`, or all) whose latest run failed: the job queue clears an entry's
    /// error when a later run succeeds.
    async fn failed_entries(&self, shop: Option<&str>) -> Result<Vec<pb::JobEntry>, CueError> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let r = self
                .queue()?
                .list_entries(pb::ListEntriesRequest {
                    shop: shop.unwrap_or_default().to_owned(),
                    page_size: QUEUE_PAGE,
                    page_token: token.clone(),
                    ..Default::default()
                })
                .await
                .map_err(CueError::Queue)?
                .into_inner();
            out.extend(r.entries.into_iter().filter(|e| !e.last_error.is_empty()));
            if r.next_page_token.is_empty() {
                return Ok(out);
            }
            token = r.next_page_token;
        }
    }
}
