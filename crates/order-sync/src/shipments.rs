//! Sync shipments (T3, reference 3.3): the ERP's posted shipments of Shopify orders become
//! Shopify fulfillments, exactly once.
//!
//! Per shipment (the posting service's `StreamShipmentsAwaitingFulfillment`, oldest first):
//! its lines that carry a Shopify line item id are matched to the open lines of the order's
//! fulfillment orders (read fresh), a line's quantity spread over several fulfillment orders
//! when Shopify split it; requests sent to our fulfillment service are accepted first;
//! fulfillment orders that are closed, on hold or handled by a third-party service are left
//! with a reason. What matches is grouped by Shopify location, one `fulfillmentCreate` per
//! location (at most 250 lines each), with the shipment's tracking and the shop's
//! notify-customer setting; the result goes back with `RecordFulfillmentResult`.
//!
//! `fulfillmentCreate` takes no idempotency key, so each request is first written down
//! (`fulfillment_sends`, committed) with the order's fulfillments as they were; after a crash
//! or a lost answer the order's fulfillments are read again and one that is new and ships
//! exactly the request's lines from its location is taken as the request's (it is never sent
//! a second time); only when none is found is it sent again.

use crate::repo::shipments::{self as repo, SendLine, ShipmentResult};
use crate::{Failure, fail};
use shopsync_common::RunReport;
use shopsync_common::params::SyncShipments;
use shopsync_common::report::RecordError;
use shopsync_proto::pb;
use shopsync_runtime::shop::ShopContext;
use shopsync_runtime::worker::{RunContext, TaskError};
use shopsync_shopify::ops::fulfillment_create as fc;
use shopsync_shopify::ops::order_fulfillment_orders as ofo;
use shopsync_shopify::{ShopifyError, ops};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};

/// Line items per `fulfillmentCreate` (Shopify's limit per request).
const MAX_LINES: usize = 250;

/// How one shipment ended in this run.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Every unit is in a Shopify fulfillment: their gids.
    Sent(Vec<String>),
    /// No line refers to a Shopify order line.
    NothingToSend,
    /// Some or all units could not be sent: why (a cue groups by `key`).
    Failed { key: &'static str, reason: String },
    /// Not known yet whether Shopify made a fulfillment (an answer was lost): the next run
    /// reads the order and decides.
    Unconfirmed(String),
}

pub async fn run(
    ctx: &RunContext,
    shop: &ShopContext,
    db: &PgPool,
    p: &SyncShipments,
) -> Result<RunReport, TaskError> {
    let mut report = RunReport::default();
    let Some(_lock) =
        repo::try_lock_shop(db, &shop.shop.name).await.map_err(|e| fail(Failure::Db(e)))?
    else {
        return Err(TaskError::Failed {
            source: anyhow::anyhow!("another run is sending this shop's shipments"),
            retryable: true,
        });
    };
    let shipments = awaiting(shop, p).await?;
    let total = shipments.len() as u64;
    ctx.progress.report(0, total, format!("{total} shipments to send")).await;
    // Shipments whose fulfillment Shopify may have made without our hearing of it: read
    // again at the end of the run (never sent again in the same run).
    let mut unconfirmed: Vec<&pb::PostedShipment> = Vec::new();
    for (i, s) in shipments.iter().enumerate() {
        if ctx.cancel.is_cancelled() {
            return Err(TaskError::Cancelled);
        }
        let outcome = send_shipment(shop, db, s, true, &mut report).await?;
        if matches!(outcome, Outcome::Unconfirmed(_)) {
            unconfirmed.push(s);
        }
        record(shop, db, s, &outcome, &mut report).await?;
        let done = i as u64 + 1;
        ctx.progress.report(done, total, format!("{done} of {total} shipments")).await;
    }
    let mut still = 0;
    for s in unconfirmed {
        if ctx.cancel.is_cancelled() {
            return Err(TaskError::Cancelled);
        }
        let outcome = send_shipment(shop, db, s, false, &mut report).await?;
        if matches!(outcome, Outcome::Unconfirmed(_)) {
            still += 1;
        } else {
            record(shop, db, s, &outcome, &mut report).await?;
        }
    }
    if still > 0 {
        // The queue runs it again soon; that run reads the orders and decides.
        return Err(TaskError::Failed {
            source: anyhow::anyhow!(
                "{still} fulfillments not confirmed by Shopify (answers lost): they are read again by the next run, never sent twice"
            ),
            retryable: true,
        });
    }
    Ok(report)
}

/// Tell the ERP (and the cues) what sending a shipment gave.
async fn record(
    shop: &ShopContext,
    db: &PgPool,
    s: &pb::PostedShipment,
    outcome: &Outcome,
    report: &mut RunReport,
) -> Result<(), TaskError> {
    let name = shop.shop.name.as_str();
    {
        let record = format!("shipment {} (order {})", s.no, s.shopify_order_no);
        let mut posting = shop.posting.clone();
        use pb::fulfillment_result_request::Result as R;
        let (result, state, key, reason) = match outcome {
            Outcome::Sent(ids) => {
                report.count("sent", 1);
                (Some(R::Sent(ids.join(","))), "sent", None, None)
            }
            Outcome::NothingToSend => {
                report.count("nothing_to_send", 1);
                (Some(R::NothingToSend(true)), "nothing_to_send", None, None)
            }
            Outcome::Failed { key, reason } => {
                report.count("failed", 1);
                report.record_error(RecordError {
                    record: record.clone(),
                    reason: reason.clone(),
                    retryable: false,
                });
                (Some(R::Failed(reason.clone())), "failed", Some(*key), Some(reason.as_str()))
            }
            Outcome::Unconfirmed(reason) => {
                report.count("unconfirmed", 1);
                report.record_error(RecordError {
                    record: record.clone(),
                    reason: reason.clone(),
                    retryable: true,
                });
                (None, "", None, None)
            }
        };
        if let Some(result) = result {
            // Here first: a crash before the ERP hears of it leaves the shipment pending there
            // (sent again, finding its fulfillments), never failed in the ERP and unknown here.
            let r = ShipmentResult {
                shipment_no: &s.no,
                order_id: s.shopify_order_id,
                order_name: &s.shopify_order_no,
                state,
                reason_key: key,
                reason,
            };
            repo::record_result(db, name, &r).await.map_err(|e| fail(Failure::Db(e)))?;
            posting
                .record_fulfillment_result(pb::FulfillmentResultRequest {
                    shipment_no: s.no.clone(),
                    result: Some(result),
                })
                .await
                .map_err(|e| fail(Failure::Api("recording the fulfillment", e)))?;
        }
    }
    Ok(())
}

/// The shop's posted shipments still to send, as the run's parameters select them.
async fn awaiting(
    shop: &ShopContext,
    p: &SyncShipments,
) -> Result<Vec<pb::PostedShipment>, TaskError> {
    let mut posting = shop.posting.clone();
    let mut stream = posting
        .stream_shipments_awaiting_fulfillment(pb::StreamRequest {
            shop: shop.shop.name.clone(),
            ..Default::default()
        })
        .await
        .map_err(|e| fail(Failure::Api("reading shipments awaiting fulfillment", e)))?
        .into_inner();
    let mut out = Vec::new();
    while let Some(s) = stream
        .message()
        .await
        .map_err(|e| fail(Failure::Api("reading shipments awaiting fulfillment", e)))?
    {
        let date = chrono::NaiveDate::parse_from_str(&s.posting_date, "%Y-%m-%d").ok();
        let selected = (p.shipment_nos.is_empty() || p.shipment_nos.contains(&s.no))
            && p.customer_no.as_ref().is_none_or(|c| *c == s.customer_no)
            && p.posting_date_from.is_none_or(|f| date.is_some_and(|d| d >= f))
            && p.posting_date_to.is_none_or(|t| date.is_some_and(|d| d <= t));
        if selected {
            out.push(s);
        }
    }
    Ok(out)
}

/// A fulfillment the order has in Shopify.
struct Existing {
    id: i64,
    gid: String,
    location: Option<i64>,
    /// line item id -> quantity.
    lines: BTreeMap<i64, i64>,
}

/// Fulfillments one read of an order shows (`OrderFulfillmentOrders` reads at most this
/// many, each with at most [`FULFILLMENT_LINES`] lines).
const FULFILLMENTS: usize = 10;
const FULFILLMENT_LINES: usize = 20;

/// Whether one read shows every fulfillment of the order whole: only then does not finding
/// a request's fulfillment prove that Shopify did not make it.
fn complete(order: &ofo::OrderFulfillmentOrdersOrder) -> bool {
    order.fulfillments.len() < FULFILLMENTS
        && order.fulfillments.iter().all(|f| {
            !f.fulfillment_line_items.page_info.has_next_page
                && f.fulfillment_line_items.nodes.len() <= FULFILLMENT_LINES
        })
}

fn existing(order: &ofo::OrderFulfillmentOrdersOrder) -> Vec<Existing> {
    order
        .fulfillments
        .iter()
        .filter_map(|f| {
            let mut lines = BTreeMap::new();
            for l in &f.fulfillment_line_items.nodes {
                let id = crate::mirror::legacy_id(&l.line_item.id).unwrap_or(0);
                *lines.entry(id).or_insert(0) += l.quantity.unwrap_or(0);
            }
            Some(Existing {
                id: crate::mirror::legacy_id(&f.id)?,
                gid: f.id.clone(),
                location: f.location.as_ref().and_then(|l| crate::mirror::legacy_id(&l.id)),
                lines,
            })
        })
        .collect()
}

fn totals(lines: &[SendLine]) -> BTreeMap<i64, i64> {
    let mut m = BTreeMap::new();
    for l in lines {
        *m.entry(l.line_item).or_insert(0) += l.quantity;
    }
    m
}

/// Why units of a line could not be placed on an open fulfillment order line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Blocked {
    /// The order has no fulfillment order line for it (removed, or not shippable).
    NoLine,
    /// Its fulfillment orders are closed, cancelled, on hold or already fulfilled.
    NotOpen,
    /// A third-party fulfillment service handles it.
    ThirdParty,
}

impl Blocked {
    fn key(self) -> &'static str {
        match self {
            Blocked::NoLine => "no_shopify_line",
            Blocked::NotOpen => "not_open",
            Blocked::ThirdParty => "third_party",
        }
    }

    fn says(self) -> &'static str {
        match self {
            Blocked::NoLine => "no fulfillment order line in Shopify",
            Blocked::NotOpen => {
                "nothing left open to fulfil in Shopify (fulfilled, closed or on hold)"
            }
            Blocked::ThirdParty => "handled by a third-party fulfillment service",
        }
    }
}

/// Send what of `s` is not in Shopify yet. A request written down earlier and not found in
/// Shopify is sent again only when `resend` (it dates from an earlier run: Shopify has long
/// answered it); else the shipment stays unconfirmed.
async fn send_shipment(
    shop: &ShopContext,
    db: &PgPool,
    s: &pb::PostedShipment,
    resend: bool,
    report: &mut RunReport,
) -> Result<Outcome, TaskError> {
    let mut wanted = wanted(s);
    if wanted.is_empty() || s.shopify_order_id == 0 {
        return Ok(Outcome::NothingToSend);
    }
    let one = Shipment { shop, db, s, name: shop.shop.name.as_str() };
    let gid = format!("gid://shopify/Order/{}", s.shopify_order_id);
    let Some(mut order) = read_order(shop, &gid).await? else {
        return Ok(one.order_missing());
    };
    let mut sends = repo::sends(db, one.name, &s.no).await.map_err(|e| fail(Failure::Db(e)))?;
    let mut found = existing(&order);
    if let Err(end) = one.reconcile(&found, &mut sends, report).await? {
        return Ok(end);
    }
    if !resend && sends.iter().any(|x| x.state == "sending") {
        return Ok(Outcome::Unconfirmed("the fulfillment is not in Shopify yet".into()));
    }
    if sends.iter().any(|x| x.state == "sending") && !complete(&order) {
        // Not found, but the read may not show it: sending again could make a second one.
        return Ok(Outcome::Failed {
            key: "cannot_confirm",
            reason: format!(
                "order {} has more fulfillments than one read shows: check in Shopify whether \
                 this shipment was fulfilled; retrying the group sends what is still open",
                s.shopify_order_no
            ),
        });
    }
    let mut sent_ids = take_sent(&sends, &mut wanted);
    if wanted.is_empty() {
        return Ok(Outcome::Sent(sent_ids));
    }
    let accepted = match one.accept_requests(&order, &wanted, report).await? {
        Ok(a) => a,
        Err(end) => return Ok(end),
    };
    if accepted.any {
        order = match read_order(shop, &gid).await? {
            Some(o) => o,
            None => return Ok(one.order_missing()),
        };
        found = existing(&order);
    }
    let (plan, blocked) = place(&order, &wanted);
    let known: Vec<i64> = found.iter().map(|f| f.id).collect();
    // Requests still written down were not made (the read above shows every fulfillment):
    // they give way to this plan, so none of them can be sent later beside it.
    repo::forget_unsent(db, one.name, &s.no).await.map_err(|e| fail(Failure::Db(e)))?;
    if let Err(end) = one.send_plan(plan, &sends, &known, &mut sent_ids, report).await? {
        return Ok(end);
    }
    Ok(match blocked_outcome(&order, &blocked, &accepted.refused, &sent_ids) {
        Some(end) => end,
        None => Outcome::Sent(sent_ids),
    })
}

/// A step of sending one shipment: go on with `T`, or the shipment ends with this outcome.
type Step<T> = Result<T, Outcome>;

/// What the shipment ships, per Shopify line item.
fn wanted(s: &pb::PostedShipment) -> BTreeMap<i64, i64> {
    let mut wanted: BTreeMap<i64, i64> = BTreeMap::new();
    for l in &s.lines {
        if l.shopify_order_line_id != 0 && l.quantity > 0 {
            *wanted.entry(l.shopify_order_line_id).or_insert(0) += l.quantity;
        }
    }
    wanted
}

/// Take what confirmed requests sent off `wanted` (what is left is still to send); their
/// fulfillments' gids.
fn take_sent(sends: &[repo::Send], wanted: &mut BTreeMap<i64, i64>) -> Vec<String> {
    let mut sent_ids: Vec<String> = Vec::new();
    for send in sends.iter().filter(|x| x.state == "sent") {
        for (item, q) in totals(&send.lines) {
            if let Some(w) = wanted.get_mut(&item) {
                *w = (*w - q).max(0);
            }
        }
        sent_ids.extend(send.fulfillment_id.clone());
    }
    wanted.retain(|_, q| *q > 0);
    sent_ids
}

/// Whether a fulfillment order can still be fulfilled (open or in progress).
fn is_open(fo: &ofo::OrderFulfillmentOrdersOrderFulfillmentOrdersNodes) -> bool {
    matches!(
        fo.status,
        ofo::FulfillmentOrderStatus::OPEN | ofo::FulfillmentOrderStatus::IN_PROGRESS
    )
}

/// Units placed on open fulfillment order lines, per Shopify location.
type Plan = BTreeMap<i64, Vec<SendLine>>;
/// Units that could not be placed, per line item: how many and why.
type BlockedUnits = BTreeMap<i64, (i64, Blocked)>;

/// Place the units on open fulfillment order lines, grouped by location.
fn place(
    order: &ofo::OrderFulfillmentOrdersOrder,
    wanted: &BTreeMap<i64, i64>,
) -> (Plan, BlockedUnits) {
    let mut plan = Plan::new();
    let mut blocked = BlockedUnits::new();
    for (&item, &qty) in wanted {
        let mut need = qty;
        let mut why = Blocked::NoLine;
        for fo in &order.fulfillment_orders.nodes {
            let open = is_open(fo);
            let can_create = fo
                .supported_actions
                .iter()
                .any(|a| matches!(a.action, ofo::FulfillmentOrderAction::CREATE_FULFILLMENT));
            let Some(location) = fo
                .assigned_location
                .location
                .as_ref()
                .and_then(|l| crate::mirror::legacy_id(&l.id))
            else {
                continue;
            };
            for l in &fo.line_items.nodes {
                if crate::mirror::legacy_id(&l.line_item.id) != Some(item) || need == 0 {
                    continue;
                }
                if !open || l.remaining_quantity <= 0 {
                    why = why.max(Blocked::NotOpen);
                    continue;
                }
                if !can_create {
                    why = why.max(Blocked::ThirdParty);
                    continue;
                }
                let take = need.min(l.remaining_quantity);
                need -= take;
                plan.entry(location).or_default().push(SendLine {
                    fulfillment_order: fo.id.clone(),
                    fulfillment_order_line: l.id.clone(),
                    line_item: item,
                    quantity: take,
                });
            }
        }
        if need > 0 {
            blocked.insert(item, (need, why));
        }
    }
    (plan, blocked)
}

/// The shipment fails for the units that could not be placed (keyed by the weightiest
/// reason), if any.
fn blocked_outcome(
    order: &ofo::OrderFulfillmentOrdersOrder,
    blocked: &BlockedUnits,
    refused: &[String],
    sent_ids: &[String],
) -> Option<Outcome> {
    let (_, (_, why)) = blocked.iter().max_by_key(|(_, (_, w))| *w)?;
    let skus: HashMap<i64, String> = order
        .fulfillment_orders
        .nodes
        .iter()
        .flat_map(|fo| &fo.line_items.nodes)
        .filter_map(|l| {
            Some((crate::mirror::legacy_id(&l.line_item.id)?, l.line_item.sku.clone()?))
        })
        .collect();
    let what: Vec<String> = blocked
        .iter()
        .map(|(item, (q, w))| {
            let line = skus.get(item).map_or(format!("line {item}"), |s| format!("SKU {s}"));
            format!("{line}: {q} units {}", w.says())
        })
        .collect();
    let mut reason = what.join("; ");
    if !refused.is_empty() {
        reason.push_str(&format!(
            " (a fulfillment request could not be accepted: {})",
            refused.join("; ")
        ));
    }
    Some(Outcome::Failed { key: why.key(), reason: sent_too(reason, sent_ids) })
}

/// Fulfillment requests to our fulfillment service this shipment accepted.
struct Accepted {
    /// Some were: the order is read again.
    any: bool,
    /// Why others could not be (another app's service): they block their fulfillment order
    /// only, the rest of the shipment still goes.
    refused: Vec<String>,
}

/// One shipment being sent: the shop, order-sync's database and the ERP's shipment.
struct Shipment<'a> {
    shop: &'a ShopContext,
    db: &'a PgPool,
    s: &'a pb::PostedShipment,
    /// The shop's name.
    name: &'a str,
}

impl Shipment<'_> {
    fn order_missing(&self) -> Outcome {
        Outcome::Failed {
            key: "order_missing",
            reason: format!("Shopify order {} no longer exists", self.s.shopify_order_no),
        }
    }

    /// Requests written down earlier: confirmed ones count as sent; an unconfirmed one made
    /// in Shopify (found by its lines among the fulfillments that are new since) is confirmed.
    async fn reconcile(
        &self,
        found: &[Existing],
        sends: &mut [repo::Send],
        report: &mut RunReport,
    ) -> Result<Step<()>, TaskError> {
        let (name, s) = (self.name, self.s);
        let mut taken = repo::taken_fulfillments(self.db, name, s.shopify_order_id)
            .await
            .map_err(|e| fail(Failure::Db(e)))?;
        for send in sends.iter_mut().filter(|x| x.state == "sending") {
            let want = totals(&send.lines);
            // New since the request was written, not another request's, same lines, and from
            // its location (when Shopify says where from).
            let candidates: Vec<&Existing> = found
                .iter()
                .filter(|f| {
                    !send.known_before.contains(&f.id)
                        && !taken.contains(&f.gid)
                        && f.location.is_none_or(|l| l == send.location_id)
                        && f.lines == want
                })
                .collect();
            match candidates[..] {
                [] => {}
                [f] => {
                    repo::mark_sent(self.db, name, &s.no, send.location_id, send.part, &f.gid)
                        .await
                        .map_err(|e| fail(Failure::Db(e)))?;
                    send.state = "sent".into();
                    send.fulfillment_id = Some(f.gid.clone());
                    taken.push(f.gid.clone());
                    report.count("reconciled", 1);
                }
                _ => {
                    return Ok(Err(Outcome::Failed {
                        key: "cannot_confirm",
                        reason: format!(
                            "order {} has several new fulfillments that could be this shipment's: \
                             check in Shopify whether it was fulfilled; retrying the group sends \
                             what is still open",
                            s.shopify_order_no
                        ),
                    }));
                }
            }
        }
        Ok(Ok(()))
    }

    /// Requests to our fulfillment service are accepted before anything is sent from them.
    async fn accept_requests(
        &self,
        order: &ofo::OrderFulfillmentOrdersOrder,
        wanted: &BTreeMap<i64, i64>,
        report: &mut RunReport,
    ) -> Result<Step<Accepted>, TaskError> {
        let mut accepted = Accepted { any: false, refused: Vec::new() };
        for fo in &order.fulfillment_orders.nodes {
            let submitted =
                matches!(fo.request_status, ofo::FulfillmentOrderRequestStatus::SUBMITTED);
            let ours = fo.line_items.nodes.iter().any(|l| {
                crate::mirror::legacy_id(&l.line_item.id).is_some_and(|id| wanted.contains_key(&id))
            });
            if submitted && is_open(fo) && ours {
                match accept(self.shop, &fo.id).await {
                    Ok(()) => {
                        accepted.any = true;
                        report.count("requests_accepted", 1);
                    }
                    Err(ShopifyError::UserErrors { errors, .. }) => {
                        report.count("requests_not_accepted", 1);
                        accepted.refused.extend(errors.into_iter().map(|e| e.message));
                    }
                    Err(e @ ShopifyError::Ambiguous { .. }) => {
                        return Ok(Err(Outcome::Unconfirmed(format!(
                            "accepting the fulfillment request: {e}"
                        ))));
                    }
                    Err(e) => return Err(fail(Failure::Shopify(e))),
                }
            }
        }
        Ok(Ok(accepted))
    }

    /// One `fulfillmentCreate` per location and part of the plan, each written down first;
    /// the gids of what Shopify made join `sent_ids`. Ends the shipment when a part is
    /// unconfirmed or refused.
    async fn send_plan(
        &self,
        plan: Plan,
        sends: &[repo::Send],
        known: &[i64],
        sent_ids: &mut Vec<String>,
        report: &mut RunReport,
    ) -> Result<Step<()>, TaskError> {
        let (shop, db, s, name) = (self.shop, self.db, self.s, self.name);
        let notify = shop.shop.settings.send_shipping_confirmation;
        let mut failure: Option<(&'static str, String)> = None;
        let mut unconfirmed: Option<String> = None;
        for (location, lines) in plan {
            // After the parts already sent from this location (a shipment reset after a
            // partial send sends the rest as new parts).
            let base = sends
                .iter()
                .filter(|x| x.state == "sent" && x.location_id == location)
                .map(|x| x.part + 1)
                .max()
                .unwrap_or(0);
            for (part, chunk) in lines.chunks(MAX_LINES).enumerate() {
                let part = base + part as i32;
                let written =
                    repo::intend(db, name, &s.no, s.shopify_order_id, location, part, chunk, known)
                        .await
                        .map_err(|e| fail(Failure::Db(e)))?;
                if !written {
                    // A confirmed request holds this place: someone else sent it meanwhile.
                    return Ok(Err(Outcome::Unconfirmed(format!(
                        "part {part} from location {location} was sent meanwhile"
                    ))));
                }
                match create(shop, chunk, s.tracking.as_ref(), notify).await {
                    Ok(id) => {
                        repo::mark_sent(db, name, &s.no, location, part, &id)
                            .await
                            .map_err(|e| fail(Failure::Db(e)))?;
                        sent_ids.push(id);
                        report.count("fulfillments_created", 1);
                    }
                    Err(ShopifyError::UserErrors { errors, .. }) => {
                        repo::forget(db, name, &s.no, location, part)
                            .await
                            .map_err(|e| fail(Failure::Db(e)))?;
                        let msg = errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>();
                        failure.get_or_insert((
                            "shopify_refused",
                            format!("Shopify refused the fulfillment: {}", msg.join("; ")),
                        ));
                    }
                    Err(e @ ShopifyError::Ambiguous { .. }) => {
                        // Left written down: the next run finds it in Shopify or sends it again.
                        unconfirmed.get_or_insert(format!("fulfillment not confirmed: {e}"));
                    }
                    Err(e) => return Err(fail(Failure::Shopify(e))),
                }
            }
        }
        if let Some(reason) = unconfirmed {
            return Ok(Err(Outcome::Unconfirmed(reason)));
        }
        if let Some((key, reason)) = failure {
            return Ok(Err(Outcome::Failed { key, reason: sent_too(reason, sent_ids) }));
        }
        Ok(Ok(()))
    }
}

/// Say what was sent beside what was not.
fn sent_too(reason: String, sent: &[String]) -> String {
    if sent.is_empty() { reason } else { format!("{reason} (sent: {})", sent.join(", ")) }
}

async fn read_order(
    shop: &ShopContext,
    gid: &str,
) -> Result<Option<ofo::OrderFulfillmentOrdersOrder>, TaskError> {
    shop.shopify.order_fulfillment_orders(gid).await.map_err(|e| fail(Failure::Shopify(e)))
}

async fn accept(shop: &ShopContext, fo: &str) -> Result<(), ShopifyError> {
    shop.shopify
        .run::<ops::FulfillmentOrderAccept>(ops::fulfillment_order_accept::Variables {
            id: fo.to_owned(),
            message: Some("Accepted by shopsync: the ERP ships it".into()),
        })
        .await
        .map(|_| ())
}

async fn create(
    shop: &ShopContext,
    lines: &[SendLine],
    tracking: Option<&pb::Tracking>,
    notify: bool,
) -> Result<String, ShopifyError> {
    let mut by_fo: BTreeMap<&str, Vec<fc::FulfillmentOrderLineItemInput>> = BTreeMap::new();
    for l in lines {
        by_fo.entry(&l.fulfillment_order).or_default().push(fc::FulfillmentOrderLineItemInput {
            id: l.fulfillment_order_line.clone(),
            quantity: l.quantity,
        });
    }
    let tracking_info = tracking.filter(|t| !(t.number.is_empty() && t.url.is_empty())).map(|t| {
        let some = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
        fc::FulfillmentTrackingInput {
            company: some(&t.company),
            number: some(&t.number),
            numbers: None,
            url: some(&t.url),
            urls: None,
        }
    });
    let data = shop
        .shopify
        .run::<ops::FulfillmentCreate>(fc::Variables {
            fulfillment: fc::FulfillmentInput {
                line_items_by_fulfillment_order: by_fo
                    .into_iter()
                    .map(|(fo, items)| fc::FulfillmentOrderLineItemsInput {
                        fulfillment_order_id: fo.to_owned(),
                        fulfillment_order_line_items: Some(items),
                    })
                    .collect(),
                notify_customer: Some(notify),
                origin_address: None,
                tracking_info,
            },
        })
        .await?;
    data.fulfillment_create
        .and_then(|p| p.fulfillment)
        .map(|f| f.id)
        .ok_or(ShopifyError::Missing { operation: "FulfillmentCreate", what: "fulfillment".into() })
}
