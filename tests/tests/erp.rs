//! The ERP side end to end: the real posting service (and, for the batch jobs, the
//! scheduler) against a real PostgreSQL database, through gRPC.
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

/// Location MAIN, items A (list price 10.00, cost 4.00) and B (list 25.00, cost 12.00,
/// variant RED, box of 6), customers C1 (price group VIP) and C2.
async fn master_data(erp: &mut ErpClient) -> Result<()> {
    for code in ["MAIN", "EAST"] {
        erp.create_location(pb::Location {
            code: code.into(),
            name: code.into(),
            ..Default::default()
        })
        .await?;
    }
    erp.create_item(pb::Item {
        no: "A".into(),
        description: "Alpha".into(),
        unit_price_minor: 1000,
        unit_cost_minor: 400,
        currency: "EUR".into(),
        ..Default::default()
    })
    .await?;
    erp.create_item(pb::Item {
        no: "B".into(),
        description: "Beta".into(),
        unit_price_minor: 2500,
        unit_cost_minor: 1200,
        currency: "EUR".into(),
        units_of_measure: vec![pb::UnitOfMeasure { code: "BOX".into(), qty_per_unit: 6 }],
        variants: vec![pb::ItemVariant { code: "RED".into(), ..Default::default() }],
        ..Default::default()
    })
    .await?;
    // VIP customers pay 9.00 for A from 2 pieces up.
    erp.put_sales_price(pb::SalesPrice {
        item_no: "A".into(),
        customer_price_group: "VIP".into(),
        currency: "EUR".into(),
        unit_price_minor: 900,
        minimum_quantity: 2,
        ..Default::default()
    })
    .await?;
    for (no, group) in [("C1", "VIP"), ("C2", "")] {
        erp.create_customer(pb::Customer {
            no: no.into(),
            name: format!("Customer {no}"),
            email: format!("{}@example.com", no.to_lowercase()),
            customer_price_group: group.into(),
            currency: "EUR".into(),
            ship_to: Some(pb::Address {
                city: "Lyon".into(),
                country_code: "FR".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?;
    }
    Ok(())
}

async fn adjust(erp: &mut ErpClient, item: &str, variant: &str, loc: &str, qty: i64) -> Result<()> {
    erp.post_stock_adjustment(pb::StockAdjustmentRequest {
        lines: vec![pb::StockAdjustmentLine {
            item_no: item.into(),
            variant_code: variant.into(),
            location_code: loc.into(),
            quantity: qty,
            unit_cost_minor: None,
        }],
        ..Default::default()
    })
    .await?;
    Ok(())
}

async fn on_hand(erp: &mut ErpClient, item: &str, variant: &str, loc: &str) -> Result<i64> {
    let r = erp
        .get_stock(pb::GetStockRequest { item_no: item.into(), location_code: loc.into() })
        .await?
        .into_inner();
    Ok(r.levels.iter().filter(|l| l.variant_code == variant).map(|l| l.quantity_on_hand).sum())
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

fn order(
    customer: &str,
    shop: &str,
    shopify_id: i64,
    lines: Vec<pb::SalesLine>,
) -> pb::CreateSalesDocumentRequest {
    pb::CreateSalesDocumentRequest {
        document: Some(pb::SalesDocument {
            r#type: pb::DocumentType::Order as i32,
            shop: shop.into(),
            shopify_order_id: shopify_id,
            shopify_order_no: if shopify_id > 0 { format!("#{shopify_id}") } else { String::new() },
            sell_to_customer_no: customer.into(),
            lines,
            ..Default::default()
        }),
        release: true,
    }
}

async fn create(
    erp: &mut ErpClient,
    r: pb::CreateSalesDocumentRequest,
) -> Result<pb::SalesDocument> {
    Ok(erp.create_sales_document(r).await?.into_inner().document.unwrap())
}

fn post_req(no: &str, ship: bool, invoice: bool) -> pb::PostSalesDocumentRequest {
    pb::PostSalesDocumentRequest { no: no.into(), ship, invoice, ..Default::default() }
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

/// Read a feed until it has `n` messages. A feed holds back changes while an older
/// transaction anywhere in the cluster is still open (that is how it never skips one), and
/// parallel tests have such transactions now and then.
async fn feed_of<T, F, Fut>(n: usize, f: F) -> Result<Vec<T>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<tonic::Streaming<T>>, tonic::Status>>,
{
    eventually(Duration::from_secs(10), || {
        let call = f();
        async move {
            let v = stream_all(call.await?.into_inner()).await?;
            ensure!(v.len() == n, "{} messages, want {n}", v.len());
            Ok(v)
        }
    })
    .await
}

#[tokio::test]
async fn posting_moves_stock_and_balances_the_ledgers() -> Result<()> {
    let (_db, _p, mut erp, mut posting) = posting_service("erp_post").await?;
    master_data(&mut erp).await?;

    // Stock in, with an idempotency key: the replay posts nothing.
    let adj = pb::StockAdjustmentRequest {
        lines: vec![
            pb::StockAdjustmentLine {
                item_no: "A".into(),
                location_code: "MAIN".into(),
                quantity: 10,
                ..Default::default()
            },
            pb::StockAdjustmentLine {
                item_no: "B".into(),
                variant_code: "RED".into(),
                location_code: "MAIN".into(),
                quantity: 30,
                ..Default::default()
            },
        ],
        idempotency_key: "receipt-1".into(),
        ..Default::default()
    };
    let first = erp.post_stock_adjustment(adj.clone()).await?.into_inner();
    let again = erp.post_stock_adjustment(adj).await?.into_inner();
    assert!(first.posted && !again.posted);
    assert_eq!(
        first.entries.iter().map(|e| e.entry_no).collect::<Vec<_>>(),
        again.entries.iter().map(|e| e.entry_no).collect::<Vec<_>>()
    );
    assert_eq!(on_hand(&mut erp, "A", "", "MAIN").await?, 10);
    assert_eq!(on_hand(&mut erp, "B", "RED", "MAIN").await?, 30);

    // An order of 3 lines: A at the VIP price (3 x 9.00), B RED in boxes of 6 at an explicit
    // price with a discount, A again below the VIP minimum quantity (list price 10.00).
    let mut b = line("B", 2, 9002);
    b.variant_code = "RED".into();
    b.unit_of_measure = "BOX".into();
    b.unit_price_minor = Some(14000);
    b.line_discount_minor = 500;
    let doc = create(
        &mut erp,
        order("C1", "shop-1", 5001, vec![line("A", 3, 9001), b, line("A", 1, 9003)]),
    )
    .await?;
    assert_eq!(
        doc.lines.iter().map(|l| l.amount_minor).collect::<Vec<_>>(),
        vec![2700, 27500, 1000]
    );
    assert_eq!(doc.amount_minor, 31200);
    assert_eq!(doc.status, pb::DocumentStatus::Released as i32);
    assert!(doc.no.starts_with("SO"), "{}", doc.no);
    assert!(doc.lines.iter().all(|l| l.shopify_order_no == "#5001"));

    // Ship only: stock leaves, a shipment awaits fulfillment, nothing is invoiced yet.
    let r = posting.post_sales_document(post_req(&doc.no, true, false)).await?.into_inner();
    assert!(!r.shipment_no.is_empty() && r.invoice_no.is_empty());
    assert_eq!(on_hand(&mut erp, "A", "", "MAIN").await?, 6);
    assert_eq!(on_hand(&mut erp, "B", "RED", "MAIN").await?, 18, "2 boxes of 6");
    let awaiting = feed_of(1, || {
        let mut p = posting.clone();
        async move { p.stream_shipments_awaiting_fulfillment(pb::StreamRequest::default()).await }
    })
    .await?;
    let sh = &awaiting[0];
    assert_eq!(
        (sh.no.as_str(), sh.shopify_order_id, sh.shopify_order_no.as_str()),
        (r.shipment_no.as_str(), 5001, "#5001")
    );
    assert_eq!(sh.fulfillment_state, pb::FulfillmentState::Pending as i32);
    assert_eq!(
        sh.lines.iter().map(|l| (l.shopify_order_line_id, l.quantity)).collect::<Vec<_>>(),
        vec![(9001, 3), (9002, 2), (9003, 1)]
    );
    // Shipping twice has nothing left to ship.
    let e = posting.post_sales_document(post_req(&doc.no, true, false)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");

    // Invoice what was shipped.
    let r2 = posting.post_sales_document(post_req(&doc.no, false, true)).await?.into_inner();
    assert!(r2.shipment_no.is_empty() && !r2.invoice_no.is_empty());
    assert_eq!(r2.document.as_ref().unwrap().status, pb::DocumentStatus::Posted as i32);
    let e = posting.post_sales_document(post_req(&doc.no, true, true)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("nothing to post"), "{}", e.message());

    // Everything made for the Shopify order carries its number and balances.
    let all = erp
        .get_documents_by_shopify_order(pb::ShopifyOrderRef {
            shop: "shop-1".into(),
            shopify_order_id: 5001,
        })
        .await?
        .into_inner();
    assert_eq!(
        (all.documents.len(), all.shipments.len(), all.invoices.len(), all.customer_ledger.len()),
        (1, 1, 1, 1)
    );
    let inv = &all.invoices[0];
    assert_eq!(inv.amount_minor, 31200);
    assert_eq!(inv.lines.iter().map(|l| l.amount_minor).sum::<i64>(), 31200);
    assert_eq!(all.customer_ledger[0].amount_minor, 31200);
    assert_eq!(all.customer_ledger[0].shopify_order_no, "#5001");
    assert_eq!(all.item_ledger.len(), 3);
    assert_eq!(all.item_ledger.iter().map(|e| e.sales_amount_minor).sum::<i64>(), 31200);
    assert_eq!(all.item_ledger.iter().map(|e| e.quantity).sum::<i64>(), -(3 + 12 + 1));
    assert_eq!(
        all.item_ledger.iter().map(|e| e.cost_amount_minor).sum::<i64>(),
        -(4 * 400 + 12 * 1200)
    );
    assert!(
        all.item_ledger.iter().all(|e| e.shopify_order_no == "#5001" && e.entry_type == "sale")
    );

    // Recording the fulfillment takes the shipment off the feed; the same result again is a
    // no-op, a different one is refused.
    let sent = |id: &str| pb::FulfillmentResultRequest {
        shipment_no: r.shipment_no.clone(),
        result: Some(pb::fulfillment_result_request::Result::Sent(id.into())),
    };
    posting.record_fulfillment_result(sent("gid://shopify/Fulfillment/1")).await?;
    posting.record_fulfillment_result(sent("gid://shopify/Fulfillment/1")).await?;
    let e =
        posting.record_fulfillment_result(sent("gid://shopify/Fulfillment/2")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    let awaiting = stream_all(
        posting
            .stream_shipments_awaiting_fulfillment(pb::StreamRequest::default())
            .await?
            .into_inner(),
    )
    .await?;
    assert!(awaiting.is_empty());
    Ok(())
}

#[tokio::test]
async fn change_feeds_resume_from_their_cursors() -> Result<()> {
    let (_db, _p, mut erp, mut posting) = posting_service("erp_feeds").await?;
    master_data(&mut erp).await?;
    adjust(&mut erp, "A", "", "MAIN", 5).await?;
    adjust(&mut erp, "A", "", "EAST", 7).await?;
    adjust(&mut erp, "B", "RED", "MAIN", 2).await?;
    adjust(&mut erp, "A", "", "MAIN", -1).await?;

    // The feed lists a change once no transaction older than it is still running anywhere on
    // the server (other tests' included), so it can first show A/MAIN at its first change and
    // only later at its last: wait until the last adjustment (A/MAIN, -1) is the newest.
    let stock = eventually(Duration::from_secs(10), || {
        let mut p = posting.clone();
        async move {
            let v = stream_all(
                p.stream_stock_changes(pb::StreamRequest::default()).await?.into_inner(),
            )
            .await?;
            let newest = v.last().and_then(|c| c.level.as_ref());
            ensure!(
                v.len() == 3
                    && newest.is_some_and(|l| l.item_no == "A" && l.location_code == "MAIN"),
                "the feed has not reached the last adjustment: {v:?}"
            );
            Ok(v)
        }
    })
    .await?;
    let levels: Vec<(String, String, String, i64)> = stock
        .iter()
        .map(|c| {
            let l = c.level.as_ref().unwrap();
            (l.item_no.clone(), l.variant_code.clone(), l.location_code.clone(), l.quantity_on_hand)
        })
        .collect();
    assert_eq!(levels.len(), 3, "{levels:?}");
    assert!(levels.contains(&("A".into(), "".into(), "MAIN".into(), 4)));
    assert!(levels.contains(&("A".into(), "".into(), "EAST".into(), 7)));
    assert!(levels.contains(&("B".into(), "RED".into(), "MAIN".into(), 2)));
    // Page by page (limit 1) gives the same keys in the same order.
    let mut cursor = String::new();
    let mut paged = Vec::new();
    loop {
        let page = stream_all(
            posting
                .stream_stock_changes(pb::StreamRequest {
                    cursor: cursor.clone(),
                    limit: 1,
                    ..Default::default()
                })
                .await?
                .into_inner(),
        )
        .await?;
        let Some(c) = page.last() else { break };
        cursor = c.cursor.clone();
        paged.push(c.level.clone().unwrap().location_code);
    }
    assert_eq!(paged.len(), 3);
    // Nothing after the last cursor until the ledger moves again.
    let last = stock.last().unwrap().cursor.clone();
    let none = stream_all(
        posting
            .stream_stock_changes(pb::StreamRequest { cursor: last.clone(), ..Default::default() })
            .await?
            .into_inner(),
    )
    .await?;
    assert!(none.is_empty());
    adjust(&mut erp, "A", "", "EAST", 3).await?;
    let next =
        feed_of(1, || {
            let mut p = posting.clone();
            let cursor = last.clone();
            async move {
                p.stream_stock_changes(pb::StreamRequest { cursor, ..Default::default() }).await
            }
        })
        .await?;
    assert_eq!(next[0].level.as_ref().unwrap().quantity_on_hand, 10);

    // Items: both appear; a price change brings A back, with its prices.
    let items = feed_of(2, || {
        let mut p = posting.clone();
        async move { p.stream_item_changes(pb::StreamRequest::default()).await }
    })
    .await?;
    let cursor = items.last().unwrap().cursor.clone();
    erp.put_sales_price(pb::SalesPrice {
        item_no: "A".into(),
        currency: "EUR".into(),
        unit_price_minor: 950,
        ..Default::default()
    })
    .await?;
    let changed =
        feed_of(1, || {
            let mut p = posting.clone();
            let cursor = cursor.clone();
            async move {
                p.stream_item_changes(pb::StreamRequest { cursor, ..Default::default() }).await
            }
        })
        .await?;
    let a = changed[0].item.as_ref().unwrap();
    assert_eq!(a.no, "A");
    assert_eq!(a.sales_prices.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_batch_creates_the_good_documents_and_reports_each_bad_one() -> Result<()> {
    let (db, _p, mut erp, _posting) = posting_service("erp_batch_create").await?;
    master_data(&mut erp).await?;
    let first = create(&mut erp, order("C1", "shop-1", 9001, vec![line("A", 1, 1)])).await?;
    // A bad quantity, an unknown item, a blocked customer, a NUL byte, the same Shopify order
    // twice: each of those documents is reported with its reason, the good ones are created.
    let mut blocked = erp.get_customer(pb::GetRequest { no: "C2".into() }).await?.into_inner();
    blocked.blocked = true;
    erp.update_customer(pb::UpdateCustomerRequest { customer: Some(blocked), expected_version: 0 })
        .await?;
    let mut nul = order("C1", "shop-1", 9006, vec![line("A", 1, 1)]);
    nul.document.as_mut().unwrap().external_document_no = "PO\0-1".into();
    let r = erp
        .create_sales_documents(pb::CreateSalesDocumentsRequest {
            documents: vec![
                order("C1", "shop-1", 9002, vec![line("A", 1, 1)]),
                order("C1", "shop-1", 9003, vec![line("A", 0, 1)]),
                order("C1", "shop-1", 9004, vec![line("A", 1, 1), line("NO-SUCH-SKU", 1, 2)]),
                order("C2", "shop-1", 9005, vec![line("A", 1, 1)]),
                nul,
                order("C1", "shop-1", 9002, vec![line("A", 3, 1)]),
                order("C1", "shop-1", 9007, vec![line("B", 1, 1)]),
            ],
        })
        .await?
        .into_inner()
        .results;
    assert_eq!(r.len(), 7);
    let error = |i: usize| {
        let e = r[i].error.clone().unwrap_or_else(|| panic!("document {i} has no error"));
        assert!(r[i].document.is_none() && !r[i].created);
        (pb::DocumentErrorCode::try_from(e.code).unwrap(), e.field, e.message)
    };
    use pb::DocumentErrorCode as C;
    assert_eq!(error(1).0, C::InvalidArgument);
    assert_eq!(error(1).1, "documents[1].document.lines[0].quantity");
    let (code, field, message) = error(2);
    assert_eq!(
        (code, field.as_str()),
        (C::InvalidArgument, "documents[2].document.lines[1].item_no")
    );
    assert!(message.contains("item \"NO-SUCH-SKU\" does not exist"), "{message}");
    let (code, _, message) = error(3);
    assert_eq!(code, C::FailedPrecondition);
    assert!(message.contains("customer C2 is blocked"), "{message}");
    assert_eq!(error(4).1, "documents[4].document.external_document_no");
    assert!(error(4).2.contains("NUL"), "{}", error(4).2);
    assert_eq!(error(5).1, "documents[5].document.shopify_order_id");
    for i in [0, 6] {
        assert!(r[i].error.is_none() && r[i].created, "document {i}: {:?}", r[i].error);
    }
    let pool = db.pool().await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT shopify_order_id FROM posting.sales_headers ORDER BY shopify_order_id",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(ids, vec![9001, 9002, 9007]);

    // Two new orders and a replay of the first: the replay returns the existing document.
    let r = erp
        .create_sales_documents(pb::CreateSalesDocumentsRequest {
            documents: vec![
                order("C1", "shop-1", 9012, vec![line("A", 2, 1), line("B", 1, 2)]),
                order("C1", "shop-1", 9001, vec![line("A", 5, 1)]),
                order("C1", "shop-1", 9013, vec![line("B", 1, 1)]),
            ],
        })
        .await?
        .into_inner()
        .results;
    assert_eq!(r.iter().map(|x| x.created).collect::<Vec<_>>(), vec![true, false, true]);
    let replay = r[1].document.as_ref().unwrap();
    assert_eq!(
        (replay.no.as_str(), replay.lines.len(), replay.lines[0].quantity),
        (first.no.as_str(), 1, 1)
    );
    assert_eq!(r[0].document.as_ref().unwrap().amount_minor, 2 * 900 + 2500, "VIP price applies");
    let (h, l): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM posting.sales_headers), (SELECT count(*) FROM posting.sales_lines)",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!((h, l), (5, 6));
    Ok(())
}

#[tokio::test]
async fn concurrent_double_posting_is_refused() -> Result<()> {
    let (db, _p, mut erp, posting) = posting_service("erp_double").await?;
    master_data(&mut erp).await?;
    adjust(&mut erp, "A", "", "MAIN", 100).await?;
    let doc = create(
        &mut erp,
        order("C2", "shop-1", 7001, vec![line("A", 2, 1), line("A", 3, 2), line("A", 4, 3)]),
    )
    .await?;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let mut p = posting.clone();
        let no = doc.no.clone();
        calls.spawn(async move { p.post_sales_document(post_req(&no, true, true)).await });
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(r) = calls.join_next().await {
        match r? {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
                assert!(
                    e.message().contains("being posted") || e.message().contains("nothing to post"),
                    "{}",
                    e.message()
                );
                refused += 1;
            }
        }
    }
    assert_eq!((ok, refused), (1, 7));
    assert_eq!(on_hand(&mut erp, "A", "", "MAIN").await?, 91);
    let pool = db.pool().await?;
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM posting.item_ledger_entries WHERE entry_type = 'sale'), \
                (SELECT count(*) FROM posting.posted_shipments), \
                (SELECT count(*) FROM posting.customer_ledger_entries)",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(counts, (3, 1, 1));
    Ok(())
}

#[tokio::test]
async fn racing_creation_of_one_shopify_order_yields_one_document() -> Result<()> {
    let (db, _p, mut erp, _posting) = posting_service("erp_race").await?;
    master_data(&mut erp).await?;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let mut e = erp.clone();
        calls.spawn(async move {
            e.create_sales_document(order(
                "C1",
                "shop-1",
                8001,
                vec![line("A", 1, 1), line("B", 1, 2)],
            ))
            .await
        });
    }
    let mut created = 0;
    let mut nos = std::collections::HashSet::new();
    while let Some(r) = calls.join_next().await {
        let r = r??.into_inner();
        created += i32::from(r.created);
        nos.insert(r.document.unwrap().no);
    }
    assert_eq!(created, 1);
    assert_eq!(nos.len(), 1);
    let pool = db.pool().await?;
    let (h, l): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM posting.sales_headers), (SELECT count(*) FROM posting.sales_lines)",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!((h, l), (1, 2));
    // The same order id in another shop is another order.
    let other = erp
        .create_sales_document(order("C1", "shop-2", 8001, vec![line("A", 1, 1)]))
        .await?
        .into_inner();
    assert!(other.created);
    Ok(())
}

#[tokio::test]
async fn negative_stock_is_refused_where_the_location_prevents_it_and_nothing_is_written()
-> Result<()> {
    let (db, _p, mut erp, mut posting) = posting_service("erp_negative").await?;
    master_data(&mut erp).await?;
    erp.update_location(pb::UpdateLocationRequest {
        location: Some(pb::Location {
            code: "MAIN".into(),
            name: "Main".into(),
            prevent_negative_stock: true,
            ..Default::default()
        }),
        expected_version: 1,
    })
    .await?;
    adjust(&mut erp, "A", "", "MAIN", 1).await?;
    let doc =
        create(&mut erp, order("C2", "shop-1", 0, vec![line("A", 1, 0), line("A", 1, 0)])).await?;
    let e = posting.post_sales_document(post_req(&doc.no, true, true)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("1 on hand, 2 needed"), "{}", e.message());
    let pool = db.pool().await?;
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM posting.item_ledger_entries WHERE entry_type = 'sale') \
              + (SELECT count(*) FROM posting.posted_shipments) + (SELECT count(*) FROM posting.posted_invoices) \
              + (SELECT count(*) FROM posting.customer_ledger_entries) \
              + (SELECT count(*) FROM posting.sales_lines WHERE quantity_shipped > 0)",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(n, 0, "a refused posting writes nothing");
    // A negative adjustment below zero is refused the same way.
    let e = erp
        .post_stock_adjustment(pb::StockAdjustmentRequest {
            lines: vec![pb::StockAdjustmentLine {
                item_no: "A".into(),
                location_code: "MAIN".into(),
                quantity: -2,
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(on_hand(&mut erp, "A", "", "MAIN").await?, 1);
    Ok(())
}

#[tokio::test]
async fn bad_input_is_rejected_with_the_field_named_and_nothing_written() -> Result<()> {
    let (db, _p, mut erp, mut posting) = posting_service("erp_bad_input").await?;
    master_data(&mut erp).await?;
    let check = |r: Result<tonic::Response<_>, tonic::Status>, code: Code, prefix: &str| {
        let e = r.map(|_: tonic::Response<()>| ()).unwrap_err();
        assert_eq!(e.code(), code, "{e:?}");
        assert!(e.message().starts_with(prefix), "{:?} should start with {prefix:?}", e.message());
    };
    let unit = |r: Result<tonic::Response<pb::Item>, tonic::Status>| r.map(|x| x.map(|_| ()));
    check(
        unit(
            erp.create_item(pb::Item {
                no: "X".into(),
                currency: "euro".into(),
                ..Default::default()
            })
            .await,
        ),
        Code::InvalidArgument,
        "currency:",
    );
    check(
        unit(
            erp.create_item(pb::Item {
                no: "".into(),
                currency: "EUR".into(),
                ..Default::default()
            })
            .await,
        ),
        Code::InvalidArgument,
        "no:",
    );
    check(
        unit(
            erp.create_item(pb::Item {
                no: "A".into(),
                currency: "EUR".into(),
                ..Default::default()
            })
            .await,
        ),
        Code::AlreadyExists,
        "item A already exists",
    );
    let doc = |r: Result<tonic::Response<pb::CreateSalesDocumentResponse>, tonic::Status>| {
        r.map(|x| x.map(|_| ()))
    };
    check(
        doc(erp.create_sales_document(order("C1", "shop-1", 1, vec![line("A", 0, 1)])).await),
        Code::InvalidArgument,
        "document.lines[0].quantity:",
    );
    check(
        doc(erp
            .create_sales_document(order(
                "C1",
                "shop-1",
                1,
                vec![line("A", 1, 1), line("NOPE", 1, 2)],
            ))
            .await),
        Code::InvalidArgument,
        "document.lines[1].item_no:",
    );
    check(
        doc(erp.create_sales_document(order("C9", "shop-1", 1, vec![line("A", 1, 1)])).await),
        Code::InvalidArgument,
        "document.sell_to_customer_no:",
    );
    let mut bad_loc = line("A", 1, 1);
    bad_loc.location_code = "MOON".into();
    check(
        doc(erp.create_sales_document(order("C1", "shop-1", 1, vec![bad_loc])).await),
        Code::InvalidArgument,
        "document.lines[0].location_code:",
    );
    let mut bad_uom = line("A", 1, 1);
    bad_uom.unit_of_measure = "BOX".into();
    check(
        doc(erp.create_sales_document(order("C1", "shop-1", 1, vec![bad_uom])).await),
        Code::InvalidArgument,
        "document.lines[0].unit_of_measure:",
    );
    let mut r = order("C1", "shop-1", 1, vec![line("A", 1, 1)]);
    r.document.as_mut().unwrap().posting_date = "31.12.2026".into();
    check(doc(erp.create_sales_document(r).await), Code::InvalidArgument, "document.posting_date:");
    check(
        erp.post_stock_adjustment(pb::StockAdjustmentRequest {
            lines: vec![pb::StockAdjustmentLine {
                item_no: "A".into(),
                location_code: "MOON".into(),
                quantity: 1,
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .map(|x| x.map(|_| ())),
        Code::InvalidArgument,
        "lines[0].location_code:",
    );
    check(
        posting
            .post_sales_document(pb::PostSalesDocumentRequest {
                no: "SO1".into(),
                ship: true,
                posting_date: "tomorrow".into(),
                ..Default::default()
            })
            .await
            .map(|x| x.map(|_| ())),
        Code::InvalidArgument,
        "posting_date:",
    );
    check(
        posting.post_sales_document(post_req("SO-NONE", true, true)).await.map(|x| x.map(|_| ())),
        Code::NotFound,
        "sales document",
    );
    check(
        posting
            .stream_stock_changes(pb::StreamRequest {
                cursor: "garbage".into(),
                ..Default::default()
            })
            .await
            .map(|x| x.map(|_| ())),
        Code::InvalidArgument,
        "cursor:",
    );
    // A blocked customer cannot be sold to.
    erp.update_customer(pb::UpdateCustomerRequest {
        customer: Some(pb::Customer {
            no: "C2".into(),
            name: "C2".into(),
            currency: "EUR".into(),
            blocked: true,
            ..Default::default()
        }),
        expected_version: 0,
    })
    .await?;
    check(
        doc(erp.create_sales_document(order("C2", "shop-1", 1, vec![line("A", 1, 1)])).await),
        Code::FailedPrecondition,
        "customer C2 is blocked",
    );
    // A stale version is refused.
    check(
        unit(
            erp.update_item(pb::UpdateItemRequest {
                item: Some(pb::Item {
                    no: "A".into(),
                    currency: "EUR".into(),
                    ..Default::default()
                }),
                expected_version: 42,
            })
            .await,
        ),
        Code::Aborted,
        "item A is at version 1",
    );
    let pool = db.pool().await?;
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM posting.sales_headers) + (SELECT count(*) FROM posting.item_ledger_entries)",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(n, 0);
    Ok(())
}

/// Entries for the batch posting tasks.
fn batch_orders_spec(shop: &str, p: pb::BatchPostSalesOrdersParams) -> pb::JobSpec {
    pb::JobSpec {
        shop: shop.into(),
        params: Some(pb::TaskParams {
            params: Some(pb::task_params::Params::BatchPostSalesOrders(p)),
        }),
        created_by: "e2e".into(),
        ..Default::default()
    }
}

async fn finished_run(q: &mut Queue, id: &str) -> Result<pb::JobRun> {
    eventually(Duration::from_secs(30), || {
        let mut q = q.clone();
        let id = id.to_owned();
        async move {
            let e = entry(&mut q, &id).await?;
            ensure!(
                matches!(status(&e), pb::JobStatus::Finished | pb::JobStatus::Error),
                "status {:?}",
                status(&e)
            );
            let r = runs(&mut q, &id).await?;
            Ok(r.last().cloned().unwrap())
        }
    })
    .await
}

#[tokio::test]
async fn batch_posting_jobs_post_what_the_filters_select_and_report_failures() -> Result<()> {
    let test = "erp_batch";
    let db = TestDb::create().await?;
    let workers = Workers::start(test, &db).await?;
    let s = start_scheduler(test, "sched-a", &db, &workers, &[]).await?;
    let mut q = queue(&s).await?;
    let posting_proc = &workers.procs.iter().find(|(s, _)| *s == Service::Posting).unwrap().1;
    let (mut erp, mut posting) = erp_clients(posting_proc).await?;
    master_data(&mut erp).await?;
    adjust(&mut erp, "A", "", "MAIN", 1000).await?;
    erp.create_item(pb::Item {
        no: "Z".into(),
        unit_price_minor: 100,
        currency: "EUR".into(),
        ..Default::default()
    })
    .await?;
    adjust(&mut erp, "Z", "", "MAIN", 10).await?;

    // Five released Shopify orders of shop-1; the middle one sells item Z, blocked below.
    let mut selected = Vec::new();
    for i in 0..5 {
        let item = if i == 2 { "Z" } else { "A" };
        selected.push(
            create(
                &mut erp,
                order(
                    "C1",
                    "shop-1",
                    100 + i,
                    vec![line(item, 1, 1), line("A", 2, 2), line("A", 1, 3)],
                ),
            )
            .await?
            .no,
        );
    }
    // Not selected: open (not released), no Shopify order no., posting date after the
    // filter's, another shop.
    let mut open = order("C1", "shop-1", 200, vec![line("A", 1, 1)]);
    open.release = false;
    let open = create(&mut erp, open).await?.no;
    let no_shopify = create(&mut erp, order("C1", "shop-1", 0, vec![line("A", 1, 0)])).await?.no;
    let mut late = order("C1", "shop-1", 201, vec![line("A", 1, 1)]);
    late.document.as_mut().unwrap().posting_date = "2099-01-01".into();
    let late = create(&mut erp, late).await?.no;
    let other_shop = create(&mut erp, order("C1", "shop-2", 202, vec![line("A", 1, 1)])).await?.no;
    erp.update_item(pb::UpdateItemRequest {
        item: Some(pb::Item {
            no: "Z".into(),
            unit_price_minor: 100,
            currency: "EUR".into(),
            blocked: true,
            ..Default::default()
        }),
        expected_version: 0,
    })
    .await?;

    let today = chrono::Utc::now().date_naive().format("%Y-%m-%d").to_string();
    let e = create_entry(
        &mut q,
        batch_orders_spec(
            "shop-1",
            pb::BatchPostSalesOrdersParams {
                ship: true,
                invoice: true,
                released_only: true,
                shopify_order_no_not_blank: true,
                posting_date_to: Some(today.clone()),
                ..Default::default()
            },
        ),
    )
    .await?;
    let run = finished_run(&mut q, &e.id).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let c = &run.counters.as_ref().unwrap().values;
    assert_eq!(
        (c["selected"], c["posted"], c["failed"], c["shipments"], c["invoices"]),
        (5, 4, 1, 4, 4),
        "{c:?}"
    );
    assert_eq!(c["amount_invoiced_minor"], 4 * (1000 + 2 * 900 + 1000), "VIP price from 2 pieces");
    assert_eq!(run.record_errors, 1);
    assert_eq!(run.errors[0].record, selected[2]);
    assert!(run.errors[0].message.contains("item Z is blocked"), "{}", run.errors[0].message);
    assert_eq!(run.progress_done, 5);

    let status_of = |d: &pb::SalesDocument| pb::DocumentStatus::try_from(d.status).unwrap();
    for (i, no) in selected.iter().enumerate() {
        let d = erp
            .get_sales_document(pb::DocumentRef { no: no.clone(), ..Default::default() })
            .await?
            .into_inner();
        let want = if i == 2 { pb::DocumentStatus::Released } else { pb::DocumentStatus::Posted };
        assert_eq!(status_of(&d), want, "{no}");
    }
    for no in [&open, &no_shopify, &late, &other_shop] {
        let d = erp
            .get_sales_document(pb::DocumentRef { no: no.clone(), ..Default::default() })
            .await?
            .into_inner();
        assert_ne!(status_of(&d), pb::DocumentStatus::Posted, "{no} must not be posted");
    }
    feed_of(4, || {
        let mut p = posting.clone();
        async move {
            p.stream_shipments_awaiting_fulfillment(pb::StreamRequest {
                shop: "shop-1".into(),
                ..Default::default()
            })
            .await
        }
    })
    .await?;
    assert_eq!(on_hand(&mut erp, "A", "", "MAIN").await?, 1000 - 4 * 4);

    // Sales invoices, filtered by customer: only C2's is posted.
    for cust in ["C1", "C2"] {
        let mut r = order(cust, "shop-1", 0, vec![line("A", 1, 0)]);
        r.document.as_mut().unwrap().r#type = pb::DocumentType::Invoice as i32;
        create(&mut erp, r).await?;
    }
    let e = create_entry(
        &mut q,
        pb::JobSpec {
            shop: "shop-1".into(),
            params: Some(pb::TaskParams {
                params: Some(pb::task_params::Params::BatchPostSalesInvoices(
                    pb::BatchPostSalesInvoicesParams {
                        released_only: true,
                        customer_no: Some("C2".into()),
                        ..Default::default()
                    },
                )),
            }),
            created_by: "e2e".into(),
            ..Default::default()
        },
    )
    .await?;
    let run = finished_run(&mut q, &e.id).await?;
    let c = &run.counters.as_ref().unwrap().values;
    assert_eq!(
        (c["selected"], c["posted"], c["failed"], c["shipments"], c["invoices"]),
        (1, 1, 0, 0, 1),
        "{c:?}"
    );
    let invoices =
        posting.list_posted_invoices(pb::ListPostedRequest::default()).await?.into_inner().invoices;
    assert_eq!(invoices.iter().filter(|i| i.customer_no == "C2").count(), 1);
    Ok(())
}

async fn create_entry(q: &mut Queue, spec: pb::JobSpec) -> Result<pb::JobEntry> {
    shopsync_e2e::create(q, spec).await
}

/// The posting service caches master data for creating documents; every change to it must be
/// seen by the next create: blocking, unblocking, a new price, a new location. A second service
/// process (its own cache) sees the change too.
#[tokio::test]
async fn created_documents_never_use_stale_master_data() -> Result<()> {
    let (db, _p, mut erp, _posting) = posting_service("erp_cache").await?;
    master_data(&mut erp).await?;
    let second = start_worker("erp_cache_2", Service::Posting, &db).await?;
    let (mut erp2, _) = erp_clients(&second).await?;
    let amount = |d: &pb::SalesDocument| d.lines[0].amount_minor;
    // Warm both caches: A at its list price 10.00 for C2.
    let d = create(&mut erp, order("C2", "s", 0, vec![line("A", 1, 0)])).await?;
    assert_eq!(amount(&d), 1000);
    let d = create(&mut erp2, order("C2", "s", 0, vec![line("A", 1, 0)])).await?;
    assert_eq!(amount(&d), 1000);

    // A new list price, through the first process: both see it at once.
    let mut item = erp.get_item(pb::GetRequest { no: "A".into() }).await?.into_inner();
    let version = item.version;
    item.unit_price_minor = 1100;
    let item = erp
        .update_item(pb::UpdateItemRequest { item: Some(item), expected_version: version })
        .await?
        .into_inner();
    for e in [&mut erp, &mut erp2] {
        let d = create(e, order("C2", "s", 0, vec![line("A", 1, 0)])).await?;
        assert_eq!(amount(&d), 1100);
    }

    // Blocked: refused by both; unblocked again: accepted by both.
    let mut blocked = item.clone();
    blocked.blocked = true;
    let blocked = erp
        .update_item(pb::UpdateItemRequest { item: Some(blocked), expected_version: item.version })
        .await?
        .into_inner();
    for e in [&mut erp, &mut erp2] {
        let err = e.create_sales_document(order("C2", "s", 0, vec![line("A", 1, 0)])).await;
        let status = err.expect_err("a blocked item must be refused");
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        assert!(status.message().contains("item A is blocked"), "{status:?}");
    }
    let mut open = blocked.clone();
    open.blocked = false;
    erp2.update_item(pb::UpdateItemRequest { item: Some(open), expected_version: blocked.version })
        .await?;
    for e in [&mut erp, &mut erp2] {
        create(e, order("C2", "s", 0, vec![line("A", 1, 0)])).await?;
    }

    // A group price for C1 (VIP) from 1 piece, and a location created after the caches filled.
    erp2.put_sales_price(pb::SalesPrice {
        item_no: "A".into(),
        customer_price_group: "VIP".into(),
        currency: "EUR".into(),
        unit_price_minor: 700,
        minimum_quantity: 1,
        ..Default::default()
    })
    .await?;
    erp2.create_location(pb::Location {
        code: "WEST".into(),
        name: "West".into(),
        ..Default::default()
    })
    .await?;
    let mut west = line("A", 1, 0);
    west.location_code = "WEST".into();
    for e in [&mut erp, &mut erp2] {
        let d = create(e, order("C1", "s", 0, vec![line("A", 1, 0), west.clone()])).await?;
        assert_eq!(amount(&d), 700);
    }
    Ok(())
}

#[tokio::test]
async fn exact_lookups_by_sku_barcode_email_and_phone() -> Result<()> {
    let (_db, _p, mut erp, _posting) = posting_service("erp_lookups").await?;
    let variant = |code: &str, sku: &str, barcode: &str| pb::ItemVariant {
        code: code.into(),
        sku: sku.into(),
        barcode: barcode.into(),
        ..Default::default()
    };
    erp.create_item(pb::Item {
        no: "MUG".into(),
        description: "Mug".into(),
        currency: "EUR".into(),
        sku: "MUG-1".into(),
        barcode: "5700000000017".into(),
        variants: vec![
            variant("RED", "MUG-1-RED", "5700000000024"),
            variant("BLUE", "MUG-1-BLUE", ""),
        ],
        ..Default::default()
    })
    .await?;
    // SKUs are exact: another case is another SKU.
    erp.create_item(pb::Item {
        no: "MUG-XL".into(),
        currency: "EUR".into(),
        sku: "mug-1".into(),
        ..Default::default()
    })
    .await?;
    for (no, email, phone) in
        [("C1", " Ada@Example.COM", "+45 12 34 56 78"), ("C2", "bob@example.com", "(555) 010-0199")]
    {
        erp.create_customer(pb::Customer {
            no: no.into(),
            name: no.into(),
            email: email.into(),
            phone: phone.into(),
            currency: "EUR".into(),
            ..Default::default()
        })
        .await?;
    }

    let items = erp
        .find_items(pb::FindItemsRequest {
            skus: vec!["MUG-1".into(), "MUG-1-RED".into(), "mug-1".into(), "NOPE".into()],
            barcodes: vec!["5700000000024".into(), "5700000000017".into()],
        })
        .await?
        .into_inner();
    let found = |m: &pb::ItemMatches| {
        m.matches
            .iter()
            .map(|x| (x.item.as_ref().unwrap().no.clone(), x.variant_code.clone()))
            .collect::<Vec<_>>()
    };
    let pair = |no: &str, v: &str| vec![(no.to_owned(), v.to_owned())];
    assert_eq!(found(&items.by_sku["MUG-1"]), pair("MUG", ""));
    assert_eq!(found(&items.by_sku["MUG-1-RED"]), pair("MUG", "RED"));
    assert_eq!(found(&items.by_sku["mug-1"]), pair("MUG-XL", ""));
    assert!(items.by_sku["NOPE"].matches.is_empty(), "every key is answered, matched or not");
    assert_eq!(found(&items.by_barcode["5700000000024"]), pair("MUG", "RED"));
    assert_eq!(found(&items.by_barcode["5700000000017"]), pair("MUG", ""));
    let item = items.by_sku["MUG-1-RED"].matches[0].item.as_ref().unwrap();
    assert_eq!(item.variants.len(), 2, "the whole item comes back");

    let customers = erp
        .find_customers(pb::FindCustomersRequest {
            emails: vec!["ADA@example.com  ".into(), "nobody@example.com".into()],
            phones: vec!["+4512345678".into(), "555.010.0199".into(), "4512345678".into()],
        })
        .await?
        .into_inner();
    let nos =
        |m: &pb::CustomerMatches| m.customers.iter().map(|c| c.no.clone()).collect::<Vec<_>>();
    assert_eq!(nos(&customers.by_email["ADA@example.com  "]), vec!["C1"]);
    assert!(customers.by_email["nobody@example.com"].customers.is_empty());
    assert_eq!(nos(&customers.by_phone["+4512345678"]), vec!["C1"]);
    assert_eq!(nos(&customers.by_phone["555.010.0199"]), vec!["C2"]);
    assert!(customers.by_phone["4512345678"].customers.is_empty(), "a leading + is kept");

    let bad = erp
        .find_items(pb::FindItemsRequest {
            skus: vec!["A".into(), " ".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((bad.code(), bad.message()), (Code::InvalidArgument, "skus[1]: must not be blank"));
    let bad = erp
        .find_customers(pb::FindCustomersRequest {
            phones: vec!["n/a".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((bad.code(), bad.message()), (Code::InvalidArgument, "phones[0]: has no digits"));
    Ok(())
}
