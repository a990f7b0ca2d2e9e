//! Typed task parameters: the saved filters and options of a job queue entry.
//!
//! Stored as JSON (`{"sync_orders": {...}}`) and validated on create and update, so a bad
//! filter is refused when it is saved, not when the job first runs at 3 a.m.

use crate::error::ValidationError;
use crate::task::{Resource, Service, Task};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub const FINANCIAL_STATUSES: &[&str] = &[
    "pending",
    "authorized",
    "partially_paid",
    "paid",
    "partially_refunded",
    "refunded",
    "voided",
    "expired",
];
pub const FULFILLMENT_STATUSES: &[&str] =
    &["unfulfilled", "partially_fulfilled", "fulfilled", "restocked", "on_hold", "scheduled"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskParams {
    SyncOrders(SyncOrders),
    CreateSalesOrders(CreateSalesOrders),
    SyncShipments(SyncShipments),
    SyncProducts(SyncProducts),
    SyncInventory(SyncInventory),
    SyncImages(SyncImages),
    SyncCustomers(SyncCustomers),
    SyncCompanies(SyncCompanies),
    SyncPayments(SyncPayments),
    SyncCatalogs(SyncCatalogs),
    SyncCatalogPrices(SyncCatalogPrices),
    BatchPostSalesOrders(BatchPostSalesOrders),
    BatchPostSalesInvoices(BatchPostSalesInvoices),
    Test(TestParams),
}

/// Filters of "Sync orders from Shopify" (reference 3.1 request page).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncOrders {
    pub only_fully_paid: bool,
    pub financial_statuses: Vec<String>,
    pub fulfillment_statuses: Vec<String>,
    /// An order is imported when it carries any of these tags (empty = no tag filter).
    pub tags: Vec<String>,
    pub channel: Option<String>,
    pub exclude_high_risk: bool,
    /// First run only (no cursor yet): also import orders created on or after this date,
    /// closed ones included; without it the first run imports the open orders.
    pub history_from: Option<NaiveDate>,
    /// Reconcile the orders updated in the last this many hours (0: none).
    pub reconcile_hours: u32,
}

/// The longest reconciliation window (Shopify shows apps without `read_all_orders` 60 days).
pub const MAX_RECONCILE_HOURS: u32 = 24 * 60;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateSalesOrders {
    pub financial_statuses: Vec<String>,
    pub fulfillment_statuses: Vec<String>,
    pub release: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncShipments {
    pub shipment_nos: Vec<String>,
    pub customer_no: Option<String>,
    pub posting_date_from: Option<NaiveDate>,
    pub posting_date_to: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncProducts {
    pub only_prices: bool,
    /// Stop after this many products (0 = no limit), used for initial imports.
    pub limit: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncInventory {
    /// Push without re-reading every Shopify level first (fixes complaint 6.1).
    pub skip_import: bool,
    pub variant_ids: Vec<String>,
    /// Send quantities even when they equal Shopify's.
    pub force: bool,
    /// Preview: compute the same differences and write nothing (each level it would change is
    /// reported with the ERP's value, Shopify's and the reason).
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncImages {
    pub product_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncCustomers {
    /// Ignore the incremental cursor and look at every customer.
    pub full: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncCompanies {
    pub full: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncPayments {
    pub include_disputes: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogType {
    #[default]
    All,
    Company,
    Market,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncCatalogs {
    pub catalog_type: CatalogType,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncCatalogPrices {
    pub catalog_type: CatalogType,
    pub catalog_ids: Vec<String>,
    pub company_id: Option<String>,
}

/// The filters and the posting date both batch postings take (reference 3.12), saved flat
/// beside each task's own options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchSelection {
    pub released_only: bool,
    pub posting_date_to: Option<NaiveDate>,
    pub shopify_order_no_not_blank: bool,
    pub customer_no: Option<String>,
    pub posting_date: Option<NaiveDate>,
    pub replace_posting_date: bool,
}

impl Default for BatchSelection {
    fn default() -> Self {
        Self {
            released_only: true,
            posting_date_to: None,
            shopify_order_no_not_blank: true,
            customer_no: None,
            posting_date: None,
            replace_posting_date: false,
        }
    }
}

impl BatchSelection {
    fn validate(&self) -> Result<(), ValidationError> {
        opt_non_blank("customer_no", &self.customer_no)?;
        if self.replace_posting_date && self.posting_date.is_none() {
            return Err(ValidationError::new(
                "posting_date",
                "required when replace_posting_date is set",
            ));
        }
        Ok(())
    }

    /// The posting date the documents get instead of their own, if any.
    pub fn replacing_posting_date(&self) -> Option<NaiveDate> {
        self.posting_date.filter(|_| self.replace_posting_date)
    }
}

/// Saved filters and options of batch-posting sales orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchPostSalesOrders {
    pub ship: bool,
    pub invoice: bool,
    #[serde(flatten)]
    pub selection: BatchSelection,
}

impl Default for BatchPostSalesOrders {
    fn default() -> Self {
        Self { ship: true, invoice: true, selection: BatchSelection::default() }
    }
}

/// Saved filters of batch-posting sales invoices (and credit memos).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchPostSalesInvoices {
    #[serde(flatten)]
    pub selection: BatchSelection,
}

/// The built-in test task every worker serves: sleeps through `steps` steps reporting
/// progress, and can be told to fail, to stall (stop heartbeating), or to claim it writes
/// some resources so the scheduler keeps it apart from conflicting work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TestParams {
    pub service: Service,
    pub steps: u32,
    pub step_ms: u32,
    /// Fail attempts 1..=fail_attempts (u32::MAX: always fail).
    pub fail_attempts: u32,
    /// After this step, stop sending progress and hang (simulates a stuck worker).
    pub stall_after_step: Option<u32>,
    pub writes: Vec<Resource>,
}

impl Default for TestParams {
    fn default() -> Self {
        Self {
            service: Service::OrderSync,
            steps: 0,
            step_ms: 0,
            fail_attempts: 0,
            stall_after_step: None,
            writes: Vec::new(),
        }
    }
}

impl TaskParams {
    /// Default parameters for a task.
    pub fn default_for(task: Task) -> Self {
        match task {
            Task::SyncOrders => Self::SyncOrders(Default::default()),
            Task::CreateSalesOrders => Self::CreateSalesOrders(Default::default()),
            Task::SyncShipments => Self::SyncShipments(Default::default()),
            Task::SyncProducts => Self::SyncProducts(Default::default()),
            Task::SyncInventory => Self::SyncInventory(Default::default()),
            Task::SyncImages => Self::SyncImages(Default::default()),
            Task::SyncCustomers => Self::SyncCustomers(Default::default()),
            Task::SyncCompanies => Self::SyncCompanies(Default::default()),
            Task::SyncPayments => Self::SyncPayments(Default::default()),
            Task::SyncCatalogs => Self::SyncCatalogs(Default::default()),
            Task::SyncCatalogPrices => Self::SyncCatalogPrices(Default::default()),
            Task::BatchPostSalesOrders => Self::BatchPostSalesOrders(Default::default()),
            Task::BatchPostSalesInvoices => Self::BatchPostSalesInvoices(Default::default()),
            Task::Test => Self::Test(Default::default()),
        }
    }

    pub fn task(&self) -> Task {
        match self {
            Self::SyncOrders(_) => Task::SyncOrders,
            Self::CreateSalesOrders(_) => Task::CreateSalesOrders,
            Self::SyncShipments(_) => Task::SyncShipments,
            Self::SyncProducts(_) => Task::SyncProducts,
            Self::SyncInventory(_) => Task::SyncInventory,
            Self::SyncImages(_) => Task::SyncImages,
            Self::SyncCustomers(_) => Task::SyncCustomers,
            Self::SyncCompanies(_) => Task::SyncCompanies,
            Self::SyncPayments(_) => Task::SyncPayments,
            Self::SyncCatalogs(_) => Task::SyncCatalogs,
            Self::SyncCatalogPrices(_) => Task::SyncCatalogPrices,
            Self::BatchPostSalesOrders(_) => Task::BatchPostSalesOrders,
            Self::BatchPostSalesInvoices(_) => Task::BatchPostSalesInvoices,
            Self::Test(_) => Task::Test,
        }
    }

    /// The service that runs these parameters' task.
    pub fn service(&self) -> Service {
        match self {
            Self::Test(t) => t.service,
            other => other.task().service().unwrap_or(Service::OrderSync),
        }
    }

    /// What running these parameters writes.
    pub fn writes(&self) -> Vec<Resource> {
        match self {
            Self::Test(t) => {
                let mut w = t.writes.clone();
                w.sort();
                w.dedup();
                w
            }
            other => other.task().writes().to_vec(),
        }
    }

    /// Check the parameters; the error's field is relative to `params` (e.g. `sync_orders.tags[1]`).
    pub fn validate(&self) -> Result<(), ValidationError> {
        let task = self.task().as_str();
        let within = |e: ValidationError| e.within(task);
        match self {
            Self::SyncOrders(p) => {
                one_of("financial_statuses", &p.financial_statuses, FINANCIAL_STATUSES)
                    .map_err(within)?;
                one_of("fulfillment_statuses", &p.fulfillment_statuses, FULFILLMENT_STATUSES)
                    .map_err(within)?;
                non_blank_list("tags", &p.tags).map_err(within)?;
                if p.reconcile_hours > MAX_RECONCILE_HOURS {
                    return Err(within(ValidationError::new(
                        "reconcile_hours",
                        format!("at most {MAX_RECONCILE_HOURS} (60 days)"),
                    )));
                }
                opt_non_blank("channel", &p.channel).map_err(within)
            }
            Self::CreateSalesOrders(p) => {
                one_of("financial_statuses", &p.financial_statuses, FINANCIAL_STATUSES)
                    .map_err(within)?;
                one_of("fulfillment_statuses", &p.fulfillment_statuses, FULFILLMENT_STATUSES)
                    .map_err(within)
            }
            Self::SyncShipments(p) => {
                non_blank_list("shipment_nos", &p.shipment_nos).map_err(within)?;
                opt_non_blank("customer_no", &p.customer_no).map_err(within)?;
                date_range("posting_date_to", p.posting_date_from, p.posting_date_to)
                    .map_err(within)
            }
            Self::SyncProducts(_) | Self::SyncCustomers(_) | Self::SyncCompanies(_) => Ok(()),
            Self::SyncPayments(_) | Self::SyncCatalogs(_) => Ok(()),
            Self::SyncInventory(p) => {
                shopify_gids("variant_ids", &p.variant_ids, "ProductVariant").map_err(within)
            }
            Self::SyncImages(p) => {
                shopify_gids("product_ids", &p.product_ids, "Product").map_err(within)
            }
            Self::SyncCatalogPrices(p) => {
                shopify_gids("catalog_ids", &p.catalog_ids, "Catalog").map_err(within)?;
                match &p.company_id {
                    Some(c) => shopify_gids("company_id", std::slice::from_ref(c), "Company")
                        .map_err(within),
                    None => Ok(()),
                }
            }
            Self::BatchPostSalesOrders(p) => {
                if !p.ship && !p.invoice {
                    return Err(within(ValidationError::new(
                        "ship",
                        "at least one of ship and invoice must be set",
                    )));
                }
                p.selection.validate().map_err(within)
            }
            Self::BatchPostSalesInvoices(p) => p.selection.validate().map_err(within),
            Self::Test(p) => {
                if p.steps > 100_000 {
                    return Err(within(ValidationError::new("steps", "at most 100000")));
                }
                if p.step_ms > 600_000 {
                    return Err(within(ValidationError::new("step_ms", "at most 600000 (10 min)")));
                }
                Ok(())
            }
        }
    }
}

fn one_of(field: &str, values: &[String], allowed: &[&str]) -> Result<(), ValidationError> {
    for (i, v) in values.iter().enumerate() {
        if !allowed.contains(&v.as_str()) {
            return Err(ValidationError::new(
                format!("{field}[{i}]"),
                format!(
                    "unknown value {}; expected one of {}",
                    crate::text::quoted(v),
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn non_blank_list(field: &str, values: &[String]) -> Result<(), ValidationError> {
    for (i, v) in values.iter().enumerate() {
        if v.trim().is_empty() {
            return Err(ValidationError::new(format!("{field}[{i}]"), "must not be blank"));
        }
        if v.len() > 255 {
            return Err(ValidationError::new(format!("{field}[{i}]"), "longer than 255 bytes"));
        }
    }
    Ok(())
}

fn opt_non_blank(field: &str, value: &Option<String>) -> Result<(), ValidationError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(ValidationError::new(field, "must not be blank")),
        _ => Ok(()),
    }
}

fn date_range(
    field: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<(), ValidationError> {
    match (from, to) {
        (Some(f), Some(t)) if t < f => {
            Err(ValidationError::new(field, format!("{t} is before the start date {f}")))
        }
        _ => Ok(()),
    }
}

/// Shopify ids are global ids: `gid://shopify/<Type>/<number>`.
fn shopify_gids(field: &str, values: &[String], kind: &str) -> Result<(), ValidationError> {
    let prefix = format!("gid://shopify/{kind}/");
    for (i, v) in values.iter().enumerate() {
        let ok = v
            .strip_prefix(&prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(ValidationError::new(
                format!("{field}[{i}]"),
                format!("{} is not a Shopify {kind} id ({prefix}<number>)", crate::text::quoted(v)),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_for_every_task() {
        for t in Task::ALL {
            let p = TaskParams::default_for(t);
            assert_eq!(p.task(), t);
            p.validate().unwrap();
        }
    }

    #[test]
    fn bad_filters_name_the_field() {
        let p = TaskParams::SyncOrders(SyncOrders {
            financial_statuses: vec!["paid".into(), "bogus".into()],
            ..Default::default()
        });
        let e = p.validate().unwrap_err();
        assert_eq!(e.field, "sync_orders.financial_statuses[1]");

        let p = TaskParams::BatchPostSalesOrders(BatchPostSalesOrders {
            ship: false,
            invoice: false,
            ..Default::default()
        });
        assert_eq!(p.validate().unwrap_err().field, "batch_post_sales_orders.ship");

        let p = TaskParams::SyncInventory(SyncInventory {
            variant_ids: vec!["gid://shopify/ProductVariant/12".into(), "12".into()],
            ..Default::default()
        });
        assert_eq!(p.validate().unwrap_err().field, "sync_inventory.variant_ids[1]");
    }

    #[test]
    fn batch_selection_is_saved_flat_beside_the_tasks_options() {
        let p = TaskParams::BatchPostSalesOrders(BatchPostSalesOrders {
            ship: false,
            selection: BatchSelection { customer_no: Some("C1".into()), ..Default::default() },
            ..Default::default()
        });
        let j = serde_json::to_value(&p).unwrap();
        let o = &j["batch_post_sales_orders"];
        assert_eq!((o["ship"].as_bool(), o["invoice"].as_bool()), (Some(false), Some(true)));
        assert_eq!(
            (o["customer_no"].as_str(), o["released_only"].as_bool()),
            (Some("C1"), Some(true))
        );
        assert!(o.get("selection").is_none(), "{j}");
        assert_eq!(serde_json::from_value::<TaskParams>(j).unwrap(), p);
        // Saved before, with fields left out: defaults.
        let old: TaskParams = serde_json::from_value(serde_json::json!(
            {"batch_post_sales_invoices": {"customer_no": "C2"}}
        ))
        .unwrap();
        let TaskParams::BatchPostSalesInvoices(b) = old else { panic!("{old:?}") };
        assert!(b.selection.released_only && b.selection.shopify_order_no_not_blank);
        assert_eq!(b.selection.customer_no.as_deref(), Some("C2"));
    }

    #[test]
    fn params_round_trip_as_json() {
        let p = TaskParams::SyncOrders(SyncOrders {
            only_fully_paid: true,
            tags: vec!["b2b".into()],
            ..Default::default()
        });
        let j = serde_json::to_value(&p).unwrap();
        assert_eq!(j["sync_orders"]["only_fully_paid"], true);
        let back: TaskParams = serde_json::from_value(j).unwrap();
        assert_eq!(back, p);
    }
}
