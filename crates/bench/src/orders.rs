//! (o) Order sync end to end against the simulator: the scheduler, order-sync and posting as
//! release processes, Standard-plan shops in an in-process simulator (its default, fitted cost
//! model; a faster clock), orders of 3 lines with customers, shipping and transactions.
//!
//! - (a) steady state: orders arrive over a simulated day and a recurring sync-orders entry
//!   imports them every 5 simulated minutes, sales orders created right after import (pages,
//!   no bulk operation): requested and actual cost points per order.
//! - (b) backlog: orders waiting, imported by one sync now as fast as the rate limit allows:
//!   orders per simulated hour and the share of the rate-limit ceiling used.
//! - (c) initial load of historical orders (a first run with `history_from`): simulated time
//!   and points.
//! - The reference connector's documents (spec 3.1: 25-order discovery pages, then a header,
//!   lines, transactions, fulfillment orders, fulfillments and risk query per order) costed by
//!   the same simulator, in its fitted and its linear cost model, beside ours (our import of a
//!   backlog under the linear model).
//!
//! Written to bench/results/orders.json.

use crate::harness::{
    Procs, TOKEN, bench_log, connect, drop_db, free_port, fresh_db, wait_healthy,
};
use anyhow::{Context, Result, bail, ensure};
use rand::{Rng, SeedableRng};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use shopsync_common::shop::{LocationMapping, ShopSettings};
use shopsync_proto::pb;
use shopsync_runtime::client::AuthedChannel;
use shopsync_shopify_sim::cost::CostModel;
use shopsync_shopify_sim::store::Usage;
use shopsync_shopify_sim::{Sim, SimConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::Command;

const DB: &str = "shopsync_bench_orders";
const PRODUCTS: usize = 40;
const CUSTOMERS: usize = 300;
/// Standard plan: a 2,000-point bucket restored at 100 points a second.
const BUCKET: f64 = 2_000.0;
const RESTORE: f64 = 100.0;

/// The reference connector's documents (crates/bench/reference, written from the spec).
const REFERENCE_DISCOVERY: &str = include_str!("../reference/discovery.graphql");
const REFERENCE_PER_ORDER: [(&str, &str); 6] = [
    ("header", include_str!("../reference/header.graphql")),
    ("lines", include_str!("../reference/lines.graphql")),
    ("transactions", include_str!("../reference/transactions.graphql")),
    ("fulfillment_orders", include_str!("../reference/fulfillment_orders.graphql")),
    ("fulfillments", include_str!("../reference/fulfillments.graphql")),
    ("risks", include_str!("../reference/risks.graphql")),
];

pub struct Params {
    pub orders: usize,
    /// Real seconds of the simulated day of (a).
    pub day_secs: f64,
    /// Clock speed of the simulator of (b) and (c): 1 (real time) by default, because the
    /// client paces by the real clock between Shopify's answers, and a faster simulated clock
    /// refills the bucket faster than the client can know.
    pub fast_scale: f64,
}

pub(crate) fn token(shop: &str) -> String {
    format!("shpat_bench_{shop}_0123456789")
}

/// A simulator served in-process.
pub(crate) struct Served {
    pub(crate) sim: Arc<Sim>,
    pub(crate) url: String,
    pub(crate) stop: tokio_util::sync::CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(config: SimConfig, shops: &[&str]) -> Result<Served> {
    let sim = Sim::new(config);
    for (i, shop) in shops.iter().enumerate() {
        sim.add_shop(shop, &token(shop), "standard")?;
        sim.shop(shop).context("shop")?.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.seed(
            7 + i as u64,
            PRODUCTS,
            CUSTOMERS,
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(shopsync_shopify_sim::serve(sim.clone(), listener, stop.clone()));
    Ok(Served { sim, url, stop })
}

pub(crate) fn with_shop<T>(
    sim: &Sim,
    shop: &str,
    f: impl FnOnce(&mut shopsync_shopify_sim::store::Shop) -> T,
) -> Result<T> {
    let s = sim.shop(shop).context("shop")?;
    let mut s = s.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    Ok(f(&mut s))
}

pub(crate) fn usage(sim: &Sim, shop: &str) -> Result<Usage> {
    with_shop(sim, shop, |s| s.usage)
}

/// Place `n` paid orders of 3 lines (distinct variants, 1–3 units) for random customers.
fn place_orders(sim: &Sim, shop: &str, n: usize, rng: &mut rand::rngs::StdRng) -> Result<()> {
    with_shop(sim, shop, |s| {
        let variants: Vec<u64> =
            s.products.values().flat_map(|p| p.variants.iter().map(|v| v.id)).collect();
        let customers: Vec<u64> = s.customers.keys().copied().collect();
        for _ in 0..n {
            let mut lines: Vec<(u64, i64)> = Vec::new();
            while lines.len() < 3 {
                let v = variants[rng.random_range(0..variants.len())];
                if !lines.iter().any(|(x, _)| *x == v) {
                    lines.push((v, rng.random_range(1..=3)));
                }
            }
            let c = customers[rng.random_range(0..customers.len())];
            s.place_order(Some(c), &lines, "PAID").map_err(anyhow::Error::msg)?;
        }
        Ok(())
    })?
}

struct Stack {
    _procs: Procs,
    shops: pb::shops_client::ShopsClient<AuthedChannel>,
    queue: pb::job_queue_client::JobQueueClient<AuthedChannel>,
    erp: pb::erp_client::ErpClient<AuthedChannel>,
}

async fn start(url: &str) -> Result<Stack> {
    start_with(url, None).await
}

/// The stack with order-sync's webhook endpoint on `webhook` (also its public address).
async fn start_with(url: &str, webhook: Option<u16>) -> Result<Stack> {
    let dir = std::env::current_exe()?.parent().context("no exe dir")?.to_path_buf();
    let (_, keys) = shopsync_runtime::secrets::Keyring::generate("bench");
    let keys = keys.expose_secret().to_owned();
    let (pport, oport, sport) = (free_port()?, free_port()?, free_port()?);
    let spawn = |bin: &str, port: u16, env: Vec<(&str, String)>| -> Result<tokio::process::Child> {
        let mut c = Command::new(dir.join(bin));
        c.env("SHOPSYNC_LISTEN", format!("127.0.0.1:{port}"))
            .env("SHOPSYNC_SERVICE_TOKEN", TOKEN)
            .env("SHOPSYNC_DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .stdout(bench_log(&format!("orders-{bin}"))?)
            .kill_on_drop(true);
        for (k, v) in env {
            c.env(k, v);
        }
        c.spawn().with_context(|| format!("starting {bin} (make bench builds it)"))
    };
    let mut procs = Procs(vec![spawn("shopsync-posting", pport, vec![])?]);
    wait_healthy(pport).await?;
    procs.0.push(spawn(
        "shopsync-order-sync",
        oport,
        vec![
            ("SHOPSYNC_SHOPS_URL", format!("http://127.0.0.1:{sport}")),
            ("SHOPSYNC_POSTING_URL", format!("http://127.0.0.1:{pport}")),
            ("SHOPSYNC_SECRET_KEYS", keys.clone()),
        ]
        .into_iter()
        .chain(webhook.into_iter().flat_map(|w| {
            [
                ("SHOPSYNC_WEBHOOK_LISTEN", format!("127.0.0.1:{w}")),
                ("SHOPSYNC_WEBHOOK_PUBLIC_URL", format!("http://127.0.0.1:{w}")),
            ]
        }))
        .collect(),
    )?);
    wait_healthy(oport).await?;
    procs.0.push(spawn(
        "shopsync-scheduler",
        sport,
        vec![
            ("SHOPSYNC_SECRET_KEYS", keys),
            ("SHOPSYNC_WORKERS__ORDER_SYNC", format!("http://127.0.0.1:{oport}")),
            ("SHOPSYNC_WORKERS__POSTING", format!("http://127.0.0.1:{pport}")),
        ],
    )?);
    wait_healthy(sport).await?;
    let sched = connect(sport).await?;
    Ok(Stack {
        _procs: procs,
        shops: pb::shops_client::ShopsClient::new(sched.clone()),
        queue: pb::job_queue_client::JobQueueClient::new(sched),
        erp: pb::erp_client::ErpClient::new(connect(pport).await?),
    })
}

/// ERP master data for the simulator's catalogue: an item per SKU, a shipping item, a
/// customer template, a location.
async fn erp_setup(s: &mut Stack, sim: &Sim, shop: &str) -> Result<()> {
    let skus: Vec<String> = with_shop(sim, shop, |s| {
        s.products.values().flat_map(|p| p.variants.iter().map(|v| v.sku.clone())).collect()
    })?;
    fn ok<T>(r: Result<tonic::Response<T>, tonic::Status>) -> Result<()> {
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.code() == tonic::Code::AlreadyExists => Ok(()),
            Err(e) => Err(anyhow::Error::new(e)),
        }
    }
    ok(s.erp
        .create_location(pb::Location {
            code: "WEB".into(),
            name: "Web".into(),
            ..Default::default()
        })
        .await)?;
    ok(s.erp
        .create_customer(pb::Customer {
            no: "WEBTPL".into(),
            name: "Template".into(),
            currency: "EUR".into(),
            ..Default::default()
        })
        .await)?;
    for (no, sku) in std::iter::once(("SHIP".to_owned(), String::new()))
        .chain(skus.into_iter().map(|s| (format!("I-{s}"), s)))
    {
        ok(s.erp
            .create_item(pb::Item {
                no: no.chars().take(50).collect(),
                description: no.clone(),
                unit_price_minor: 100,
                currency: "EUR".into(),
                sku,
                ..Default::default()
            })
            .await)?;
    }
    Ok(())
}

async fn connect_shop(s: &mut Stack, sim: &Served, shop: &str, auto_create: bool) -> Result<()> {
    let location =
        with_shop(&sim.sim, shop, |s| s.locations.keys().next().copied())?.context("a location")?;
    let settings = ShopSettings {
        allow_background_syncs: false,
        auto_create_customers: true,
        customer_template: Some("WEBTPL".into()),
        shipping_charges_item: Some("SHIP".into()),
        auto_create_sales_orders: auto_create,
        locations: vec![LocationMapping {
            shopify_location_id: format!("gid://shopify/Location/{location}"),
            erp_location_filter: "WEB".into(),
            stock_calculation: Default::default(),
            default_erp_location: None,
        }],
        ..Default::default()
    };
    create_shop(&mut s.shops, sim, shop, &settings).await
}

/// Connect `shop` of the simulator `sim` with these settings (its token: [`token`]).
pub(crate) async fn create_shop(
    shops: &mut pb::shops_client::ShopsClient<AuthedChannel>,
    sim: &Served,
    shop: &str,
    settings: &ShopSettings,
) -> Result<()> {
    shops
        .create_shop(pb::CreateShopRequest {
            shop: Some(pb::Shop {
                name: shop.into(),
                store_domain: sim.url.clone(),
                settings: Some(shopsync_proto::shops::settings_to_pb(settings)),
                ..Default::default()
            }),
            access_token: token(shop),
            ..Default::default()
        })
        .await?;
    Ok(())
}

fn sync_orders(history_from: Option<String>) -> pb::TaskParams {
    pb::TaskParams {
        params: Some(pb::task_params::Params::SyncOrders(pb::SyncOrdersParams {
            history_from,
            ..Default::default()
        })),
    }
}

/// Every run of `shop`'s entries: (runs, failed).
async fn runs_of(s: &mut Stack, shop: &str) -> Result<(u64, u64)> {
    let (mut n, mut failed, mut token) = (0, 0, String::new());
    loop {
        let r = s
            .queue
            .list_runs(pb::ListRunsRequest {
                shop: shop.into(),
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        for run in &r.runs {
            n += 1;
            failed += u64::from(run.status == pb::RunStatus::Failed as i32);
        }
        if r.next_page_token.is_empty() {
            return Ok((n, failed));
        }
        token = r.next_page_token;
    }
}

async fn count(pool: &sqlx::PgPool, shop: &str, processed: bool) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM order_sync.orders WHERE shop = $1 AND (NOT $2 OR state = 'processed')",
    )
    .bind(shop)
    .bind(processed)
    .fetch_one(pool)
    .await?)
}

/// Sync now, followed to its end; the run.
pub(crate) async fn sync_now(
    queue: &mut pb::job_queue_client::JobQueueClient<AuthedChannel>,
    shop: &str,
    params: pb::TaskParams,
) -> Result<pb::JobRun> {
    let mut stream = queue
        .sync_now(pb::SyncNowRequest {
            shop: shop.into(),
            params: Some(params),
            created_by: "bench".into(),
            wait: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut last = None;
    while let Some(ev) = stream.message().await? {
        if let Some(r) = ev.snapshot.and_then(|s| s.run) {
            last = Some(r);
        }
    }
    let run = last.context("no run")?;
    ensure!(run.status == pb::RunStatus::Succeeded as i32, "the run failed: {:?}", run.error);
    Ok(run)
}

/// The requested cost of `doc` in `model` (from Shopify's answer, or its MAX_COST_EXCEEDED).
async fn requested_cost(url: &str, shop: &str, doc: &str, variables: Value) -> Result<f64> {
    shopsync_shopify::init_tls();
    let v: Value = reqwest::Client::new()
        .post(format!("{url}/admin/api/2026-10/graphql.json"))
        .header("X-Shopify-Access-Token", token(shop))
        .json(&json!({ "query": doc, "variables": variables }))
        .send()
        .await?
        .json()
        .await?;
    v.pointer("/extensions/cost/requestedQueryCost")
        .or_else(|| v.pointer("/errors/0/extensions/cost"))
        .and_then(Value::as_f64)
        .with_context(|| format!("no cost in {v}"))
}

/// The reference's requested points per order: a 25th of a discovery page, plus each
/// per-order document, in the simulator `url` (its cost model).
async fn reference(url: &str, shop: &str) -> Result<Value> {
    let mut per_doc = serde_json::Map::new();
    let discovery = requested_cost(url, shop, REFERENCE_DISCOVERY, json!({})).await?;
    per_doc.insert("discovery_page_of_25".into(), json!(discovery));
    let mut per_order = discovery / 25.0;
    for (name, doc) in REFERENCE_PER_ORDER {
        let c = requested_cost(url, shop, doc, json!({ "id": "gid://shopify/Order/1" })).await?;
        per_doc.insert(name.into(), json!(c));
        per_order += c;
    }
    Ok(json!({ "requested_points_per_order": per_order, "documents": per_doc }))
}

pub async fn run(p: Params) -> Result<Value> {
    let url = fresh_db(DB).await?;
    let pool = sqlx::PgPool::connect(&url).await?;
    let day_scale = 86_400.0 / p.day_secs;
    let steady =
        serve(SimConfig { time_scale: day_scale, ..SimConfig::default() }, &["steady"]).await?;
    let fast = serve(
        SimConfig { time_scale: p.fast_scale, ..SimConfig::default() },
        &["backlog", "history"],
    )
    .await?;
    // Only its cost per order counts: a fast clock saves the waiting.
    let linear = serve(
        SimConfig { time_scale: 20.0, cost_model: CostModel::Linear, ..SimConfig::default() },
        &["linear"],
    )
    .await?;
    let mut s = start(&url).await?;
    for (sim, shop) in
        [(&steady, "steady"), (&fast, "backlog"), (&fast, "history"), (&linear, "linear")]
    {
        erp_setup(&mut s, &sim.sim, shop).await?;
        connect_shop(&mut s, sim, shop, shop == "steady").await?;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let n = p.orders;
    let steady_state = steady_state(&mut s, &pool, &steady, &p, &mut rng).await?;
    let backlog = backlog(&mut s, &pool, &fast, &p, &mut rng).await?;
    let initial_load = initial_load(&mut s, &pool, &fast, n).await?;
    let (m, page_size_linear, linear_per_order) =
        linear_model(&mut s, &linear, n, &mut rng).await?;
    let reference_fitted = reference(&fast.url, "backlog").await?;
    let reference_linear = reference(&linear.url, "linear").await?;
    drop(pool);
    drop(s);
    drop_db(DB).await?;
    Ok(json!({
        "plan": "standard (2000 points, 100/s)",
        "cost_model": "fitted (the simulator's default)",
        "orders": n,
        "order_shape": "3 lines, a customer, shipping, tax, a sale transaction",
        "steady_state": steady_state,
        "backlog": backlog,
        "initial_load": initial_load,
        "linear_cost_model": {
            "orders": m,
            "page_size": page_size_linear,
            "requested_points_per_order": linear_per_order,
            "reference_requested_points_per_order": reference_linear["requested_points_per_order"],
            "reference_documents": reference_linear["documents"],
        },
        "reference": {
            "issue_figure_requested_points_per_order": 138,
            "measured_fitted_requested_points_per_order": reference_fitted["requested_points_per_order"],
            "documents": reference_fitted["documents"],
            "source": "crates/bench/reference/*.graphql, written from spec 3.1",
        },
    }))
}

fn per(x: f64, k: usize) -> f64 {
    x / k as f64
}

/// (o-a) Steady state: orders over a simulated day, a sync every 5 simulated minutes.
async fn steady_state(
    s: &mut Stack,
    pool: &sqlx::PgPool,
    steady: &Served,
    p: &Params,
    rng: &mut rand::rngs::StdRng,
) -> Result<Value> {
    let n = p.orders;
    let day_scale = 86_400.0 / p.day_secs;
    let every = ((300.0 / day_scale).round() as u32).max(1);
    eprintln!(
        "(o-a) {n} orders over a simulated day ({:.0} s real), sync-orders every {every} s real…",
        p.day_secs
    );
    let entry = s
        .queue
        .create_entry(pb::CreateEntryRequest {
            spec: Some(pb::JobSpec {
                shop: "steady".into(),
                params: Some(sync_orders(None)),
                recurrence: Some(pb::Recurrence {
                    rule: Some(pb::recurrence::Rule::IntervalSeconds(every)),
                    ..Default::default()
                }),
                created_by: "bench".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?
        .into_inner();
    let sim_start = steady.sim.clock.now_secs();
    let start_at = Instant::now();
    let mut placed = 0usize;
    while placed < n {
        let due = ((start_at.elapsed().as_secs_f64() / p.day_secs) * n as f64).ceil() as usize;
        let k = due.min(n) - placed;
        if k > 0 {
            place_orders(&steady.sim, "steady", k, rng)?;
            placed += k;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while count(pool, "steady", true).await? < n as i64 {
        if Instant::now() > deadline {
            bail!("(o-a) {} of {n} orders processed", count(pool, "steady", true).await?);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.queue
        .set_on_hold(pb::EntryRef { id: entry.id.clone(), requested_by: "bench".into() })
        .await?;
    let a_sim_secs = steady.sim.clock.now_secs() - sim_start;
    let a = usage(&steady.sim, "steady")?;
    let (a_runs, a_failed) = runs_of(s, "steady").await?;
    Ok(json!({
        "simulated_seconds": a_sim_secs,
        "sync_every_simulated_seconds": f64::from(every) * day_scale,
        "runs": a_runs,
        "failed_runs": a_failed,
        "requests": a.requests,
        "requested_points": a.requested_points,
        "actual_points": a.actual_points,
        "requested_points_per_order": per(a.requested_points, n),
        "actual_points_per_order": per(a.actual_points, n),
        "throttled_answers": a.throttled,
        "target_requested_points_per_order": 14.0,
    }))
}

/// (o-b) Backlog: orders waiting, one sync now as fast as the rate limit allows.
async fn backlog(
    s: &mut Stack,
    pool: &sqlx::PgPool,
    fast: &Served,
    p: &Params,
    rng: &mut rand::rngs::StdRng,
) -> Result<Value> {
    let n = p.orders;
    eprintln!("(o-b) {n} orders waiting, imported by one sync now…");
    place_orders(&fast.sim, "backlog", n, rng)?;
    let before = usage(&fast.sim, "backlog")?;
    let t0 = fast.sim.clock.now_secs();
    let real0 = Instant::now();
    let b_run = sync_now(&mut s.queue, "backlog", sync_orders(None)).await?;
    let b_secs = fast.sim.clock.now_secs() - t0;
    let b_real = real0.elapsed().as_secs_f64();
    let b = usage(&fast.sim, "backlog")?;
    ensure!(count(pool, "backlog", false).await? == n as i64, "(o-b) not every order imported");
    let b_actual = b.actual_points - before.actual_points;
    let b_ceiling = BUCKET + RESTORE * b_secs;
    // While the import was at Shopify: from its first request to its last (the job's start and
    // end around it are the harness's, stretched by the fast clock).
    let b_window = b.last_at - b.first_at.unwrap_or(b.last_at);
    let b_window_ceiling = BUCKET + RESTORE * b_window;
    Ok(json!({
        "simulated_seconds": b_secs,
        "real_seconds": b_real,
        "time_scale": p.fast_scale,
        "orders_per_hour": n as f64 / b_secs * 3600.0,
        "actual_points": b_actual,
        "ceiling_points": b_ceiling,
        "share_of_ceiling_end_to_end": b_actual / b_ceiling,
        "requests_window_simulated_seconds": b_window,
        "share_of_ceiling": b_actual / b_window_ceiling,
        "orders_per_hour_in_window": n as f64 / b_window * 3600.0,
        "throttled_answers": b.throttled - before.throttled,
        "throttled_reaching_the_job": u64::from(b_run.status != pb::RunStatus::Succeeded as i32),
        "requested_points_per_order": per(b.requested_points - before.requested_points, n),
        "targets": { "orders_per_hour": 100_000, "share_of_ceiling": 0.9 },
    }))
}

/// (o-c) Initial load: historical orders (closed, created over the past year), history on.
async fn initial_load(
    s: &mut Stack,
    pool: &sqlx::PgPool,
    fast: &Served,
    n: usize,
) -> Result<Value> {
    eprintln!("(o-c) initial load of {n} historical orders…");
    place_history(&fast.sim, "history", n)?;
    let from = (chrono::Utc::now() - chrono::TimeDelta::days(400)).date_naive().to_string();
    let before = usage(&fast.sim, "history")?;
    let t0 = fast.sim.clock.now_secs();
    let real0 = Instant::now();
    sync_now(&mut s.queue, "history", sync_orders(Some(from))).await?;
    let c_secs = fast.sim.clock.now_secs() - t0;
    let c_real = real0.elapsed().as_secs_f64();
    let c = usage(&fast.sim, "history")?;
    ensure!(count(pool, "history", false).await? == n as i64, "(o-c) not every order imported");
    Ok(json!({
        "method": "one bulk operation (the first run with history_from)",
        "simulated_seconds": c_secs,
        "real_seconds": c_real,
        "requested_points": c.requested_points - before.requested_points,
        "actual_points": c.actual_points - before.actual_points,
        "target_simulated_seconds": 300,
    }))
}

/// `n` paid orders of 3 lines, closed, created over the past year.
fn place_history(sim: &Sim, shop: &str, n: usize) -> Result<()> {
    with_shop(sim, shop, |sh| -> Result<()> {
        let variants: Vec<u64> =
            sh.products.values().flat_map(|p| p.variants.iter().map(|v| v.id)).collect();
        let customers: Vec<u64> = sh.customers.keys().copied().collect();
        let mut r = rand::rngs::StdRng::seed_from_u64(3);
        for i in 0..n {
            let lines = [
                (variants[i % variants.len()], 1),
                (variants[(i + 7) % variants.len()], 2),
                (variants[(i + 13) % variants.len()], 1),
            ];
            let id = sh
                .place_order(Some(customers[r.random_range(0..customers.len())]), &lines, "PAID")
                .map_err(anyhow::Error::msg)?;
            if let Some(o) = sh.orders.get_mut(&id) {
                o.created_at -= chrono::TimeDelta::days(1 + (i % 360) as i64);
                o.closed = true;
            }
        }
        Ok(())
    })?
}

/// Ours under the linear cost model: a backlog of a tenth as many; (orders, the page size
/// the import settled on, requested points per order).
async fn linear_model(
    s: &mut Stack,
    linear: &Served,
    n: usize,
    rng: &mut rand::rngs::StdRng,
) -> Result<(usize, Option<i64>, f64)> {
    let m = (n / 10).max(100);
    eprintln!("(o) {m} orders under the simulator's linear cost model…");
    place_orders(&linear.sim, "linear", m, rng)?;
    let before_l = usage(&linear.sim, "linear")?;
    let l_run = sync_now(&mut s.queue, "linear", sync_orders(None)).await?;
    let l = usage(&linear.sim, "linear")?;
    let page_size_linear = l_run.counters.unwrap_or_default().values.get("page_size").copied();
    Ok((m, page_size_linear, per(l.requested_points - before_l.requested_points, m)))
}

/// (o-w) Order webhooks: orders placed in the simulator at `rate` a second for `secs` seconds
/// (through its HTTP API, which sends orders/create to order-sync's endpoint), each made a
/// sales document by the debounced sync-orders jobs the deliveries queue (the shop creates
/// documents right after import; no recurring entry, no job run by hand). Latency: from just
/// before the order is placed to its mirror row marked processed (right after its document
/// was created).
pub async fn webhooks(rate: f64, secs: f64) -> Result<Value> {
    const WDB: &str = "shopsync_bench_webhooks";
    const SHOP: &str = "hooks";
    let url = fresh_db(WDB).await?;
    let pool = sqlx::PgPool::connect(&url).await?;
    let sim = serve(SimConfig::default(), &[SHOP]).await?;
    let hook_port = free_port()?;
    let mut s = start_with(&url, Some(hook_port)).await?;
    erp_setup(&mut s, &sim.sim, SHOP).await?;
    connect_shop(&mut s, &sim, SHOP, true).await?;
    // Webhooks on, signed with the simulator's client secret.
    let secret = with_shop(&sim.sim, SHOP, |sh| sh.client_secret.clone())?;
    let mut shop = s.shops.get_shop(pb::GetShopRequest { name: SHOP.into() }).await?.into_inner();
    shop.settings.get_or_insert_with(Default::default).order_webhooks = true;
    let version = shop.version;
    s.shops
        .update_shop(pb::UpdateShopRequest {
            name: SHOP.into(),
            expected_version: version,
            shop: Some(shop),
            access_token: None,
            webhook_secret: Some(secret),
        })
        .await?;
    // The first run makes the subscriptions.
    let first = sync_now(&mut s.queue, SHOP, sync_orders(None)).await?;
    let made =
        first.counters.unwrap_or_default().values.get("webhook_subscriptions_created").copied();
    ensure!(made == Some(6), "(o-w) subscriptions made: {made:?}");
    let (skus, emails) = with_shop(&sim.sim, SHOP, |sh| {
        let skus: Vec<String> =
            sh.products.values().flat_map(|p| p.variants.iter().map(|v| v.sku.clone())).collect();
        let emails: Vec<String> = sh.customers.values().map(|c| c.email.clone()).collect();
        (skus, emails)
    })?;
    let n = (rate * secs).round() as usize;
    eprintln!("(o-w) {n} orders at {rate}/s, each announced by its webhook…");
    shopsync_shopify::init_tls();
    let http = reqwest::Client::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(41);
    let mut placed: Vec<(String, chrono::DateTime<chrono::Utc>)> = Vec::with_capacity(n);
    let start_at = Instant::now();
    for i in 0..n {
        let due = start_at + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let lines: Vec<Value> = (0..3)
            .map(|k| json!({ "sku": skus[(i * 3 + k + rng.random_range(0..2)) % skus.len()], "quantity": 1 + k }))
            .collect();
        let body =
            json!({ "customer_email": emails[rng.random_range(0..emails.len())], "lines": lines });
        let at = chrono::Utc::now();
        let r: Value = http
            .post(format!("{}/sim/shops/{SHOP}/orders", sim.url))
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        placed.push((r["name"].as_str().context("order name")?.to_owned(), at));
    }
    let offered = n as f64 / start_at.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(180);
    while count(&pool, SHOP, true).await? < n as i64 {
        if Instant::now() > deadline {
            bail!("(o-w) {} of {n} orders processed", count(&pool, SHOP, true).await?);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let done: Vec<(String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT name, updated_at FROM order_sync.orders WHERE shop = $1 AND state = 'processed'",
    )
    .bind(SHOP)
    .fetch_all(&pool)
    .await?;
    let done: std::collections::HashMap<String, chrono::DateTime<chrono::Utc>> =
        done.into_iter().collect();
    let mut ms: Vec<f64> = placed
        .iter()
        .filter_map(|(name, at)| {
            done.get(name).map(|d| (*d - *at).num_microseconds().unwrap_or(0) as f64 / 1000.0)
        })
        .collect();
    ensure!(ms.len() == n, "(o-w) {} of {n} orders have a document", ms.len());
    ms.sort_by(f64::total_cmp);
    let pct = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    let (p50, p99, max) = (pct(0.5), pct(0.99), ms[ms.len() - 1]);
    let webhook_jobs = {
        let mut n_jobs = 0usize;
        let mut token = String::new();
        loop {
            let r = s
                .queue
                .list_entries(pb::ListEntriesRequest {
                    shop: SHOP.into(),
                    page_size: 1000,
                    page_token: token.clone(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            n_jobs += r
                .entries
                .iter()
                .filter(|e| e.spec.as_ref().is_some_and(|s| s.created_by == "order webhooks"))
                .count();
            if r.next_page_token.is_empty() {
                break n_jobs;
            }
            token = r.next_page_token;
        }
    };
    let (deliveries,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM order_sync.webhook_deliveries WHERE shop = $1")
            .bind(SHOP)
            .fetch_one(&pool)
            .await?;
    let (runs, failed) = runs_of(&mut s, SHOP).await?;
    let u = usage(&sim.sim, SHOP)?;
    drop(pool);
    drop(s);
    drop_db(WDB).await?;
    Ok(json!({
        "orders": n,
        "offered_orders_per_sec": offered,
        "debounce_ms": 400,
        "latency": "from just before the order is placed in the simulator to its mirror row marked processed (its sales document made)",
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": max,
        "target_p99_ms": 5000,
        "deliveries": deliveries,
        "webhook_jobs": webhook_jobs,
        "orders_per_job": n as f64 / webhook_jobs.max(1) as f64,
        "runs": runs,
        "failed_runs": failed,
        "actual_points_per_order": u.actual_points / n as f64,
        "requested_points_per_order": u.requested_points / n as f64,
        "throttled_answers": u.throttled,
    }))
}

/// (o-f) Fulfillments: `n` paid orders of 3 lines, made sales orders, shipped and invoiced by
/// a batch-post job, then one sync-shipments run sends every posted shipment to Shopify as a
/// fulfillment, as fast as the shop's rate limit allows (a Standard shop, real time). Per
/// shipment: one read of the order's fulfillment orders and fulfillments, one
/// `fulfillmentCreate`. Checked afterwards: exactly one fulfillment per order.
pub async fn fulfillments(n: usize) -> Result<Value> {
    const FDB: &str = "shopsync_bench_fulfillments";
    const SHOP: &str = "ship";
    let url = fresh_db(FDB).await?;
    let sim = serve(SimConfig::default(), &[SHOP]).await?;
    let mut s = start(&url).await?;
    erp_setup(&mut s, &sim.sim, SHOP).await?;
    connect_shop(&mut s, &sim, SHOP, true).await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(77);
    place_orders(&sim.sim, SHOP, n, &mut rng)?;
    eprintln!("(o-f) {n} orders imported, made sales orders and posted…");
    sync_now(&mut s.queue, SHOP, sync_orders(None)).await?;
    let post = pb::TaskParams {
        params: Some(pb::task_params::Params::BatchPostSalesOrders(
            pb::BatchPostSalesOrdersParams { ship: true, invoice: true, ..Default::default() },
        )),
    };
    sync_now(&mut s.queue, SHOP, post).await?;
    eprintln!("(o-f) {n} shipments sent to Shopify by one sync-shipments run…");
    let before = usage(&sim.sim, SHOP)?;
    let t0 = sim.sim.clock.now_secs();
    let real0 = Instant::now();
    let params =
        pb::TaskParams { params: Some(pb::task_params::Params::SyncShipments(Default::default())) };
    let run = sync_now(&mut s.queue, SHOP, params).await?;
    let secs = sim.sim.clock.now_secs() - t0;
    let real = real0.elapsed().as_secs_f64();
    let after = usage(&sim.sim, SHOP)?;
    let counters = run.counters.unwrap_or_default().values;
    ensure!(counters.get("sent").copied() == Some(n as i64), "(o-f) sent: {counters:?}");
    let per_order: Vec<usize> =
        with_shop(&sim.sim, SHOP, |sh| sh.orders.values().map(|o| o.fulfillments.len()).collect())?;
    ensure!(per_order.iter().all(|&k| k == 1), "(o-f) an order without exactly one fulfillment");
    let window = after.last_at - after.first_at.unwrap_or(after.last_at).max(t0);
    let actual = after.actual_points - before.actual_points;
    let requests = after.requests - before.requests;
    drop(s);
    drop(sim);
    drop_db(FDB).await?;
    Ok(json!({
        "plan": "standard (2000 points, 100/s)",
        "shipments": n,
        "simulated_seconds": secs,
        "real_seconds": real,
        "fulfillments_per_hour": n as f64 / secs * 3600.0,
        "requests_per_shipment": requests as f64 / n as f64,
        "requested_points_per_shipment": (after.requested_points - before.requested_points) / n as f64,
        "actual_points_per_shipment": actual / n as f64,
        "share_of_ceiling": actual / (BUCKET + RESTORE * window.max(1e-9)),
        "throttled_answers": after.throttled - before.throttled,
        "fulfillments_per_order": 1,
    }))
}
