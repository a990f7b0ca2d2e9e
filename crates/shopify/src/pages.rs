//! Cursor pagination that an import can checkpoint and resume.
//!
//! [`ShopifyClient::pages`] streams a connection page by page; every [`Page`] carries the
//! [`Cursor`] to resume after it. An import stores that cursor once it has processed the
//! page; after a crash or a deploy it starts again with `pages(vars, Some(cursor))` and reads
//! exactly the pages it had not finished, none twice. The next page is fetched only when the
//! stream is polled again, so dropping the stream stops the reads.
//!
//! Nested lists are read to the end, never cut at their first page: an operation whose nodes
//! hold a nested connection (an order's lines) completes each node's list before its page is
//! yielded ([`Paginated::complete`]).

use crate::documents::{
    COMPANY_LOCATIONS, Document, FULFILLMENT_ORDER_LINE_ITEMS, ORDER_FULFILLMENT_ORDERS,
    ORDER_LINE_ITEMS, ORDER_LISTS, PRODUCT_VARIANTS,
};
use crate::ops::{self, Operation};
use crate::{ShopifyClient, ShopifyError};
use futures::{Stream, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::future::Future;

/// An opaque position in a connection (Shopify's `endCursor`): store it to resume there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub String);

/// One page of a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<N> {
    pub nodes: Vec<N>,
    /// Resume here to read what follows this page (`None` for an empty page: keep the
    /// cursor you had).
    pub resume: Option<Cursor>,
    /// Shopify said more pages follow this one.
    pub has_next_page: bool,
}

/// A typed operation over one connection, paged with `$first` and `$after`.
pub trait Paginated: Operation {
    type Node: Send;
    /// Point the variables at the page after `cursor` (`None`: the first page).
    fn set_after(variables: &mut Self::Variables, cursor: Option<Cursor>);
    /// The connection's page in an answer.
    fn page(data: Self::ResponseData) -> Page<Self::Node>;
    /// Read the rest of the nodes' nested lists (by default there are none).
    fn complete(
        _client: &ShopifyClient,
        _nodes: &mut [Self::Node],
    ) -> impl Future<Output = Result<(), ShopifyError>> + Send {
        async { Ok(()) }
    }
}

impl ShopifyClient {
    /// The pages of `O`'s connection, from the start (`resume: None`) or after a saved
    /// cursor. Each page's nested lists are complete.
    pub fn pages<'a, O>(
        &'a self,
        variables: O::Variables,
        resume: Option<Cursor>,
    ) -> impl Stream<Item = Result<Page<O::Node>, ShopifyError>> + Send + 'a
    where
        O: Paginated + 'a,
        O::Variables: Send + Clone + 'a,
        O::ResponseData: Send,
    {
        futures::stream::try_unfold(
            (variables, resume, false),
            move |(vars, after, done)| async move {
                if done {
                    return Ok(None);
                }
                let mut v = vars.clone();
                O::set_after(&mut v, after.clone());
                let data = self.run::<O>(v).await?;
                let mut page = O::page(data);
                O::complete(self, &mut page.nodes).await?;
                let done = !page.has_next_page || page.resume.is_none();
                let next = page.resume.clone().or(after);
                Ok(Some((page, (vars, next, done))))
            },
        )
    }

    /// The nodes of `O`'s connection, one page at a time (see [`ShopifyClient::pages`] to
    /// checkpoint).
    pub fn nodes<'a, O>(
        &'a self,
        variables: O::Variables,
    ) -> impl Stream<Item = Result<O::Node, ShopifyError>> + Send + 'a
    where
        O: Paginated + 'a,
        O::Variables: Send + Clone + 'a,
        O::ResponseData: Send,
    {
        self.pages::<O>(variables, None)
            .map_ok(|p| futures::stream::iter(p.nodes.into_iter().map(Ok)))
            .try_flatten()
    }

    /// The rest of a nested connection whose first page came with its parent: `doc` is run
    /// with `variables` plus `after`, from `after` until Shopify says there is no next page;
    /// the connection is found at the JSON pointer `connection` (e.g. `/order/lineItems`)
    /// and its nodes are decoded as `N`.
    pub async fn rest_of<N: DeserializeOwned>(
        &self,
        doc: &Document,
        mut variables: Value,
        mut after: Option<String>,
        connection: &str,
    ) -> Result<Vec<N>, ShopifyError> {
        let mut out = Vec::new();
        loop {
            if let Some(o) = variables.as_object_mut() {
                o.insert("after".into(), json!(after));
            }
            let r = self.execute(doc, variables.clone()).await?;
            let conn = r.data.pointer(connection).filter(|c| !c.is_null()).ok_or_else(|| {
                ShopifyError::Missing { operation: doc.name, what: connection.to_owned() }
            })?;
            let nodes: Vec<N> =
                serde_json::from_value(conn.get("nodes").cloned().unwrap_or(json!([])))
                    .map_err(|source| ShopifyError::Decode { operation: doc.name, source })?;
            out.extend(nodes);
            let next = conn.pointer("/pageInfo/hasNextPage").and_then(Value::as_bool);
            after = conn.pointer("/pageInfo/endCursor").and_then(Value::as_str).map(str::to_owned);
            if next != Some(true) || after.is_none() {
                return Ok(out);
            }
        }
    }
}

/// A connection's page: its nodes and where to resume.
macro_rules! page_of {
    ($c:expr) => {{
        let c = $c;
        Page {
            nodes: c.nodes,
            resume: cursor(c.page_info.end_cursor),
            has_next_page: c.page_info.has_next_page,
        }
    }};
}

/// `Paginated` for an operation whose variables take `after` and whose data is one top-level
/// connection (`field`) with nothing nested to complete.
macro_rules! paginated {
    ($op:ty, $node:ty, $field:ident) => {
        impl Paginated for $op {
            type Node = $node;
            fn set_after(v: &mut Self::Variables, c: Option<Cursor>) {
                v.after = c.map(|c| c.0);
            }
            fn page(data: Self::ResponseData) -> Page<Self::Node> {
                page_of!(data.$field)
            }
        }
    };
}

fn cursor(c: Option<String>) -> Option<Cursor> {
    c.map(Cursor)
}

/// How many of each nested list `OrdersPage` reads with the order (`page`) and how many
/// `OrderLists` reads when that was not all (`whole`): keep them in step with the documents.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub page: usize,
    pub whole: usize,
}

/// The caps of an order's plain lists (connections say `hasNextPage` instead).
pub struct OrderCaps {
    pub transactions: Caps,
    pub refunds: Caps,
    pub fulfillments: Caps,
}

pub const ORDER_CAPS: OrderCaps = OrderCaps {
    transactions: Caps { page: 5, whole: 100 },
    refunds: Caps { page: 3, whole: 50 },
    fulfillments: Caps { page: 3, whole: 50 },
};

fn decode_at<T: DeserializeOwned>(v: &Value, key: &str) -> Result<T, ShopifyError> {
    serde_json::from_value(v.get(key).cloned().unwrap_or(Value::Null))
        .map_err(|source| ShopifyError::Decode { operation: ORDER_LISTS.name, source })
}

/// Orders whole: an order with more lines than `OrdersPage`'s first page of lines has the
/// others read with `OrderLineItems`; one that filled any other nested list has them all read
/// with `OrderLists` (a full plain list may have been cut).
impl Paginated for ops::OrdersPage {
    type Node = ops::orders_page::OrdersPageOrdersNodes;
    fn set_after(v: &mut Self::Variables, c: Option<Cursor>) {
        v.after = c.map(|c| c.0);
    }
    fn page(data: Self::ResponseData) -> Page<Self::Node> {
        page_of!(data.orders)
    }
    async fn complete(
        client: &ShopifyClient,
        nodes: &mut [Self::Node],
    ) -> Result<(), ShopifyError> {
        for order in nodes.iter_mut() {
            let info = &order.line_items.page_info;
            if !info.has_next_page {
                continue;
            }
            let rest: Vec<ops::orders_page::OrdersPageOrdersNodesLineItemsNodes> = client
                .rest_of(
                    &ORDER_LINE_ITEMS,
                    json!({ "id": order.id, "first": 250 }),
                    info.end_cursor.clone(),
                    "/order/lineItems",
                )
                .await?;
            order.line_items.nodes.extend(rest);
            order.line_items.page_info.has_next_page = false;
        }
        let c = &ORDER_CAPS;
        for order in nodes.iter_mut().filter(|o| {
            o.transactions.len() >= c.transactions.page
                || o.refunds.len() >= c.refunds.page
                || o.fulfillments.len() >= c.fulfillments.page
                || o.shipping_lines.page_info.has_next_page
                || o.fulfillment_orders.page_info.has_next_page
        }) {
            let r = client.execute(&ORDER_LISTS, json!({ "id": order.id })).await?;
            let o = r.data.get("order").filter(|o| !o.is_null()).ok_or_else(|| {
                ShopifyError::Missing { operation: ORDER_LISTS.name, what: "order".into() }
            })?;
            order.transactions = decode_at(o, "transactions")?;
            order.refunds = decode_at(o, "refunds")?;
            order.fulfillments = decode_at(o, "fulfillments")?;
            order.shipping_lines = decode_at(o, "shippingLines")?;
            order.fulfillment_orders = decode_at(o, "fulfillmentOrders")?;
        }
        Ok(())
    }
}

/// Products with all their variants: a product with more variants than `ProductsPage`'s first
/// page of variants has the others read with `ProductVariants`.
impl Paginated for ops::ProductsPage {
    type Node = ops::products_page::ProductsPageProductsNodes;
    fn set_after(v: &mut Self::Variables, c: Option<Cursor>) {
        v.after = c.map(|c| c.0);
    }
    fn page(data: Self::ResponseData) -> Page<Self::Node> {
        page_of!(data.products)
    }
    async fn complete(
        client: &ShopifyClient,
        nodes: &mut [Self::Node],
    ) -> Result<(), ShopifyError> {
        for product in nodes {
            let info = &product.variants.page_info;
            if !info.has_next_page {
                continue;
            }
            let rest: Vec<ops::products_page::ProductsPageProductsNodesVariantsNodes> = client
                .rest_of(
                    &PRODUCT_VARIANTS,
                    json!({ "id": product.id, "first": 250 }),
                    info.end_cursor.clone(),
                    "/product/variants",
                )
                .await?;
            product.variants.nodes.extend(rest);
            product.variants.page_info.has_next_page = false;
        }
        Ok(())
    }
}

impl ShopifyClient {
    /// An order's fulfillment orders, all of them with all their lines (`None`: no such
    /// order). Read this to decide what remains to ship, and to reconcile after a
    /// `fulfillmentCreate` that ended [`ShopifyError::Ambiguous`].
    pub async fn order_fulfillment_orders(
        &self,
        order_id: &str,
    ) -> Result<Option<ops::order_fulfillment_orders::OrderFulfillmentOrdersOrder>, ShopifyError>
    {
        use ops::order_fulfillment_orders::*;
        let data = self
            .run::<ops::OrderFulfillmentOrders>(Variables { id: order_id.to_owned(), after: None })
            .await?;
        let Some(mut order) = data.order else { return Ok(None) };
        let fos = &mut order.fulfillment_orders;
        if fos.page_info.has_next_page {
            let rest: Vec<OrderFulfillmentOrdersOrderFulfillmentOrdersNodes> = self
                .rest_of(
                    &ORDER_FULFILLMENT_ORDERS,
                    json!({ "id": order_id }),
                    fos.page_info.end_cursor.clone(),
                    "/order/fulfillmentOrders",
                )
                .await?;
            fos.nodes.extend(rest);
            fos.page_info.has_next_page = false;
        }
        for fo in &mut fos.nodes {
            let info = &fo.line_items.page_info;
            if !info.has_next_page {
                continue;
            }
            let rest: Vec<OrderFulfillmentOrdersOrderFulfillmentOrdersNodesLineItemsNodes> = self
                .rest_of(
                    &FULFILLMENT_ORDER_LINE_ITEMS,
                    json!({ "id": fo.id, "first": 250 }),
                    info.end_cursor.clone(),
                    "/fulfillmentOrder/lineItems",
                )
                .await?;
            fo.line_items.nodes.extend(rest);
            fo.line_items.page_info.has_next_page = false;
        }
        Ok(Some(order))
    }
}

paginated!(ops::CustomersPage, ops::customers_page::CustomersPageCustomersNodes, customers);

paginated!(
    ops::WebhookSubscriptions,
    ops::webhook_subscriptions::WebhookSubscriptionsWebhookSubscriptionsNodes,
    webhook_subscriptions
);

paginated!(ops::OrderStamps, ops::order_stamps::OrderStampsOrdersNodes, orders);

paginated!(ops::Locations, ops::locations::LocationsLocationsNodes, locations);

/// Companies with all their locations: a company with more locations than `CompaniesPage`'s
/// first 20 has the others read with `CompanyLocations`.
impl Paginated for ops::CompaniesPage {
    type Node = ops::companies_page::CompaniesPageCompaniesNodes;
    fn set_after(v: &mut Self::Variables, c: Option<Cursor>) {
        v.after = c.map(|c| c.0);
    }
    fn page(data: Self::ResponseData) -> Page<Self::Node> {
        page_of!(data.companies)
    }
    async fn complete(
        client: &ShopifyClient,
        nodes: &mut [Self::Node],
    ) -> Result<(), ShopifyError> {
        for company in nodes {
            let info = &company.locations.page_info;
            if !info.has_next_page {
                continue;
            }
            let rest: Vec<ops::companies_page::CompaniesPageCompaniesNodesLocationsNodes> = client
                .rest_of(
                    &COMPANY_LOCATIONS,
                    json!({ "id": company.id, "first": 250 }),
                    info.end_cursor.clone(),
                    "/company/locations",
                )
                .await?;
            company.locations.nodes.extend(rest);
            company.locations.page_info.has_next_page = false;
        }
        Ok(())
    }
}

/// Shopify Payments balance transactions (an empty page when the shop has no Shopify
/// Payments account).
impl Paginated for ops::BalanceTransactions {
    type Node =
        ops::balance_transactions::BalanceTransactionsShopifyPaymentsAccountBalanceTransactionsNodes;
    fn set_after(v: &mut Self::Variables, c: Option<Cursor>) {
        v.after = c.map(|c| c.0);
    }
    fn page(data: Self::ResponseData) -> Page<Self::Node> {
        match data.shopify_payments_account {
            Some(a) => Page {
                nodes: a.balance_transactions.nodes,
                resume: cursor(a.balance_transactions.page_info.end_cursor),
                has_next_page: a.balance_transactions.page_info.has_next_page,
            },
            None => Page { nodes: Vec::new(), resume: None, has_next_page: false },
        }
    }
}

/// Shopify Payments payouts (an empty page without a Shopify Payments account).
impl Paginated for ops::Payouts {
    type Node = ops::payouts::PayoutsShopifyPaymentsAccountPayoutsNodes;
    fn set_after(v: &mut Self::Variables, c: Option<Cursor>) {
        v.after = c.map(|c| c.0);
    }
    fn page(data: Self::ResponseData) -> Page<Self::Node> {
        match data.shopify_payments_account {
            Some(a) => Page {
                nodes: a.payouts.nodes,
                resume: cursor(a.payouts.page_info.end_cursor),
                has_next_page: a.payouts.page_info.has_next_page,
            },
            None => Page { nodes: Vec::new(), resume: None, has_next_page: false },
        }
    }
}

/// Company-location catalogs. A catalog with more than 50 company locations is an error
/// ([`ShopifyError::Truncated`]) rather than a silently short list: reading the rest is not
/// implemented yet.
impl Paginated for ops::CatalogsPage {
    type Node = ops::catalogs_page::CatalogsPageCatalogsNodes;
    fn set_after(v: &mut Self::Variables, c: Option<Cursor>) {
        v.after = c.map(|c| c.0);
    }
    fn page(data: Self::ResponseData) -> Page<Self::Node> {
        page_of!(data.catalogs)
    }
    async fn complete(
        _client: &ShopifyClient,
        nodes: &mut [Self::Node],
    ) -> Result<(), ShopifyError> {
        use ops::catalogs_page::CatalogsPageCatalogsNodesOn as On;
        for catalog in nodes.iter() {
            if let On::CompanyLocationCatalog(c) = &catalog.on
                && c.company_locations.page_info.has_next_page
            {
                return Err(ShopifyError::Truncated {
                    operation: "CatalogsPage",
                    what: format!("catalog {}: company locations", catalog.id),
                });
            }
        }
        Ok(())
    }
}

/// One product's media (an empty page when there is no such product).
impl Paginated for ops::ProductMedia {
    type Node = ops::product_media::ProductMediaProductMediaNodes;
    fn set_after(v: &mut Self::Variables, c: Option<Cursor>) {
        v.after = c.map(|c| c.0);
    }
    fn page(data: Self::ResponseData) -> Page<Self::Node> {
        match data.product {
            Some(p) => Page {
                nodes: p.media.nodes,
                resume: cursor(p.media.page_info.end_cursor),
                has_next_page: p.media.page_info.has_next_page,
            },
            None => Page { nodes: Vec::new(), resume: None, has_next_page: false },
        }
    }
}
