//! Refunds and cancellations end to end with real processes (the simulator, the scheduler,
//! order-sync, the posting service, PostgreSQL): a partial refund of a posted order becomes a
//! credit memo (its unit back into stock, the ERP's customer credited when it is posted with
//! the invoices), an amount-only refund too; the same refund seen twice makes one; a refund of
//! an order whose document is not posted yet lowers that document instead; an order cancelled
//! before posting loses its document.

#![allow(clippy::unwrap_used)] // a test: a missing value is a failure

use anyhow::Result;
use serde_json::json;
use shopsync_e2e::orders::*;
use shopsync_e2e::*;
use shopsync_proto::pb;

fn credit_memos(docs: &[pb::SalesDocument]) -> Vec<&pb::SalesDocument> {
    docs.iter().filter(|d| d.r#type == pb::DocumentType::CreditMemo as i32).collect()
}

#[tokio::test]
async fn refunds_become_credit_memos_once_and_update_unposted_documents() -> Result<()> {
    let s = Stack::start("refunds_flow", &["acme"]).await?;
    sim_post(&s.sim, "/sim/shops/acme/seed", json!({"seed": 5, "products": 4, "customers": 2}))
        .await?;
    let (skus, location) = catalogue(&s.sim, "acme").await?;
    let skus: Vec<String> = skus.keys().cloned().collect();
    erp_setup(&s, &skus.iter().collect::<Vec<_>>()).await?;
    connect_shop_with(&s, "acme", &location, None, |st| st.auto_create_sales_orders = true).await?;
    let email = first_email(&s.sim, "acme").await?;
    let place = |lines: serde_json::Value| json!({"customer_email": email, "lines": lines});
    let posted = sim_post(
        &s.sim,
        "/sim/shops/acme/orders",
        place(json!([{"sku": skus[0], "quantity": 2}, {"sku": skus[1], "quantity": 1}])),
    )
    .await?;
    let open =
        sim_post(&s.sim, "/sim/shops/acme/orders", place(json!([{"sku": skus[2], "quantity": 3}])))
            .await?;
    let doomed =
        sim_post(&s.sim, "/sim/shops/acme/orders", place(json!([{"sku": skus[3], "quantity": 1}])))
            .await?;
    // Refunded before it ever reached the ERP: its document is made without the unit.
    let early =
        sim_post(&s.sim, "/sim/shops/acme/orders", place(json!([{"sku": skus[0], "quantity": 3}])))
            .await?;
    let id =
        |o: &serde_json::Value| o["id"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    sim_patch(
        &s.sim,
        &format!("/sim/shops/acme/orders/{}", id(&early)),
        json!({"refund_lines": [{"sku": skus[0], "quantity": 1, "restock": true}]}),
    )
    .await?;
    let mut q = queue(&s.scheduler).await?;
    let run = sync_now(&mut q, "acme", sync_params(false)).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let counters = run.counters.clone().unwrap_or_default().values;
    assert_eq!(counters.get("refunds_applied"), Some(&1), "{counters:?}");
    let docs = documents(&s, "acme").await?;
    assert_eq!(docs.len(), 4, "no credit memo for a refund the document already holds");
    let early_doc = docs.iter().find(|d| d.shopify_order_no == early["name"].as_str().unwrap());
    assert_eq!(early_doc.unwrap().lines[0].quantity, 2);
    let doc_of = |docs: &[pb::SalesDocument], o: &serde_json::Value| {
        docs.iter()
            .find(|d| {
                d.shopify_order_no == o["name"].as_str().unwrap()
                    && d.r#type != pb::DocumentType::CreditMemo as i32
            })
            .cloned()
    };
    // Only the first order is shipped and invoiced.
    let (mut erp, mut posting) = erp_clients(&s.posting).await?;
    let posted_doc = doc_of(&docs, &posted).unwrap();
    posting
        .post_sales_document(pb::PostSalesDocumentRequest {
            no: posted_doc.no.clone(),
            ship: true,
            invoice: true,
            ..Default::default()
        })
        .await?;
    let stock_before = stock(&mut erp, &posted_doc.lines[0].item_no).await?;

    // In Shopify: one of the two units refunded and restocked; an amount refunded as a
    // goodwill gesture; the open order's line refunded by one unit; the last one cancelled.
    sim_patch(
        &s.sim,
        &format!("/sim/shops/acme/orders/{}", id(&posted)),
        json!({"refund_lines": [{"sku": skus[0], "quantity": 1, "restock": true}]}),
    )
    .await?;
    sim_patch(
        &s.sim,
        &format!("/sim/shops/acme/orders/{}", id(&posted)),
        json!({"refund": "1.50"}),
    )
    .await?;
    sim_patch(
        &s.sim,
        &format!("/sim/shops/acme/orders/{}", id(&open)),
        json!({"refund_lines": [{"sku": skus[2], "quantity": 1, "restock": true}]}),
    )
    .await?;
    sim_patch(
        &s.sim,
        &format!("/sim/shops/acme/orders/{}", id(&doomed)),
        json!({"cancel": {"restock": true, "refund": true}}),
    )
    .await?;

    // With the fully-paid filter: orders already imported are brought up to date whatever
    // they look like now (refunded, cancelled).
    let run = sync_now(&mut q, "acme", sync_params(true)).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let counters = run.counters.clone().unwrap_or_default().values;
    assert_eq!(counters.get("refunds_credited"), Some(&2), "{run:?}");
    assert_eq!(counters.get("refunds_applied"), Some(&2), "{counters:?}");
    let docs = documents(&s, "acme").await?;
    let memos = credit_memos(&docs);
    assert_eq!(memos.len(), 2, "{memos:?}");
    for m in &memos {
        assert_eq!(m.shopify_order_no, posted["name"].as_str().unwrap());
        assert_eq!(m.shopify_order_id, posted_doc.shopify_order_id);
        assert!(m.shopify_refund_id > 0);
        assert_eq!(m.sell_to_customer_no, posted_doc.sell_to_customer_no);
    }
    let lines: Vec<&pb::SalesLine> = memos.iter().flat_map(|m| &m.lines).collect();
    let returned = lines.iter().find(|l| l.return_to_stock).expect("a returned unit");
    assert_eq!(returned.quantity, 1);
    assert_eq!(returned.item_no, posted_doc.lines[0].item_no);
    let unit = posted_doc.lines[0].unit_price_minor.unwrap();
    assert_eq!(returned.amount_minor, unit, "the unit's net price");
    let amount = lines.iter().find(|l| !l.return_to_stock).expect("the amount refunded");
    assert_eq!(amount.item_no, "SHIP");
    assert_eq!(amount.amount_minor, 150);
    // The open order's document now asks for two units; the cancelled one has none.
    let open_doc = doc_of(&docs, &open).unwrap();
    assert_eq!(open_doc.lines.iter().find(|l| l.item_no != "SHIP").unwrap().quantity, 2);
    assert!(doc_of(&docs, &doomed).is_none(), "the cancelled order's document is gone");
    // The posted order is not flagged as changed: its credit memo carries the change.
    let mut cues = s.cues().await?;
    let c = cues.get_cues(pb::GetCuesRequest { shop: "acme".into() }).await?.into_inner();
    assert_eq!(count(&c, pb::CueKind::ChangedOrders), 0, "{c:?}");
    assert_eq!(count(&c, pb::CueKind::HeldRefunds), 0, "{c:?}");

    // The same refund seen twice (the import read again, the record of it lost in a crash):
    // still one credit memo per refund.
    let pool = sqlx::PgPool::connect(&s.db.url).await?;
    sqlx::query("UPDATE order_sync.refunds SET state = 'pending', document_no = NULL")
        .execute(&pool)
        .await?;
    let run = sync_now(&mut q, "acme", create_params()).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    assert_eq!(credit_memos(&documents(&s, "acme").await?).len(), 2);

    // Posted with the invoices: the customer is credited and the unit is back in stock.
    for m in credit_memos(&documents(&s, "acme").await?) {
        posting
            .post_sales_document(pb::PostSalesDocumentRequest {
                no: m.no.clone(),
                invoice: true,
                ..Default::default()
            })
            .await?;
    }
    let all = erp
        .get_documents_by_shopify_order(pb::ShopifyOrderRef {
            shop: "acme".into(),
            shopify_order_id: posted_doc.shopify_order_id,
        })
        .await?
        .into_inner();
    assert_eq!(all.credit_memos.len(), 2);
    let balance: i64 = all.customer_ledger.iter().map(|e| e.amount_minor).sum();
    let credited: i64 = all.credit_memos.iter().map(|m| m.amount_minor).sum();
    assert_eq!(credited, unit + 150);
    assert_eq!(balance, posted_doc.amount_minor - credited);
    assert_eq!(stock(&mut erp, &posted_doc.lines[0].item_no).await?, stock_before + 1);
    Ok(())
}

async fn stock(erp: &mut ErpClient, item: &str) -> Result<i64> {
    let r = erp
        .get_stock(pb::GetStockRequest { item_no: item.into(), ..Default::default() })
        .await?
        .into_inner();
    Ok(r.levels.iter().map(|l| l.quantity_on_hand).sum())
}
