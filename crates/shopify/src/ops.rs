//! Typed operations: Rust types generated at compile time (graphql_client) from each document
//! in `graphql/` and Shopify's vendored 2026-10 schema. A field removed from a document, or
//! misspelt, breaks the build of the code that reads it; variables are structs, enums are
//! enums, money amounts are [`rust_decimal::Decimal`].
//!
//! Each operation type implements [`Operation`], which ties it to its [`Document`] and so to
//! its [`Retry`](crate::Retry) class: `client.run::<ops::FulfillmentCreate>(vars)` cannot be
//! retried in a way its document does not allow.
//!
//! Custom scalars: `Decimal` and the legacy `Money` scalar are decimal strings, read as
//! `Decimal`; `CurrencyCode` is [`crate::CurrencyCode`] (which knows its minor units);
//! `DateTime`, `URL`, `UnsignedInt64` stay strings; `JSON` is a `serde_json::Value`.

#![allow(clippy::all, missing_docs)] // generated code

use crate::documents::{self, Document};
use graphql_client::GraphQLQuery;

pub use crate::money::CurrencyCode;
pub type Decimal = rust_decimal::Decimal;
/// Shopify's legacy `Money` scalar (e.g. `ProductVariant.price`): a decimal string.
pub type Money = rust_decimal::Decimal;
pub type DateTime = String;
pub type Date = String;
pub type URL = String;
pub type HTML = String;
pub type UnsignedInt64 = String;
pub type BigInt = String;
pub type JSON = serde_json::Value;
pub type FormattedString = String;
pub type ARN = String;
pub type Color = String;
pub type UtcOffset = String;
pub type StorefrontID = String;

/// A typed operation: its generated variables and response types ([`GraphQLQuery`]) and the
/// registered [`Document`] it is sent as (name, text, retry class, cost hint).
pub trait Operation: GraphQLQuery {
    const DOCUMENT: Document;
}

macro_rules! operation {
    ($ty:ident, $doc:ident, $file:tt) => {
        #[derive(GraphQLQuery)]
        #[graphql(
                                    schema_path = "../../schema/shopify/admin-2026-10.graphql",
                                    query_path = $file,
                                    response_derives = "Debug, Clone, PartialEq",
                                    variables_derives = "Debug, Clone",
                                    extern_enums("CurrencyCode"),
                                    skip_serializing_none
                                )]
        pub struct $ty;
        impl Operation for $ty {
            const DOCUMENT: Document = documents::$doc;
        }
    };
    // Inputs whose nullable fields must be sent as explicit nulls (inventorySetQuantities
    // requires `changeFromQuantity` to be present, null opting out of the check).
    ($ty:ident, $doc:ident, $file:tt, explicit_nulls) => {
        #[derive(GraphQLQuery)]
        #[graphql(
                                    schema_path = "../../schema/shopify/admin-2026-10.graphql",
                                    query_path = $file,
                                    response_derives = "Debug, Clone, PartialEq",
                                    variables_derives = "Debug, Clone",
                                    extern_enums("CurrencyCode")
                                )]
        pub struct $ty;
        impl Operation for $ty {
            const DOCUMENT: Document = documents::$doc;
        }
    };
}

operation!(Shop, SHOP, "graphql/shop.graphql");
operation!(ProductsPage, PRODUCTS_PAGE, "graphql/products_page.graphql");
operation!(ProductVariants, PRODUCT_VARIANTS, "graphql/product_variants.graphql");
operation!(CustomersPage, CUSTOMERS_PAGE, "graphql/customers_page.graphql");
operation!(OrdersPage, ORDERS_PAGE, "graphql/orders_page.graphql");
operation!(OrderLineItems, ORDER_LINE_ITEMS, "graphql/order_line_items.graphql");
operation!(OrderLists, ORDER_LISTS, "graphql/order_lists.graphql");
operation!(
    OrderFulfillmentOrders,
    ORDER_FULFILLMENT_ORDERS,
    "graphql/order_fulfillment_orders.graphql"
);
operation!(
    FulfillmentOrderLineItems,
    FULFILLMENT_ORDER_LINE_ITEMS,
    "graphql/fulfillment_order_line_items.graphql"
);
operation!(FulfillmentCreate, FULFILLMENT_CREATE, "graphql/fulfillment_create.graphql");
operation!(
    FulfillmentOrderAccept,
    FULFILLMENT_ORDER_ACCEPT,
    "graphql/fulfillment_order_accept.graphql"
);
operation!(OrderRefunds, ORDER_REFUNDS, "graphql/order_refunds.graphql");
operation!(Locations, LOCATIONS, "graphql/locations.graphql");
operation!(InventoryLevel, INVENTORY_LEVEL, "graphql/inventory_level.graphql");
operation!(
    InventorySetQuantities,
    INVENTORY_SET_QUANTITIES,
    "graphql/inventory_set_quantities.graphql",
    explicit_nulls
);
operation!(
    InventoryAdjustQuantities,
    INVENTORY_ADJUST_QUANTITIES,
    "graphql/inventory_adjust_quantities.graphql"
);
operation!(ProductSet, PRODUCT_SET, "graphql/product_set.graphql");
operation!(VariantPricesUpdate, VARIANT_PRICES_UPDATE, "graphql/variant_prices_update.graphql");
operation!(CustomerSet, CUSTOMER_SET, "graphql/customer_set.graphql");
operation!(CustomerUpdate, CUSTOMER_UPDATE, "graphql/customer_update.graphql");
operation!(BulkRunQuery, BULK_RUN_QUERY, "graphql/bulk_run_query.graphql");
operation!(BulkOperation, BULK_OPERATION, "graphql/bulk_operation.graphql");
operation!(BalanceTransactions, BALANCE_TRANSACTIONS, "graphql/balance_transactions.graphql");
operation!(Payouts, PAYOUTS, "graphql/payouts.graphql");
operation!(CompaniesPage, COMPANIES_PAGE, "graphql/companies_page.graphql");
operation!(CompanyLocations, COMPANY_LOCATIONS, "graphql/company_locations.graphql");
operation!(CatalogsPage, CATALOGS_PAGE, "graphql/catalogs_page.graphql");
operation!(
    PriceListFixedPricesAdd,
    PRICE_LIST_FIXED_PRICES_ADD,
    "graphql/price_list_fixed_prices_add.graphql"
);
operation!(OrderMarkAsPaid, ORDER_MARK_AS_PAID, "graphql/order_mark_as_paid.graphql");
operation!(OrderClose, ORDER_CLOSE, "graphql/order_close.graphql");
operation!(OrderCancel, ORDER_CANCEL, "graphql/order_cancel.graphql");
operation!(
    WebhookSubscriptionCreate,
    WEBHOOK_SUBSCRIPTION_CREATE,
    "graphql/webhook_subscription_create.graphql"
);
operation!(WebhookSubscriptions, WEBHOOK_SUBSCRIPTIONS, "graphql/webhook_subscriptions.graphql");
operation!(OrderStamps, ORDER_STAMPS, "graphql/order_stamps.graphql");
operation!(StagedUploadsCreate, STAGED_UPLOADS_CREATE, "graphql/staged_uploads_create.graphql");
operation!(ProductAttachMedia, PRODUCT_ATTACH_MEDIA, "graphql/product_attach_media.graphql");
operation!(ProductMedia, PRODUCT_MEDIA, "graphql/product_media.graphql");
operation!(CompanyCreate, COMPANY_CREATE, "graphql/company_create.graphql");
operation!(CompanyUpdate, COMPANY_UPDATE, "graphql/company_update.graphql");

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated code and the registered document come from the same file.
    macro_rules! same {
        ($($module:ident => $ty:ident),* $(,)?) => {{
            let mut names = Vec::new();
            $(
                assert_eq!($module::QUERY, <$ty as Operation>::DOCUMENT.text);
                assert_eq!($module::OPERATION_NAME, <$ty as Operation>::DOCUMENT.name);
                names.push($module::OPERATION_NAME);
            )*
            names
        }};
    }

    #[test]
    fn each_document_has_its_typed_operation() {
        let mut typed = same!(
            shop => Shop,
            products_page => ProductsPage,
            product_variants => ProductVariants,
            fulfillment_order_line_items => FulfillmentOrderLineItems,
            customers_page => CustomersPage,
            orders_page => OrdersPage,
            order_line_items => OrderLineItems,
            order_lists => OrderLists,
            order_fulfillment_orders => OrderFulfillmentOrders,
            fulfillment_create => FulfillmentCreate,
            fulfillment_order_accept => FulfillmentOrderAccept,
            order_refunds => OrderRefunds,
            locations => Locations,
            inventory_level => InventoryLevel,
            inventory_set_quantities => InventorySetQuantities,
            inventory_adjust_quantities => InventoryAdjustQuantities,
            product_set => ProductSet,
            variant_prices_update => VariantPricesUpdate,
            customer_set => CustomerSet,
            customer_update => CustomerUpdate,
            bulk_run_query => BulkRunQuery,
            bulk_operation => BulkOperation,
            balance_transactions => BalanceTransactions,
            payouts => Payouts,
            companies_page => CompaniesPage,
            company_locations => CompanyLocations,
            catalogs_page => CatalogsPage,
            price_list_fixed_prices_add => PriceListFixedPricesAdd,
            order_mark_as_paid => OrderMarkAsPaid,
            order_close => OrderClose,
            order_cancel => OrderCancel,
            webhook_subscription_create => WebhookSubscriptionCreate,
            webhook_subscriptions => WebhookSubscriptions,
            order_stamps => OrderStamps,
            staged_uploads_create => StagedUploadsCreate,
            product_attach_media => ProductAttachMedia,
            product_media => ProductMedia,
            company_create => CompanyCreate,
            company_update => CompanyUpdate,
        );
        let mut all: Vec<&str> = documents::ALL.iter().map(|d| d.name).collect();
        typed.sort_unstable();
        all.sort_unstable();
        assert_eq!(typed, all, "every registered document has a typed operation");
    }
}
