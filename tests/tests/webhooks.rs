//! Order webhooks end to end with real processes (the simulator, the scheduler, order-sync,
//! the posting service, PostgreSQL): an order placed in the simulator becomes a sales document
//! through its webhook with no job run by hand; a bad signature is refused with nothing stored
//! and no job; a burst of 50 deliveries makes one sync-orders job; a delivery sent twice is
//! taken once; with deliveries switched off the gap is reported in the cue and the orders
//! still arrive by polling, and a reconciliation puts back an order the mirror lost.

#![allow(clippy::unwrap_used)] // a test: a missing value is a failure

use anyhow::{Context, Result, bail};
use shopsync_e2e::orders::*;
use shopsync_e2e::*;
use shopsync_proto::pb;
use std::time::Duration;

/// A stack with `shop` seeded, its ERP master data, connected with order webhooks on, and a
/// first sync run (which makes the subscriptions). Returns the known SKUs and a customer.
async fn webhook_stack(test: &'static str, shop: &str) -> Result<(Stack, Vec<String>, String)> {
    let s = Stack::start(test, &[shop]).await?;
    sim_post(
        &s.sim,
        &format!("/sim/shops/{shop}/seed"),
        serde_json::json!({"seed": 11, "products": 4, "customers": 3}),
    )
    .await?;
    let (skus, location) = catalogue(&s.sim, shop).await?;
    let skus: Vec<String> = skus.keys().cloned().collect();
    erp_setup(&s, &skus.iter().collect::<Vec<_>>()).await?;
    connect_shop(&s, shop, &location, None).await?;
    enable_order_webhooks(&s, shop).await?;
    let mut q = queue(&s.scheduler).await?;
    let run = sync_now(&mut q, shop, sync_params(false)).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let counters = run.counters.clone().unwrap_or_default().values;
    assert_eq!(counters.get("webhook_subscriptions_created"), Some(&6), "{counters:?}");
    let email = first_email(&s.sim, shop).await?;
    Ok((s, skus, email))
}

fn order(email: &str, sku: &str) -> serde_json::Value {
    serde_json::json!({"customer_email": email, "lines": [{"sku": sku, "quantity": 1}]})
}

/// The sync-orders entries the webhooks queued.
async fn webhook_jobs(q: &mut Queue, shop: &str) -> Result<Vec<pb::JobEntry>> {
    let r = q
        .list_entries(pb::ListEntriesRequest {
            shop: shop.into(),
            task: pb::Task::SyncOrders as i32,
            page_size: 1000,
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(r.entries
        .into_iter()
        .filter(|e| e.spec.as_ref().is_some_and(|s| s.created_by == "order webhooks"))
        .collect())
}

/// Deliver a webhook to order-sync as Shopify would, signed with `secret`.
async fn deliver(
    s: &Stack,
    shop: &str,
    webhook_id: &str,
    body: &str,
    secret: Option<&str>,
) -> Result<reqwest::StatusCode> {
    let mut r = http()
        .post(webhook_url(s))
        .header("Content-Type", "application/json")
        .header("X-Shopify-Topic", "orders/updated")
        .header("X-Shopify-Shop-Domain", format!("{shop}.myshopify.com"))
        .header("X-Shopify-Webhook-Id", webhook_id)
        .header("X-Shopify-Triggered-At", chrono::Utc::now().to_rfc3339())
        .body(body.to_owned());
    if let Some(secret) = secret {
        let sig = shopsync_shopify::webhook::sign(
            &secrecy::SecretString::from(secret.to_owned()),
            body.as_bytes(),
        );
        r = r.header("X-Shopify-Hmac-Sha256", sig);
    }
    Ok(r.send().await?.status())
}

async fn deliveries(s: &Stack, shop: &str) -> Result<(i64, i64)> {
    let db = s.db.pool().await?;
    let (n,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM order_sync.webhook_deliveries WHERE shop = $1")
            .bind(shop)
            .fetch_one(&db)
            .await?;
    let (m,): (Option<i64>,) = sqlx::query_as(
        "SELECT sum(deliveries)::bigint FROM order_sync.webhook_watermarks WHERE shop = $1",
    )
    .bind(shop)
    .fetch_one(&db)
    .await?;
    Ok((n, m.unwrap_or(0)))
}

async fn document_for(s: &Stack, shop: &str, name: &str) -> Result<pb::SalesDocument> {
    let docs = documents(s, shop).await?;
    let mine: Vec<_> = docs.into_iter().filter(|d| d.shopify_order_no == name).collect();
    match mine.len() {
        0 => bail!("no document for {name} yet"),
        1 => Ok(mine.into_iter().next().unwrap()),
        n => panic!("{n} documents for {name}"),
    }
}

#[tokio::test]
async fn a_webhook_makes_the_sales_document_without_a_job_run_by_hand() -> Result<()> {
    let (s, skus, email) = webhook_stack("webhooks_import", "acme").await?;
    let placed = sim_post(&s.sim, "/sim/shops/acme/orders", order(&email, &skus[0])).await?;
    let name = placed["name"].as_str().context("name")?.to_owned();
    let doc = eventually(Duration::from_secs(30), || document_for(&s, "acme", &name)).await?;
    assert_eq!(doc.shopify_order_no, name);
    let mut q = queue(&s.scheduler).await?;
    let jobs = webhook_jobs(&mut q, "acme").await?;
    assert!(!jobs.is_empty(), "the document came through a job the webhook queued");
    // The domain was learned from Shopify, the subscriptions point at order-sync.
    let export: serde_json::Value =
        http().get(format!("{}/sim/shops/acme/export", s.sim.url())).send().await?.json().await?;
    let subs = export["subscriptions"].as_object().context("subscriptions")?;
    assert_eq!(subs.len(), 6, "{subs:?}");
    assert!(subs.values().all(|v| v["uri"] == webhook_url(&s)), "{subs:?}");
    // An announced order the import did not bring (here: its mirror row lost after the
    // cursor passed it) is read by id on the next run.
    let db = s.db.pool().await?;
    let id: i64 = placed["id"].as_str().context("id")?.rsplit('/').next().context("id")?.parse()?;
    let first_second: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT date_trunc('second', shopify_updated_at) FROM order_sync.orders WHERE order_id = $1",
    )
    .bind(id)
    .fetch_one(&db)
    .await?;
    // A later order (in a later second) moves the import's cursor past the first.
    eventually(Duration::from_secs(5), || async {
        if chrono::Utc::now() < first_second + chrono::TimeDelta::milliseconds(1100) {
            bail!("still the first order's second");
        }
        Ok(())
    })
    .await?;
    let later = sim_post(&s.sim, "/sim/shops/acme/orders", order(&email, &skus[0])).await?;
    let later = later["name"].as_str().context("name")?.to_owned();
    eventually(Duration::from_secs(30), || document_for(&s, "acme", &later)).await?;
    sqlx::query("DELETE FROM order_sync.orders WHERE shop = 'acme' AND order_id = $1")
        .bind(id)
        .execute(&db)
        .await?;
    let run = sync_now(&mut q, "acme", sync_params(false)).await?;
    let counters = run.counters.clone().unwrap_or_default().values;
    assert_eq!(counters.get("announced_repaired"), Some(&1), "{counters:?}");
    let back: i64 =
        sqlx::query_scalar("SELECT count(*) FROM order_sync.orders WHERE order_id = $1")
            .bind(id)
            .fetch_one(&db)
            .await?;
    assert_eq!(back, 1);
    Ok(())
}

#[tokio::test]
async fn a_bad_signature_is_refused_with_nothing_stored_and_no_job() -> Result<()> {
    let (s, _, _) = webhook_stack("webhooks_hmac", "acme").await?;
    let mut q = queue(&s.scheduler).await?;
    let body = r#"{"id":1,"updated_at":"2026-12-08T10:00:00Z"}"#;
    let bad = deliver(&s, "acme", "bad-1", body, Some("not-the-shops-secret")).await?;
    assert_eq!(bad, reqwest::StatusCode::UNAUTHORIZED);
    let unsigned = deliver(&s, "acme", "bad-2", body, None).await?;
    assert_eq!(unsigned, reqwest::StatusCode::UNAUTHORIZED);
    let unknown = http()
        .post(webhook_url(&s))
        .header("X-Shopify-Shop-Domain", "nobody.myshopify.com")
        .header("X-Shopify-Hmac-Sha256", "AAAA")
        .body(body)
        .send()
        .await?
        .status();
    assert_eq!(unknown, reqwest::StatusCode::UNAUTHORIZED);
    // Answered after the delivery was handled: nothing was stored and no window opened.
    assert_eq!(deliveries(&s, "acme").await?, (0, 0));
    let db = s.db.pool().await?;
    let open: Option<(bool,)> = sqlx::query_as(
        "SELECT pending_since IS NOT NULL FROM order_sync.webhook_shops WHERE shop = 'acme'",
    )
    .fetch_optional(&db)
    .await?;
    assert_eq!(open, Some((false,)), "no debounce window, so no job");
    assert!(webhook_jobs(&mut q, "acme").await?.is_empty());
    // A body over the limit (64 KiB in the stack) is refused before it is read.
    let big = format!(r#"{{"id":1,"pad":"{}"}}"#, "x".repeat(100 * 1024));
    let too_big = deliver(&s, "acme", "big", &big, Some(&sim_client_secret("acme"))).await?;
    assert_eq!(too_big, reqwest::StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(deliveries(&s, "acme").await?, (0, 0));
    Ok(())
}

#[tokio::test]
async fn fifty_webhooks_in_a_burst_make_one_sync_orders_job() -> Result<()> {
    let (s, _, _) = webhook_stack("webhooks_burst", "acme").await?;
    let mut q = queue(&s.scheduler).await?;
    let secret = sim_client_secret("acme");
    let sends = (0..50).map(|i| {
        let body = format!(r#"{{"id":{},"updated_at":"2026-12-08T10:00:00Z"}}"#, 900_000 + i);
        let (s, secret) = (&s, secret.clone());
        async move { deliver(s, "acme", &format!("burst-{i}"), &body, Some(&secret)).await }
    });
    for status in futures::future::join_all(sends).await {
        assert_eq!(status?, reqwest::StatusCode::OK);
    }
    assert_eq!(deliveries(&s, "acme").await?, (50, 50));
    // The one job runs to its end; by then every window of the burst has closed.
    let job = eventually(Duration::from_secs(30), || {
        let mut q = q.clone();
        async move {
            let jobs = webhook_jobs(&mut q, "acme").await?;
            match jobs.iter().find(|e| e.status == pb::JobStatus::Finished as i32) {
                Some(e) => Ok(e.clone()),
                None => bail!("no finished webhook job yet: {jobs:?}"),
            }
        }
    })
    .await?;
    let jobs = webhook_jobs(&mut q, "acme").await?;
    assert_eq!(jobs.len(), 1, "one job for the burst: {jobs:?}");
    assert_eq!(jobs[0].id, job.id);
    Ok(())
}

#[tokio::test]
async fn a_delivery_sent_twice_is_taken_once() -> Result<()> {
    let (s, skus, email) = webhook_stack("webhooks_duplicates", "acme").await?;
    let secret = sim_client_secret("acme");
    let body = r#"{"id":777,"updated_at":"2026-12-08T10:00:00Z"}"#;
    assert_eq!(deliver(&s, "acme", "twice", body, Some(&secret)).await?, reqwest::StatusCode::OK);
    assert_eq!(deliver(&s, "acme", "twice", body, Some(&secret)).await?, reqwest::StatusCode::OK);
    assert_eq!(deliveries(&s, "acme").await?, (1, 1));
    // The simulator sending every delivery twice (Shopify's at-least-once): one document.
    sim_post(&s.sim, "/sim/shops/acme/faults", serde_json::json!({"webhook_duplicate_rate": 1.0}))
        .await?;
    let placed = sim_post(&s.sim, "/sim/shops/acme/orders", order(&email, &skus[1])).await?;
    let name = placed["name"].as_str().context("name")?.to_owned();
    eventually(Duration::from_secs(30), || document_for(&s, "acme", &name)).await?;
    // Both copies arrived (each was answered 2xx), one was stored.
    let db = s.db.pool().await?;
    let id: i64 = order_id(&placed).parse()?;
    let (stored,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM order_sync.webhook_deliveries WHERE shop = 'acme' AND order_id = $1",
    )
    .bind(id)
    .fetch_one(&db)
    .await?;
    assert_eq!(stored, 1, "orders/create once");
    let (n, counted) = deliveries(&s, "acme").await?;
    assert_eq!(n, counted, "duplicates are not counted");
    Ok(())
}

#[tokio::test]
async fn with_deliveries_off_the_gap_is_reported_and_polling_brings_the_orders() -> Result<()> {
    let (s, skus, email) = webhook_stack("webhooks_gap", "acme").await?;
    sim_post(&s.sim, "/sim/shops/acme/faults", serde_json::json!({"webhooks_off": true})).await?;
    let mut names = Vec::new();
    for sku in skus.iter().take(3) {
        let placed = sim_post(&s.sim, "/sim/shops/acme/orders", order(&email, sku)).await?;
        names.push(placed["name"].as_str().context("name")?.to_owned());
    }
    let mut q = queue(&s.scheduler).await?;
    let cues = s.cues().await?;
    // Polling (the recurring sync, run here by hand) imports them; once they are older than
    // the gap threshold (2 s in the stack) without a webhook, the next run reports the gap.
    let runs = eventually(Duration::from_secs(60), || {
        let (mut q, mut cues) = (q.clone(), cues.clone());
        async move {
            let run = sync_now(&mut q, "acme", sync_params(false)).await?;
            if run_status(&run) != pb::RunStatus::Succeeded {
                bail!("sync failed: {run:?}");
            }
            let groups = cues
                .list_cue_groups(pb::ListCueGroupsRequest {
                    shop: "acme".into(),
                    kind: pb::CueKind::WebhookGaps as i32,
                    limit: 10,
                })
                .await?
                .into_inner()
                .groups;
            if groups.iter().map(|g| g.count).sum::<i64>() < 3 {
                bail!("not all orders in a gap yet: {groups:?}");
            }
            Ok((run, groups))
        }
    })
    .await?;
    let (run, groups) = runs;
    let counters = run.counters.clone().unwrap_or_default().values;
    assert_eq!(counters.get("webhook_gaps"), Some(&1), "{counters:?}");
    // The gap's window was reconciled in the same run: nothing missing.
    assert_eq!(counters.get("reconcile_missing"), Some(&0), "{counters:?}");
    let mut cues = s.cues().await?;
    let c = cues.get_cues(pb::GetCuesRequest { shop: "acme".into() }).await?.into_inner();
    assert_eq!(count(&c, pb::CueKind::WebhookGaps), groups.len() as i64, "{c:?}");
    // One gap, or two when the orders straddled a check (their times are whole seconds).
    assert!(!groups.is_empty() && groups.len() <= 2, "{groups:?}");
    assert_eq!(groups.iter().map(|g| g.count).sum::<i64>(), 3, "{groups:?}");
    for g in &groups {
        assert!(g.reason.contains("came by polling, not by webhook"), "{g:?}");
        assert!(g.reason.contains("window reconciled"), "{g:?}");
    }
    let mut records: Vec<String> = groups.iter().flat_map(|g| g.records.clone()).collect();
    records.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(records, expected);
    // The orders arrived all the same.
    for name in &names {
        document_for(&s, "acme", name).await?;
    }

    // A reconciliation puts back an order the mirror lost (here: deleted behind its back) once
    // polling has moved past it (a later order moves the cursor on), and its document is not
    // made twice.
    let later = sim_post(&s.sim, "/sim/shops/acme/orders", order(&email, &skus[0])).await?;
    let run = sync_now(&mut q, "acme", sync_params(false)).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    document_for(&s, "acme", later["name"].as_str().context("name")?).await?;
    let db = s.db.pool().await?;
    let lost = sqlx::query("DELETE FROM order_sync.orders WHERE shop = 'acme' AND name = $1")
        .bind(&names[0])
        .execute(&db)
        .await?
        .rows_affected();
    assert_eq!(lost, 1);
    let mut params = sync_params(false);
    if let Some(pb::task_params::Params::SyncOrders(p)) = &mut params.params {
        p.reconcile_hours = 1;
    }
    let run = sync_now(&mut q, "acme", params).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let counters = run.counters.clone().unwrap_or_default().values;
    assert_eq!(counters.get("reconcile_missing"), Some(&1), "{counters:?}");
    assert_eq!(counters.get("reconcile_repaired"), Some(&1), "{counters:?}");
    assert!(counters.get("reconcile_checked").is_some_and(|n| *n >= 3), "{counters:?}");
    document_for(&s, "acme", &names[0]).await?;

    // Retrying a gap resolves it and queues a job that reconciles its window.
    for g in &groups {
        let r = cues
            .retry_cue_group(pb::RetryCueGroupRequest {
                shop: "acme".into(),
                kind: pb::CueKind::WebhookGaps as i32,
                key: g.key.clone(),
                requested_by: "e2e".into(),
            })
            .await?
            .into_inner();
        assert_eq!(r.retried, 1);
        let run = ended_run(&mut q, &r.entry_id, 0).await?;
        assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
        let counters = run.counters.clone().unwrap_or_default().values;
        assert!(counters.contains_key("reconcile_checked"), "{counters:?}");
    }
    let c = cues.get_cues(pb::GetCuesRequest { shop: "acme".into() }).await?.into_inner();
    assert_eq!(count(&c, pb::CueKind::WebhookGaps), 0, "{c:?}");
    Ok(())
}
