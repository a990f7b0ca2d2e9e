//! The string fields of every request of `JobQueue`, `Shops`, `Erp`, `Posting`, `Cues` and
//! `Stock`, with their limits: each is checked for a NUL byte and its length before anything
//! else looks at the request (`shopsync_common::text`). A bad one is INVALID_ARGUMENT naming
//! the field's path. The services' own checks (formats, tighter limits) come after.
//!
//! Field names are built only when a check fails, so a valid request costs no allocation.

use crate::pb;
use shopsync_common::ValidationError;
use shopsync_common::text::{LIST, LONG, SHORT, text_problem};

type R = Result<(), ValidationError>;

/// A request (or part of one) whose strings can be checked; `at` prefixes the field names
/// (`"documents[3].document."`).
pub trait CheckText {
    fn check_text_at(&self, at: &str) -> R;

    fn check_text(&self) -> R {
        self.check_text_at("")
    }
}

fn t(at: &str, name: &str, v: &str, max: usize) -> R {
    match text_problem(v, max) {
        None => Ok(()),
        Some(p) => Err(ValidationError::new(format!("{at}{name}"), p.reason())),
    }
}

fn opt(at: &str, name: &str, v: &Option<String>, max: usize) -> R {
    v.as_deref().map_or(Ok(()), |v| t(at, name, v, max))
}

fn list(at: &str, name: &str, v: &[String], max: usize) -> R {
    if v.len() > LIST {
        return Err(ValidationError::new(format!("{at}{name}"), format!("at most {LIST} values")));
    }
    for (i, s) in v.iter().enumerate() {
        if let Some(p) = text_problem(s, max) {
            return Err(ValidationError::new(format!("{at}{name}[{i}]"), p.reason()));
        }
    }
    Ok(())
}

fn each<T: CheckText>(at: &str, name: &str, v: &[T]) -> R {
    for (i, x) in v.iter().enumerate() {
        x.check_text_at(&format!("{at}{name}[{i}]."))?;
    }
    Ok(())
}

fn nested<T: CheckText>(at: &str, name: &str, v: &Option<T>) -> R {
    match v {
        Some(x) => x.check_text_at(&format!("{at}{name}.")),
        None => Ok(()),
    }
}

// ---- JobQueue -------------------------------------------------------------------------------

impl CheckText for pb::TaskParams {
    fn check_text_at(&self, at: &str) -> R {
        use pb::task_params::Params;
        let Some(p) = &self.params else { return Ok(()) };
        match p {
            Params::SyncOrders(x) => {
                let at = &format!("{at}sync_orders.");
                list(at, "financial_statuses", &x.financial_statuses, SHORT)?;
                list(at, "fulfillment_statuses", &x.fulfillment_statuses, SHORT)?;
                list(at, "tags", &x.tags, SHORT)?;
                opt(at, "channel", &x.channel, SHORT)?;
                opt(at, "history_from", &x.history_from, SHORT)
            }
            Params::CreateSalesOrders(x) => {
                let at = &format!("{at}create_sales_orders.");
                list(at, "financial_statuses", &x.financial_statuses, SHORT)?;
                list(at, "fulfillment_statuses", &x.fulfillment_statuses, SHORT)
            }
            Params::SyncShipments(x) => {
                let at = &format!("{at}sync_shipments.");
                list(at, "shipment_nos", &x.shipment_nos, SHORT)?;
                opt(at, "customer_no", &x.customer_no, SHORT)?;
                opt(at, "posting_date_from", &x.posting_date_from, SHORT)?;
                opt(at, "posting_date_to", &x.posting_date_to, SHORT)
            }
            Params::SyncInventory(x) => {
                list(&format!("{at}sync_inventory."), "variant_ids", &x.variant_ids, SHORT)
            }
            Params::SyncImages(x) => {
                list(&format!("{at}sync_images."), "product_ids", &x.product_ids, SHORT)
            }
            Params::SyncCatalogPrices(x) => {
                let at = &format!("{at}sync_catalog_prices.");
                list(at, "catalog_ids", &x.catalog_ids, SHORT)?;
                opt(at, "company_id", &x.company_id, SHORT)
            }
            // The two batch postings spell their selection's texts alike.
            Params::BatchPostSalesOrders(pb::BatchPostSalesOrdersParams {
                posting_date_to,
                customer_no,
                posting_date,
                ..
            })
            | Params::BatchPostSalesInvoices(pb::BatchPostSalesInvoicesParams {
                posting_date_to,
                customer_no,
                posting_date,
                ..
            }) => {
                let task = if matches!(p, Params::BatchPostSalesOrders(_)) {
                    "batch_post_sales_orders"
                } else {
                    "batch_post_sales_invoices"
                };
                let at = &format!("{at}{task}.");
                opt(at, "posting_date_to", posting_date_to, SHORT)?;
                opt(at, "customer_no", customer_no, SHORT)?;
                opt(at, "posting_date", posting_date, SHORT)
            }
            Params::Test(x) => list(&format!("{at}test."), "writes", &x.writes, SHORT),
            Params::SyncProducts(_)
            | Params::SyncCustomers(_)
            | Params::SyncCompanies(_)
            | Params::SyncPayments(_)
            | Params::SyncCatalogs(_) => Ok(()),
        }
    }
}

impl CheckText for pb::Recurrence {
    fn check_text_at(&self, at: &str) -> R {
        use pb::recurrence::Rule;
        match &self.rule {
            Some(Rule::DateFormula(f)) => t(at, "date_formula", f, SHORT)?,
            Some(Rule::Cron(c)) => t(at, "cron", c, SHORT)?,
            Some(Rule::IntervalSeconds(_)) | Some(Rule::Daily(_)) | None => {}
        }
        opt(at, "starting_time", &self.starting_time, SHORT)?;
        opt(at, "ending_time", &self.ending_time, SHORT)
    }
}

impl CheckText for pb::JobSpec {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)?;
        nested(at, "params", &self.params)?;
        t(at, "description", &self.description, SHORT)?;
        nested(at, "recurrence", &self.recurrence)?;
        t(at, "time_zone", &self.time_zone, SHORT)?;
        t(at, "category", &self.category, SHORT)?;
        t(at, "created_by", &self.created_by, SHORT)
    }
}

impl CheckText for pb::CreateEntryRequest {
    fn check_text_at(&self, at: &str) -> R {
        nested(at, "spec", &self.spec)?;
        t(at, "request_id", &self.request_id, SHORT)
    }
}

impl CheckText for pb::SyncNowRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)?;
        nested(at, "params", &self.params)?;
        t(at, "request_id", &self.request_id, SHORT)?;
        t(at, "created_by", &self.created_by, SHORT)
    }
}

impl CheckText for pb::GetCuesRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)
    }
}

impl CheckText for pb::ListCueGroupsRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)
    }
}

impl CheckText for pb::RetryCueGroupRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)?;
        t(at, "key", &self.key, LONG)?;
        t(at, "requested_by", &self.requested_by, SHORT)
    }
}

// ---- Stock ----------------------------------------------------------------------------------

impl CheckText for pb::DiffRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)
    }
}

impl CheckText for pb::ListDriftRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)
    }
}

impl CheckText for pb::GetLevelHistoryRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)?;
        t(at, "inventory_item_id", &self.inventory_item_id, SHORT)?;
        t(at, "location_id", &self.location_id, SHORT)
    }
}

impl CheckText for pb::UpdateEntryRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "id", &self.id, SHORT)?;
        nested(at, "spec", &self.spec)
    }
}

impl CheckText for pb::EntryRef {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "id", &self.id, SHORT)?;
        t(at, "requested_by", &self.requested_by, SHORT)
    }
}

impl CheckText for pb::ListEntriesRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)?;
        t(at, "category", &self.category, SHORT)?;
        t(at, "page_token", &self.page_token, SHORT)
    }
}

impl CheckText for pb::ListRunsRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "entry_id", &self.entry_id, SHORT)?;
        t(at, "shop", &self.shop, SHORT)?;
        t(at, "page_token", &self.page_token, SHORT)
    }
}

/// Requests that carry nothing but an `id`.
macro_rules! id_only {
    ($($ty:ty),*) => {$(
        impl CheckText for $ty {
            fn check_text_at(&self, at: &str) -> R {
                t(at, "id", &self.id, SHORT)
            }
        }
    )*};
}
id_only!(pb::GetEntryRequest, pb::DeleteEntryRequest, pb::GetRunRequest, pb::WatchEntryRequest);

// ---- Erp and Posting ------------------------------------------------------------------------

impl CheckText for pb::Address {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "name", &self.name, SHORT)?;
        t(at, "address1", &self.address1, SHORT)?;
        t(at, "address2", &self.address2, SHORT)?;
        t(at, "city", &self.city, SHORT)?;
        t(at, "post_code", &self.post_code, SHORT)?;
        t(at, "county", &self.county, SHORT)?;
        t(at, "country_code", &self.country_code, SHORT)?;
        t(at, "phone", &self.phone, SHORT)
    }
}

impl CheckText for pb::ItemVariant {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "code", &self.code, SHORT)?;
        t(at, "description", &self.description, SHORT)?;
        t(at, "sku", &self.sku, SHORT)?;
        t(at, "barcode", &self.barcode, SHORT)
    }
}

impl CheckText for pb::UnitOfMeasure {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "code", &self.code, SHORT)
    }
}

impl CheckText for pb::SalesPrice {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "item_no", &self.item_no, SHORT)?;
        t(at, "variant_code", &self.variant_code, SHORT)?;
        t(at, "customer_price_group", &self.customer_price_group, SHORT)?;
        t(at, "currency", &self.currency, SHORT)
    }
}

impl CheckText for pb::Item {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "no", &self.no, SHORT)?;
        t(at, "description", &self.description, SHORT)?;
        t(at, "currency", &self.currency, SHORT)?;
        t(at, "sku", &self.sku, SHORT)?;
        t(at, "barcode", &self.barcode, SHORT)?;
        t(at, "base_unit_of_measure", &self.base_unit_of_measure, SHORT)?;
        if self.units_of_measure.len() > LIST || self.variants.len() > LIST {
            let name = if self.variants.len() > LIST { "variants" } else { "units_of_measure" };
            return Err(ValidationError::new(format!("{at}{name}"), "too many values"));
        }
        each(at, "units_of_measure", &self.units_of_measure)?;
        each(at, "variants", &self.variants)?;
        t(at, "item_category", &self.item_category, SHORT)?;
        t(at, "vendor", &self.vendor, SHORT)?;
        each(at, "sales_prices", &self.sales_prices)
    }
}

impl CheckText for pb::Customer {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "no", &self.no, SHORT)?;
        t(at, "name", &self.name, SHORT)?;
        t(at, "email", &self.email, SHORT)?;
        t(at, "phone", &self.phone, SHORT)?;
        nested(at, "bill_to", &self.bill_to)?;
        nested(at, "ship_to", &self.ship_to)?;
        t(at, "customer_price_group", &self.customer_price_group, SHORT)?;
        t(at, "payment_terms", &self.payment_terms, SHORT)?;
        t(at, "currency", &self.currency, SHORT)
    }
}

impl CheckText for pb::Location {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "code", &self.code, SHORT)?;
        t(at, "name", &self.name, SHORT)?;
        nested(at, "address", &self.address)
    }
}

impl CheckText for pb::UpdateItemRequest {
    fn check_text_at(&self, at: &str) -> R {
        nested(at, "item", &self.item)
    }
}

impl CheckText for pb::UpdateCustomerRequest {
    fn check_text_at(&self, at: &str) -> R {
        nested(at, "customer", &self.customer)
    }
}

impl CheckText for pb::UpdateLocationRequest {
    fn check_text_at(&self, at: &str) -> R {
        nested(at, "location", &self.location)
    }
}

impl CheckText for pb::GetRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "no", &self.no, SHORT)
    }
}

impl CheckText for pb::ListRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "search", &self.search, SHORT)?;
        t(at, "page_token", &self.page_token, SHORT)
    }
}

impl CheckText for pb::StockAdjustmentLine {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "item_no", &self.item_no, SHORT)?;
        t(at, "variant_code", &self.variant_code, SHORT)?;
        t(at, "location_code", &self.location_code, SHORT)
    }
}

impl CheckText for pb::StockAdjustmentRequest {
    fn check_text_at(&self, at: &str) -> R {
        each(at, "lines", &self.lines)?;
        t(at, "posting_date", &self.posting_date, SHORT)?;
        t(at, "document_no", &self.document_no, SHORT)?;
        t(at, "idempotency_key", &self.idempotency_key, SHORT)
    }
}

impl CheckText for pb::GetStockRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "item_no", &self.item_no, SHORT)?;
        t(at, "location_code", &self.location_code, SHORT)
    }
}

impl CheckText for pb::SalesLine {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "item_no", &self.item_no, SHORT)?;
        t(at, "variant_code", &self.variant_code, SHORT)?;
        t(at, "location_code", &self.location_code, SHORT)?;
        t(at, "description", &self.description, SHORT)?;
        t(at, "unit_of_measure", &self.unit_of_measure, SHORT)?;
        t(at, "shopify_order_no", &self.shopify_order_no, SHORT)
    }
}

impl CheckText for pb::Tracking {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "company", &self.company, SHORT)?;
        t(at, "number", &self.number, SHORT)?;
        // Carrier links carry long query strings.
        t(at, "url", &self.url, LONG)
    }
}

impl CheckText for pb::SetTrackingRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "no", &self.no, SHORT)?;
        nested(at, "tracking", &self.tracking)
    }
}

impl CheckText for pb::ResetFulfillmentRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shipment_no", &self.shipment_no, SHORT)
    }
}

impl CheckText for pb::SalesDocument {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "no", &self.no, SHORT)?;
        t(at, "shop", &self.shop, SHORT)?;
        t(at, "shopify_order_no", &self.shopify_order_no, SHORT)?;
        t(at, "external_document_no", &self.external_document_no, SHORT)?;
        t(at, "sell_to_customer_no", &self.sell_to_customer_no, SHORT)?;
        t(at, "bill_to_customer_no", &self.bill_to_customer_no, SHORT)?;
        nested(at, "ship_to", &self.ship_to)?;
        t(at, "currency", &self.currency, SHORT)?;
        t(at, "order_date", &self.order_date, SHORT)?;
        t(at, "posting_date", &self.posting_date, SHORT)?;
        each(at, "lines", &self.lines)?;
        t(at, "applies_to_doc_no", &self.applies_to_doc_no, SHORT)?;
        nested(at, "tracking", &self.tracking)
    }
}

impl CheckText for pb::CreateSalesDocumentRequest {
    fn check_text_at(&self, at: &str) -> R {
        nested(at, "document", &self.document)
    }
}

impl CheckText for pb::DocumentRef {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "no", &self.no, SHORT)
    }
}

impl CheckText for pb::ListSalesDocumentsRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)?;
        t(at, "customer_no", &self.customer_no, SHORT)?;
        t(at, "page_token", &self.page_token, SHORT)
    }
}

impl CheckText for pb::ShopifyOrderRef {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)
    }
}

impl CheckText for pb::FindItemsRequest {
    fn check_text_at(&self, at: &str) -> R {
        list(at, "skus", &self.skus, SHORT)?;
        list(at, "barcodes", &self.barcodes, SHORT)
    }
}

impl CheckText for pb::FindCustomersRequest {
    fn check_text_at(&self, at: &str) -> R {
        list(at, "emails", &self.emails, SHORT)?;
        list(at, "phones", &self.phones, SHORT)
    }
}

impl CheckText for pb::PostSalesDocumentRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "no", &self.no, SHORT)?;
        t(at, "posting_date", &self.posting_date, SHORT)?;
        nested(at, "tracking", &self.tracking)
    }
}

impl CheckText for pb::ListPostedRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)?;
        t(at, "order_no", &self.order_no, SHORT)?;
        t(at, "page_token", &self.page_token, SHORT)
    }
}

impl CheckText for pb::StreamRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "cursor", &self.cursor, SHORT)?;
        t(at, "shop", &self.shop, SHORT)
    }
}

impl CheckText for pb::FulfillmentResultRequest {
    fn check_text_at(&self, at: &str) -> R {
        use pb::fulfillment_result_request::Result as Outcome;
        t(at, "shipment_no", &self.shipment_no, SHORT)?;
        match &self.result {
            Some(Outcome::Sent(s)) => t(at, "sent", s, SHORT),
            Some(Outcome::Failed(s)) => t(at, "failed", s, LONG),
            Some(Outcome::NothingToSend(_)) | None => Ok(()),
        }
    }
}

// ---- responses ------------------------------------------------------------------------------

/// Bytes of list entries one page of a list response carries at most: a default gRPC client
/// refuses messages over 4 MiB, and the longest strings a request may store could otherwise
/// add up to more than that in one page.
pub const PAGE_BYTES: usize = 3 << 20;

/// Shorten a page to what fits in [`PAGE_BYTES`] (at least one entry, which a single
/// request's limits keep far below it). True when entries were cut: the page then continues
/// after the last one kept, whatever the page size asked for.
pub fn fit_page<T: prost::Message>(page: &mut Vec<T>) -> bool {
    let mut total = 0;
    for (i, m) in page.iter().enumerate() {
        // The entry's bytes and its field header (tag and length).
        total += m.encoded_len() + 8;
        if total > PAGE_BYTES && i > 0 {
            page.truncate(i);
            return true;
        }
    }
    false
}

// ---- Shops ----------------------------------------------------------------------------------

/// Secrets and cursor values are longer than names; their own checks are tighter.
const SECRET: usize = LONG;
const CURSOR: usize = shopsync_common::shop::CURSOR_VALUE_MAX;

impl CheckText for pb::LocationMapping {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shopify_location_id", &self.shopify_location_id, SHORT)?;
        t(at, "erp_location_filter", &self.erp_location_filter, LONG)?;
        t(at, "default_erp_location", &self.default_erp_location, SHORT)
    }
}

impl CheckText for pb::ShopSettings {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "default_customer_no", &self.default_customer_no, SHORT)?;
        t(at, "customer_template", &self.customer_template, SHORT)?;
        t(at, "sku_separator", &self.sku_separator, SHORT)?;
        t(at, "shipping_charges_item", &self.shipping_charges_item, SHORT)?;
        each(at, "locations", &self.locations)
    }
}

impl CheckText for pb::Shop {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "name", &self.name, SHORT)?;
        t(at, "store_domain", &self.store_domain, SHORT)?;
        t(at, "api_version", &self.api_version, SHORT)?;
        nested(at, "settings", &self.settings)?;
        t(at, "key_id", &self.key_id, SHORT)
    }
}

impl CheckText for pb::CreateShopRequest {
    fn check_text_at(&self, at: &str) -> R {
        nested(at, "shop", &self.shop)?;
        t(at, "access_token", &self.access_token, SECRET)?;
        t(at, "webhook_secret", &self.webhook_secret, SECRET)?;
        t(at, "request_id", &self.request_id, SHORT)
    }
}

impl CheckText for pb::UpdateShopRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "name", &self.name, SHORT)?;
        nested(at, "shop", &self.shop)?;
        opt(at, "access_token", &self.access_token, SECRET)?;
        opt(at, "webhook_secret", &self.webhook_secret, SECRET)
    }
}

impl CheckText for pb::GetShopRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "name", &self.name, SHORT)
    }
}

impl CheckText for pb::ListShopsRequest {
    fn check_text_at(&self, _at: &str) -> R {
        Ok(())
    }
}

impl CheckText for pb::SetShopEnabledRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "name", &self.name, SHORT)
    }
}

impl CheckText for pb::Link {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "erp_id", &self.erp_id, SHORT)?;
        t(at, "erp_variant", &self.erp_variant, SHORT)?;
        t(at, "shopify_id", &self.shopify_id, SHORT)?;
        t(at, "shopify_parent_id", &self.shopify_parent_id, SHORT)?;
        t(at, "shopify_inventory_item_id", &self.shopify_inventory_item_id, SHORT)
    }
}

impl CheckText for pb::ErpKey {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "erp_id", &self.erp_id, SHORT)?;
        t(at, "erp_variant", &self.erp_variant, SHORT)
    }
}

impl CheckText for pb::PutLinksRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)?;
        each(at, "links", &self.links)
    }
}

impl CheckText for pb::LookupLinksRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)?;
        each(at, "erp_keys", &self.erp_keys)?;
        list(at, "shopify_ids", &self.shopify_ids, SHORT)
    }
}

impl CheckText for pb::ListLinksRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)?;
        t(at, "after", &self.after, SHORT)
    }
}

impl CheckText for pb::DeleteLinksRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)?;
        each(at, "erp_keys", &self.erp_keys)?;
        list(at, "shopify_ids", &self.shopify_ids, SHORT)
    }
}

impl CheckText for pb::ListCursorsRequest {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)
    }
}

impl CheckText for pb::CursorKey {
    fn check_text_at(&self, at: &str) -> R {
        t(at, "shop", &self.shop, SHORT)
    }
}

impl CheckText for pb::SaveCursorRequest {
    fn check_text_at(&self, at: &str) -> R {
        nested(at, "key", &self.key)?;
        t(at, "value", &self.value, CURSOR)
    }
}

impl CheckText for pb::ResetCursorRequest {
    fn check_text_at(&self, at: &str) -> R {
        nested(at, "key", &self.key)?;
        opt(at, "value", &self.value, CURSOR)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use prost::Message;
    use prost_types::field_descriptor_proto::{Label, Type};
    use std::collections::{BTreeSet, HashMap};

    type Messages = HashMap<String, prost_types::DescriptorProto>;

    fn messages() -> (Messages, prost_types::FileDescriptorSet) {
        let set = prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET).unwrap();
        let mut all = HashMap::new();
        for f in &set.file {
            for m in &f.message_type {
                all.insert(format!(".{}.{}", f.package(), m.name()), m.clone());
            }
        }
        (all, set)
    }

    /// Every string field reachable in message `name`: its field numbers from the top and its
    /// path as the checks name it.
    fn string_fields(
        all: &Messages,
        name: &str,
        nums: &[i32],
        at: &str,
    ) -> Vec<(Vec<i32>, String)> {
        let mut out = Vec::new();
        for f in &all[name].field {
            let mut n = nums.to_vec();
            n.push(f.number());
            let index = if f.label() == Label::Repeated { "[0]" } else { "" };
            match f.r#type() {
                Type::String => out.push((n, format!("{at}{}{index}", f.name()))),
                Type::Message if f.type_name().starts_with(".shopsync.") => out.extend(
                    string_fields(all, f.type_name(), &n, &format!("{at}{}{index}.", f.name())),
                ),
                _ => {}
            }
        }
        out
    }

    /// A message with only the field at `nums` set, to "\0".
    fn encode(nums: &[i32]) -> Vec<u8> {
        let (last, outer) = nums.split_last().unwrap();
        let mut bytes = vec![];
        prost::encoding::string::encode(*last as u32, &"\0".to_owned(), &mut bytes);
        for n in outer.iter().rev() {
            let mut wrapped = vec![];
            prost::encoding::bytes::encode(*n as u32, &bytes, &mut wrapped);
            bytes = wrapped;
        }
        bytes
    }

    fn every_string_is_checked<T: Message + Default + CheckText>(all: &Messages, name: &str) {
        let fields = string_fields(all, name, &[], "");
        assert!(!fields.is_empty(), "{name} has no strings");
        for (nums, path) in fields {
            let m = T::decode(encode(&nums).as_slice()).unwrap();
            let e = m.check_text().err().unwrap_or_else(|| panic!("{name}: {path} is not checked"));
            assert_eq!(e.field, path, "{name}");
            assert!(e.reason.contains("NUL"), "{name}: {e}");
        }
    }

    /// Every request of JobQueue, Erp and Posting, by the field that carries a NUL byte: a
    /// string field added to any of them without a check fails here.
    #[test]
    fn every_string_of_every_request_is_checked() {
        let (all, set) = messages();
        let mut covered = BTreeSet::new();
        macro_rules! check {
            ($($t:ty => $n:literal),* $(,)?) => {$(
                every_string_is_checked::<$t>(&all, concat!(".shopsync.v1.", $n));
                covered.insert(concat!(".shopsync.v1.", $n).to_owned());
            )*};
        }
        check!(
            pb::CreateEntryRequest => "CreateEntryRequest",
            pb::UpdateEntryRequest => "UpdateEntryRequest",
            pb::GetEntryRequest => "GetEntryRequest",
            pb::ListEntriesRequest => "ListEntriesRequest",
            pb::DeleteEntryRequest => "DeleteEntryRequest",
            pb::EntryRef => "EntryRef",
            pb::ListRunsRequest => "ListRunsRequest",
            pb::GetRunRequest => "GetRunRequest",
            pb::WatchEntryRequest => "WatchEntryRequest",
            pb::SyncNowRequest => "SyncNowRequest",
            pb::Item => "Item",
            pb::UpdateItemRequest => "UpdateItemRequest",
            pb::GetRequest => "GetRequest",
            pb::ListRequest => "ListRequest",
            pb::FindItemsRequest => "FindItemsRequest",
            pb::Customer => "Customer",
            pb::UpdateCustomerRequest => "UpdateCustomerRequest",
            pb::FindCustomersRequest => "FindCustomersRequest",
            pb::Location => "Location",
            pb::UpdateLocationRequest => "UpdateLocationRequest",
            pb::SalesPrice => "SalesPrice",
            pb::StockAdjustmentRequest => "StockAdjustmentRequest",
            pb::GetStockRequest => "GetStockRequest",
            pb::CreateSalesDocumentRequest => "CreateSalesDocumentRequest",
            pb::DocumentRef => "DocumentRef",
            pb::ListSalesDocumentsRequest => "ListSalesDocumentsRequest",
            pb::ShopifyOrderRef => "ShopifyOrderRef",
            pb::PostSalesDocumentRequest => "PostSalesDocumentRequest",
            pb::ListPostedRequest => "ListPostedRequest",
            pb::StreamRequest => "StreamRequest",
            pb::FulfillmentResultRequest => "FulfillmentResultRequest",
            pb::SetTrackingRequest => "SetTrackingRequest",
            pb::ResetFulfillmentRequest => "ResetFulfillmentRequest",
            pb::CreateShopRequest => "CreateShopRequest",
            pb::UpdateShopRequest => "UpdateShopRequest",
            pb::GetShopRequest => "GetShopRequest",
            pb::SetShopEnabledRequest => "SetShopEnabledRequest",
            pb::PutLinksRequest => "PutLinksRequest",
            pb::LookupLinksRequest => "LookupLinksRequest",
            pb::ListLinksRequest => "ListLinksRequest",
            pb::DeleteLinksRequest => "DeleteLinksRequest",
            pb::ListCursorsRequest => "ListCursorsRequest",
            pb::CursorKey => "CursorKey",
            pb::SaveCursorRequest => "SaveCursorRequest",
            pb::ResetCursorRequest => "ResetCursorRequest",
            pb::GetCuesRequest => "GetCuesRequest",
            pb::ListCueGroupsRequest => "ListCueGroupsRequest",
            pb::RetryCueGroupRequest => "RetryCueGroupRequest",
            pb::DiffRequest => "DiffRequest",
            pb::ListDriftRequest => "ListDriftRequest",
            pb::GetLevelHistoryRequest => "GetLevelHistoryRequest",
        );
        // No strings to check.
        covered.insert(".shopsync.v1.ListShopsRequest".to_owned());
        // A batch of documents is checked document by document (CreateSalesDocumentRequest).
        covered.insert(".shopsync.v1.CreateSalesDocumentsRequest".to_owned());
        let inputs: BTreeSet<String> = set
            .file
            .iter()
            .flat_map(|f| &f.service)
            .filter(|s| {
                matches!(s.name(), "JobQueue" | "Shops" | "Erp" | "Posting" | "Cues" | "Stock")
            })
            .flat_map(|s| &s.method)
            .map(|m| m.input_type().to_owned())
            .collect();
        let unchecked: Vec<_> = inputs.difference(&covered).collect();
        assert!(unchecked.is_empty(), "requests without string checks: {unchecked:?}");
    }

    #[test]
    fn a_page_is_cut_to_what_a_client_accepts() {
        let big = pb::GetRequest { no: "x".repeat(1 << 20) };
        let mut page = vec![big.clone(); 5];
        assert!(fit_page(&mut page));
        assert_eq!(page.len(), 2);
        let mut one = vec![pb::GetRequest { no: "x".repeat(4 << 20) }];
        assert!(!fit_page(&mut one), "one entry is always sent");
        let mut small = vec![pb::GetRequest::default(); 1000];
        assert!(!fit_page(&mut small));
    }

    #[test]
    fn nested_fields_are_named_by_their_path() {
        let mut r = pb::CreateEntryRequest {
            spec: Some(pb::JobSpec {
                params: Some(pb::TaskParams {
                    params: Some(pb::task_params::Params::SyncOrders(pb::SyncOrdersParams {
                        tags: vec!["ok".into(), "b\0d".into()],
                        ..Default::default()
                    })),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(r.check_text().unwrap_err().field, "spec.params.sync_orders.tags[1]");
        r.spec = None;
        r.request_id = "x".repeat(256);
        assert_eq!(r.check_text().unwrap_err().to_string(), "request_id: at most 255 characters");

        let d = pb::CreateSalesDocumentRequest {
            document: Some(pb::SalesDocument {
                lines: vec![
                    pb::SalesLine::default(),
                    pb::SalesLine { description: "\0".into(), ..Default::default() },
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            d.check_text_at("documents[3].").unwrap_err().field,
            "documents[3].document.lines[1].description"
        );
    }
}
