//! The shops the simulator holds, in memory: what the Admin API answers from and what the
//! admin API seeds and reads back. Saved to and loaded from a JSON file.

use crate::bucket::{Bucket, Limits};
use crate::clock::Clock;
use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

    /// Add generated data with a fixed seed: the same seed gives the same shop.
    pub fn seed(&mut self, seed: u64, products: usize, customers: usize) {
        let mut rng = StdRng::seed_from_u64(seed);
        if self.locations.is_empty() {
            for name in ["Main warehouse", "Copenhagen store"] {
                let id = self.next_id();
                let created_at = self.stamp();
                let l = Location {
                    id,
                    name: name.into(),
                    active: true,
                    created_at,
                    fulfillment_service: false,
                };
                self.locations.insert(id, l);
            }
        }
        let location_ids: Vec<u64> = self.locations.keys().copied().collect();
        const VENDORS: [&str; 4] = ["Nordic Goods", "Acme", "Hafnia Supply", "Bike Works"];
        const KINDS: [&str; 5] = ["Chair", "Lamp", "Table", "Bicycle", "Mug"];
        const COLOURS: [&str; 4] = ["Red", "Blue", "Oak", "Black"];
        let units = self.units();
        for i in 0..products {
            let id = self.next_id();
            let kind = KINDS[rng.random_range(0..KINDS.len())];
            let title = format!("{} {kind} {}", COLOURS[rng.random_range(0..COLOURS.len())], i + 1);
            let n_variants = rng.random_range(1..=3u32);
            let mut variants = Vec::new();
            for v in 0..n_variants {
                let vid = self.next_id();
                let inv = self.next_id();
                variants.push(Variant {
                    id: vid,
                    title: if n_variants == 1 {
                        "Default Title".into()
                    } else {
                        format!("Size {}", v + 1)
                    },
                    sku: format!("SKU-{}-{}", i + 1, v + 1),
                    price: {
                        let (whole, frac): (i32, i32) =
                            (rng.random_range(5..500), rng.random_range(0..100));
                        let euro_cents = i64::from(whole) * 100 + i64::from(frac);
                        let minor = crate::money::from_euro_cents(euro_cents, &self.currency);
                        crate::money::format(minor, units)
                    },
                    inventory_item_id: inv,
                    tracked: true,
                    position: v + 1,
                    barcode: None,
                    compare_at_price: None,
                });
                for l in &location_ids {
                    let q = Quantities { available: rng.random_range(0..50), ..Default::default() };
                    self.levels.insert((inv, *l), q);
                }
            }
            let at = self.stamp();
            let handle = title.to_lowercase().replace(' ', "-");
            // One to three images each, already processed.
            let media = (0..rng.random_range(1..=3u32))
                .map(|n| Media {
                    id: self.next_id(),
                    alt: format!("{title}, view {}", n + 1),
                    source: format!("https://cdn.shopify.com/s/files/1/sim/{handle}-{}.jpg", n + 1),
                    created_at: at,
                    processing_at: 0.0,
                    ready_at: 0.0,
                    error: None,
                })
                .collect();
            self.products.insert(
                id,
                Product {
                    id,
                    handle,
                    title,
                    status: if rng.random_bool(0.9) { "ACTIVE" } else { "DRAFT" }.into(),
                    vendor: VENDORS[rng.random_range(0..VENDORS.len())].into(),
                    product_type: kind.into(),
                    tags: if rng.random_bool(0.2) { vec!["sale".into()] } else { vec![] },
                    created_at: at,
                    updated_at: at,
                    variants,
                    media,
                    description_html: String::new(),
                    option_names: Vec::new(),
                },
            );
        }
        // E-mails are unique in a shop: seeding again continues the numbering.
        let taken: std::collections::HashSet<String> =
            self.customers.values().map(|c| c.email.to_ascii_lowercase()).collect();
        let mut n = 0;
        for _ in 0..customers {
            n += 1;
            while taken.contains(&format!("customer{n}@example.com")) {
                n += 1;
            }
            let id = self.next_id();
            let at = self.stamp();
            self.customers.insert(
                id,
                Customer {
                    id,
                    first_name: format!("Customer{n}"),
                    last_name: "Test".into(),
                    email: format!("customer{n}@example.com"),
                    tags: if rng.random_bool(0.1) { vec!["b2b".into()] } else { vec![] },
                    created_at: at,
                    updated_at: at,
                    ..Default::default()
                },
            );
        }
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
    /// Place an order as a customer would: it commits stock at the first location and gets
    /// one open fulfillment order there.
    pub fn place_order(
        &mut self,
        customer_id: Option<u64>,
        lines: &[(u64, i64)],
        financial_status: &str,
    ) -> Result<u64, String> {
        let location = *self.locations.keys().next().ok_or("the shop has no location")?;
        let lines: Vec<(u64, Vec<(u64, i64)>)> =
            lines.iter().map(|(v, q)| (*v, vec![(location, *q)])).collect();
        self.place_order_at(customer_id, &lines, financial_status)
    }

    /// Place an order whose lines are assigned to locations: each line is a variant and its
    /// (location, quantity) parts (one line item of their sum). Every location gets one
    /// fulfillment order with its parts, in the order the locations first appear, and its
    /// stock committed; a fulfillment service's location starts with a submitted request.
    pub fn place_order_at(
        &mut self,
        customer_id: Option<u64>,
        lines: &[(u64, Vec<(u64, i64)>)],
        financial_status: &str,
    ) -> Result<u64, String> {
        if lines.is_empty() {
            return Err("an order needs at least one line".into());
        }
        let mut items = Vec::new();
        let units = self.units();
        let mut total: i64 = 0;
        for (variant_id, parts) in lines {
            if parts.is_empty() {
                return Err("a line needs at least one location's quantity".into());
            }
            if let Some((_, q)) = parts.iter().find(|(_, q)| *q <= 0) {
                return Err(format!("quantity {q} must be positive"));
            }
            if let Some((l, _)) = parts.iter().find(|(l, _)| !self.locations.contains_key(l)) {
                return Err(format!("no location {l}"));
            }
            let qty = &parts.iter().map(|(_, q)| q).sum::<i64>();
            let (p, v) = self
                .products
                .values()
                .find_map(|p| p.variants.iter().find(|v| v.id == *variant_id).map(|v| (p, v)))
                .ok_or_else(|| format!("no variant {variant_id}"))?;
            total += crate::money::to_minor(&v.price, units).unwrap_or(0) * *qty;
            items.push((
                v.inventory_item_id,
                LineItem {
                    id: 0,
                    variant_id: Some(v.id),
                    sku: v.sku.clone(),
                    title: p.title.clone(),
                    quantity: *qty,
                    price: v.price.clone(),
                    removed: 0,
                    refunded: 0,
                },
                parts,
            ));
        }
        // (location, its fulfillment order's lines), in the order locations first appear.
        let mut by_location: Vec<(u64, Vec<FoLine>)> = Vec::new();
        let mut line_items = Vec::new();
        for (inv, mut li, parts) in items {
            li.id = self.next_id();
            for (location, quantity) in parts {
                let q = self.levels.entry((inv, *location)).or_default();
                q.available -= quantity;
                q.committed += quantity;
                let fo_line = FoLine {
                    id: self.next_id(),
                    line_item_id: li.id,
                    total: *quantity,
                    remaining: *quantity,
                };
                match by_location.iter_mut().find(|(l, _)| l == location) {
                    Some((_, lines)) => lines.push(fo_line),
                    None => by_location.push((*location, vec![fo_line])),
                }
            }
            line_items.push(li);
        }
        let id = self.next_id();
        let mut fulfillment_orders = Vec::new();
        for (location, lines) in by_location {
            let service = self.locations.get(&location).is_some_and(|l| l.fulfillment_service);
            fulfillment_orders.push(FulfillmentOrder {
                id: self.next_id(),
                location_id: location,
                status: "OPEN".into(),
                lines,
                request_status: if service { "SUBMITTED" } else { "UNSUBMITTED" }.into(),
            });
        }
        let at = self.stamp();
        self.next_order_number = self.next_order_number.max(1000) + 1;
        let customer = customer_id.and_then(|c| self.customers.get(&c)).cloned();
        let email = customer.as_ref().map(|c| c.email.clone()).unwrap_or_default();
        let address = customer.as_ref().map(|c| Address {
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            address1: format!("Nørregade {}", c.id % 90 + 1),
            city: "Copenhagen".into(),
            zip: "1165".into(),
            country_code: "DK".into(),
        });
        // Prices exclude tax here: 25 % VAT on goods and shipping, shipping 4.95 EUR (or as
        // much in the shop's currency). Whole minor units: the total is exactly their sum.
        let shipping = crate::money::from_euro_cents(495, &self.currency);
        let tax = ((total + shipping) as f64 * 0.25).round() as i64;
        let grand = total + shipping + tax;
        let money = |x: i64| crate::money::format(x, units);
        let mut transactions = Vec::new();
        let mut refunds = Vec::new();
        let tx = |kind: &str, status: &str, amount: i64, id: u64| Transaction {
            id,
            kind: kind.into(),
            status: status.into(),
            gateway: "shopify_payments".into(),
            amount: money(amount),
            created_at: at,
        };
        let base = self.next_id;
        match financial_status {
            "PAID" => transactions.push(tx("SALE", "SUCCESS", grand, base + 1)),
            "AUTHORIZED" => transactions.push(tx("AUTHORIZATION", "SUCCESS", grand, base + 1)),
            "PENDING" => transactions.push(tx("SALE", "PENDING", grand, base + 1)),
            "PARTIALLY_REFUNDED" | "REFUNDED" => {
                let back = if financial_status == "REFUNDED" {
                    grand
                } else {
                    (grand as f64 / 3.0).round() as i64
                };
                transactions.push(tx("SALE", "SUCCESS", grand, base + 1));
                transactions.push(tx("REFUND", "SUCCESS", back, base + 2));
                refunds.push(Refund {
                    id: base + 3,
                    amount: money(back),
                    created_at: at,
                    transaction: Some(base + 2),
                    ..Default::default()
                });
            }
            _ => {}
        }
        self.next_id += 3;
        self.orders.insert(
            id,
            Order {
                id,
                number: self.next_order_number,
                email,
                customer_id,
                created_at: at,
                updated_at: at,
                financial_status: financial_status.to_owned(),
                tags: Vec::new(),
                line_items,
                subtotal: money(total),
                shipping: money(shipping),
                tax_lines: vec![("VAT".into(), 0.25, money(tax))],
                total_tax: money(tax),
                total: money(grand),
                transactions,
                refunds,
                address,
                fulfillment_orders,
                fulfillments: Vec::new(),
                closed: false,
                cancelled: false,
                closed_at: None,
                cancelled_at: None,
                note: None,
                po_number: None,
                risk_level: None,
            },
        );
        // Settled card payments and refunds become Shopify Payments balance transactions.
        // Card fees: 2.9 % + 0.25 EUR (or as much in the shop's currency).
        let fixed_fee = crate::money::from_euro_cents(25, &self.currency);
        let settled: Vec<(u64, String, i64)> = self.orders[&id]
            .transactions
            .iter()
            .filter(|t| t.status == "SUCCESS" && (t.kind == "SALE" || t.kind == "REFUND"))
            .map(|t| (t.id, t.kind.clone(), crate::money::to_minor(&t.amount, units).unwrap_or(0)))
            .collect();
        for (tx_id, kind, amount) in settled {
            let (kind, amount, fee) = if kind == "SALE" {
                ("CHARGE", amount, (amount as f64 * 0.029).round() as i64 + fixed_fee)
            } else {
                ("REFUND", -amount, 0)
            };
            self.balance_txs.insert(
                tx_id,
                BalanceTx {
                    id: tx_id,
                    order_id: id,
                    kind: kind.into(),
                    amount: money(amount),
                    fee: money(fee),
                    net: money(amount - fee),
                    at,
                    payout: None,
                },
            );
        }
        Ok(id)
    }

    /// B2B: companies with one or two locations and a main contact, each with a catalog whose
    /// price list fixes lower prices for about half of the variants.
    pub fn seed_b2b(&mut self, seed: u64, n: usize) {
        let mut rng = StdRng::seed_from_u64(seed ^ 0xb2b);
        let units = self.units();
        let variants: Vec<(u64, i64)> = self
            .products
            .values()
            .flat_map(|p| {
                p.variants
                    .iter()
                    .map(|v| (v.id, crate::money::to_minor(&v.price, units).unwrap_or(0)))
            })
            .collect();
        // Seeding again continues the numbering: buyers' e-mails and external ids stay unique.
        let offset = self.companies.len();
        for i in offset..offset + n {
            let id = self.next_id();
            let at = self.stamp();
            let mut locations = Vec::new();
            for l in 0..rng.random_range(1..=2) {
                let lid = self.next_id();
                locations.push(CompanyLocation {
                    id: lid,
                    name: format!("Site {}", l + 1),
                    external_id: Some(format!("C{:04}-{}", i + 1, l + 1)),
                    catalogs: Vec::new(),
                    billing_address: None,
                    shipping_address: None,
                    note: None,
                    phone: None,
                });
            }
            let customer = self.next_id();
            let cat = self.stamp();
            self.customers.insert(
                customer,
                Customer {
                    id: customer,
                    first_name: format!("Buyer{}", i + 1),
                    last_name: "B2B".into(),
                    email: format!("buyer{}@company{}.example", i + 1, i + 1),
                    tags: vec!["b2b".into()],
                    created_at: cat,
                    updated_at: cat,
                    ..Default::default()
                },
            );
            let contact = self.next_id();
            let list = self.next_id();
            let mut prices = BTreeMap::new();
            for (v, price) in &variants {
                if rng.random_bool(0.5) {
                    let lower = (*price as f64 * 0.9).round() as i64;
                    prices.insert(*v, crate::money::format(lower, units));
                }
            }
            let name = format!("Company {}", i + 1);
            self.price_lists.insert(
                list,
                PriceList {
                    id: list,
                    name: format!("{name} prices"),
                    currency: self.currency.clone(),
                    prices,
                },
            );
            let catalog = self.next_id();
            for l in &mut locations {
                l.catalogs.push(catalog);
            }
            self.catalogs.insert(
                catalog,
                Catalog {
                    id: catalog,
                    title: format!("{name} catalog"),
                    status: "ACTIVE".into(),
                    price_list: Some(list),
                    locations: locations.iter().map(|l| (id, l.id)).collect(),
                },
            );
            self.companies.insert(
                id,
                Company {
                    id,
                    name,
                    external_id: Some(format!("C{:04}", i + 1)),
                    created_at: at,
                    updated_at: at,
                    locations,
                    contacts: vec![Contact { id: contact, customer_id: customer, main: true }],
                    ..Default::default()
                },
            );
        }
    }

    /// Pay out every balance transaction not paid out yet, as one payout.
    pub fn pay_out(&mut self) -> Option<u64> {
        let open: Vec<u64> =
            self.balance_txs.values().filter(|b| b.payout.is_none()).map(|b| b.id).collect();
        if open.is_empty() {
            return None;
        }
        let id = self.next_id();
        let at = self.stamp();
        let units = self.units();
        let mut net = 0;
        for b in &open {
            if let Some(tx) = self.balance_txs.get_mut(b) {
                tx.payout = Some(id);
                net += crate::money::to_minor(&tx.net, units).unwrap_or(0);
            }
        }
        self.payouts.insert(
            id,
            Payout {
                id,
                status: "PAID".into(),
                issued_at: at,
                net: crate::money::format(net, units),
            },
        );
        Some(id)
    }

    /// A merchant's order edit: each `(line item id, quantity)` sets the line's current
    /// quantity (fewer units are removed, more are added), before anything of it was
    /// fulfilled beyond the new quantity. Totals and tax follow, the fulfillment order's lines
    /// too; a paid order then has an outstanding balance or a refund owed, as in Shopify.
    pub fn edit_quantities(&mut self, id: u64, changes: &[(u64, i64)]) -> Result<(), String> {
        let units = self.units();
        let at = self.stamp();
        let o = self.orders.get(&id).ok_or_else(|| format!("no order {id}"))?;
        if o.cancelled || o.closed {
            return Err("the order is not editable (cancelled or closed)".into());
        }
        for (line, q) in changes {
            let l = o
                .line_items
                .iter()
                .find(|l| l.id == *line)
                .ok_or_else(|| format!("no line item {line} on the order"))?;
            if *q < 0 {
                return Err(format!("line item {line}: quantity {q} must not be negative"));
            }
            let shipped: i64 = o
                .fulfillment_orders
                .iter()
                .flat_map(|f| &f.lines)
                .filter(|f| f.line_item_id == l.id)
                .map(|f| f.total - f.remaining)
                .sum();
            if *q < shipped {
                return Err(format!("line item {line}: {shipped} already fulfilled"));
            }
        }
        let Some(o) = self.orders.get_mut(&id) else { return Err(format!("no order {id}")) };
        for (line, q) in changes {
            if let Some(l) = o.line_items.iter_mut().find(|l| l.id == *line) {
                let diff = *q - l.current();
                if diff > 0 {
                    l.quantity += diff;
                } else {
                    l.removed -= diff;
                }
                // Added units go to the line's first fulfillment order line; removed ones come
                // out of what remains, the last location's first (a line may be split).
                let mut fo_lines: Vec<&mut FoLine> = o
                    .fulfillment_orders
                    .iter_mut()
                    .flat_map(|f| f.lines.iter_mut())
                    .filter(|f| f.line_item_id == l.id)
                    .collect();
                if diff > 0 {
                    if let Some(f) = fo_lines.first_mut() {
                        f.total += diff;
                        f.remaining += diff;
                    }
                } else {
                    let mut left = -diff;
                    for f in fo_lines.iter_mut().rev() {
                        let take = left.min(f.remaining);
                        f.total -= take;
                        f.remaining -= take;
                        left -= take;
                    }
                }
            }
        }
        let subtotal: i64 = o
            .line_items
            .iter()
            .map(|l| crate::money::to_minor(&l.price, units).unwrap_or(0) * l.ordered())
            .sum();
        let shipping = crate::money::to_minor(&o.shipping, units).unwrap_or(0);
        let tax = ((subtotal + shipping) as f64 * 0.25).round() as i64;
        let money = |x: i64| crate::money::format(x, units);
        o.subtotal = money(subtotal);
        o.tax_lines = vec![("VAT".into(), 0.25, money(tax))];
        o.total_tax = money(tax);
        o.total = money(subtotal + shipping + tax);
        o.updated_at = at;
        Ok(())
    }

    /// Generated orders in a realistic mix of payment states, from the seeded catalogue.
    pub fn seed_orders(&mut self, seed: u64, n: usize) {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        let variants: Vec<u64> =
            self.products.values().flat_map(|p| p.variants.iter().map(|v| v.id)).collect();
        let customers: Vec<u64> = self.customers.keys().copied().collect();
        if variants.is_empty() {
            return;
        }
        for _ in 0..n {
            let k = rng.random_range(1..=3usize);
            let lines: Vec<(u64, i64)> = (0..k)
                .map(|_| (variants[rng.random_range(0..variants.len())], rng.random_range(1..=3)))
                .collect();
            let mut lines_unique: Vec<(u64, i64)> = Vec::new();
            for (v, q) in lines {
                if !lines_unique.iter().any(|(u, _)| *u == v) {
                    lines_unique.push((v, q));
                }
            }
            let status = match rng.random_range(0..100) {
                0..70 => "PAID",
                70..85 => "PENDING",
                85..95 => "PARTIALLY_REFUNDED",
                _ => "AUTHORIZED",
            };
            let customer =
                (!customers.is_empty()).then(|| customers[rng.random_range(0..customers.len())]);
            let _ = self.place_order(customer, &lines_unique, status);
        }
        self.pay_out();
    }

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
