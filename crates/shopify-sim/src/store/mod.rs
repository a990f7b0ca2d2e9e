//! The shops the simulator holds, in memory: what the Admin API answers from and what the
//! admin API seeds and reads back. Saved to and loaded from a JSON file.

use crate::bucket::{Bucket, Limits};
use crate::clock::Clock;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod orders;
mod seed;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Variant {
    pub id: u64,
    pub title: String,
    pub sku: String,
    /// Decimal string, as Shopify's `Money`.
    pub price: String,
    pub inventory_item_id: u64,
    pub tracked: bool,
    pub position: u32,
    #[serde(default)]
    pub barcode: Option<String>,
    /// Decimal string, as Shopify's `Money`.
    #[serde(default)]
    pub compare_at_price: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Product {
    pub id: u64,
    pub title: String,
    pub handle: String,
    /// ACTIVE, DRAFT or ARCHIVED.
    pub status: String,
    pub vendor: String,
    pub product_type: String,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub variants: Vec<Variant>,
    #[serde(default)]
    pub media: Vec<Media>,
    /// `descriptionHtml` as last written ("" when none was given).
    #[serde(default)]
    pub description_html: String,
    /// The options' names (`productOptions`), in order; a variant's title joins its values
    /// with " / ". Empty: `Title` for a default variant, `Size` for seeded ones.
    #[serde(default)]
    pub option_names: Vec<String>,
}

/// A product image. Processing is asynchronous, as in Shopify: UPLOADED when attached,
/// PROCESSING a moment later, then READY, or FAILED (with its media error) when the source
/// could not be fetched.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Media {
    pub id: u64,
    pub alt: String,
    /// Where the image came from (`originalSource`).
    pub source: String,
    pub created_at: DateTime<Utc>,
    /// Simulated second at which processing starts, and at which it ends.
    pub processing_at: f64,
    pub ready_at: f64,
    /// (MediaErrorCode, message) when processing fails.
    #[serde(default)]
    pub error: Option<(String, String)>,
}

impl Media {
    /// MediaStatus at simulated second `now`.
    pub fn status(&self, now: f64) -> &'static str {
        if now < self.processing_at {
            "UPLOADED"
        } else if now < self.ready_at {
            "PROCESSING"
        } else if self.error.is_some() {
            "FAILED"
        } else {
            "READY"
        }
    }
}

/// A staged upload target handed out by `stagedUploadsCreate`; `bytes` once the file arrived.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StagedUpload {
    pub resource: String,
    pub filename: String,
    pub mime_type: String,
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Customer {
    pub id: u64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub note: String,
    /// The default address first.
    #[serde(default)]
    pub addresses: Vec<Address>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Location {
    pub id: u64,
    pub name: String,
    pub active: bool,
    #[serde(default)]
    pub created_at: DateTime<Utc>,
    /// Managed by the app's fulfillment service: its fulfillment orders start with a
    /// submitted fulfillment request the service must accept before it fulfils.
    #[serde(default)]
    pub fulfillment_service: bool,
}

/// The named quantities of one item at one location. `on_hand` is derived: available plus
/// committed plus the unavailable states.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Quantities {
    pub available: i64,
    pub committed: i64,
    pub reserved: i64,
    pub damaged: i64,
    pub quality_control: i64,
    pub safety_stock: i64,
    pub incoming: i64,
}

impl Quantities {
    pub fn on_hand(&self) -> i64 {
        self.available
            + self.committed
            + self.reserved
            + self.damaged
            + self.quality_control
            + self.safety_stock
    }

    pub fn get(&self, name: &str) -> Option<i64> {
        Some(match name {
            "available" => self.available,
            "on_hand" => self.on_hand(),
            "committed" => self.committed,
            "reserved" => self.reserved,
            "damaged" => self.damaged,
            "quality_control" => self.quality_control,
            "safety_stock" => self.safety_stock,
            "incoming" => self.incoming,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    pub name: String,
    pub delta: i64,
    pub quantity_after: i64,
    pub item_id: u64,
    pub location_id: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdjustmentGroup {
    pub id: u64,
    pub reason: String,
    pub reference_document_uri: Option<String>,
    pub created_at: DateTime<Utc>,
    pub changes: Vec<Change>,
}

/// What an `@idempotent` mutation answered, to replay it for the same key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdempotentOutcome {
    pub fingerprint: String,
    pub group: Option<u64>,
    pub user_errors: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineItem {
    pub id: u64,
    pub variant_id: Option<u64>,
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    pub price: String,
    /// Units an order edit took out.
    #[serde(default)]
    pub removed: i64,
    /// Units refunded (`currentQuantity` is `quantity - removed - refunded`).
    #[serde(default)]
    pub refunded: i64,
}

impl LineItem {
    /// Units still ordered after edits and refunds (`currentQuantity`).
    pub fn current(&self) -> i64 {
        self.quantity - self.removed - self.refunded
    }

    /// Units ordered after edits (what the order's totals are made of).
    pub fn ordered(&self) -> i64 {
        self.quantity - self.removed
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoLine {
    pub id: u64,
    pub line_item_id: u64,
    pub total: i64,
    pub remaining: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FulfillmentOrder {
    pub id: u64,
    pub location_id: u64,
    /// OPEN, IN_PROGRESS or CLOSED.
    pub status: String,
    pub lines: Vec<FoLine>,
    /// UNSUBMITTED, or for a fulfillment service's location SUBMITTED, then ACCEPTED.
    #[serde(default = "unsubmitted")]
    pub request_status: String,
}

fn unsubmitted() -> String {
    "UNSUBMITTED".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fulfillment {
    pub id: u64,
    pub name: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub location_id: u64,
    /// (number, company, url).
    pub tracking: Option<(String, String, String)>,
    /// (fulfillment order line, quantity).
    pub lines: Vec<(u64, i64)>,
    /// `notifyCustomer` as the fulfilment was created with.
    #[serde(default)]
    pub notify_customer: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transaction {
    pub id: u64,
    /// SALE, AUTHORIZATION, CAPTURE, REFUND, VOID.
    pub kind: String,
    /// SUCCESS, PENDING, FAILURE.
    pub status: String,
    pub gateway: String,
    pub amount: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompanyLocation {
    pub id: u64,
    pub name: String,
    pub external_id: Option<String>,
    pub catalogs: Vec<u64>,
    #[serde(default)]
    pub billing_address: Option<CompanyAddress>,
    #[serde(default)]
    pub shipping_address: Option<CompanyAddress>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// A company location's billing or shipping address (`CompanyAddressInput`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CompanyAddress {
    pub id: u64,
    pub address1: String,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub zip: Option<String>,
    pub country_code: String,
    pub zone_code: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub recipient: Option<String>,
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Contact {
    pub id: u64,
    pub customer_id: u64,
    pub main: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Company {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub note: String,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub locations: Vec<CompanyLocation>,
    pub contacts: Vec<Contact>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalog {
    pub id: u64,
    pub title: String,
    pub status: String,
    pub price_list: Option<u64>,
    /// (company, company location).
    pub locations: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PriceList {
    pub id: u64,
    pub name: String,
    pub currency: String,
    /// Fixed prices by variant.
    pub prices: BTreeMap<u64, String>,
}

/// A Shopify Payments balance transaction: a charge or refund of an order, with its fee.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BalanceTx {
    pub id: u64,
    pub order_id: u64,
    /// CHARGE or REFUND.
    pub kind: String,
    pub amount: String,
    pub fee: String,
    pub net: String,
    pub at: DateTime<Utc>,
    pub payout: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payout {
    pub id: u64,
    pub status: String,
    pub issued_at: DateTime<Utc>,
    pub net: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Refund {
    pub id: u64,
    /// What went back to the customer (its REFUND transaction's amount; "0.00" without one).
    pub amount: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub note: Option<String>,
    /// The line items refunded.
    #[serde(default)]
    pub lines: Vec<RefundLine>,
    /// The shipping refunded, if any.
    #[serde(default)]
    pub shipping: Option<RefundShipping>,
    /// The refund's REFUND transaction (none when nothing was paid back).
    #[serde(default)]
    pub transaction: Option<u64>,
}

/// A refunded line item: how many units, restocked how and where, and their money.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefundLine {
    pub id: u64,
    pub line_item_id: u64,
    pub quantity: i64,
    /// RefundLineItemRestockType: NO_RESTOCK, CANCEL (unfulfilled units) or RETURN.
    pub restock_type: String,
    pub restocked: bool,
    /// Where the units went back to stock (or would have).
    pub location_id: Option<u64>,
    /// Unit price.
    pub price: String,
    /// Price × quantity.
    pub subtotal: String,
    pub total_tax: String,
}

/// The shipping refunded with a refund.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefundShipping {
    pub id: u64,
    pub subtotal: String,
    pub tax: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub first_name: String,
    pub last_name: String,
    pub address1: String,
    pub city: String,
    pub zip: String,
    pub country_code: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub number: u64,
    pub email: String,
    pub customer_id: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// PAID, PENDING, AUTHORIZED, PARTIALLY_REFUNDED, REFUNDED, …
    pub financial_status: String,
    pub tags: Vec<String>,
    pub line_items: Vec<LineItem>,
    pub subtotal: String,
    pub shipping: String,
    /// (title, rate, amount).
    pub tax_lines: Vec<(String, f64, String)>,
    pub total_tax: String,
    pub total: String,
    pub transactions: Vec<Transaction>,
    pub refunds: Vec<Refund>,
    pub address: Option<Address>,
    pub fulfillment_orders: Vec<FulfillmentOrder>,
    pub fulfillments: Vec<Fulfillment>,
    pub closed: bool,
    pub cancelled: bool,
    /// When the order was closed (older saves: its `updated_at` stands in).
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub cancelled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub po_number: Option<String>,
    /// HIGH, MEDIUM or LOW (default): Shopify's risk assessment (HIGH recommends cancelling).
    #[serde(default)]
    pub risk_level: Option<String>,
}

impl Order {
    pub fn name(&self) -> String {
        format!("#{}", self.number)
    }

    /// `closedAt`: set when closed.
    pub fn closed_time(&self) -> Option<DateTime<Utc>> {
        self.closed.then(|| self.closed_at.unwrap_or(self.updated_at))
    }

    /// `cancelledAt`: set when cancelled.
    pub fn cancelled_time(&self) -> Option<DateTime<Utc>> {
        self.cancelled.then(|| self.cancelled_at.unwrap_or(self.updated_at))
    }

    pub fn fulfillment_status(&self) -> &'static str {
        let total: i64 =
            self.fulfillment_orders.iter().flat_map(|f| &f.lines).map(|l| l.total).sum();
        let left: i64 =
            self.fulfillment_orders.iter().flat_map(|f| &f.lines).map(|l| l.remaining).sum();
        if left == total {
            "UNFULFILLED"
        } else if left == 0 {
            "FULFILLED"
        } else {
            "PARTIALLY_FULFILLED"
        }
    }
}

/// A metafield set by `metafieldsSet` (or an owner's write): owner gid, namespace and key
/// identify it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metafield {
    pub id: u64,
    pub owner: String,
    pub namespace: String,
    pub key: String,
    /// The metafield type, e.g. `single_line_text_field`.
    pub kind: String,
    pub value: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Metafield {
    /// `compareDigest`: changes whenever the value or type does (a hex digest of both).
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let d = sha2::Sha256::digest(format!("{}\u{1f}{}", self.kind, self.value));
        d.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subscription {
    pub id: u64,
    /// Enum form, e.g. `CUSTOMERS_CREATE`.
    pub topic: String,
    pub uri: String,
    pub created_at: DateTime<Utc>,
}

/// A bulk query: its JSONL result is produced when it is created and becomes visible when the
/// simulated run time has passed (status RUNNING until then, COMPLETED after).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BulkOp {
    pub id: u64,
    pub query: String,
    pub created_at: DateTime<Utc>,
    /// Simulated second at which it completes.
    pub ready_at: f64,
    pub jsonl: String,
    pub object_count: u64,
    pub root_object_count: u64,
    pub url: String,
    /// Set when the run fails (e.g. `ACCESS_DENIED`): status FAILED once it has run.
    #[serde(default)]
    pub error_code: Option<String>,
}

/// A shop's API usage: what benchmarks and sandbox users read to see what their syncs cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Requests answered (executed or throttled).
    pub requests: u64,
    /// Requested cost points of the executed requests.
    pub requested_points: f64,
    /// Actual cost points of the executed requests.
    pub actual_points: f64,
    /// Requests answered THROTTLED.
    pub throttled: u64,
    /// The simulator's clock (seconds) at the first and the latest request.
    pub first_at: Option<f64>,
    pub last_at: f64,
}

/// One shop: its identity, token, plan limits and data.
#[derive(Debug, Serialize, Deserialize)]
pub struct Shop {
    /// The shop's handle: `{name}.myshopify.com`.
    pub name: String,
    pub access_token: String,
    pub limits: Limits,
    pub currency: String,
    pub products: BTreeMap<u64, Product>,
    pub customers: BTreeMap<u64, Customer>,
    #[serde(default)]
    pub bulk_ops: BTreeMap<u64, BulkOp>,
    #[serde(default)]
    pub locations: BTreeMap<u64, Location>,
    /// (inventory item, location) -> quantities.
    #[serde(default, with = "pairs")]
    pub levels: BTreeMap<(u64, u64), Quantities>,
    #[serde(default)]
    pub adjustments: BTreeMap<u64, AdjustmentGroup>,
    #[serde(default)]
    pub idempotency: BTreeMap<String, IdempotentOutcome>,
    #[serde(default)]
    pub subscriptions: BTreeMap<u64, Subscription>,
    #[serde(default)]
    pub orders: BTreeMap<u64, Order>,
    #[serde(default)]
    pub next_order_number: u64,
    #[serde(default)]
    pub companies: BTreeMap<u64, Company>,
    #[serde(default)]
    pub catalogs: BTreeMap<u64, Catalog>,
    #[serde(default)]
    pub price_lists: BTreeMap<u64, PriceList>,
    #[serde(default)]
    pub balance_txs: BTreeMap<u64, BalanceTx>,
    #[serde(default)]
    pub payouts: BTreeMap<u64, Payout>,
    #[serde(default)]
    pub metafields: BTreeMap<u64, Metafield>,
    /// The app's client secret: webhook deliveries are signed with it.
    #[serde(default)]
    pub client_secret: String,
    /// The access scopes the app was granted; `None` grants all of them.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// What the shop's API clients used (GraphQL requests that reached the cost check).
    #[serde(default)]
    pub usage: Usage,
    /// Staged uploads by key (the last path segment of their URL).
    #[serde(default)]
    pub staged_uploads: BTreeMap<String, StagedUpload>,
    pub next_id: u64,
    /// Last `updatedAt` handed out: writes get strictly increasing timestamps.
    pub last_write: DateTime<Utc>,
    #[serde(skip)]
    pub bucket: Option<Bucket>,
}

impl Shop {
    /// The decimals of the shop's currency (JPY 0, EUR 2, KWD 3).
    pub fn units(&self) -> u32 {
        crate::money::minor_units(&self.currency)
    }

    pub fn new(name: &str, access_token: &str, limits: Limits) -> Self {
        Self {
            name: name.to_owned(),
            access_token: access_token.to_owned(),
            limits,
            currency: "EUR".into(),
            products: BTreeMap::new(),
            customers: BTreeMap::new(),
            bulk_ops: BTreeMap::new(),
            locations: BTreeMap::new(),
            levels: BTreeMap::new(),
            adjustments: BTreeMap::new(),
            idempotency: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            orders: BTreeMap::new(),
            next_order_number: 1000,
            companies: BTreeMap::new(),
            catalogs: BTreeMap::new(),
            price_lists: BTreeMap::new(),
            balance_txs: BTreeMap::new(),
            payouts: BTreeMap::new(),
            metafields: BTreeMap::new(),
            client_secret: format!("shpss_{name}_secret"),
            scopes: None,
            usage: Usage::default(),
            staged_uploads: BTreeMap::new(),
            next_id: 1_000_000_000,
            last_write: DateTime::<Utc>::UNIX_EPOCH,
            bucket: None,
        }
    }

    pub fn domain(&self) -> String {
        format!("{}.myshopify.com", self.name)
    }

    pub fn bucket(&mut self, clock: &Clock) -> &mut Bucket {
        let limits = self.limits;
        self.bucket.get_or_insert_with(|| Bucket::new(limits, clock))
    }

    /// Whether the app may read this order: without `read_all_orders`, only the last 60 days.
    pub fn order_visible(&self, o: &Order) -> bool {
        crate::scopes::has(self.scopes.as_deref(), "read_all_orders")
            || o.created_at >= Utc::now() - TimeDelta::seconds(crate::scopes::ORDER_WINDOW_SECS)
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A write timestamp: now, but always after the previous one.
    pub fn stamp(&mut self) -> DateTime<Utc> {
        let now = Utc::now().max(self.last_write + TimeDelta::milliseconds(1));
        self.last_write = now;
        now
    }
}

/// JSON object keys must be strings: levels are saved as a list of pairs.
mod pairs {
    use super::Quantities;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<(u64, u64), Quantities>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        m.iter().collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<(u64, u64), Quantities>, D::Error> {
        Ok(Vec::<((u64, u64), Quantities)>::deserialize(d)?.into_iter().collect())
    }
}

impl Shop {
    /// The variant that owns an inventory item.
    pub fn variant_of(&self, item: u64) -> Option<(&Product, &Variant)> {
        self.products
            .values()
            .find_map(|p| p.variants.iter().find(|v| v.inventory_item_id == item).map(|v| (p, v)))
    }
}

pub fn gid(kind: &str, id: u64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

/// The numeric id of a `gid://shopify/{kind}/{id}`.
pub fn parse_gid(kind: &str, gid: &str) -> Option<u64> {
    gid.strip_prefix("gid://shopify/")?.strip_prefix(kind)?.strip_prefix('/')?.parse().ok()
}
