//! Archive processed orders (reference 3.1 "Archive"): with the shop's setting, an order that
//! Shopify shows fully paid and fulfilled and whose ERP documents are all posted (shipped and
//! invoiced, or an invoice) is closed in Shopify with `orderClose` (closing twice is harmless,
//! so a crash between closing and recording only closes it again). Runs at the end of
//! SyncOrders, after the import made the mirror's statuses fresh (an order fulfilled by a
//! shipments run is closed by the next import, which sees it fulfilled).

use crate::repo::orders as repo;
use crate::{Failure, fail};
use shopsync_common::RunReport;
use shopsync_common::report::RecordError;
use shopsync_proto::pb;
use shopsync_runtime::shop::ShopContext;
use shopsync_runtime::worker::{RunContext, TaskError};
use shopsync_shopify::{ShopifyError, ops};
use sqlx::PgPool;

const BATCH: i64 = 100;

pub async fn run(
    ctx: &RunContext,
    shop: &ShopContext,
    db: &PgPool,
    report: &mut RunReport,
) -> Result<(), TaskError> {
    if !shop.shop.settings.archive_processed_orders {
        return Ok(());
    }
    let name = shop.shop.name.as_str();
    let mut after = 0;
    loop {
        if ctx.cancel.is_cancelled() {
            return Err(TaskError::Cancelled);
        }
        let batch =
            repo::archivable(db, name, after, BATCH).await.map_err(|e| fail(Failure::Db(e)))?;
        let Some(last) = batch.last() else { return Ok(()) };
        after = last.order_id;
        for o in batch {
            if !invoiced(shop, o.order_id).await? {
                continue;
            }
            let gid = format!("gid://shopify/Order/{}", o.order_id);
            match shop
                .shopify
                .run::<ops::OrderClose>(ops::order_close::Variables { id: gid.clone() })
                .await
            {
                Ok(_) => {
                    repo::mark_archived(db, name, o.order_id)
                        .await
                        .map_err(|e| fail(Failure::Db(e)))?;
                    report.count("archived", 1);
                }
                Err(ShopifyError::UserErrors { errors, .. }) => {
                    report.record_error(RecordError {
                        record: crate::mirror::record(&o.name, &gid),
                        reason: format!(
                            "Shopify did not close the order: {}",
                            errors
                                .iter()
                                .map(|e| e.message.as_str())
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                        retryable: true,
                    });
                }
                Err(e) => return Err(fail(Failure::Shopify(e))),
            }
        }
    }
}

/// Whether everything the ERP has for the order is posted: an invoice exists and no order
/// document has a quantity left to ship or invoice.
async fn invoiced(shop: &ShopContext, order_id: i64) -> Result<bool, TaskError> {
    let mut erp = shop.erp.clone();
    let docs = erp
        .get_documents_by_shopify_order(pb::ShopifyOrderRef {
            shop: shop.shop.name.clone(),
            shopify_order_id: order_id,
        })
        .await
        .map_err(|s| fail(Failure::Api("reading the order's documents", s)))?
        .into_inner();
    let open = docs.documents.iter().any(|d| {
        d.r#type != pb::DocumentType::CreditMemo as i32
            && d.status != pb::DocumentStatus::Posted as i32
            && d.lines.iter().any(|l| l.quantity_invoiced < l.quantity)
    });
    Ok(!docs.invoices.is_empty() && !open)
}
