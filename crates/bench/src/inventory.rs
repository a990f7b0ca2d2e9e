//! (i) Inventory sync against a simulated Standard shop (2,000-point bucket, 100 points/s; the
//! simulator in-process, its default fitted cost model): N products × 3 variants × 2 locations,
//! each variant an ERP item linked to it, each Shopify location fed by one ERP location. The
//! posting service, inventory-sync and the scheduler run as release processes; everything is
//! driven through their public APIs (gRPC, the simulator), so a change of how inventory-sync
//! reads or writes Shopify shows up here without touching the bench.
//!
//! - (i-a) initial sync: the first SyncInventory run (`SyncNow`, default options) on a shop
//!   whose Shopify levels all differ from the ERP's: wall time, simulated time, points, the
//!   share of the rate limit's ceiling (bucket + 100/s × the run's simulated seconds), the
//!   peak RSS of inventory-sync (`VmHWM`).
//! - (i-b) the same run again with nothing changed: mutations (must be 0) and points.
//! - (i-c) 1 % of the ERP levels changed (stock adjustments), the run again: mutations
//!   (expected: changed levels / 250 rounded up) and points.
//! - (i-d) inventory-sync restarted with its stock follower on (it replays the feed from the
//!   beginning: no Shopify writes); then ERP stock changes at a fixed rate, one level each:
//!   latency from just before `PostStockAdjustment` to the simulator's level holding the new
//!   quantity (the bench watches the simulator's store every 2 ms).
//!
//! The follower is off for (i-a)–(i-c) (`SHOPSYNC_STOCK_FOLLOW=false`) so that the runs alone
//! write. Sim products are made directly in the simulator's store, ERP items through
//! `CreateItem` (no batch call exists; 16 in flight), stock through `PostStockAdjustment`
//! (1,000 lines a call), links through `PutLinks` (1,000 a call); each phase is timed.
//!
//! Written to bench/results/inventory.json.

use crate::harness::{
    Procs, TOKEN, bench_log, connect, drop_db, free_port, fresh_db, wait_healthy,
};
use crate::orders::{Served, create_shop, token, usage, with_shop};
use anyhow::{Context, Result, bail, ensure};
use rand::{Rng, SeedableRng};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use shopsync_common::shop::{LocationMapping, ShopSettings};
use shopsync_proto::pb;
use shopsync_runtime::client::AuthedChannel;
use shopsync_shopify_sim::store::{Product, Quantities, Variant};
use shopsync_shopify_sim::{Sim, SimConfig};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

const DB: &str = "shopsync_bench_inventory";
const SHOP: &str = "stock";
const VARIANTS: usize = 3;
/// ERP location codes, one per Shopify location (in the simulator's location order).
const ERP_LOCATIONS: [&str; 2] = ["MAIN", "STORE"];
/// Standard plan: a 2,000-point bucket restored at 100 points a second.
const BUCKET: f64 = 2_000.0;
const RESTORE: f64 = 100.0;
/// Levels per `inventorySetQuantities`.
const BATCH: usize = 250;

pub struct Params {
    /// Products of 3 variants each (the issue: 20,000).
    pub items: usize,
    /// ERP stock changes per second for the latency (i-d).
    pub change_rate: f64,
    pub change_secs: f64,
    /// The simulator's clock speed (1: real time).
    pub time_scale: f64,
}

/// Changes on their way: (inventory item, location) -> (expected on_hand, posted at).
type Awaited = HashMap<(u64, u64), (i64, Instant)>;

/// One Shopify level and its ERP level.
struct Level {
    item_no: String,
    inventory_item: u64,
    /// Index into the locations (and `ERP_LOCATIONS`).
    loc: usize,
    /// The ERP's on hand.
    erp: i64,
}

struct Stack {
    _procs: Procs,
    inventory: Child,
    inventory_port: u16,
    posting_port: u16,
    scheduler_port: u16,
    keys: String,
    url: String,
    shops: pb::shops_client::ShopsClient<AuthedChannel>,
    queue: pb::job_queue_client::JobQueueClient<AuthedChannel>,
    erp: pb::erp_client::ErpClient<AuthedChannel>,
}

fn spawn(
    bin: &str,
    port: u16,
    url: &str,
    log: &str,
    env: Vec<(&str, String)>,
) -> Result<tokio::process::Child> {
    let dir = std::env::current_exe()?.parent().context("no exe dir")?.to_path_buf();
    let mut c = Command::new(dir.join(bin));
    c.env("SHOPSYNC_LISTEN", format!("127.0.0.1:{port}"))
        .env("SHOPSYNC_SERVICE_TOKEN", TOKEN)
        .env("SHOPSYNC_DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stdout(bench_log(log)?)
        .stderr(bench_log(&format!("{log}.err"))?)
        .kill_on_drop(true);
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().with_context(|| format!("starting {bin} (make bench builds it)"))
}

/// inventory-sync with its stock follower on or off (everything else as deployed).
async fn start_inventory(s: &Stack, follow: bool, log: &str) -> Result<Child> {
    let c = spawn(
        "shopsync-inventory-sync",
        s.inventory_port,
        &s.url,
        log,
        vec![
            ("SHOPSYNC_SHOPS_URL", format!("http://127.0.0.1:{}", s.scheduler_port)),
            ("SHOPSYNC_POSTING_URL", format!("http://127.0.0.1:{}", s.posting_port)),
            ("SHOPSYNC_SECRET_KEYS", s.keys.clone()),
            ("SHOPSYNC_STOCK_FOLLOW", follow.to_string()),
        ],
    )?;
    wait_healthy(s.inventory_port).await?;
    Ok(c)
}

async fn start(url: &str) -> Result<Stack> {
    let (_, keys) = shopsync_runtime::secrets::Keyring::generate("bench");
    let keys = keys.expose_secret().to_owned();
    let (pport, iport, sport) = (free_port()?, free_port()?, free_port()?);
    let mut procs =
        Procs(vec![spawn("shopsync-posting", pport, url, "inventory-shopsync-posting", vec![])?]);
    wait_healthy(pport).await?;
    procs.0.push(spawn(
        "shopsync-scheduler",
        sport,
        url,
        "inventory-shopsync-scheduler",
        vec![
            ("SHOPSYNC_SECRET_KEYS", keys.clone()),
            ("SHOPSYNC_WORKERS__INVENTORY_SYNC", format!("http://127.0.0.1:{iport}")),
            ("SHOPSYNC_WORKERS__POSTING", format!("http://127.0.0.1:{pport}")),
        ],
    )?);
    wait_healthy(sport).await?;
    let sched = connect(sport).await?;
    let erp = pb::erp_client::ErpClient::new(connect(pport).await?);
    // A placeholder child until start_inventory replaces it.
    let mut s = Stack {
        _procs: procs,
        inventory: Command::new("true").kill_on_drop(true).spawn()?,
        inventory_port: iport,
        posting_port: pport,
        scheduler_port: sport,
        keys,
        url: url.to_owned(),
        shops: pb::shops_client::ShopsClient::new(sched.clone()),
        queue: pb::job_queue_client::JobQueueClient::new(sched),
        erp,
    };
    s.inventory = start_inventory(&s, false, "inventory-shopsync-inventory-sync").await?;
    Ok(s)
}

/// A process's peak resident set (`VmHWM`), in MiB.
fn peak_rss_mib(child: &Child) -> Result<f64> {
    let pid = child.id().context("the process has exited")?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM")?;
    Ok(kb / 1024.0)
}

/// A simulator with one Standard shop, its two seeded locations and `items` products of 3
/// variants (tracked, stocked at both locations with 0–49 available), made in its store.
async fn serve(config: SimConfig, items: usize) -> Result<Served> {
    let sim = Sim::new(config);
    sim.add_shop(SHOP, &token(SHOP), "standard")?;
    with_shop(&sim, SHOP, |s| {
        s.seed(5, 0, 0);
        let locations: Vec<u64> = s.locations.keys().copied().collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(22);
        for i in 0..items {
            let id = s.next_id();
            let at = s.stamp();
            let variants = (0..VARIANTS)
                .map(|v| {
                    let vid = s.next_id();
                    let inv = s.next_id();
                    for l in &locations {
                        let q =
                            Quantities { available: rng.random_range(0..50), ..Default::default() };
                        s.levels.insert((inv, *l), q);
                    }
                    Variant {
                        id: vid,
                        title: format!("Size {}", v + 1),
                        sku: format!("SKU-{}-{}", i + 1, v + 1),
                        price: "10.00".into(),
                        inventory_item_id: inv,
                        tracked: true,
                        position: v as u32 + 1,
                        barcode: None,
                        compare_at_price: None,
                    }
                })
                .collect();
            s.products.insert(
                id,
                Product {
                    id,
                    title: format!("Stock item {}", i + 1),
                    handle: format!("stock-item-{}", i + 1),
                    status: "ACTIVE".into(),
                    vendor: "Acme".into(),
                    product_type: "Mug".into(),
                    tags: Vec::new(),
                    created_at: at,
                    updated_at: at,
                    variants,
                    media: Vec::new(),
                    description_html: String::new(),
                    option_names: Vec::new(),
                },
            );
        }
    })?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(shopsync_shopify_sim::serve(sim.clone(), listener, stop.clone()));
    Ok(Served { sim, url, stop })
}

/// Run `f(i)` for i in 0..n, `width` at a time.
async fn parallel<F, Fut>(n: usize, width: usize, f: F) -> Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..width {
        let (f, next) = (f.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(());
                }
                f(i).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Post stock adjustments for (level, delta) pairs, 1,000 lines a call.
async fn adjust(s: &Stack, levels: &[Level], lines: &[(usize, i64)], doc: &str) -> Result<()> {
    for (n, chunk) in lines.chunks(1000).enumerate() {
        s.erp
            .clone()
            .post_stock_adjustment(pb::StockAdjustmentRequest {
                lines: chunk
                    .iter()
                    .map(|&(i, q)| pb::StockAdjustmentLine {
                        item_no: levels[i].item_no.clone(),
                        location_code: ERP_LOCATIONS[levels[i].loc].into(),
                        quantity: q,
                        ..Default::default()
                    })
                    .collect(),
                document_no: doc.into(),
                idempotency_key: format!("{doc}-{n}"),
                ..Default::default()
            })
            .await?;
    }
    Ok(())
}

/// SyncInventory now (default options: Shopify's levels read), followed to its end.
async fn sync_inventory(s: &mut Stack) -> Result<pb::JobRun> {
    let params = pb::TaskParams {
        params: Some(pb::task_params::Params::SyncInventory(pb::SyncInventoryParams::default())),
    };
    crate::orders::sync_now(&mut s.queue, SHOP, params).await
}

/// Levels whose Shopify on_hand is not the ERP's.
fn wrong_levels(sim: &Sim, locations: &[u64], levels: &[Level]) -> Result<usize> {
    with_shop(sim, SHOP, |sh| {
        levels
            .iter()
            .filter(|l| {
                sh.levels.get(&(l.inventory_item, locations[l.loc])).map(Quantities::on_hand)
                    != Some(l.erp.max(0))
            })
            .count()
    })
}

/// What a SyncInventory run did and cost.
fn phase(
    run: &pb::JobRun,
    before: &shopsync_shopify_sim::store::Usage,
    after: &shopsync_shopify_sim::store::Usage,
    t0_sim: f64,
    real: f64,
) -> Value {
    let c = run.counters.clone().unwrap_or_default().values;
    let get = |k: &str| c.get(k).copied().unwrap_or(0);
    let window = after.last_at - after.first_at.unwrap_or(after.last_at).max(t0_sim);
    let actual = after.actual_points - before.actual_points;
    json!({
        "real_seconds": real,
        "simulated_seconds_requesting": window,
        "requests": after.requests - before.requests,
        "requested_points": after.requested_points - before.requested_points,
        "actual_points": actual,
        "throttled_answers": after.throttled - before.throttled,
        "share_of_ceiling": actual / (BUCKET + RESTORE * window.max(1e-9)),
        // The least time the Standard limit allows for these points (a full bucket first).
        "ceiling_seconds_for_points": ((actual - BUCKET) / RESTORE).max(0.0),
        "fits_in_bucket": actual <= BUCKET,
        "mutations": get("mutations"),
        "levels_read": get("levels_read"),
        "levels_sent": get("levels_sent"),
        "levels_unchanged": get("levels_unchanged"),
        "drift": get("drift"),
        "record_errors": run.record_errors,
        "counters": c,
    })
}

/// Wait for the shop's bucket to be full again.
async fn refill(time_scale: f64) {
    tokio::time::sleep(Duration::from_secs_f64(BUCKET / RESTORE / time_scale + 0.5)).await;
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

pub async fn run(p: Params) -> Result<Value> {
    let n_levels = p.items * VARIANTS * ERP_LOCATIONS.len();
    let url = fresh_db(DB).await?;
    let mut b = setup(&p, &url).await?;
    let initial = initial_sync(&mut b).await?;
    refill(p.time_scale).await;
    eprintln!("(i-b) SyncInventory again, nothing changed…");
    let (unchanged, _) = timed_sync(&mut b).await?;
    refill(p.time_scale).await;
    let one_pct = one_percent_changed(&mut b).await?;
    let rss_runs = peak_rss_mib(&b.s.inventory)?;
    // (i-d) the follower: restart with it on; it replays the feed (no writes expected), then
    // changes at a fixed rate.
    b.s.inventory.start_kill()?;
    let _ = b.s.inventory.wait().await;
    refill(p.time_scale).await;
    let catch_up = follower_catch_up(&mut b).await?;
    refill(p.time_scale).await;
    let latency = change_latency(&mut b, &p).await?;
    let wrong = b.wrong_levels()?;
    let Bench { s, sim, timings, .. } = b;
    drop(s);
    drop(sim);
    drop_db(DB).await?;
    let initial_points = initial["actual_points"].as_f64().unwrap_or(f64::NAN);
    Ok(json!({
        "plan": "standard (2000 points, 100/s)",
        "cost_model": "fitted (the simulator's default)",
        "time_scale": p.time_scale,
        "products": p.items,
        "variants": p.items * VARIANTS,
        "locations": ERP_LOCATIONS.len(),
        "levels": n_levels,
        "full_size": p.items == 20_000,
        "setup_seconds": timings,
        "initial_sync": initial,
        "peak_rss_mib": rss_runs,
        "unchanged_resync": unchanged.clone(),
        "unchanged_points_share_of_initial": unchanged["actual_points"].as_f64().unwrap_or(f64::NAN) / initial_points,
        "one_percent_changed": one_pct,
        "follower_catch_up": catch_up,
        "change_latency": latency,
        "levels_wrong_at_end": wrong,
        "targets": {
            "peak_rss_mib": 200,
            "unchanged_mutations": 0,
            "unchanged_points_share_of_initial": 0.02,
            "change_p99_ms": 2000,
            "initial_share_of_ceiling": 0.9,
        },
    }))
}

/// The scenario's world once set up: the simulator, the services, the levels and their ERP
/// quantities, and how long each setup step took.
struct Bench {
    sim: Served,
    s: Stack,
    /// The simulator's locations, in `ERP_LOCATIONS` order.
    locations: Vec<u64>,
    levels: Vec<Level>,
    rng: rand::rngs::StdRng,
    timings: serde_json::Map<String, Value>,
}

impl Bench {
    /// Levels whose Shopify on_hand is not the ERP's.
    fn wrong_levels(&self) -> Result<usize> {
        wrong_levels(&self.sim.sim, &self.locations, &self.levels)
    }

    /// Shopify's on_hand of level `i`.
    fn on_hand(&self, i: usize) -> Result<Option<i64>> {
        let l = &self.levels[i];
        with_shop(&self.sim.sim, SHOP, |sh| {
            sh.levels.get(&(l.inventory_item, self.locations[l.loc])).map(Quantities::on_hand)
        })
    }
}

/// A variant of the simulator's shop: (product, variant, inventory item, SKU).
type ShopVariant = (u64, u64, u64, String);

/// The simulator with its products, the services, the ERP's items and stock, the shop with
/// its location mappings and item links.
async fn setup(p: &Params, url: &str) -> Result<Bench> {
    let n_levels = p.items * VARIANTS * ERP_LOCATIONS.len();
    let mut timings = serde_json::Map::new();
    let t = Instant::now();
    eprintln!(
        "(i) simulator: {} products × {VARIANTS} variants × 2 locations ({n_levels} levels)…",
        p.items
    );
    let sim =
        serve(SimConfig { time_scale: p.time_scale, ..SimConfig::default() }, p.items).await?;
    timings.insert("simulator_products_in_store".into(), json!(t.elapsed().as_secs_f64()));
    let (locations, variants) = with_shop(&sim.sim, SHOP, |sh| {
        let locations: Vec<u64> = sh.locations.keys().copied().collect();
        let variants: Vec<ShopVariant> = sh
            .products
            .values()
            .flat_map(|p| {
                p.variants.iter().map(|v| (p.id, v.id, v.inventory_item_id, v.sku.clone()))
            })
            .collect();
        (locations, variants)
    })?;
    ensure!(
        locations.len() == ERP_LOCATIONS.len(),
        "the simulator has {} locations",
        locations.len()
    );

    let t = Instant::now();
    let mut s = start(url).await?;
    timings.insert("services_started".into(), json!(t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let items = erp_items(&mut s, &variants).await?;
    timings.insert("erp_items".into(), json!(t.elapsed().as_secs_f64()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(2222);
    let mut levels: Vec<Level> = Vec::with_capacity(n_levels);
    for (i, (_, _, inv, _)) in variants.iter().enumerate() {
        for loc in 0..ERP_LOCATIONS.len() {
            levels.push(Level {
                item_no: items[i].0.clone(),
                inventory_item: *inv,
                loc,
                erp: rng.random_range(1..=100),
            });
        }
    }
    eprintln!("(i) ERP stock: {n_levels} levels (PostStockAdjustment, 1,000 lines a call)…");
    let t = Instant::now();
    let lines: Vec<(usize, i64)> = levels.iter().enumerate().map(|(i, l)| (i, l.erp)).collect();
    adjust(&s, &levels, &lines, "BENCH-INIT").await?;
    timings.insert("erp_stock".into(), json!(t.elapsed().as_secs_f64()));

    let t = Instant::now();
    connect_shop(&mut s, &sim, &locations, &variants, &items).await?;
    timings.insert("shop_and_links".into(), json!(t.elapsed().as_secs_f64()));
    Ok(Bench { sim, s, locations, levels, rng, timings })
}

/// ERP: the locations and an item per variant (16 created at a time); the items' (no., SKU)
/// in the variants' order.
async fn erp_items(s: &mut Stack, variants: &[ShopVariant]) -> Result<Arc<Vec<(String, String)>>> {
    eprintln!("(i) ERP: {} items (CreateItem, 16 in flight)…", variants.len());
    for code in ERP_LOCATIONS {
        s.erp
            .create_location(pb::Location {
                code: code.into(),
                name: code.into(),
                ..Default::default()
            })
            .await?;
    }
    let items: Arc<Vec<(String, String)>> =
        Arc::new(variants.iter().map(|(_, _, _, sku)| (format!("I-{sku}"), sku.clone())).collect());
    let (erp, all) = (s.erp.clone(), items.clone());
    parallel(all.len(), 16, move |i| {
        let (mut erp, items) = (erp.clone(), all.clone());
        async move {
            let (no, sku) = &items[i];
            erp.create_item(pb::Item {
                no: no.clone(),
                description: sku.clone(),
                unit_price_minor: 1000,
                currency: "EUR".into(),
                sku: sku.clone(),
                ..Default::default()
            })
            .await?;
            Ok(())
        }
    })
    .await?;
    Ok(items)
}

/// The shop (its locations mapped to the ERP's) and a link per variant to its item.
async fn connect_shop(
    s: &mut Stack,
    sim: &Served,
    locations: &[u64],
    variants: &[ShopVariant],
    items: &[(String, String)],
) -> Result<()> {
    let settings = ShopSettings {
        allow_background_syncs: false,
        locations: locations
            .iter()
            .zip(ERP_LOCATIONS)
            .map(|(id, code)| LocationMapping {
                shopify_location_id: format!("gid://shopify/Location/{id}"),
                erp_location_filter: code.into(),
                stock_calculation: Default::default(),
                default_erp_location: None,
            })
            .collect(),
        ..Default::default()
    };
    create_shop(&mut s.shops, sim, SHOP, &settings).await?;
    let links: Vec<pb::Link> = variants
        .iter()
        .zip(items.iter())
        .map(|((pid, vid, inv, _), (no, _))| pb::Link {
            kind: pb::LinkKind::Item as i32,
            erp_id: no.clone(),
            erp_variant: String::new(),
            shopify_id: format!("gid://shopify/ProductVariant/{vid}"),
            shopify_parent_id: format!("gid://shopify/Product/{pid}"),
            shopify_inventory_item_id: format!("gid://shopify/InventoryItem/{inv}"),
            updated_at: None,
        })
        .collect();
    for chunk in links.chunks(1000) {
        s.shops.put_links(pb::PutLinksRequest { shop: SHOP.into(), links: chunk.to_vec() }).await?;
    }
    Ok(())
}

/// SyncInventory now, measured: what it did and cost, and the simulated time it started.
async fn timed_sync(b: &mut Bench) -> Result<(Value, f64)> {
    let before = usage(&b.sim.sim, SHOP)?;
    let t0 = b.sim.sim.clock.now_secs();
    let real0 = Instant::now();
    let run = sync_inventory(&mut b.s).await?;
    let real = real0.elapsed().as_secs_f64();
    let after = usage(&b.sim.sim, SHOP)?;
    Ok((phase(&run, &before, &after, t0, real), t0))
}

/// (i-a) The initial sync: every level that differs is sent.
async fn initial_sync(b: &mut Bench) -> Result<Value> {
    let n_levels = b.levels.len();
    let differing = b.wrong_levels()?;
    eprintln!("(i-a) initial sync: SyncInventory of {n_levels} levels ({differing} differ)…");
    let (mut initial, t0) = timed_sync(b).await?;
    let rss_initial = peak_rss_mib(&b.s.inventory)?;
    initial["simulated_seconds"] = json!(b.sim.sim.clock.now_secs() - t0);
    initial["levels_differing_before"] = json!(differing);
    initial["expected_mutations"] = json!(differing.div_ceil(BATCH));
    let wrong = b.wrong_levels()?;
    initial["levels_wrong_after"] = json!(wrong);
    initial["peak_rss_mib"] = json!(rss_initial);
    ensure!(wrong == 0, "(i-a) {wrong} levels differ from the ERP after the initial sync");
    Ok(initial)
}

/// (i-c) 1 % of the levels changed in the ERP, then SyncInventory.
async fn one_percent_changed(b: &mut Bench) -> Result<Value> {
    let n_levels = b.levels.len();
    let k = n_levels.div_ceil(100);
    let mut picked: Vec<usize> = rand::seq::index::sample(&mut b.rng, n_levels, k).into_vec();
    picked.sort_unstable();
    let lines: Vec<(usize, i64)> = picked.iter().map(|&i| (i, b.rng.random_range(1..=5))).collect();
    for &(i, d) in &lines {
        b.levels[i].erp += d;
    }
    adjust(&b.s, &b.levels, &lines, "BENCH-ONE-PCT").await?;
    eprintln!("(i-c) {k} levels (1 %) changed in the ERP, SyncInventory…");
    let (mut one_pct, _) = timed_sync(b).await?;
    one_pct["levels_changed"] = json!(k);
    one_pct["expected_mutations"] = json!(k.div_ceil(BATCH));
    let wrong = b.wrong_levels()?;
    one_pct["levels_wrong_after"] = json!(wrong);
    ensure!(wrong == 0, "(i-c) {wrong} levels differ from the ERP after the run");
    Ok(one_pct)
}

/// (i-d) inventory-sync started with its stock follower: the time to replay the feed, until
/// a change posted now reached the simulator (the feed is in commit order).
async fn follower_catch_up(b: &mut Bench) -> Result<Value> {
    eprintln!("(i-d) inventory-sync restarted with its stock follower: replaying the feed…");
    let before = usage(&b.sim.sim, SHOP)?;
    let real0 = Instant::now();
    b.s.inventory = start_inventory(&b.s, true, "inventory-shopsync-inventory-sync-follow").await?;
    let sentinel = 0usize;
    b.levels[sentinel].erp += 1;
    adjust(&b.s, &b.levels, &[(sentinel, 1)], "BENCH-SENTINEL").await?;
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        if b.on_hand(sentinel)? == Some(b.levels[sentinel].erp) {
            break;
        }
        if Instant::now() > deadline {
            bail!("(i-d) the follower did not catch up within 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = usage(&b.sim.sim, SHOP)?;
    Ok(json!({
        "real_seconds": real0.elapsed().as_secs_f64(),
        "feed_levels": b.levels.len(),
        "requests": after.requests - before.requests,
        "actual_points": after.actual_points - before.actual_points,
    }))
}

/// (i-d) ERP stock changes at a fixed rate, each to its own level (never the sentinel): the
/// time from just before each is posted until the simulator holds the new quantity.
async fn change_latency(b: &mut Bench, p: &Params) -> Result<Value> {
    let n_levels = b.levels.len();
    let n = ((p.change_rate * p.change_secs).round() as usize).min(n_levels - 1);
    eprintln!("(i-d) {n} ERP stock changes at {}/s, each to its own level…", p.change_rate);
    // Distinct levels, none the sentinel.
    let targets: Vec<usize> =
        rand::seq::index::sample(&mut b.rng, n_levels - 1, n).into_iter().map(|i| i + 1).collect();
    let before = usage(&b.sim.sim, SHOP)?;
    let pending: Arc<Mutex<Awaited>> = Arc::default();
    let done: Arc<Mutex<Vec<f64>>> = Arc::default();
    let posting_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher =
        watch_arrivals(b.sim.sim.clone(), pending.clone(), done.clone(), posting_done.clone());
    let start_at = Instant::now();
    let mut posts = Vec::with_capacity(n);
    for (j, &i) in targets.iter().enumerate() {
        tokio::time::sleep_until(
            (start_at + Duration::from_secs_f64(j as f64 / p.change_rate)).into(),
        )
        .await;
        let delta = b.rng.random_range(1..=3);
        let level = &mut b.levels[i];
        level.erp += delta;
        let key = (level.inventory_item, b.locations[level.loc]);
        let (expected, item_no, code) =
            (level.erp, level.item_no.clone(), ERP_LOCATIONS[level.loc]);
        let (mut erp, pending) = (b.s.erp.clone(), pending.clone());
        posts.push(tokio::spawn(async move {
            pending
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .insert(key, (expected, Instant::now()));
            erp.post_stock_adjustment(pb::StockAdjustmentRequest {
                lines: vec![pb::StockAdjustmentLine {
                    item_no,
                    location_code: code.into(),
                    quantity: delta,
                    ..Default::default()
                }],
                document_no: "BENCH-LIVE".into(),
                idempotency_key: format!("BENCH-LIVE-{j}"),
                ..Default::default()
            })
            .await?;
            anyhow::Ok(())
        }));
    }
    let offered = n as f64 / start_at.elapsed().as_secs_f64();
    for t in posts {
        t.await??;
    }
    posting_done.store(true, Ordering::Release);
    watcher.await??;
    let after = usage(&b.sim.sim, SHOP)?;
    let mut ms = done.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    ms.sort_by(f64::total_cmp);
    let rss_follow = peak_rss_mib(&b.s.inventory)?;
    Ok(json!({
        "changes": n,
        "offered_per_sec": offered,
        "latency": "from just before PostStockAdjustment (one line, its own level) to the simulator's on_hand holding the new quantity",
        "p50_ms": pct(&ms, 0.5),
        "p99_ms": pct(&ms, 0.99),
        "max_ms": ms.last().copied().unwrap_or(f64::NAN),
        "requests": after.requests - before.requests,
        "actual_points": after.actual_points - before.actual_points,
        "requested_points": after.requested_points - before.requested_points,
        "throttled_answers": after.throttled - before.throttled,
        "target_p99_ms": 2000,
        "follower_peak_rss_mib": rss_follow,
    }))
}

/// Watch the simulator for the changes `pending` awaits: each that arrived moves to `done` as
/// its latency (ms). Ends once posting is done and nothing is pending (an error when some
/// never arrive within 2 minutes).
fn watch_arrivals(
    sim: Arc<Sim>,
    pending: Arc<Mutex<Awaited>>,
    done: Arc<Mutex<Vec<f64>>>,
    posting_done: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<Result<()>> {
    tokio::spawn(async move {
        let mut idle_since: Option<Instant> = None;
        loop {
            let finished_posting = posting_done.load(Ordering::Acquire);
            let arrived: Vec<((u64, u64), f64)> = {
                let p = pending.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                let now = Instant::now();
                with_shop(&sim, SHOP, |sh| {
                    p.iter()
                        .filter(|(k, (q, _))| sh.levels.get(k).map(Quantities::on_hand) == Some(*q))
                        .map(|(k, (_, at))| (*k, (now - *at).as_secs_f64() * 1000.0))
                        .collect()
                })?
            };
            let left = {
                let mut p = pending.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                let mut d = done.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                for (k, ms) in arrived {
                    p.remove(&k);
                    d.push(ms);
                }
                p.len()
            };
            if finished_posting {
                if left == 0 {
                    return anyhow::Ok(());
                }
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(120) {
                    bail!("(i-d) {left} changes never reached the simulator");
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
}
