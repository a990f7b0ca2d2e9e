//! Every GraphQL document the client sends, each in its own file under `graphql/`. The tests
//! validate all of them against Shopify's 2026-10 schema (`schema/shopify`).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Document {
    /// The operation's name (also the key of its learned cost).
    pub name: &'static str,
    pub text: &'static str,
    pub mutation: bool,
    /// A first guess of its requested cost, before the server has told us.
    pub cost_hint: u32,
}

macro_rules! document {
    ($ident:ident, $name:literal, $file:literal, $mutation:literal, $hint:literal) => {
        pub const $ident: Document = Document {
            name: $name,
            text: include_str!(concat!("../graphql/", $file)),
            mutation: $mutation,
            cost_hint: $hint,
        };
    };
}

document!(SHOP, "Shop", "shop.graphql", false, 1);
document!(PRODUCTS_PAGE, "ProductsPage", "products_page.graphql", false, 100);
document!(CUSTOMERS_PAGE, "CustomersPage", "customers_page.graphql", false, 20);
document!(
    INVENTORY_SET_QUANTITIES,
    "InventorySetQuantities",
    "inventory_set_quantities.graphql",
    true,
    10
);

document!(ORDERS_PAGE, "OrdersPage", "orders_page.graphql", false, 150);
document!(
    ORDER_FULFILLMENT_ORDERS,
    "OrderFulfillmentOrders",
    "order_fulfillment_orders.graphql",
    false,
    60
);
document!(FULFILLMENT_CREATE, "FulfillmentCreate", "fulfillment_create.graphql", true, 10);
document!(BALANCE_TRANSACTIONS, "BalanceTransactions", "balance_transactions.graphql", false, 50);
document!(PAYOUTS, "Payouts", "payouts.graphql", false, 20);
document!(COMPANIES_PAGE, "CompaniesPage", "companies_page.graphql", false, 100);
document!(CATALOGS_PAGE, "CatalogsPage", "catalogs_page.graphql", false, 60);
document!(
    PRICE_LIST_FIXED_PRICES_ADD,
    "PriceListFixedPricesAdd",
    "price_list_fixed_prices_add.graphql",
    true,
    11
);
document!(PRODUCT_SET, "ProductSet", "product_set.graphql", true, 10);
document!(VARIANT_PRICES_UPDATE, "VariantPricesUpdate", "variant_prices_update.graphql", true, 10);
document!(ORDER_MARK_AS_PAID, "OrderMarkAsPaid", "order_mark_as_paid.graphql", true, 10);
document!(ORDER_CLOSE, "OrderClose", "order_close.graphql", true, 10);
document!(ORDER_CANCEL, "OrderCancel", "order_cancel.graphql", true, 10);
document!(
    INVENTORY_ADJUST_QUANTITIES,
    "InventoryAdjustQuantities",
    "inventory_adjust_quantities.graphql",
    true,
    10
);
document!(INVENTORY_LEVEL, "InventoryLevel", "inventory_level.graphql", false, 3);
document!(LOCATIONS, "Locations", "locations.graphql", false, 10);
document!(
    WEBHOOK_SUBSCRIPTION_CREATE,
    "WebhookSubscriptionCreate",
    "webhook_subscription_create.graphql",
    true,
    10
);
document!(BULK_RUN_QUERY, "BulkRunQuery", "bulk_run_query.graphql", true, 10);
document!(BULK_OPERATION, "BulkOperation", "bulk_operation.graphql", false, 1);
document!(STAGED_UPLOADS_CREATE, "StagedUploadsCreate", "staged_uploads_create.graphql", true, 11);
document!(PRODUCT_ATTACH_MEDIA, "ProductAttachMedia", "product_attach_media.graphql", true, 12);
document!(PRODUCT_MEDIA, "ProductMedia", "product_media.graphql", false, 10);
document!(CUSTOMER_SET, "CustomerSet", "customer_set.graphql", true, 10);
document!(CUSTOMER_UPDATE, "CustomerUpdate", "customer_update.graphql", true, 10);
document!(COMPANY_CREATE, "CompanyCreate", "company_create.graphql", true, 10);
document!(COMPANY_UPDATE, "CompanyUpdate", "company_update.graphql", true, 10);

/// All documents (the schema test walks `graphql/` and checks it matches this list).
pub const ALL: &[Document] = &[
    SHOP,
    PRODUCTS_PAGE,
    CUSTOMERS_PAGE,
    INVENTORY_SET_QUANTITIES,
    ORDERS_PAGE,
    ORDER_FULFILLMENT_ORDERS,
    FULFILLMENT_CREATE,
    BALANCE_TRANSACTIONS,
    PAYOUTS,
    COMPANIES_PAGE,
    CATALOGS_PAGE,
    PRICE_LIST_FIXED_PRICES_ADD,
    PRODUCT_SET,
    VARIANT_PRICES_UPDATE,
    ORDER_MARK_AS_PAID,
    ORDER_CLOSE,
    ORDER_CANCEL,
    INVENTORY_ADJUST_QUANTITIES,
    INVENTORY_LEVEL,
    LOCATIONS,
    WEBHOOK_SUBSCRIPTION_CREATE,
    BULK_RUN_QUERY,
    BULK_OPERATION,
    STAGED_UPLOADS_CREATE,
    PRODUCT_ATTACH_MEDIA,
    PRODUCT_MEDIA,
    CUSTOMER_SET,
    CUSTOMER_UPDATE,
    COMPANY_CREATE,
    COMPANY_UPDATE,
];
