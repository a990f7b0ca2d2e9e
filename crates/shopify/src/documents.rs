//! Every GraphQL document the client sends, each in its own file under `graphql/`, with how
//! it may be retried. The tests validate all of them against Shopify's 2026-10 schema
//! (`schema/shopify`) and check each one's [`Retry`] class against the document itself: a
//! query is [`Retry::Query`], a mutation whose root field carries `@idempotent(key:)` is
//! [`Retry::IdempotencyKey`], and no other mutation may claim to be.

/// How a document may be sent again after a failure that leaves its outcome unknown (a
/// timeout, a 5xx, an answer cut off or garbled). Failures where the shop certainly did not
/// run it (connection refused, HTTP 429, THROTTLED) are retried for every class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A read: sent again.
    Query,
    /// A mutation with `@idempotent(key: $key)`: sent again with the same variables, so the
    /// same key, and Shopify applies it once (replaying the first outcome).
    IdempotencyKey,
    /// A mutation that sets what it names to given values (an upsert by handle or email, an
    /// update, a close): applying it twice leaves the shop as applying it once did, so it is
    /// sent again.
    Repeatable,
    /// A mutation that creates something each time (`fulfillmentCreate`, `companyCreate`, …)
    /// and takes no idempotency key: never sent again after an ambiguous failure; the caller
    /// gets [`crate::ShopifyError::Ambiguous`] and must reconcile by reading.
    NotIdempotent,
}

impl Retry {
    /// May the document be sent again when the first attempt's outcome is unknown?
    pub fn resend_when_ambiguous(self) -> bool {
        !matches!(self, Retry::NotIdempotent)
    }
}

// The mutations' classes, and why:
// - IdempotencyKey: inventorySetQuantities, inventoryAdjustQuantities (`@idempotent(key:)`).
// - Repeatable: productSet (upsert by handle, lists replaced), customerSet (upsert by email),
//   customerUpdate, companyUpdate, productVariantsBulkUpdate and priceListFixedPricesAdd (set
//   given values), orderClose (closing a closed order changes nothing), stagedUploadsCreate
//   (an unused upload target expires), webhookSubscriptionCreate (a second subscription for
//   the same topic and address is refused with a userError, not created).
// - NotIdempotent: fulfillmentCreate (a second fulfilment), companyCreate (a second
//   company), productUpdate with media (ProductAttachMedia: the images again),
//   bulkOperationRunQuery (a second operation), orderMarkAsPaid, orderCancel and
//   fulfillmentOrderAcceptFulfillmentRequest (a resend
//   after a lost success is refused with a userError that would hide the success: read the
//   order instead).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Document {
    /// The operation's name (also the key of its learned cost).
    pub name: &'static str,
    pub text: &'static str,
    pub retry: Retry,
    /// A first guess of its requested cost, before the server has told us.
    pub cost_hint: u32,
}

impl Document {
    pub fn is_mutation(&self) -> bool {
        self.retry != Retry::Query
    }
}

macro_rules! document {
    ($ident:ident, $name:literal, $file:literal, $retry:ident, $hint:literal) => {
        pub const $ident: Document = Document {
            name: $name,
            text: include_str!(concat!("../graphql/", $file)),
            retry: Retry::$retry,
            cost_hint: $hint,
        };
    };
}

document!(SHOP, "Shop", "shop.graphql", Query, 1);
document!(PRODUCTS_PAGE, "ProductsPage", "products_page.graphql", Query, 100);
document!(PRODUCT_VARIANTS, "ProductVariants", "product_variants.graphql", Query, 30);
document!(CUSTOMERS_PAGE, "CustomersPage", "customers_page.graphql", Query, 20);
document!(
    INVENTORY_SET_QUANTITIES,
    "InventorySetQuantities",
    "inventory_set_quantities.graphql",
    IdempotencyKey,
    10
);

document!(ORDERS_PAGE, "OrdersPage", "orders_page.graphql", Query, 150);
document!(ORDER_LINE_ITEMS, "OrderLineItems", "order_line_items.graphql", Query, 30);
document!(ORDER_LISTS, "OrderLists", "order_lists.graphql", Query, 60);
document!(
    ORDER_FULFILLMENT_ORDERS,
    "OrderFulfillmentOrders",
    "order_fulfillment_orders.graphql",
    Query,
    60
);
document!(
    FULFILLMENT_ORDER_LINE_ITEMS,
    "FulfillmentOrderLineItems",
    "fulfillment_order_line_items.graphql",
    Query,
    30
);
document!(FULFILLMENT_CREATE, "FulfillmentCreate", "fulfillment_create.graphql", NotIdempotent, 10);
document!(
    FULFILLMENT_ORDER_ACCEPT,
    "FulfillmentOrderAccept",
    "fulfillment_order_accept.graphql",
    NotIdempotent,
    10
);
document!(ORDER_REFUNDS, "OrderRefunds", "order_refunds.graphql", Query, 60);
document!(BALANCE_TRANSACTIONS, "BalanceTransactions", "balance_transactions.graphql", Query, 50);
document!(PAYOUTS, "Payouts", "payouts.graphql", Query, 20);
document!(COMPANIES_PAGE, "CompaniesPage", "companies_page.graphql", Query, 100);
document!(COMPANY_LOCATIONS, "CompanyLocations", "company_locations.graphql", Query, 30);
document!(CATALOGS_PAGE, "CatalogsPage", "catalogs_page.graphql", Query, 60);
document!(
    PRICE_LIST_FIXED_PRICES_ADD,
    "PriceListFixedPricesAdd",
    "price_list_fixed_prices_add.graphql",
    Repeatable,
    11
);
document!(PRODUCT_SET, "ProductSet", "product_set.graphql", Repeatable, 10);
document!(
    VARIANT_PRICES_UPDATE,
    "VariantPricesUpdate",
    "variant_prices_update.graphql",
    Repeatable,
    10
);
document!(ORDER_MARK_AS_PAID, "OrderMarkAsPaid", "order_mark_as_paid.graphql", NotIdempotent, 10);
document!(ORDER_CLOSE, "OrderClose", "order_close.graphql", Repeatable, 10);
document!(ORDER_CANCEL, "OrderCancel", "order_cancel.graphql", NotIdempotent, 10);
document!(
    INVENTORY_ADJUST_QUANTITIES,
    "InventoryAdjustQuantities",
    "inventory_adjust_quantities.graphql",
    IdempotencyKey,
    10
);
document!(INVENTORY_LEVEL, "InventoryLevel", "inventory_level.graphql", Query, 3);
document!(LOCATIONS, "Locations", "locations.graphql", Query, 10);
document!(
    WEBHOOK_SUBSCRIPTION_CREATE,
    "WebhookSubscriptionCreate",
    "webhook_subscription_create.graphql",
    Repeatable,
    10
);
document!(
    WEBHOOK_SUBSCRIPTIONS,
    "WebhookSubscriptions",
    "webhook_subscriptions.graphql",
    Query,
    10
);
document!(ORDER_STAMPS, "OrderStamps", "order_stamps.graphql", Query, 10);
document!(BULK_RUN_QUERY, "BulkRunQuery", "bulk_run_query.graphql", NotIdempotent, 10);
document!(BULK_OPERATION, "BulkOperation", "bulk_operation.graphql", Query, 1);
document!(
    STAGED_UPLOADS_CREATE,
    "StagedUploadsCreate",
    "staged_uploads_create.graphql",
    Repeatable,
    11
);
document!(
    PRODUCT_ATTACH_MEDIA,
    "ProductAttachMedia",
    "product_attach_media.graphql",
    NotIdempotent,
    12
);
document!(PRODUCT_MEDIA, "ProductMedia", "product_media.graphql", Query, 10);
document!(CUSTOMER_SET, "CustomerSet", "customer_set.graphql", Repeatable, 10);
document!(CUSTOMER_UPDATE, "CustomerUpdate", "customer_update.graphql", Repeatable, 10);
document!(COMPANY_CREATE, "CompanyCreate", "company_create.graphql", NotIdempotent, 10);
document!(COMPANY_UPDATE, "CompanyUpdate", "company_update.graphql", Repeatable, 10);

/// All documents (the schema test walks `graphql/` and checks it matches this list).
pub const ALL: &[Document] = &[
    SHOP,
    PRODUCTS_PAGE,
    PRODUCT_VARIANTS,
    CUSTOMERS_PAGE,
    INVENTORY_SET_QUANTITIES,
    ORDERS_PAGE,
    ORDER_LINE_ITEMS,
    ORDER_LISTS,
    ORDER_FULFILLMENT_ORDERS,
    FULFILLMENT_ORDER_LINE_ITEMS,
    FULFILLMENT_CREATE,
    FULFILLMENT_ORDER_ACCEPT,
    ORDER_REFUNDS,
    BALANCE_TRANSACTIONS,
    PAYOUTS,
    COMPANIES_PAGE,
    COMPANY_LOCATIONS,
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
    WEBHOOK_SUBSCRIPTIONS,
    ORDER_STAMPS,
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
