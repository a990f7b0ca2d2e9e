//! Credit memos (Shopify refunds), shipment tracking and fulfillment resets end to end: the
//! real posting service (and, for batch posting, the scheduler) against a real PostgreSQL.
#![allow(clippy::unwrap_used)]

use anyhow::{Result, ensure};
use shopsync_e2e::*;
use shopsync_proto::pb;
use std::time::Duration;
use tonic::Code;

async fn posting_service(test: &str) -> Result<(TestDb, Proc, ErpClient, PostingClient)> {
    let db = TestDb::create().await?;
    let p = start_worker(test, Service::Posting, &db).await?;
    let (erp, posting) = erp_clients(&p).await?;
    Ok((db, p, erp, posting))
}

/// Location MAIN, items A (10.00, cost 4.00) and REFUND (an amount-only item, 0.00), customer
/// C1, 10 of A in stock.
async fn master_data(erp: &mut ErpClient) -> Result<()> {
    erp.create_location(pb::Location {
        code: "MAIN".into(),
        name: "Main".into(),
        ..Default::default()
    })
    .await?;
    for (no, price, cost) in [("A", 1000, 400), ("REFUND", 0, 0)] {
        erp.create_item(pb::Item {
            no: no.into(),
            description: no.into(),
            unit_price_minor: price,
            unit_cost_minor: cost,
            currency: "EUR".into(),
            ..Default::default()
        })
        .await?;
    }
    erp.create_customer(pb::Customer {
        no: "C1".into(),
        name: "Customer C1".into(),
        currency: "EUR".into(),
        ..Default::default()
    })
    .await?;
    erp.post_stock_adjustment(pb::StockAdjustmentRequest {
        lines: vec![pb::StockAdjustmentLine {
            item_no: "A".into(),
            location_code: "MAIN".into(),
            quantity: 10,
            ..Default::default()
        }],
        ..Default::default()
    })
    .await?;
    Ok(())
}

async fn on_hand(erp: &mut ErpClient, item: &str) -> Result<i64> {
    let r = erp
        .get_stock(pb::GetStockRequest { item_no: item.into(), location_code: "MAIN".into() })
        .await?
        .into_inner();
    Ok(r.levels.iter().map(|l| l.quantity_on_hand).sum())
}

fn line(item: &str, qty: i64, shopify_line: i64) -> pb::SalesLine {
    pb::SalesLine {
        item_no: item.into(),
        location_code: "MAIN".into(),
        quantity: qty,
        shopify_order_line_id: shopify_line,
        ..Default::default()
    }
}

fn returned(item: &str, qty: i64, shopify_line: i64) -> pb::SalesLine {
    pb::SalesLine { return_to_stock: true, ..line(item, qty, shopify_line) }
}

fn doc(
    t: pb::DocumentType,
    shopify_order: i64,
    lines: Vec<pb::SalesLine>,
) -> pb::CreateSalesDocumentRequest {
    pb::CreateSalesDocumentRequest {
        document: Some(pb::SalesDocument {
            r#type: t as i32,
            shop: "shop-1".into(),
            shopify_order_id: shopify_order,
            shopify_order_no: format!("#{shopify_order}"),
            sell_to_customer_no: "C1".into(),
            lines,
            ..Default::default()
        }),
        release: true,
    }
}

/// The credit memo of Shopify refund `refund` of order `order`.
fn credit_memo(
    order: i64,
    refund: i64,
    applies_to: &str,
    lines: Vec<pb::SalesLine>,
) -> pb::CreateSalesDocumentRequest {
    let mut r = doc(pb::DocumentType::CreditMemo, order, lines);
    let d = r.document.as_mut().unwrap();
    d.shopify_refund_id = refund;
    d.applies_to_doc_no = applies_to.into();
    r
}

fn post_req(no: &str, ship: bool, invoice: bool) -> pb::PostSalesDocumentRequest {
    pb::PostSalesDocumentRequest { no: no.into(), ship, invoice, ..Default::default() }
}

/// An order of Shopify order `order` (A x qty), shipped and invoiced: (document, invoice no.).
async fn invoiced_order(
    erp: &mut ErpClient,
    posting: &mut PostingClient,
    order: i64,
    qty: i64,
) -> Result<(String, String)> {
    let d = erp
        .create_sales_document(doc(pb::DocumentType::Order, order, vec![line("A", qty, 1)]))
        .await?
        .into_inner()
        .document
        .unwrap();
    let p = posting.post_sales_document(post_req(&d.no, true, true)).await?.into_inner();
    Ok((d.no, p.invoice_no))
}

fn invalid_field(r: Result<tonic::Response<impl std::fmt::Debug>, tonic::Status>, field: &str) {
    let e = r.expect_err("must be refused");
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().starts_with(field), "want {field}: {}", e.message());
}

async fn stream_all<T>(s: tonic::Streaming<T>) -> Result<Vec<T>> {
    use tokio_stream::StreamExt;
    let mut s = s;
    let mut out = Vec::new();
    while let Some(m) = s.next().await {
        out.push(m?);
    }
    Ok(out)
}

/// The shipments awaiting fulfillment after `cursor`, once there are `n` (the feed holds back
/// changes while an older transaction anywhere on the server is open).
async fn awaiting(
    posting: &PostingClient,
    cursor: &str,
    n: usize,
) -> Result<Vec<pb::PostedShipment>> {
    eventually(Duration::from_secs(10), || {
        let mut p = posting.clone();
        let cursor = cursor.to_owned();
        async move {
            let v = stream_all(
                p.stream_shipments_awaiting_fulfillment(pb::StreamRequest {
                    cursor,
                    ..Default::default()
                })
                .await?
                .into_inner(),
            )
            .await?;
            ensure!(v.len() == n, "{} shipments, want {n}", v.len());
            Ok(v)
        }
    })
    .await
}

#[tokio::test]
async fn a_refund_is_one_credit_memo_however_often_and_concurrently_created() -> Result<()> {
    let (db, _p, mut erp, mut posting) = posting_service("cm_once").await?;
    master_data(&mut erp).await?;
    let (order_no, invoice_no) = invoiced_order(&mut erp, &mut posting, 9001, 3).await?;

    // Sixteen racing creates of refund 501: one credit memo.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let mut e = erp.clone();
        let r = credit_memo(9001, 501, &invoice_no, vec![returned("A", 1, 1)]);
        calls.spawn(async move { e.create_sales_document(r).await });
    }
    let mut created = 0;
    let mut nos = std::collections::HashSet::new();
    while let Some(r) = calls.join_next().await {
        let r = r??.into_inner();
        created += i32::from(r.created);
        nos.insert(r.document.unwrap().no);
    }
    assert_eq!((created, nos.len()), (1, 1));
    let cm_no = nos.into_iter().next().unwrap();
    assert!(cm_no.starts_with("SCR"), "{cm_no}");

    // Again, one by one and in a batch: the same document, not created.
    let again = erp
        .create_sales_document(credit_memo(9001, 501, &invoice_no, vec![returned("A", 1, 1)]))
        .await?
        .into_inner();
    assert!(!again.created);
    let d = again.document.unwrap();
    assert_eq!(d.no, cm_no);
    assert_eq!(d.r#type, pb::DocumentType::CreditMemo as i32);
    assert_eq!((d.shopify_order_id, d.shopify_refund_id), (9001, 501));
    assert_eq!(d.applies_to_doc_no, invoice_no);
    assert!(d.lines[0].return_to_stock);
    let batch = erp
        .create_sales_documents(pb::CreateSalesDocumentsRequest {
            documents: vec![
                credit_memo(9001, 501, "", vec![line("A", 1, 1)]),
                // A second refund of the same order is a second credit memo.
                credit_memo(9001, 502, "", vec![line("REFUND", 1, 0)]),
                // The same refund twice in one call: the second is refused.
                credit_memo(9001, 502, "", vec![line("REFUND", 1, 0)]),
            ],
        })
        .await?
        .into_inner()
        .results;
    assert_eq!(batch[0].document.as_ref().unwrap().no, cm_no);
    assert!(!batch[0].created);
    assert!(batch[1].created, "{:?}", batch[1]);
    let second = batch[1].document.as_ref().unwrap().no.clone();
    let e = batch[2].error.as_ref().unwrap();
    assert_eq!(e.field, "documents[2].document.shopify_refund_id");

    // The order stays the one order of its Shopify order; another order for it is not made.
    let dup = erp
        .create_sales_document(doc(pb::DocumentType::Order, 9001, vec![line("A", 1, 1)]))
        .await?
        .into_inner();
    assert!(!dup.created);
    assert_eq!(dup.document.unwrap().no, order_no);
    let all = erp
        .get_documents_by_shopify_order(pb::ShopifyOrderRef {
            shop: "shop-1".into(),
            shopify_order_id: 9001,
        })
        .await?
        .into_inner();
    let mut docs: Vec<_> = all.documents.iter().map(|d| d.no.clone()).collect();
    docs.sort();
    let mut want = vec![order_no, cm_no, second];
    want.sort();
    assert_eq!(docs, want);
    let pool = db.pool().await?;
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM posting.sales_headers WHERE document_type = 'credit_memo'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(n, 2);

    // Bad credit memos name their field; nothing is written.
    invalid_field(
        erp.create_sales_document(credit_memo(9001, 0, "", vec![line("A", 1, 1)])).await,
        "document.shopify_refund_id",
    );
    invalid_field(
        erp.create_sales_document(credit_memo(9001, -5, "", vec![line("A", 1, 1)])).await,
        "document.shopify_refund_id",
    );
    invalid_field(
        erp.create_sales_document(credit_memo(9001, 503, "", vec![line("A", -1, 1)])).await,
        "document.lines[0].quantity",
    );
    invalid_field(
        erp.create_sales_document(credit_memo(9001, 503, "SINV999999", vec![line("A", 1, 1)]))
            .await,
        "document.applies_to_doc_no",
    );
    let mut refund_on_order = doc(pb::DocumentType::Order, 9002, vec![line("A", 1, 1)]);
    refund_on_order.document.as_mut().unwrap().shopify_refund_id = 7;
    invalid_field(erp.create_sales_document(refund_on_order).await, "document.shopify_refund_id");
    invalid_field(
        erp.create_sales_document(doc(pb::DocumentType::Order, 9003, vec![returned("A", 1, 1)]))
            .await,
        "document.lines[0].return_to_stock",
    );
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM posting.sales_headers").fetch_one(&pool).await?;
    assert_eq!(n, 3);
    Ok(())
}

#[tokio::test]
async fn posting_a_credit_memo_credits_the_customer_and_returns_stock() -> Result<()> {
    let (_db, _p, mut erp, mut posting) = posting_service("cm_post").await?;
    master_data(&mut erp).await?;
    let (_, invoice_no) = invoiced_order(&mut erp, &mut posting, 9001, 3).await?;
    assert_eq!(on_hand(&mut erp, "A").await?, 7);

    // Refund: two of A come back, one is not returned (damaged), and 5.00 of shipping.
    let mut shipping = line("REFUND", 1, 0);
    shipping.unit_price_minor = Some(500);
    let cm = erp
        .create_sales_document(credit_memo(
            9001,
            501,
            &invoice_no,
            vec![returned("A", 2, 1), line("A", 1, 1), shipping],
        ))
        .await?
        .into_inner()
        .document
        .unwrap();
    assert_eq!(cm.amount_minor, 3 * 1000 + 500);
    let p = posting.post_sales_document(post_req(&cm.no, false, true)).await?.into_inner();
    assert!(p.credit_memo_no.starts_with("SCM"), "{p:?}");
    assert!(p.invoice_no.is_empty() && p.shipment_no.is_empty(), "{p:?}");
    let d = p.document.unwrap();
    assert_eq!(d.status, pb::DocumentStatus::Posted as i32);
    assert_eq!(on_hand(&mut erp, "A").await?, 9, "the two returned units are back");

    // Posting it again is refused, as for invoices.
    let e = posting.post_sales_document(post_req(&cm.no, false, true)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert_eq!(on_hand(&mut erp, "A").await?, 9);

    let all = erp
        .get_documents_by_shopify_order(pb::ShopifyOrderRef {
            shop: "shop-1".into(),
            shopify_order_id: 9001,
        })
        .await?
        .into_inner();
    let cle: Vec<(String, i64, i64)> = all
        .customer_ledger
        .iter()
        .map(|c| (c.document_type.clone(), c.amount_minor, c.remaining_amount_minor))
        .collect();
    assert_eq!(
        cle,
        vec![("invoice".into(), 3000, 3000), ("credit_memo".into(), -3500, -3500)],
        "{cle:?}"
    );
    assert_eq!(all.customer_ledger[1].document_no, p.credit_memo_no);
    let back: Vec<_> =
        all.item_ledger.iter().filter(|e| e.document_no == p.credit_memo_no).collect();
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!((back[0].item_no.as_str(), back[0].quantity), ("A", 2));
    assert_eq!(back[0].entry_type, "sale");
    assert_eq!((back[0].cost_amount_minor, back[0].sales_amount_minor), (800, -2000));
    assert_eq!(all.credit_memos.len(), 1);
    let posted = &all.credit_memos[0];
    assert_eq!(posted.no, p.credit_memo_no);
    assert_eq!(posted.document_no, cm.no);
    assert_eq!((posted.shopify_order_id, posted.shopify_refund_id), (9001, 501));
    assert_eq!(posted.shopify_order_no, "#9001");
    assert_eq!(posted.applies_to_doc_no, invoice_no);
    assert_eq!(posted.amount_minor, 3500);
    let lines: Vec<(String, i64, bool)> =
        posted.lines.iter().map(|l| (l.item_no.clone(), l.quantity, l.return_to_stock)).collect();
    assert_eq!(
        lines,
        vec![("A".into(), 2, true), ("A".into(), 1, false), ("REFUND".into(), 1, false)]
    );

    let listed = posting
        .list_posted_credit_memos(pb::ListPostedRequest {
            shop: "shop-1".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .credit_memos;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].no, p.credit_memo_no);
    let by_doc = posting
        .list_posted_credit_memos(pb::ListPostedRequest {
            order_no: "SCR999999".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .credit_memos;
    assert!(by_doc.is_empty());
    Ok(())
}

#[tokio::test]
async fn batch_posting_of_invoices_posts_credit_memos() -> Result<()> {
    let test = "cm_batch";
    let db = TestDb::create().await?;
    let workers = Workers::start(test, &db).await?;
    let s = start_scheduler(test, "sched-a", &db, &workers, &[]).await?;
    let mut q = queue(&s).await?;
    let proc = &workers.procs.iter().find(|(s, _)| *s == Service::Posting).unwrap().1;
    let (mut erp, mut posting) = erp_clients(proc).await?;
    master_data(&mut erp).await?;
    let (_, invoice_no) = invoiced_order(&mut erp, &mut posting, 9001, 2).await?;
    let invoice = erp
        .create_sales_document(doc(pb::DocumentType::Invoice, 9002, vec![line("A", 1, 1)]))
        .await?
        .into_inner()
        .document
        .unwrap();
    let cm = erp
        .create_sales_document(credit_memo(9001, 501, &invoice_no, vec![returned("A", 2, 1)]))
        .await?
        .into_inner()
        .document
        .unwrap();
    assert_eq!(on_hand(&mut erp, "A").await?, 8);

    let e = create(
        &mut q,
        pb::JobSpec {
            shop: "shop-1".into(),
            params: Some(pb::TaskParams {
                params: Some(pb::task_params::Params::BatchPostSalesInvoices(
                    pb::BatchPostSalesInvoicesParams {
                        released_only: true,
                        shopify_order_no_not_blank: true,
                        ..Default::default()
                    },
                )),
            }),
            created_by: "e2e".into(),
            ..Default::default()
        },
    )
    .await?;
    let run = eventually(Duration::from_secs(30), || {
        let mut q = q.clone();
        let id = e.id.clone();
        async move {
            let e = entry(&mut q, &id).await?;
            ensure!(
                matches!(status(&e), pb::JobStatus::Finished | pb::JobStatus::Error),
                "status {:?}",
                status(&e)
            );
            Ok(runs(&mut q, &id).await?.last().cloned().unwrap())
        }
    })
    .await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let c = &run.counters.as_ref().unwrap().values;
    assert_eq!(
        (c["selected"], c["posted"], c["failed"], c["invoices"], c["credit_memos"]),
        (2, 2, 0, 1, 1),
        "{c:?}"
    );
    assert_eq!((c["amount_invoiced_minor"], c["amount_credited_minor"]), (1000, 2000));
    for no in [&invoice.no, &cm.no] {
        let d = erp
            .get_sales_document(pb::DocumentRef { no: no.clone(), ..Default::default() })
            .await?
            .into_inner();
        assert_eq!(d.status, pb::DocumentStatus::Posted as i32, "{no}");
    }
    // 10 - 2 (order) - 1 (invoice) + 2 (credit memo).
    assert_eq!(on_hand(&mut erp, "A").await?, 9);
    let listed = posting
        .list_posted_credit_memos(pb::ListPostedRequest {
            order_no: cm.no.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .credit_memos;
    assert_eq!(listed.len(), 1);
    Ok(())
}

#[tokio::test]
async fn tracking_travels_with_the_shipment_and_a_reset_shipment_is_sent_again() -> Result<()> {
    let (_db, _p, mut erp, mut posting) = posting_service("cm_tracking").await?;
    master_data(&mut erp).await?;
    let dhl = pb::Tracking {
        company: "DHL".into(),
        number: "JD0001".into(),
        url: "https://track.example/JD0001".into(),
    };
    let ups = pb::Tracking { company: "UPS".into(), number: "1Z999".into(), url: String::new() };
    let order = |id: i64| {
        let mut e = erp.clone();
        async move {
            let r = e
                .create_sales_document(doc(pb::DocumentType::Order, id, vec![line("A", 1, 1)]))
                .await?;
            anyhow::Ok(r.into_inner().document.unwrap())
        }
    };
    let first = order(9101).await?;
    let second = order(9102).await?;

    // The warehouse enters the tracking before posting; a bad URL names its field.
    let set = |no: &str, t: Option<pb::Tracking>| pb::SetTrackingRequest {
        no: no.into(),
        tracking: t,
        expected_version: 0,
    };
    let bad = pb::Tracking { url: "ftp://x".into(), ..dhl.clone() };
    invalid_field(erp.set_sales_document_tracking(set(&first.no, Some(bad))).await, "tracking.url");
    let long = pb::Tracking { number: "9".repeat(256), ..dhl.clone() };
    invalid_field(
        erp.set_sales_document_tracking(set(&first.no, Some(long))).await,
        "tracking.number",
    );
    let d = erp.set_sales_document_tracking(set(&first.no, Some(dhl.clone()))).await?.into_inner();
    assert_eq!(d.tracking.as_ref(), Some(&dhl));
    assert_eq!(d.version, first.version + 1);
    erp.set_sales_document_tracking(set(&second.no, Some(dhl.clone()))).await?;

    // The first ships with the order's tracking, the second with this posting's.
    let s1 = posting.post_sales_document(post_req(&first.no, true, false)).await?.into_inner();
    let mut r = post_req(&second.no, true, false);
    r.tracking = Some(ups.clone());
    let s2 = posting.post_sales_document(r).await?.into_inner();
    let mut r = post_req(&second.no, false, true);
    r.tracking = Some(ups.clone());
    invalid_field(posting.post_sales_document(r).await, "tracking");
    let feed = awaiting(&posting, "", 2).await?;
    assert_eq!(feed[0].no, s1.shipment_no);
    assert_eq!(feed[0].tracking.as_ref(), Some(&dhl));
    assert_eq!(feed[1].no, s2.shipment_no);
    assert_eq!(feed[1].tracking.as_ref(), Some(&ups));
    let listed = posting
        .list_posted_shipments(pb::ListPostedRequest {
            order_no: second.no.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .shipments;
    assert_eq!(listed[0].tracking.as_ref(), Some(&ups));

    // A fully posted order's tracking cannot change; an invoice is not shipped at all.
    posting.post_sales_document(post_req(&first.no, false, true)).await?;
    let e = erp.set_sales_document_tracking(set(&first.no, None)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let inv = erp
        .create_sales_document(doc(pb::DocumentType::Invoice, 9103, vec![line("A", 1, 1)]))
        .await?
        .into_inner()
        .document
        .unwrap();
    let e = erp.set_sales_document_tracking(set(&inv.no, Some(dhl.clone()))).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");

    // A consumer has sent both and saved its cursor; the first failed, the second was sent.
    let saved = feed[1].cursor.clone();
    posting
        .record_fulfillment_result(pb::FulfillmentResultRequest {
            shipment_no: s1.shipment_no.clone(),
            result: Some(pb::fulfillment_result_request::Result::Failed(
                "location not stocked".into(),
            )),
        })
        .await?;
    posting
        .record_fulfillment_result(pb::FulfillmentResultRequest {
            shipment_no: s2.shipment_no.clone(),
            result: Some(pb::fulfillment_result_request::Result::Sent(
                "gid://shopify/Fulfillment/1".into(),
            )),
        })
        .await?;
    let after = stream_all(
        posting
            .stream_shipments_awaiting_fulfillment(pb::StreamRequest {
                cursor: saved.clone(),
                ..Default::default()
            })
            .await?
            .into_inner(),
    )
    .await?;
    assert!(after.is_empty(), "{after:?}");

    // A person fixes the cause and resets it: pending again, sent again from the saved cursor.
    let reset = |no: &str| pb::ResetFulfillmentRequest { shipment_no: no.into() };
    let r = posting.reset_fulfillment_state(reset(&s1.shipment_no)).await?.into_inner();
    assert_eq!(r.fulfillment_state, pb::FulfillmentState::Pending as i32);
    assert!(r.fulfillment_error.is_empty());
    let again = awaiting(&posting, &saved, 1).await?;
    assert_eq!(again[0].no, s1.shipment_no);
    assert_eq!(again[0].tracking.as_ref(), Some(&dhl));
    // Resetting a pending one changes nothing; a sent one is refused; an unknown one is not found.
    let r2 = posting.reset_fulfillment_state(reset(&s1.shipment_no)).await?.into_inner();
    assert_eq!(r2.cursor, r.cursor);
    let e = posting.reset_fulfillment_state(reset(&s2.shipment_no)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let e = posting.reset_fulfillment_state(reset("SSH999999")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    Ok(())
}
