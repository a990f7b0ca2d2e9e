//! Order sync end to end with real processes: the simulator, the scheduler, order-sync, the
//! posting service and PostgreSQL. Orders placed in the simulator are imported by a recurring
//! sync-orders entry (fully-paid filter), made sales documents carrying the Shopify order no.
//! with totals equal to Shopify's, posted by a batch-post job; an unknown SKU waits in the cue
//! with its reason and one retry clears its group once the SKU is mapped; the sync-error cue
//! clears after a successful run; two shops at once; and `kill -9` of order-sync mid-run,
//! repeatedly, loses no order and makes no second document.

#![allow(clippy::unwrap_used)] // a test: a missing value is a failure

use anyhow::{Context, Result, bail};
use shopsync_e2e::orders::*;
use shopsync_e2e::*;
use shopsync_proto::pb;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[tokio::test]
async fn orders_become_posted_sales_documents_and_cues_clear_after_a_fix() -> Result<()> {
    let s = Stack::start("order_sync_main", &["acme", "globex", "tokyo-jpy"]).await?;
    for shop in ["acme", "globex", "tokyo-jpy"] {
        sim_post(
            &s.sim,
            &format!("/sim/shops/{shop}/seed"),
            serde_json::json!({"seed": 7, "products": 6, "customers": 4}),
        )
        .await?;
    }
    let (skus, location) = catalogue(&s.sim, "acme").await?;
    let all: Vec<&String> = skus.keys().collect();
    let (unknown, known) = all.split_last().context("skus")?;
    erp_setup(&s, known).await?;
    connect_shop(&s, "acme", &location, None).await?;
    // globex starts pointed at nothing: its runs fail until it is fixed.
    let (_, globex_location) = catalogue(&s.sim, "globex").await?;
    let globex = connect_shop(&s, "globex", &globex_location, Some("http://127.0.0.1:9")).await?;

    let customers: serde_json::Value =
        http().get(format!("{}/sim/shops/acme/export", s.sim.url())).send().await?.json().await?;
    let email = customers["customers"].as_object().unwrap().values().next().unwrap()["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let place = |lines: Vec<(&String, i64)>, status: &str| {
        serde_json::json!({
            "customer_email": email,
            "financial_status": status,
            "lines": lines.into_iter().map(|(sku, q)| serde_json::json!({"sku": sku, "quantity": q})).collect::<Vec<_>>(),
        })
    };
    let mut placed = Vec::new();
    for i in 0..4 {
        let o = sim_post(
            &s.sim,
            "/sim/shops/acme/orders",
            place(vec![(known[i % known.len()], 2), (known[(i + 1) % known.len()], 1)], "paid"),
        )
        .await?;
        placed.push(o["name"].as_str().unwrap().to_owned());
    }
    // 120 lines, read whole.
    let big: Vec<(&String, i64)> =
        (0..120).map(|i| (known[i % known.len()], 1 + (i as i64 % 3))).collect();
    let o = sim_post(&s.sim, "/sim/shops/acme/orders", place(big, "paid")).await?;
    let big_name = o["name"].as_str().unwrap().to_owned();
    placed.push(big_name.clone());
    // Not fully paid: the saved filter leaves it out.
    let pending =
        sim_post(&s.sim, "/sim/shops/acme/orders", place(vec![(known[0], 1)], "pending")).await?;
    // An SKU the ERP does not know.
    let stray = sim_post(
        &s.sim,
        "/sim/shops/acme/orders",
        place(vec![(known[0], 1), (unknown, 2)], "paid"),
    )
    .await?;
    let stray_name = stray["name"].as_str().unwrap().to_owned();

    // A recurring sync-orders entry with the fully-paid filter.
    let mut q = queue(&s.scheduler).await?;
    let entry = create(
        &mut q,
        pb::JobSpec {
            shop: "acme".into(),
            params: Some(sync_params(true)),
            recurrence: Some(pb::Recurrence {
                rule: Some(pb::recurrence::Rule::IntervalSeconds(3600)),
                ..Default::default()
            }),
            created_by: "e2e".into(),
            ..Default::default()
        },
    )
    .await?;
    // Its first fire is now.
    let run = ended_run(&mut q, &entry.id, 0).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let counters = run.counters.clone().unwrap_or_default().values;
    assert_eq!(counters.get("imported"), Some(&6), "{counters:?}");
    assert_eq!(counters.get("skipped"), Some(&1), "the pending order: {counters:?}");

    let run = sync_now(&mut q, "acme", create_params()).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let docs = documents(&s, "acme").await?;
    let by_no: BTreeMap<&str, &pb::SalesDocument> =
        docs.iter().map(|d| (d.shopify_order_no.as_str(), d)).collect();
    assert_eq!(
        by_no.keys().copied().collect::<BTreeSet<_>>(),
        placed.iter().map(String::as_str).collect(),
        "{docs:?}"
    );
    let totals = shopify_net_totals(&s, "acme").await?;
    for d in &docs {
        assert_eq!(
            Some(&d.amount_minor),
            totals.get(&d.shopify_order_no),
            "{}",
            d.shopify_order_no
        );
        assert!(d.lines.iter().all(|l| l.shopify_order_no == d.shopify_order_no));
    }
    assert_eq!(by_no[big_name.as_str()].lines.len(), 121, "120 lines and the shipping charge");
    assert!(!pending["name"].as_str().unwrap().is_empty());

    // The unknown SKU waits in the cue with its reason.
    let mut cues = s.cues().await?;
    let c = cues.get_cues(pb::GetCuesRequest { shop: "acme".into() }).await?.into_inner();
    assert_eq!(count(&c, pb::CueKind::UnmappedProducts), 1, "{c:?}");
    assert_eq!(count(&c, pb::CueKind::UnprocessedOrders), 1, "{c:?}");
    let groups = cues
        .list_cue_groups(pb::ListCueGroupsRequest {
            shop: "acme".into(),
            kind: pb::CueKind::UnmappedProducts as i32,
            limit: 0,
        })
        .await?
        .into_inner()
        .groups;
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].key, format!("unmapped_product:{unknown}"));
    assert!(
        groups[0].reason.contains(unknown.as_str()) && groups[0].records == [stray_name.clone()],
        "{groups:?}"
    );
    // Map the SKU, retry the group once: cleared, and the order has its document.
    erp_setup(&s, &[unknown]).await?;
    let r = cues
        .retry_cue_group(pb::RetryCueGroupRequest {
            shop: "acme".into(),
            kind: pb::CueKind::UnmappedProducts as i32,
            key: groups[0].key.clone(),
            requested_by: "e2e".into(),
        })
        .await?
        .into_inner();
    assert_eq!(r.retried, 1);
    let run = ended_run(&mut q, &r.entry_id, 0).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let c = cues.get_cues(pb::GetCuesRequest { shop: "acme".into() }).await?.into_inner();
    assert_eq!(
        (count(&c, pb::CueKind::UnmappedProducts), count(&c, pb::CueKind::UnprocessedOrders)),
        (0, 0),
        "{c:?}"
    );
    assert!(documents(&s, "acme").await?.iter().any(|d| d.shopify_order_no == stray_name));

    // A batch-post job posts them.
    let post = create(
        &mut q,
        pb::JobSpec {
            shop: "acme".into(),
            params: Some(pb::TaskParams {
                params: Some(pb::task_params::Params::BatchPostSalesOrders(
                    pb::BatchPostSalesOrdersParams {
                        ship: true,
                        invoice: true,
                        ..Default::default()
                    },
                )),
            }),
            created_by: "e2e".into(),
            ..Default::default()
        },
    )
    .await?;
    let run = ended_run(&mut q, &post.id, 0).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let docs = documents(&s, "acme").await?;
    assert!(docs.iter().all(|d| d.status == pb::DocumentStatus::Posted as i32), "{docs:?}");

    // A shop in yen: amounts without decimals, totals equal to Shopify's.
    let (yen_skus, yen_location) = catalogue(&s.sim, "tokyo-jpy").await?;
    let yen: Vec<&String> = yen_skus.keys().collect();
    erp_setup(&s, &yen).await?;
    connect_shop(&s, "tokyo-jpy", &yen_location, None).await?;
    for i in 0..3 {
        let lines = vec![
            serde_json::json!({"sku": yen[i % yen.len()], "quantity": 1 + i}),
            serde_json::json!({"sku": yen[(i + 2) % yen.len()], "quantity": 2}),
        ];
        let body = serde_json::json!({ "lines": lines, "customer_email": first_email(&s.sim, "tokyo-jpy").await? });
        sim_post(&s.sim, "/sim/shops/tokyo-jpy/orders", body).await?;
    }
    let run = sync_now(&mut q, "tokyo-jpy", sync_params(true)).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let run = sync_now(&mut q, "tokyo-jpy", create_params()).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let yen_docs = documents(&s, "tokyo-jpy").await?;
    let yen_totals = shopify_net_totals(&s, "tokyo-jpy").await?;
    assert_eq!(yen_docs.len(), 3, "{yen_docs:?}");
    for d in &yen_docs {
        assert_eq!(d.currency, "JPY");
        assert_eq!(Some(&d.amount_minor), yen_totals.get(&d.shopify_order_no), "{d:?}");
    }

    // Two shops: globex fails (unreachable) and shows as a sync error until it is fixed.
    sim_post(&s.sim, "/sim/shops/globex/orders", serde_json::json!({"lines": [{"sku": catalogue(&s.sim, "globex").await?.0.keys().next().unwrap(), "quantity": 1}]})).await?;
    let g = create(
        &mut q,
        pb::JobSpec {
            shop: "globex".into(),
            params: Some(sync_params(false)),
            created_by: "e2e".into(),
            retry: Some(pb::RetryPolicy { max_attempts: Some(1), ..Default::default() }),
            ..Default::default()
        },
    )
    .await?;
    let run = ended_run(&mut q, &g.id, 0).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Failed, "{run:?}");
    let c = cues.get_cues(pb::GetCuesRequest { shop: "globex".into() }).await?.into_inner();
    assert_eq!(count(&c, pb::CueKind::SyncErrors), 1, "{c:?}");
    let all = cues.get_cues(pb::GetCuesRequest::default()).await?.into_inner();
    assert_eq!(count(&all, pb::CueKind::SyncErrors), 1, "for all shops: {all:?}");
    let mut fixed = globex.clone();
    fixed.store_domain = s.sim.url();
    shops(&s.scheduler)
        .await?
        .update_shop(pb::UpdateShopRequest {
            name: "globex".into(),
            expected_version: globex.version,
            shop: Some(fixed),
            ..Default::default()
        })
        .await?;
    let key = cues
        .list_cue_groups(pb::ListCueGroupsRequest {
            shop: "globex".into(),
            kind: pb::CueKind::SyncErrors as i32,
            limit: 0,
        })
        .await?
        .into_inner()
        .groups[0]
        .key
        .clone();
    cues.retry_cue_group(pb::RetryCueGroupRequest {
        shop: "globex".into(),
        kind: pb::CueKind::SyncErrors as i32,
        key,
        requested_by: "e2e".into(),
    })
    .await?;
    let run = ended_run(&mut q, &g.id, 1).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let c = cues.get_cues(pb::GetCuesRequest { shop: "globex".into() }).await?.into_inner();
    assert_eq!(count(&c, pb::CueKind::SyncErrors), 0, "cleared after a successful run: {c:?}");
    Ok(())
}

#[tokio::test]
async fn kill_9_mid_sync_loses_no_order_and_makes_no_second_document() -> Result<()> {
    let mut s = Stack::start("order_sync_kill9", &["acme"]).await?;
    sim_post(
        &s.sim,
        "/sim/shops/acme/seed",
        serde_json::json!({"seed": 11, "products": 5, "customers": 20, "orders": 1500}),
    )
    .await?;
    let (skus, location) = catalogue(&s.sim, "acme").await?;
    let all: Vec<&String> = skus.keys().collect();
    erp_setup(&s, &all).await?;
    let shop = connect_shop(&s, "acme", &location, None).await?;
    let mut settings = shopsync_proto::shops::settings_from_pb(shop.settings.as_ref().unwrap())?;
    settings.auto_create_sales_orders = true;
    let mut changed = shop.clone();
    changed.settings = Some(shopsync_proto::shops::settings_to_pb(&settings));
    // Slow answers so that kills land mid-run.
    sim_post(&s.sim, "/sim/shops/acme/faults", serde_json::json!({"latency_ms": 60})).await?;
    shops(&s.scheduler)
        .await?
        .update_shop(pb::UpdateShopRequest {
            name: "acme".into(),
            expected_version: shop.version,
            shop: Some(changed),
            ..Default::default()
        })
        .await?;
    let mut q = queue(&s.scheduler).await?;
    // Status open: every seeded order (none is closed).
    let e = create(&mut q, retrying("acme", sync_params(false))).await?;
    let pool = s.db.pool().await?;
    let orders = "SELECT count(*) FROM order_sync.orders";
    let kills = kill_mid_run(&mut s, &q, &e.id, &pool, orders, 1500).await?;
    assert!(kills > 0, "no kill landed mid-run");
    sim_post(&s.sim, "/sim/shops/acme/faults", serde_json::json!({})).await?;
    succeeded(&mut q, &e.id).await?;
    one_document_each(&s, &pool, "acme", 1500).await
}

#[tokio::test]
async fn edited_orders_update_unposted_documents_and_high_risk_waits_for_a_person() -> Result<()> {
    let s = Stack::start("order_sync_edits", &["acme"]).await?;
    sim_post(
        &s.sim,
        "/sim/shops/acme/seed",
        serde_json::json!({"seed": 3, "products": 4, "customers": 2}),
    )
    .await?;
    let (skus, location) = catalogue(&s.sim, "acme").await?;
    let sku: Vec<&String> = skus.keys().collect();
    erp_setup(&s, &sku).await?;
    connect_shop(&s, "acme", &location, None).await?;
    let email = first_email(&s.sim, "acme").await?;
    let place = |risk: &str| {
        serde_json::json!({
            "customer_email": email,
            "risk": risk,
            "lines": [{"sku": sku[0], "quantity": 2}, {"sku": sku[1], "quantity": 1}],
        })
    };
    let open = sim_post(&s.sim, "/sim/shops/acme/orders", place("low")).await?;
    let posted = sim_post(&s.sim, "/sim/shops/acme/orders", place("low")).await?;
    let risky = sim_post(&s.sim, "/sim/shops/acme/orders", place("high")).await?;
    let name = |o: &serde_json::Value| o["name"].as_str().unwrap().to_owned();
    let mut q = queue(&s.scheduler).await?;
    assert_eq!(
        run_status(&sync_now(&mut q, "acme", sync_params(false)).await?),
        pb::RunStatus::Succeeded
    );
    assert_eq!(
        run_status(&sync_now(&mut q, "acme", create_params()).await?),
        pb::RunStatus::Succeeded
    );
    let docs = documents(&s, "acme").await?;
    let doc_of = |docs: &[pb::SalesDocument], o: &serde_json::Value| {
        docs.iter().filter(|d| d.shopify_order_no == name(o)).cloned().collect::<Vec<_>>()
    };
    assert_eq!(docs.len(), 2, "the high-risk order waits: {docs:?}");
    assert!(doc_of(&docs, &risky).is_empty());
    let mut cues = s.cues().await?;
    let c = cues.get_cues(pb::GetCuesRequest { shop: "acme".into() }).await?.into_inner();
    assert_eq!(count(&c, pb::CueKind::HighRiskOrders), 1, "{c:?}");
    assert_eq!(count(&c, pb::CueKind::UnprocessedOrders), 0, "left for a person: {c:?}");

    // One document is posted; then both orders are edited in Shopify.
    let (_, mut posting) = erp_clients(&s.posting).await?;
    let no = doc_of(&docs, &posted)[0].no.clone();
    posting
        .post_sales_document(pb::PostSalesDocumentRequest {
            no,
            ship: true,
            invoice: true,
            ..Default::default()
        })
        .await?;
    let edit = serde_json::json!({"quantities": [{"sku": sku[0], "quantity": 1}, {"sku": sku[1], "quantity": 3}]});
    sim_patch(&s.sim, &format!("/sim/shops/acme/orders/{}", order_id(&open)), edit.clone()).await?;
    sim_patch(&s.sim, &format!("/sim/shops/acme/orders/{}", order_id(&posted)), edit).await?;
    let run = sync_now(&mut q, "acme", sync_params(false)).await?;
    let counters = run.counters.clone().unwrap_or_default().values;
    assert_eq!(counters.get("changed_after_processing"), Some(&2), "{counters:?}");
    assert_eq!(
        run_status(&sync_now(&mut q, "acme", create_params()).await?),
        pb::RunStatus::Succeeded
    );

    // The unposted document is brought up to date: one document, the new quantities and total.
    let docs = documents(&s, "acme").await?;
    let updated = doc_of(&docs, &open);
    assert_eq!(updated.len(), 1, "{docs:?}");
    let quantities: Vec<i64> = updated[0]
        .lines
        .iter()
        .filter(|l| l.shopify_order_line_id != 0)
        .map(|l| l.quantity)
        .collect();
    assert_eq!(quantities, [1, 3]);
    let totals = shopify_net_totals(&s, "acme").await?;
    assert_eq!(Some(&updated[0].amount_minor), totals.get(&name(&open)));
    // The posted one stays as posted, flagged for a person with what changed.
    let c = cues.get_cues(pb::GetCuesRequest { shop: "acme".into() }).await?.into_inner();
    assert_eq!(count(&c, pb::CueKind::ChangedOrders), 1, "{c:?}");
    let g = cues
        .list_cue_groups(pb::ListCueGroupsRequest {
            shop: "acme".into(),
            kind: pb::CueKind::ChangedOrders as i32,
            limit: 0,
        })
        .await?
        .into_inner()
        .groups;
    assert!(g[0].reason.contains("quantity 2 -> 1") && g[0].records == [name(&posted)], "{g:?}");
    assert_eq!(doc_of(&documents(&s, "acme").await?, &posted).len(), 1);
    // A person accepts it; the cue clears.
    cues.retry_cue_group(pb::RetryCueGroupRequest {
        shop: "acme".into(),
        kind: pb::CueKind::ChangedOrders as i32,
        key: g[0].key.clone(),
        requested_by: "e2e".into(),
    })
    .await?;
    let c = cues.get_cues(pb::GetCuesRequest { shop: "acme".into() }).await?.into_inner();
    assert_eq!(count(&c, pb::CueKind::ChangedOrders), 0, "{c:?}");

    // A person releases the high-risk order: it gets its document.
    let g = cues
        .list_cue_groups(pb::ListCueGroupsRequest {
            shop: "acme".into(),
            kind: pb::CueKind::HighRiskOrders as i32,
            limit: 0,
        })
        .await?
        .into_inner()
        .groups;
    let r = cues
        .retry_cue_group(pb::RetryCueGroupRequest {
            shop: "acme".into(),
            kind: pb::CueKind::HighRiskOrders as i32,
            key: g[0].key.clone(),
            requested_by: "e2e".into(),
        })
        .await?
        .into_inner();
    assert_eq!(run_status(&ended_run(&mut q, &r.entry_id, 0).await?), pb::RunStatus::Succeeded);
    assert_eq!(doc_of(&documents(&s, "acme").await?, &risky).len(), 1);
    let c = cues.get_cues(pb::GetCuesRequest { shop: "acme".into() }).await?.into_inner();
    assert_eq!(count(&c, pb::CueKind::HighRiskOrders), 0, "{c:?}");
    Ok(())
}

/// Kill order-sync up to three times while it runs `entry`, each time once `progress` (a count
/// in its database) has moved and before it reaches `total`, and start it again once the
/// scheduler has seen it go; returns how many kills landed mid-run.
async fn kill_mid_run(
    s: &mut Stack,
    q: &Queue,
    entry: &str,
    pool: &sqlx::PgPool,
    progress: &str,
    total: i64,
) -> Result<u32> {
    let count = |pool: sqlx::PgPool| async move {
        Ok::<i64, anyhow::Error>(
            sqlx::query_scalar(sqlx::AssertSqlSafe(progress.to_owned())).fetch_one(&pool).await?,
        )
    };
    let mut kills = 0;
    for _ in 0..3 {
        let before = count(pool.clone()).await?;
        let now = eventually(Duration::from_secs(60), || {
            let pool = pool.clone();
            async move {
                let n = count(pool).await?;
                if n <= before {
                    bail!("no progress yet ({n})")
                }
                Ok(n)
            }
        })
        .await?;
        if now >= total {
            break;
        }
        s.order_sync.kill().await?;
        kills += 1;
        // Down until the scheduler has noticed: the attempt it was running has ended (lost,
        // the stream broke), so the restarted order-sync gets the run as a new attempt.
        eventually(Duration::from_secs(60), || {
            let mut q = q.clone();
            async move {
                let running = runs(&mut q, entry)
                    .await?
                    .iter()
                    .filter(|r| run_status(r) == pb::RunStatus::Running)
                    .count();
                if running > 0 {
                    bail!("the scheduler still has {running} attempt(s) running")
                }
                Ok(())
            }
        })
        .await?;
        s.restart_order_sync().await?;
    }
    Ok(kills)
}

/// Every imported order of `shop` has exactly one document, and all `n` were imported.
async fn one_document_each(s: &Stack, pool: &sqlx::PgPool, shop: &str, n: i64) -> Result<()> {
    let imported: i64 =
        sqlx::query_scalar("SELECT count(*) FROM order_sync.orders WHERE shop = $1")
            .bind(shop)
            .fetch_one(pool)
            .await?;
    assert_eq!(imported, n, "every order imported");
    let (memos, docs): (Vec<_>, Vec<_>) = documents(s, shop)
        .await?
        .into_iter()
        .partition(|d| d.r#type == pb::DocumentType::CreditMemo as i32);
    let ids: BTreeSet<i64> = docs.iter().map(|d| d.shopify_order_id).collect();
    // Orders the simulator refunded an amount of have a credit memo per refund, never two.
    let refunds: BTreeSet<i64> = memos.iter().map(|d| d.shopify_refund_id).collect();
    assert_eq!(refunds.len(), memos.len(), "a second credit memo for some refund");
    assert_eq!(ids.len(), docs.len(), "a second document for some order");
    let left: Vec<(String, Option<String>, i64)> = sqlx::query_as(
        "SELECT state, hold_reason, count(*) FROM order_sync.orders \
         WHERE shop = $1 AND state <> 'processed' GROUP BY 1, 2",
    )
    .bind(shop)
    .fetch_all(pool)
    .await?;
    assert!(left.is_empty(), "every order is made a document: {left:?}");
    assert_eq!(docs.len() as i64, n);
    Ok(())
}

#[tokio::test]
async fn kill_9_mid_create_and_a_faulty_shop_lose_nothing_and_double_nothing() -> Result<()> {
    const N: i64 = 1000;
    let mut s = Stack::start("order_sync_create_faults", &["acme"]).await?;
    sim_post(
        &s.sim,
        "/sim/shops/acme/seed",
        serde_json::json!({"seed": 21, "products": 5, "customers": 30, "orders": N}),
    )
    .await?;
    let (skus, location) = catalogue(&s.sim, "acme").await?;
    let all: Vec<&String> = skus.keys().collect();
    erp_setup(&s, &all).await?;
    connect_shop(&s, "acme", &location, None).await?;
    let pool = s.db.pool().await?;
    let mut q = queue(&s.scheduler).await?;

    // Import through a shop answering 5xx, 429, garbage and timeouts a quarter of the time.
    sim_post(
        &s.sim,
        "/sim/shops/acme/faults",
        serde_json::json!({"error_rate": 0.08, "rate_limit_rate": 0.08, "malformed_rate": 0.05,
                           "timeout_rate": 0.04, "timeout_ms": 300, "seed": 5}),
    )
    .await?;
    let import = create(&mut q, retrying("acme", sync_params(false))).await?;
    succeeded(&mut q, &import.id).await?;
    let imported: i64 =
        sqlx::query_scalar("SELECT count(*) FROM order_sync.orders").fetch_one(&pool).await?;
    assert_eq!(imported, N, "every order imported through the faults");
    sim_post(&s.sim, "/sim/shops/acme/faults", serde_json::json!({})).await?;

    // Create sales orders, crashing order-sync three times while it works.
    let make = create(&mut q, retrying("acme", create_params())).await?;
    let kills = kill_mid_run(
        &mut s,
        &q,
        &make.id,
        &pool,
        "SELECT count(*) FROM order_sync.orders WHERE state = 'processed'",
        N,
    )
    .await?;
    assert!(kills > 0, "no kill landed mid-run");
    succeeded(&mut q, &make.id).await?;
    one_document_each(&s, &pool, "acme", N).await
}

#[tokio::test]
async fn pages_over_the_query_cost_limit_are_asked_again_smaller() -> Result<()> {
    // Under the simulator's pessimistic linear cost model, 250 orders with their lists cost
    // far over Shopify's 1,000-point limit: the import sizes its pages down and keeps the size.
    let s = Stack::start_with(
        "order_sync_cost_limit",
        &["acme"],
        &["--cost-model", "linear", "--time-scale", "20"],
    )
    .await?;
    sim_post(
        &s.sim,
        "/sim/shops/acme/seed",
        serde_json::json!({"seed": 4, "products": 3, "customers": 5, "orders": 40}),
    )
    .await?;
    let (_, location) = catalogue(&s.sim, "acme").await?;
    connect_shop(&s, "acme", &location, None).await?;
    let mut q = queue(&s.scheduler).await?;
    let run = sync_now(&mut q, "acme", sync_params(false)).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let counters = run.counters.clone().unwrap_or_default().values;
    assert_eq!(counters.get("imported"), Some(&40), "{counters:?}");
    let size = *counters.get("page_size").unwrap();
    assert!((1..250).contains(&size), "{counters:?}");
    let cursor = shops(&s.scheduler)
        .await?
        .get_cursor(pb::CursorKey {
            shop: "acme".into(),
            resource: pb::SyncResource::Orders as i32,
        })
        .await?
        .into_inner();
    assert!(cursor.value.contains(&format!("\"page_size\":{size}")), "{cursor:?}");
    // The next run starts at that size: no request over the limit.
    let run = sync_now(&mut q, "acme", sync_params(false)).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    Ok(())
}

#[tokio::test]
async fn a_first_run_with_history_loads_it_in_bulk_then_goes_on_incrementally() -> Result<()> {
    let s = Stack::start("order_sync_history", &["acme"]).await?;
    sim_post(
        &s.sim,
        "/sim/shops/acme/seed",
        serde_json::json!({"seed": 5, "products": 3, "customers": 3}),
    )
    .await?;
    let (skus, location) = catalogue(&s.sim, "acme").await?;
    let sku = skus.keys().next().unwrap().clone();
    connect_shop(&s, "acme", &location, None).await?;
    let place = |days: u32| serde_json::json!({ "lines": [{ "sku": sku, "quantity": 1 }], "placed_days_ago": days });
    let old = sim_post(&s.sim, "/sim/shops/acme/orders", place(200)).await?;
    let recent = sim_post(&s.sim, "/sim/shops/acme/orders", place(20)).await?;
    let open = sim_post(&s.sim, "/sim/shops/acme/orders", place(300)).await?;
    // The two older ones are closed (archived) in Shopify; the oldest open one stays open.
    for o in [&old, &recent] {
        let v: serde_json::Value = http()
            .post(format!("{}/admin/api/2026-10/graphql.json", s.sim.url()))
            .header("X-Shopify-Access-Token", token_of("acme"))
            .json(&serde_json::json!({
                "query": "mutation($id: ID!) { orderClose(input: { id: $id }) { userErrors { message } } }",
                "variables": { "id": o["id"] },
            }))
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(v["data"]["orderClose"]["userErrors"], serde_json::json!([]), "{v}");
    }
    let from = (chrono::Utc::now() - chrono::TimeDelta::days(30)).date_naive().to_string();
    let mut q = queue(&s.scheduler).await?;
    let params = |history: Option<String>| pb::TaskParams {
        params: Some(pb::task_params::Params::SyncOrders(pb::SyncOrdersParams {
            history_from: history,
            ..Default::default()
        })),
    };
    let run = sync_now(&mut q, "acme", params(Some(from.clone()))).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let c = run.counters.clone().unwrap_or_default().values;
    assert_eq!((c.get("bulk"), c.get("imported")), (Some(&1), Some(&2)), "{c:?}");
    let pool = s.db.pool().await?;
    let names: BTreeSet<String> = sqlx::query_scalar("SELECT name FROM order_sync.orders")
        .fetch_all(&pool)
        .await?
        .into_iter()
        .collect();
    let name = |o: &serde_json::Value| o["name"].as_str().unwrap().to_owned();
    assert_eq!(
        names,
        BTreeSet::from([name(&recent), name(&open)]),
        "closed before the date: left out"
    );
    // The next run reads what changed since, page by page.
    let newer = sim_post(&s.sim, "/sim/shops/acme/orders", place(0)).await?;
    let run = sync_now(&mut q, "acme", params(Some(from))).await?;
    let c = run.counters.clone().unwrap_or_default().values;
    assert_eq!((c.get("bulk"), c.get("imported")), (None, Some(&1)), "{c:?}");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM order_sync.orders WHERE name = $1")
        .bind(name(&newer))
        .fetch_one(&pool)
        .await?;
    assert_eq!(n, 1);
    Ok(())
}

#[tokio::test]
async fn fulfilled_orders_become_invoices_when_the_shop_says_so() -> Result<()> {
    let s = Stack::start("order_sync_invoices", &["acme"]).await?;
    sim_post(
        &s.sim,
        "/sim/shops/acme/seed",
        serde_json::json!({"seed": 6, "products": 3, "customers": 2}),
    )
    .await?;
    let (skus, location) = catalogue(&s.sim, "acme").await?;
    let sku: Vec<&String> = skus.keys().collect();
    erp_setup(&s, &sku).await?;
    let shop = connect_shop(&s, "acme", &location, None).await?;
    let mut settings = shopsync_proto::shops::settings_from_pb(shop.settings.as_ref().unwrap())?;
    settings.create_fulfilled_orders_as_invoices = true;
    let mut changed = shop.clone();
    changed.settings = Some(shopsync_proto::shops::settings_to_pb(&settings));
    shops(&s.scheduler)
        .await?
        .update_shop(pb::UpdateShopRequest {
            name: "acme".into(),
            expected_version: shop.version,
            shop: Some(changed),
            ..Default::default()
        })
        .await?;
    let email = first_email(&s.sim, "acme").await?;
    let place = || serde_json::json!({ "customer_email": email, "lines": [{ "sku": sku[0], "quantity": 2 }] });
    let shipped = sim_post(&s.sim, "/sim/shops/acme/orders", place()).await?;
    let open = sim_post(&s.sim, "/sim/shops/acme/orders", place()).await?;
    // The merchant fulfils the first one in Shopify.
    let gql = |query: &str, variables: serde_json::Value| {
        let body = serde_json::json!({ "query": query, "variables": variables });
        let url = format!("{}/admin/api/2026-10/graphql.json", s.sim.url());
        async move {
            let v: serde_json::Value = http()
                .post(url)
                .header("X-Shopify-Access-Token", token_of("acme"))
                .json(&body)
                .send()
                .await?
                .json()
                .await?;
            anyhow::Ok(v)
        }
    };
    let fos = gql(
        "query($id: ID!) { order(id: $id) { fulfillmentOrders(first: 5) { nodes { id } } } }",
        serde_json::json!({ "id": shipped["id"] }),
    )
    .await?;
    let fo = fos["data"]["order"]["fulfillmentOrders"]["nodes"][0]["id"].clone();
    let done = gql(
        "mutation($fo: ID!) { fulfillmentCreate(fulfillment: { lineItemsByFulfillmentOrder: [{ fulfillmentOrderId: $fo }] }) { userErrors { message } } }",
        serde_json::json!({ "fo": fo }),
    )
    .await?;
    assert_eq!(done["data"]["fulfillmentCreate"]["userErrors"], serde_json::json!([]), "{done}");

    let mut q = queue(&s.scheduler).await?;
    assert_eq!(
        run_status(&sync_now(&mut q, "acme", sync_params(false)).await?),
        pb::RunStatus::Succeeded
    );
    assert_eq!(
        run_status(&sync_now(&mut q, "acme", create_params()).await?),
        pb::RunStatus::Succeeded
    );
    let docs = documents(&s, "acme").await?;
    let type_of = |o: &serde_json::Value| {
        docs.iter().find(|d| d.shopify_order_no == o["name"].as_str().unwrap()).map(|d| d.r#type)
    };
    assert_eq!(type_of(&shipped), Some(pb::DocumentType::Invoice as i32), "{docs:?}");
    assert_eq!(type_of(&open), Some(pb::DocumentType::Order as i32), "{docs:?}");
    Ok(())
}
