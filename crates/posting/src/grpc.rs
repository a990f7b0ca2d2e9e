//! gRPC `Erp` and `Posting`: request checks and the calls to the service modules; every error
//! becomes a status through the one mapping in `error.rs`.

use crate::error::ErpError;
use crate::post::PostOptions;
use crate::util::parse_date;
use crate::{docs, lookup, master, post, posted, stock};
use shopsync_proto::limits::fit_page;
use shopsync_proto::pb::erp_server::Erp;
use shopsync_proto::pb::posting_server::Posting;
use shopsync_proto::{CheckText, pb};
use sqlx::PgPool;
use std::future::Future;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

#[derive(Clone)]
pub struct ErpService {
    pub pool: PgPool,
    /// Master data for creating sales documents (see [`docs::RefCache`]).
    pub refs: std::sync::Arc<docs::RefCache>,
}

type R<T> = Result<Response<T>, Status>;

/// Every string of a request: no NUL, within its length limit (see `shopsync_proto::limits`).
fn texts(r: &impl CheckText) -> Result<(), Status> {
    r.check_text().map_err(|e| Status::from(ErpError::from(e)))
}

/// A list page cut to what a client accepts (see `fit_page`): it then continues after the
/// last entry kept.
fn fit<T: prost::Message>(
    (mut page, next): (Vec<T>, String),
    key: impl Fn(&T) -> String,
) -> (Vec<T>, String) {
    if fit_page(&mut page) {
        let next = page.last().map(key).unwrap_or_default();
        (page, next)
    } else {
        (page, next)
    }
}

fn ok<T>(r: Result<T, ErpError>) -> R<T> {
    r.map(Response::new).map_err(Status::from)
}

/// A message field the request must carry.
fn required<T>(v: Option<T>, field: &str) -> Result<T, Status> {
    v.ok_or_else(|| ErpError::invalid(field, "required").into())
}

/// A list page as its response: cut to fit (see [`fit`]), then wrapped with its next token.
fn page<T: prost::Message, P>(
    r: Result<(Vec<T>, String), ErpError>,
    key: impl Fn(&T) -> String,
    wrap: impl FnOnce(Vec<T>, String) -> P,
) -> R<P> {
    ok(r.map(|p| {
        let (list, next) = fit(p, key);
        wrap(list, next)
    }))
}

#[tonic::async_trait]
impl Erp for ErpService {
    async fn create_item(&self, r: Request<pb::Item>) -> R<pb::Item> {
        texts(r.get_ref())?;
        ok(master::create_item(&self.pool, r.get_ref()).await)
    }
    async fn update_item(&self, r: Request<pb::UpdateItemRequest>) -> R<pb::Item> {
        texts(r.get_ref())?;
        let r = r.into_inner();
        let item = required(r.item, "item")?;
        ok(master::update_item(&self.pool, &item, r.expected_version).await)
    }
    async fn get_item(&self, r: Request<pb::GetRequest>) -> R<pb::Item> {
        texts(r.get_ref())?;
        ok(master::get_item(&self.pool, &r.get_ref().no).await)
    }
    async fn list_items(&self, r: Request<pb::ListRequest>) -> R<pb::ListItemsResponse> {
        texts(r.get_ref())?;
        let p = master::list_items(&self.pool, r.get_ref()).await;
        page(
            p,
            |i| i.no.clone(),
            |items, next_page_token| pb::ListItemsResponse { items, next_page_token },
        )
    }
    async fn find_items(&self, r: Request<pb::FindItemsRequest>) -> R<pb::FindItemsResponse> {
        texts(r.get_ref())?;
        ok(lookup::find_items(&self.pool, r.get_ref()).await)
    }
    async fn find_customers(
        &self,
        r: Request<pb::FindCustomersRequest>,
    ) -> R<pb::FindCustomersResponse> {
        texts(r.get_ref())?;
        ok(lookup::find_customers(&self.pool, r.get_ref()).await)
    }
    async fn create_customer(&self, r: Request<pb::Customer>) -> R<pb::Customer> {
        texts(r.get_ref())?;
        ok(master::create_customer(&self.pool, r.get_ref()).await)
    }
    async fn update_customer(&self, r: Request<pb::UpdateCustomerRequest>) -> R<pb::Customer> {
        texts(r.get_ref())?;
        let r = r.into_inner();
        let c = required(r.customer, "customer")?;
        ok(master::update_customer(&self.pool, &c, r.expected_version).await)
    }
    async fn get_customer(&self, r: Request<pb::GetRequest>) -> R<pb::Customer> {
        texts(r.get_ref())?;
        ok(master::get_customer(&self.pool, &r.get_ref().no).await)
    }
    async fn list_customers(&self, r: Request<pb::ListRequest>) -> R<pb::ListCustomersResponse> {
        texts(r.get_ref())?;
        let p = master::list_customers(&self.pool, r.get_ref()).await;
        page(
            p,
            |c| c.no.clone(),
            |customers, next_page_token| pb::ListCustomersResponse { customers, next_page_token },
        )
    }
    async fn create_location(&self, r: Request<pb::Location>) -> R<pb::Location> {
        texts(r.get_ref())?;
        ok(master::create_location(&self.pool, r.get_ref()).await)
    }
    async fn update_location(&self, r: Request<pb::UpdateLocationRequest>) -> R<pb::Location> {
        texts(r.get_ref())?;
        let r = r.into_inner();
        let l = required(r.location, "location")?;
        ok(master::update_location(&self.pool, &l, r.expected_version).await)
    }
    async fn get_location(&self, r: Request<pb::GetRequest>) -> R<pb::Location> {
        texts(r.get_ref())?;
        ok(master::get_location(&self.pool, &r.get_ref().no).await)
    }
    async fn list_locations(&self, r: Request<pb::ListRequest>) -> R<pb::ListLocationsResponse> {
        texts(r.get_ref())?;
        let p = master::list_locations(&self.pool, r.get_ref()).await;
        page(
            p,
            |l| l.code.clone(),
            |locations, next_page_token| pb::ListLocationsResponse { locations, next_page_token },
        )
    }
    async fn put_sales_price(&self, r: Request<pb::SalesPrice>) -> R<pb::SalesPrice> {
        texts(r.get_ref())?;
        ok(master::put_sales_price(&self.pool, r.get_ref()).await)
    }
    async fn post_stock_adjustment(
        &self,
        r: Request<pb::StockAdjustmentRequest>,
    ) -> R<pb::StockAdjustmentResponse> {
        texts(r.get_ref())?;
        ok(stock::post_stock_adjustment(&self.pool, r.get_ref())
            .await
            .map(|(entries, posted)| pb::StockAdjustmentResponse { entries, posted }))
    }
    async fn get_stock(&self, r: Request<pb::GetStockRequest>) -> R<pb::GetStockResponse> {
        texts(r.get_ref())?;
        ok(stock::get_stock(&self.pool, r.get_ref())
            .await
            .map(|levels| pb::GetStockResponse { levels }))
    }
    async fn create_sales_document(
        &self,
        r: Request<pb::CreateSalesDocumentRequest>,
    ) -> R<pb::CreateSalesDocumentResponse> {
        texts(r.get_ref())?;
        ok(docs::create(&self.pool, &self.refs, r.get_ref())
            .await
            .map(|(d, created)| pb::CreateSalesDocumentResponse { document: Some(d), created }))
    }
    async fn create_sales_documents(
        &self,
        r: Request<pb::CreateSalesDocumentsRequest>,
    ) -> R<pb::CreateSalesDocumentsResponse> {
        // Each document's strings are checked with the document: a bad one fails only itself.
        let r = r.into_inner();
        if r.documents.is_empty() {
            return Err(Status::invalid_argument("documents: at least one is required"));
        }
        if r.documents.len() > 500 {
            return Err(Status::invalid_argument("documents: at most 500 per call"));
        }
        let results = docs::create_many(&self.pool, &self.refs, &r.documents, "documents")
            .await?
            .into_iter()
            .map(|x| match x {
                Ok((d, created)) => {
                    Ok(pb::CreateSalesDocumentResult { document: Some(d), created, error: None })
                }
                Err(e) => e.document_error().map(|error| pb::CreateSalesDocumentResult {
                    document: None,
                    created: false,
                    error: Some(error),
                }),
            })
            .collect::<Result<Vec<_>, ErpError>>()?;
        Ok(Response::new(pb::CreateSalesDocumentsResponse { results }))
    }
    async fn release_sales_document(&self, r: Request<pb::DocumentRef>) -> R<pb::SalesDocument> {
        texts(r.get_ref())?;
        ok(docs::set_status(&self.pool, r.get_ref(), true).await)
    }
    async fn reopen_sales_document(&self, r: Request<pb::DocumentRef>) -> R<pb::SalesDocument> {
        texts(r.get_ref())?;
        ok(docs::set_status(&self.pool, r.get_ref(), false).await)
    }
    async fn delete_sales_document(
        &self,
        r: Request<pb::DocumentRef>,
    ) -> R<pb::DeleteSalesDocumentResponse> {
        texts(r.get_ref())?;
        ok(docs::delete(&self.pool, r.get_ref()).await.map(|()| pb::DeleteSalesDocumentResponse {}))
    }
    async fn get_sales_document(&self, r: Request<pb::DocumentRef>) -> R<pb::SalesDocument> {
        texts(r.get_ref())?;
        ok(docs::get(&self.pool, &r.get_ref().no).await)
    }
    async fn set_sales_document_tracking(
        &self,
        r: Request<pb::SetTrackingRequest>,
    ) -> R<pb::SalesDocument> {
        texts(r.get_ref())?;
        ok(docs::set_tracking(&self.pool, r.get_ref()).await)
    }
    async fn list_sales_documents(
        &self,
        r: Request<pb::ListSalesDocumentsRequest>,
    ) -> R<pb::ListSalesDocumentsResponse> {
        texts(r.get_ref())?;
        let p = docs::list(&self.pool, r.get_ref()).await;
        page(
            p,
            |d| d.no.clone(),
            |documents, next_page_token| pb::ListSalesDocumentsResponse {
                documents,
                next_page_token,
            },
        )
    }
    async fn get_documents_by_shopify_order(
        &self,
        r: Request<pb::ShopifyOrderRef>,
    ) -> R<pb::ShopifyOrderDocuments> {
        texts(r.get_ref())?;
        ok(docs::by_shopify_order(&self.pool, r.get_ref()).await)
    }
}

#[derive(Clone)]
pub struct PostingService {
    pub pool: PgPool,
}

/// Page through a feed into a server stream: `page(cursor, n)` returns up to n messages with
/// their cursors; stops when a page comes back short or `limit` messages were sent.
fn feed<T, F, Fut>(limit: u32, start: String, page: F) -> ReceiverStream<Result<T, Status>>
where
    T: Send + 'static,
    F: Fn(String, i64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<(T, String)>, ErpError>> + Send,
{
    const PAGE: i64 = 500;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut cursor = start;
        let mut left = if limit == 0 { u64::MAX } else { u64::from(limit) };
        loop {
            let n = PAGE.min(i64::try_from(left).unwrap_or(PAGE));
            let batch = match page(cursor.clone(), n).await {
                Ok(b) => b,
                Err(e) => {
                    let _ = tx.send(Err(Status::from(e))).await;
                    return;
                }
            };
            let got = batch.len() as i64;
            for (msg, c) in batch {
                cursor = c;
                if tx.send(Ok(msg)).await.is_err() {
                    return; // the caller hung up
                }
            }
            left = left.saturating_sub(got as u64);
            if got < n || left == 0 {
                return;
            }
        }
    });
    ReceiverStream::new(rx)
}

/// A change feed as a server stream: the cursor checked, then pages of `read(pool, cursor,
/// n)` (messages with their cursors) sent as `wrap(message, cursor)`.
fn changes<T, M, F, Fut>(
    pool: &PgPool,
    r: pb::StreamRequest,
    read: F,
    wrap: fn(T, String) -> M,
) -> R<ReceiverStream<Result<M, Status>>>
where
    T: Send + 'static,
    M: Send + 'static,
    F: Fn(PgPool, String, i64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<(T, String)>, ErpError>> + Send,
{
    crate::util::parse_cursor(&r.cursor)?;
    let pool = pool.clone();
    let read = std::sync::Arc::new(read);
    Ok(Response::new(feed(r.limit, r.cursor, move |c, n| {
        let (pool, read) = (pool.clone(), read.clone());
        async move {
            Ok(read(pool, c, n)
                .await?
                .into_iter()
                .map(|(x, cursor)| (wrap(x, cursor.clone()), cursor))
                .collect())
        }
    })))
}

#[tonic::async_trait]
impl Posting for PostingService {
    async fn post_sales_document(
        &self,
        r: Request<pb::PostSalesDocumentRequest>,
    ) -> R<pb::PostSalesDocumentResponse> {
        texts(r.get_ref())?;
        let r = r.into_inner();
        let opts = PostOptions {
            ship: r.ship,
            invoice: r.invoice,
            posting_date: parse_date(&r.posting_date, "posting_date")?,
        };
        let posted = post::post_document(&self.pool, &r.no, opts, r.tracking.as_ref()).await?;
        let document = docs::get(&self.pool, &r.no).await?;
        Ok(Response::new(pb::PostSalesDocumentResponse {
            shipment_no: posted.shipment_no.unwrap_or_default(),
            invoice_no: posted.invoice_no.unwrap_or_default(),
            document: Some(document),
            credit_memo_no: posted.credit_memo_no.unwrap_or_default(),
        }))
    }
    async fn list_posted_shipments(
        &self,
        r: Request<pb::ListPostedRequest>,
    ) -> R<pb::ListPostedShipmentsResponse> {
        texts(r.get_ref())?;
        ok(posted::list_shipments(&self.pool, r.get_ref()).await.map(
            |(shipments, next_page_token)| pb::ListPostedShipmentsResponse {
                shipments,
                next_page_token,
            },
        ))
    }
    async fn list_posted_invoices(
        &self,
        r: Request<pb::ListPostedRequest>,
    ) -> R<pb::ListPostedInvoicesResponse> {
        texts(r.get_ref())?;
        ok(posted::list_invoices(&self.pool, r.get_ref()).await.map(
            |(invoices, next_page_token)| pb::ListPostedInvoicesResponse {
                invoices,
                next_page_token,
            },
        ))
    }
    async fn list_posted_credit_memos(
        &self,
        r: Request<pb::ListPostedRequest>,
    ) -> R<pb::ListPostedCreditMemosResponse> {
        texts(r.get_ref())?;
        ok(posted::list_credit_memos(&self.pool, r.get_ref()).await.map(
            |(credit_memos, next_page_token)| pb::ListPostedCreditMemosResponse {
                credit_memos,
                next_page_token,
            },
        ))
    }

    type StreamItemChangesStream = ReceiverStream<Result<pb::ItemChange, Status>>;
    async fn stream_item_changes(
        &self,
        r: Request<pb::StreamRequest>,
    ) -> R<Self::StreamItemChangesStream> {
        texts(r.get_ref())?;
        changes(
            &self.pool,
            r.into_inner(),
            |pool, c, n| async move { master::item_changes(&pool, &c, n).await },
            |item, cursor| pb::ItemChange { item: Some(item), cursor },
        )
    }

    type StreamStockChangesStream = ReceiverStream<Result<pb::StockChange, Status>>;
    async fn stream_stock_changes(
        &self,
        r: Request<pb::StreamRequest>,
    ) -> R<Self::StreamStockChangesStream> {
        texts(r.get_ref())?;
        changes(
            &self.pool,
            r.into_inner(),
            |pool, c, n| async move { stock::stock_changes(&pool, &c, n).await },
            |level, cursor| pb::StockChange { level: Some(level), cursor },
        )
    }

    type StreamShipmentsAwaitingFulfillmentStream =
        ReceiverStream<Result<pb::PostedShipment, Status>>;
    async fn stream_shipments_awaiting_fulfillment(
        &self,
        r: Request<pb::StreamRequest>,
    ) -> R<Self::StreamShipmentsAwaitingFulfillmentStream> {
        texts(r.get_ref())?;
        let r = r.into_inner();
        let (shop, failed) = (r.shop.clone(), r.include_failed);
        changes(
            &self.pool,
            r,
            move |pool, c, n| {
                let shop = shop.clone();
                async move {
                    let page = posted::awaiting_fulfillment(&pool, &c, &shop, failed, n).await?;
                    Ok(page.into_iter().map(|s| (s.clone(), s.cursor)).collect())
                }
            },
            |shipment, _| shipment,
        )
    }

    async fn record_fulfillment_result(
        &self,
        r: Request<pb::FulfillmentResultRequest>,
    ) -> R<pb::PostedShipment> {
        texts(r.get_ref())?;
        ok(posted::record_fulfillment(&self.pool, r.get_ref()).await)
    }

    async fn reset_fulfillment_state(
        &self,
        r: Request<pb::ResetFulfillmentRequest>,
    ) -> R<pb::PostedShipment> {
        texts(r.get_ref())?;
        ok(posted::reset_fulfillment(&self.pool, r.get_ref()).await)
    }
}
