//! `make bench`: job queue benchmarks on the PostgreSQL server in DATABASE_URL, each in a
//! database of its own. Prints a table and writes bench/results/queue.json.
//!
//! (a) drain N no-op jobs in-process (dispatcher + no-op executor), beside River's Rust
//!     benchmark (`riverqueue bench -n N`) on the same server: rounds of both, interleaved
//!     (a shared machine's speed drifts by a fifth within minutes), compared by their
//!     medians, every round reported;
//! (b) end to end: the scheduler binary dispatching to a real worker binary over gRPC;
//! (c) pickup latency (entry committed -> attempt started) at a fixed offered rate of
//!     creates through gRPC.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod erp;
mod inventory;
mod orders;
mod shopify;

use anyhow::{Context, Result, bail};
use clap::Parser;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde_json::json;
use shopsync_common::params::TestParams;
use shopsync_common::{EntrySpec, Service, TaskParams};
use shopsync_scheduler::dispatch::{Dispatcher, DispatcherConfig};
use shopsync_scheduler::executor::NoopExecutor;
use shopsync_scheduler::repo::Repo;
use sqlx::{AssertSqlSafe, Connection, PgPool};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
struct Args {
    /// Jobs drained in-process (a), and by River.
    #[arg(long, default_value_t = 1_000_000)]
    jobs: usize,
    /// Rounds of (a) and of River, interleaved; their medians are compared.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=9))]
    rounds: u32,
    /// Jobs through the gRPC worker (b).
    #[arg(long, default_value_t = 100_000)]
    e2e_jobs: usize,
    /// Offered creates per second for the latency run (c).
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    #[arg(long, default_value_t = 15)]
    latency_secs: u64,
    /// Seconds of offered load before the latency run starts counting (connections,
    /// caches and the worker's stream come up).
    #[arg(long, default_value_t = 3)]
    warmup_secs: u64,
    /// River's CLI (`riverqueue`); searched in PATH and target/river/bin when unset.
    #[arg(long, env = "RIVER_BIN")]
    river_bin: Option<PathBuf>,
    #[arg(long)]
    skip_river: bool,
    /// Only these scenarios (a, b, c: the job queue; s: Shopify pacing; e: ERP documents;
    /// o: order sync; w: order webhooks; f: fulfillments; w and f are written into the orders
    /// file; i: inventory sync).
    #[arg(long, value_delimiter = ',', default_value = "a,b,c,s,e,o,w,f,i")]
    only: Vec<String>,
    /// Shipments sent as fulfillments (f).
    #[arg(long, default_value_t = 1_000)]
    fulfillments: usize,
    /// Orders placed per second for the webhook latency (w).
    #[arg(long, default_value_t = 20.0)]
    webhook_rate: f64,
    /// Seconds of orders for the webhook latency (w).
    #[arg(long, default_value_t = 30.0)]
    webhook_secs: f64,
    #[arg(long, default_value = "bench/results/orders.json")]
    orders_out: PathBuf,
    /// Orders of each order-sync scenario (o).
    #[arg(long, default_value_t = 10_000)]
    orders: usize,
    /// Real seconds of the simulated day of the steady state (o-a); 288 makes a 1-second
    /// entry interval 5 simulated minutes.
    #[arg(long, default_value_t = 288.0)]
    orders_day_secs: f64,
    /// Clock speed of the simulator of the backlog and the initial load (o-b, o-c); real time
    /// by default: the client paces by the real clock between Shopify's answers.
    #[arg(long, default_value_t = 1.0)]
    orders_time_scale: f64,
    /// Products of 3 variants at 2 locations for the inventory sync (i); the size is
    /// 20,000 (120,000 levels).
    #[arg(long, default_value_t = 20_000)]
    inventory_items: usize,
    /// ERP stock changes per second for the change-to-Shopify latency (i).
    #[arg(long, default_value_t = 100.0)]
    inventory_change_rate: f64,
    /// Seconds of ERP stock changes (i).
    #[arg(long, default_value_t = 30.0)]
    inventory_change_secs: f64,
    /// Clock speed of the inventory simulator (i); real time by default.
    #[arg(long, default_value_t = 1.0)]
    inventory_time_scale: f64,
    #[arg(long, default_value = "bench/results/inventory.json")]
    inventory_out: PathBuf,
    #[arg(long, default_value = "bench/results/queue.json")]
    out: PathBuf,
    #[arg(long, default_value = "bench/results/shopify.json")]
    shopify_out: PathBuf,
    #[arg(long, default_value = "bench/results/erp.json")]
    erp_out: PathBuf,
    /// Sales orders created and batch-posted (e).
    #[arg(long, default_value_t = 10_000)]
    erp_orders: usize,
    /// Create calls in flight (e).
    #[arg(long, default_value_t = 64)]
    erp_concurrency: usize,
    /// Simulated seconds of the Shopify workload (s).
    #[arg(long, default_value_t = 300.0)]
    shopify_secs: f64,
    /// How much faster the simulator's clock runs (s).
    #[arg(long, default_value_t = 20.0)]
    shopify_time_scale: f64,
}

fn admin_url() -> Result<String> {
    std::env::var("DATABASE_URL")
        .context("DATABASE_URL is not set (make bench starts a throwaway cluster)")
}

fn db_url(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    format!("{base}/{name}")
}

async fn fresh_db(name: &str) -> Result<String> {
    let admin = admin_url()?;
    let mut c = sqlx::postgres::PgConnection::connect(&admin).await?;
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut c)
        .await?;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut c).await?;
    // Start each scenario with the earlier ones' dirty pages written out, so it does not pay
    // for their checkpoint.
    sqlx::query("CHECKPOINT").execute(&mut c).await?;
    Ok(db_url(&admin, name))
}

/// Drop a scenario's database once it is measured, so its dead rows do not keep autovacuum
/// busy during the next scenario.
async fn drop_db(name: &str) -> Result<()> {
    let mut c = sqlx::postgres::PgConnection::connect(&admin_url()?).await?;
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut c)
        .await?;
    Ok(())
}

/// Connect the benchmarks' shop (entries of unknown shops are refused).
async fn create_bench_shop(scheduler_url: &str) -> Result<()> {
    let auth =
        shopsync_runtime::ClientAuth::new(Some(&secrecy::SecretString::from(TOKEN.to_owned())))
            .map_err(anyhow::Error::msg)?;
    let ch = shopsync_runtime::client::connect(scheduler_url, auth).await?;
    let shop = shopsync_proto::pb::Shop {
        name: "bench-shop".into(),
        store_domain: "bench-shop.myshopify.com".into(),
        ..Default::default()
    };
    shopsync_proto::pb::shops_client::ShopsClient::new(ch)
        .create_shop(shopsync_proto::pb::CreateShopRequest {
            shop: Some(shop),
            ..Default::default()
        })
        .await?;
    Ok(())
}

fn noop_spec() -> EntrySpec {
    let mut s = EntrySpec::new(
        "bench-shop",
        TaskParams::Test(TestParams { service: Service::OrderSync, ..Default::default() }),
    );
    s.created_by = "bench".into();
    s
}

async fn load(repo: &Repo, n: usize) -> Result<()> {
    let spec = noop_spec();
    let mut left = n;
    while left > 0 {
        let k = left.min(50_000);
        repo.insert_ready_batch(&spec, k).await?;
        left -= k;
    }
    sqlx::query("VACUUM ANALYZE scheduler.entries, scheduler.due").execute(repo.pool()).await?;
    Ok(())
}

async fn db_span(pool: &PgPool) -> Result<(i64, f64)> {
    let (n, secs): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), extract(epoch FROM max(finished_at) - min(started_at))::float8 \
         FROM scheduler.runs WHERE status = 'succeeded'",
    )
    .fetch_one(pool)
    .await?;
    Ok((n, secs.unwrap_or(f64::NAN)))
}

/// (a) in-process drain.
async fn drain(n: usize) -> Result<serde_json::Value> {
    let url = fresh_db("shopsync_bench_drain").await?;
    let pool =
        shopsync_store::connect(&url, 16, "shopsync-bench", &[&shopsync_scheduler::SCHEMA]).await?;
    eprintln!("(a) loading {n} ready entries…");
    load(&Repo::new(pool.clone()), n).await?;
    // The dispatcher's connections as the scheduler service opens them.
    let repo = Repo::with_keyed(pool.clone(), shopsync_scheduler::dispatcher_pool(&url, 16).await?);
    let cfg = DispatcherConfig {
        name: "bench".into(),
        max_concurrency: 8000,
        claim_batch: 2000,
        ..Default::default()
    };
    let d = Dispatcher::new(cfg, repo.clone(), NoopExecutor);
    let stats = d.stats();
    let stop = CancellationToken::new();
    eprintln!("(a) draining…");
    let start = Instant::now();
    let task = tokio::spawn(d.run(stop.clone(), Duration::from_secs(30)));
    while stats.completed.load(Ordering::Relaxed) < n as u64 {
        if task.is_finished() {
            bail!("dispatcher stopped early");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!("(a) drained");
    stop.cancel();
    task.await??;
    let (done, db_secs) = db_span(&pool).await?;
    if done != n as i64 {
        bail!("{done} runs succeeded, expected {n}");
    }
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM scheduler.entries WHERE status <> 'finished'")
            .fetch_one(&pool)
            .await?;
    if left != 0 {
        bail!("{left} entries not finished");
    }
    pool.close().await;
    drop_db("shopsync_bench_drain").await?;
    Ok(
        json!({ "jobs": n, "seconds": secs, "jobs_per_sec": n as f64 / secs, "db_span_seconds": db_secs }),
    )
}

fn find_river(arg: &Option<PathBuf>) -> Option<PathBuf> {
    if let Some(p) = arg {
        return Some(p.clone());
    }
    let mut cands: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("riverqueue")).collect())
        .unwrap_or_default();
    cands.push(PathBuf::from("target/river/bin/riverqueue"));
    cands.into_iter().find(|p| p.exists())
}

/// River's Rust benchmark on its own database of the same server.
async fn river(bin: &Path, n: usize) -> Result<serde_json::Value> {
    let url = fresh_db("shopsync_bench_river").await?;
    let st = Command::new(bin)
        .args(["migrate-up", "--database-url", &url])
        .stdout(Stdio::null())
        .status()
        .await?;
    if !st.success() {
        bail!("riverqueue migrate-up failed");
    }
    eprintln!("(a) River: riverqueue bench -n {n}…");
    let out = Command::new(bin)
        .args(["bench", "-n", &n.to_string(), "--database-url", &url])
        .output()
        .await?;
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("riverqueue bench failed: {text}");
    }
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("overall job/sec"))
        .context("no summary line from riverqueue bench")?;
    let rate: f64 = line
        .split("overall job/sec [")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .and_then(|s| s.trim().parse().ok())
        .with_context(|| format!("cannot parse {line:?}"))?;
    drop_db("shopsync_bench_river").await?;
    Ok(
        json!({ "jobs": n, "jobs_per_sec": rate, "summary": line.trim(), "command": format!("riverqueue bench -n {n}") }),
    )
}

struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.start_kill();
        }
    }
}

const TOKEN: &str = "bench-service-token-0123456789";

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_healthy(port: u16) -> Result<()> {
    let start = Instant::now();
    loop {
        let ok = async {
            let ch = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?
                .connect()
                .await?;
            let r = tonic_health::pb::health_client::HealthClient::new(ch)
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await?;
            anyhow::Ok(r.into_inner().status == 1)
        }
        .await;
        if matches!(ok, Ok(true)) {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(20) {
            bail!("service on port {port} did not become healthy");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where a started service's log goes: target/bench-logs/<name>.log.
fn bench_log(name: &str) -> Result<Stdio> {
    let dir = std::env::current_exe()?.parent().context("no exe dir")?.join("../bench-logs");
    std::fs::create_dir_all(&dir)?;
    Ok(std::fs::File::create(dir.join(format!("{name}.log")))?.into())
}

/// Start the release scheduler and order-sync worker binaries.
async fn start_stack(db: &str, dispatch: bool) -> Result<(Procs, u16)> {
    let dir = std::env::current_exe()?.parent().context("no exe dir")?.to_path_buf();
    let wport = free_port()?;
    let sport = free_port()?;
    let worker = Command::new(dir.join("shopsync-order-sync"))
        .env("SHOPSYNC_LISTEN", format!("127.0.0.1:{wport}"))
        .env("SHOPSYNC_SERVICE_TOKEN", TOKEN)
        .env("SHOPSYNC_DATABASE_URL", db)
        .env("SHOPSYNC_DB_MAX_CONNECTIONS", "4")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting shopsync-order-sync (make bench builds it)")?;
    let mut procs = Procs(vec![worker]);
    wait_healthy(wport).await?;
    let sched = Command::new(dir.join("shopsync-scheduler"))
        .env("SHOPSYNC_LISTEN", format!("127.0.0.1:{sport}"))
        .env("SHOPSYNC_SERVICE_TOKEN", TOKEN)
        .env("SHOPSYNC_DATABASE_URL", db)
        .env("SHOPSYNC_WORKERS__ORDER_SYNC", format!("http://127.0.0.1:{wport}"))
        .env("SHOPSYNC_MAX_CONCURRENCY", "1024")
        .env("SHOPSYNC_CLAIM_BATCH", "1000")
        .env("SHOPSYNC_DB_MAX_CONNECTIONS", "16")
        .env("SHOPSYNC_DISPATCH", dispatch.to_string())
        .env("RUST_LOG", "warn")
        .stdout(bench_log("scheduler")?)
        .kill_on_drop(true)
        .spawn()
        .context("starting shopsync-scheduler")?;
    procs.0.push(sched);
    wait_healthy(sport).await?;
    Ok((procs, sport))
}

/// (b) scheduler -> gRPC worker, end to end.
async fn through_grpc(n: usize) -> Result<serde_json::Value> {
    let url = fresh_db("shopsync_bench_grpc").await?;
    let pool =
        shopsync_store::connect(&url, 4, "shopsync-bench", &[&shopsync_scheduler::SCHEMA]).await?;
    let repo = Repo::new(pool.clone());
    eprintln!("(b) loading {n} entries…");
    load(&repo, n).await?;
    eprintln!("(b) scheduler + order-sync worker over gRPC…");
    let start = Instant::now();
    let (procs, _) = start_stack(&url, true).await?;
    loop {
        let (done, _) = db_span(&pool).await?;
        if done >= n as i64 {
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            bail!("only {done} of {n} done after 10 min");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(procs);
    let (done, secs) = db_span(&pool).await?;
    pool.close().await;
    drop_db("shopsync_bench_grpc").await?;
    Ok(json!({ "jobs": done, "seconds": secs, "jobs_per_sec": done as f64 / secs }))
}

/// (c) pickup latency at a fixed offered rate of gRPC creates.
async fn latency(rate: u32, warmup: u64, measured: u64) -> Result<serde_json::Value> {
    let secs = warmup + measured;
    let url = fresh_db("shopsync_bench_latency").await?;
    let pool =
        shopsync_store::connect(&url, 4, "shopsync-bench", &[&shopsync_scheduler::SCHEMA]).await?;
    let (procs, sport) = start_stack(&url, true).await?;
    let auth =
        shopsync_runtime::ClientAuth::new(Some(&secrecy::SecretString::from(TOKEN.to_owned())))
            .map_err(anyhow::Error::msg)?;
    create_bench_shop(&format!("http://127.0.0.1:{sport}")).await?;
    let ch = shopsync_runtime::client::connect(&format!("http://127.0.0.1:{sport}"), auth).await?;
    let client = shopsync_proto::pb::job_queue_client::JobQueueClient::new(ch);
    let spec = shopsync_proto::spec_to_pb(&noop_spec());
    eprintln!("(c) offering {rate} creates/s for {secs} s…");
    // Open loop: a create goes out at every tick whether or not earlier ones have returned,
    // so the offered rate does not sag when the server slows down.
    let start = Instant::now();
    let measure_from = chrono::Utc::now() + chrono::TimeDelta::seconds(warmup as i64);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut inflight = tokio::task::JoinSet::new();
    let mut offered = 0u64;
    // An open-loop load test reports the creates the server refused (overload) instead of
    // stopping at the first one.
    let mut failed = 0u64;
    let mut create_ms: Vec<f64> = Vec::new();
    while start.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        let mut c = client.clone();
        let spec = spec.clone();
        let counted = start.elapsed() >= Duration::from_secs(warmup);
        inflight.spawn(async move {
            let sent = Instant::now();
            let r = c
                .create_entry(shopsync_proto::pb::CreateEntryRequest {
                    spec: Some(spec),
                    ..Default::default()
                })
                .await;
            // The create's round trip as the client sees it (it includes any wait for a batch).
            (r, counted.then(|| sent.elapsed().as_secs_f64() * 1000.0))
        });
        offered += 1;
        while let Some(r) = inflight.try_join_next() {
            let (r, ms) = r?;
            failed += u64::from(r.is_err());
            create_ms.extend(ms);
        }
    }
    // The offered rate is over the offering loop, not the wait for stragglers.
    let offer_secs = start.elapsed().as_secs_f64();
    while let Some(r) = inflight.join_next().await {
        let (r, ms) = r?;
        failed += u64::from(r.is_err());
        create_ms.extend(ms);
    }
    create_ms.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        create_ms
            .get(((create_ms.len() as f64 * q) as usize).min(create_ms.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let (create_p50, create_p99) = (pct(0.5), pct(0.99));
    // Let the last ones finish.
    let t = Instant::now();
    while db_span(&pool).await?.0 < offered as i64 && t.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(procs);
    let (n, p50, p99, max): (i64, f64, f64, f64) = sqlx::query_as(
        "SELECT count(*), \
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), \
           percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms) \
         FROM (SELECT (extract(epoch FROM r.started_at - e.created_at) * 1000)::float8 AS ms \
               FROM scheduler.runs r JOIN scheduler.entries e ON e.id = r.entry_id \
               WHERE e.created_at >= $1) x",
    )
    .bind(measure_from)
    .fetch_one(&pool)
    .await?;
    pool.close().await;
    if std::env::var_os("BENCH_KEEP_DB").is_none() {
        drop_db("shopsync_bench_latency").await?;
    }
    Ok(json!({
        "offered_per_sec": offered as f64 / offer_secs,
        "creates_offered": offered,
        "creates_failed": failed,
        "warmup_secs": warmup,
        "measured_secs": measured,
        "jobs": n,
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": max,
        "create_p50_ms": create_p50,
        "create_p99_ms": create_p99,
    }))
}

/// A throughput result's jobs per second.
fn rate(v: &serde_json::Value) -> f64 {
    v["jobs_per_sec"].as_f64().unwrap_or(f64::NAN)
}

/// Several rounds of a throughput benchmark as one result: the median rate, the other fields
/// of the median round (of the upper middle one for an even count), the range, and every
/// round.
fn rounds_summary(mut rounds: Vec<serde_json::Value>, what: &str) -> serde_json::Value {
    let all = rounds.clone();
    rounds.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
    let mut out = rounds[rounds.len() / 2].clone();
    // An even count has no middle round: its median is the mean of the two middle ones.
    if rounds.len().is_multiple_of(2) {
        out["jobs_per_sec"] =
            json!((rate(&rounds[rounds.len() / 2 - 1]) + rate(&rounds[rounds.len() / 2])) / 2.0);
    }
    out["statistic"] = json!(format!("median of {} rounds of {what}", rounds.len()));
    out["min_jobs_per_sec"] = json!(rate(&rounds[0]));
    out["max_jobs_per_sec"] = json!(rate(&rounds[rounds.len() - 1]));
    out["rounds"] = json!(all);
    out
}

fn host() -> serde_json::Value {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    json!({ "cpus": cpus, "os": std::env::consts::OS, "arch": std::env::consts::ARCH })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let has = |s: &str| args.only.iter().any(|o| o == s);
    let mut results = serde_json::Map::new();
    results.insert("host".into(), host());
    results.insert("date".into(), json!(chrono::Utc::now().to_rfc3339()));
    if has("a") {
        let river_bin = if args.skip_river {
            None
        } else {
            let bin = find_river(&args.river_bin);
            if bin.is_none() {
                eprintln!("riverqueue not found (make bench installs it into target/river)");
            }
            bin
        };
        // Interleaved, and which goes first alternates, so that a drift of the machine's
        // speed during the rounds weighs on both sides alike.
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for round in 0..args.rounds {
            let river_first = round % 2 == 1;
            if let (true, Some(bin)) = (river_first, &river_bin) {
                theirs.push(river(bin, args.jobs).await?);
            }
            ours.push(drain(args.jobs).await?);
            if let (false, Some(bin)) = (river_first, &river_bin) {
                theirs.push(river(bin, args.jobs).await?);
            }
        }
        // Each round's pair too: with the medians, how steady the comparison was.
        let paired: Vec<f64> = ours.iter().zip(&theirs).map(|(a, b)| rate(a) / rate(b)).collect();
        let drained = rounds_summary(ours, "drain_in_process");
        if !theirs.is_empty() {
            let river = rounds_summary(theirs, "riverqueue bench");
            results.insert("ratio_per_round".into(), json!(paired));
            results.insert("ratio_of_medians".into(), json!(rate(&drained) / rate(&river)));
            results.insert("river".into(), river);
        }
        results.insert("drain_in_process".into(), drained);
    }
    if has("b") {
        results.insert("grpc_end_to_end".into(), through_grpc(args.e2e_jobs).await?);
    }
    if has("c") {
        results.insert(
            "pickup_latency".into(),
            latency(args.rate, args.warmup_secs, args.latency_secs).await?,
        );
    }
    let queue_ran = ["a", "b", "c"].iter().any(|s| has(s));
    let shopify = if has("s") {
        Some(shopify::run(args.shopify_secs, args.shopify_time_scale, 4).await?)
    } else {
        None
    };
    let erp =
        if has("e") { Some(erp::run(args.erp_orders, args.erp_concurrency).await?) } else { None };
    let orders = if has("o") {
        Some(
            orders::run(orders::Params {
                orders: args.orders,
                day_secs: args.orders_day_secs,
                fast_scale: args.orders_time_scale,
            })
            .await?,
        )
    } else {
        None
    };
    let hooks = if has("w") {
        Some(orders::webhooks(args.webhook_rate, args.webhook_secs).await?)
    } else {
        None
    };
    let fulfilled =
        if has("f") { Some(orders::fulfillments(args.fulfillments).await?) } else { None };
    let stock = if has("i") {
        Some(
            inventory::run(inventory::Params {
                items: args.inventory_items,
                change_rate: args.inventory_change_rate,
                change_secs: args.inventory_change_secs,
                time_scale: args.inventory_time_scale,
            })
            .await?,
        )
    } else {
        None
    };
    let r = serde_json::Value::Object(results);
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header(["benchmark", "result", "target", "met"]);
    let f = |v: &serde_json::Value, k: &str| {
        v.get(k).and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN)
    };
    let range = |v: &serde_json::Value| match v["rounds"].as_array().map(Vec::len) {
        Some(n) if n > 1 => format!(
            " (median of {n}: {:.0}–{:.0})",
            f(v, "min_jobs_per_sec"),
            f(v, "max_jobs_per_sec")
        ),
        _ => String::new(),
    };
    if let Some(a) = r.get("drain_in_process") {
        let ours = f(a, "jobs_per_sec");
        t.add_row([
            format!("(a) drain {} no-op jobs in-process", a["jobs"]),
            format!("{ours:.0} jobs/s{}", range(a)),
            "≥ 20,000 jobs/s".into(),
            (ours >= 20_000.0).to_string(),
        ]);
        if let Some(rv) = r.get("river") {
            let theirs = f(rv, "jobs_per_sec");
            t.add_row([
                "    River (riverqueue bench, same server)".into(),
                format!("{theirs:.0} jobs/s{}", range(rv)),
                String::new(),
                String::new(),
            ]);
            let ratio = ours / theirs;
            let per_round = r["ratio_per_round"]
                .as_array()
                .filter(|v| v.len() > 1)
                .map(|v| {
                    let each: Vec<String> = v
                        .iter()
                        .map(|x| format!("{:.2}", x.as_f64().unwrap_or(f64::NAN)))
                        .collect();
                    format!(" (rounds: {})", each.join(", "))
                })
                .unwrap_or_default();
            t.add_row([
                "    ratio shopsync / River (medians)".into(),
                format!("{ratio:.2}×{per_round}"),
                "≥ 1.5×".into(),
                (ratio >= 1.5).to_string(),
            ]);
        }
    }
    if let Some(b) = r.get("grpc_end_to_end") {
        let v = f(b, "jobs_per_sec");
        t.add_row([
            format!("(b) {} jobs through a gRPC no-op worker", b["jobs"]),
            format!("{v:.0} jobs/s"),
            "≥ 10,000 jobs/s".into(),
            (v >= 10_000.0).to_string(),
        ]);
    }
    if let Some(c) = r.get("pickup_latency") {
        let p99 = f(c, "p99_ms");
        t.add_row([
            format!("(c) pickup latency at {:.0} jobs/s offered", f(c, "offered_per_sec")),
            format!(
                "p50 {:.1} ms, p99 {:.1} ms, {} creates refused",
                f(c, "p50_ms"),
                p99,
                c["creates_failed"]
            ),
            "p99 ≤ 15 ms".into(),
            (p99 <= 15.0 && c["creates_failed"] == 0).to_string(),
        ]);
        t.add_row([
            "    create call, client round trip".into(),
            format!("p50 {:.1} ms, p99 {:.1} ms", f(c, "create_p50_ms"), f(c, "create_p99_ms")),
            String::new(),
            String::new(),
        ]);
    }
    if let Some(s) = &shopify {
        let ratio = f(s, "ratio_of_ceiling");
        t.add_row([
            format!(
                "(s) Shopify client vs simulator, {:.0} simulated s, Standard plan",
                f(s, "simulated_seconds")
            ),
            format!(
                "{:.1} points/s = {:.1} % of ceiling, {} THROTTLED",
                f(s, "points_per_simulated_second"),
                ratio * 100.0,
                s["throttled_answers"]
            ),
            "≥ 90 %, 0 THROTTLED to callers".into(),
            (ratio >= 0.9 && s["errors_reaching_caller"] == 0).to_string(),
        ]);
    }
    if let Some(e) = &erp {
        let created = f(e, "orders_created_per_sec");
        let posted = f(e, "documents_posted_per_sec");
        t.add_row([
            format!("(e) create {} sales orders of 3 lines via gRPC", e["orders"]),
            format!("{created:.0} orders/s"),
            "≥ 2,000 orders/s".into(),
            (created >= 2000.0).to_string(),
        ]);
        let batched = f(e, "orders_created_per_sec_batched");
        t.add_row([
            format!("    the same via CreateSalesDocuments, {} per call", e["batch_size"]),
            format!("{batched:.0} orders/s"),
            "≥ 2,000 orders/s".into(),
            (batched >= 2000.0).to_string(),
        ]);
        t.add_row([
            "    batch-post them as one job (ship + invoice)".into(),
            format!("{posted:.0} documents/s"),
            "≥ 1,000 documents/s".into(),
            (posted >= 1000.0).to_string(),
        ]);
    }
    if let Some(o) = &orders {
        let a = &o["steady_state"];
        let req = f(a, "requested_points_per_order");
        let reference = f(&o["reference"], "measured_fitted_requested_points_per_order");
        t.add_row([
            format!("(o-a) {} orders over a simulated day, sync every 5 min", o["orders"]),
            format!(
                "{req:.1} requested / {:.1} actual points per order (reference {reference:.0}), {} failed runs",
                f(a, "actual_points_per_order"),
                a["failed_runs"]
            ),
            "≤ 14 requested per order".into(),
            (req <= 14.0 && a["failed_runs"] == 0).to_string(),
        ]);
        let l = &o["linear_cost_model"];
        let ours = f(l, "requested_points_per_order");
        let theirs = f(l, "reference_requested_points_per_order");
        t.add_row([
            "    linear cost model: ours vs the reference".into(),
            format!("{ours:.1} vs {theirs:.1} requested points per order"),
            "≤ half the reference".into(),
            (ours <= theirs / 2.0).to_string(),
        ]);
        let b = &o["backlog"];
        let per_hour = f(b, "orders_per_hour");
        let share = f(b, "share_of_ceiling");
        t.add_row([
            format!("(o-b) backlog of {} orders, one sync now", o["orders"]),
            format!(
                "{per_hour:.0} orders/h, {:.1} % of ceiling (while requesting), {} THROTTLED to the job",
                share * 100.0,
                b["throttled_reaching_the_job"]
            ),
            "≥ 100,000/h, ≥ 90 %, 0".into(),
            (per_hour >= 100_000.0 && share >= 0.9 && b["throttled_reaching_the_job"] == 0)
                .to_string(),
        ]);
        let c = &o["initial_load"];
        let secs = f(c, "simulated_seconds");
        t.add_row([
            format!("(o-c) initial load of {} historical orders", o["orders"]),
            format!("{secs:.0} simulated s, {:.0} points", f(c, "actual_points")),
            "< 300 simulated s".into(),
            (secs < 300.0).to_string(),
        ]);
    }
    if let Some(w) = &hooks {
        let p99 = f(w, "p99_ms");
        t.add_row([
            format!(
                "(o-w) webhook → sales document, {} orders at {:.0}/s",
                w["orders"],
                f(w, "offered_orders_per_sec")
            ),
            format!(
                "p50 {:.0} ms, p99 {p99:.0} ms, {} jobs for {} deliveries",
                f(w, "p50_ms"),
                w["webhook_jobs"],
                w["deliveries"]
            ),
            "p99 ≤ 5 s".into(),
            (p99 <= 5000.0 && w["failed_runs"] == 0).to_string(),
        ]);
    }
    if let Some(x) = &fulfilled {
        t.add_row([
            format!("(o-f) {} shipments → Shopify fulfillments, one Standard shop", x["shipments"]),
            format!(
                "{:.0} fulfillments/h, {:.1} requests and {:.1} points each, {:.1} % of the ceiling",
                f(x, "fulfillments_per_hour"),
                f(x, "requests_per_shipment"),
                f(x, "actual_points_per_shipment"),
                100.0 * f(x, "share_of_ceiling")
            ),
            "one fulfillment each".into(),
            (x["throttled_answers"] == 0).to_string(),
        ]);
    }
    if let Some(x) = &stock {
        let a = &x["initial_sync"];
        let share = f(a, "share_of_ceiling");
        // Points within one bucket are not paced at all: the limit does not bound that sync.
        let in_bucket = a["fits_in_bucket"] == true;
        t.add_row([
            format!(
                "(i-a) initial sync, {} products × 3 variants × 2 locations ({} levels){}",
                x["products"],
                x["levels"],
                if x["full_size"] == true { "" } else { ", NOT the issue's 20,000" }
            ),
            format!(
                "{:.1} s ({:.1} simulated), {} mutations, {:.0} actual points, {}",
                f(a, "real_seconds"),
                f(a, "simulated_seconds"),
                a["mutations"],
                f(a, "actual_points"),
                if in_bucket {
                    "within one bucket (not rate-bound)".to_owned()
                } else {
                    format!("{:.1} % of the ceiling", 100.0 * share)
                }
            ),
            "≥ 90 % of the ceiling".into(),
            (share >= 0.9 || in_bucket).to_string(),
        ]);
        let rss = f(x, "peak_rss_mib");
        t.add_row([
            "    peak RSS of inventory-sync (VmHWM, the three runs)".into(),
            format!("{rss:.1} MiB"),
            "≤ 200 MB".into(),
            (rss * 1.048_576 <= 200.0).to_string(),
        ]);
        let b = &x["unchanged_resync"];
        let share_b = f(x, "unchanged_points_share_of_initial");
        t.add_row([
            "(i-b) re-sync, nothing changed".into(),
            format!(
                "{} mutations, {:.0} actual points = {:.1} % of the initial sync's",
                b["mutations"],
                f(b, "actual_points"),
                100.0 * share_b
            ),
            "0 mutations, ≤ 2 %".into(),
            (b["mutations"] == 0 && share_b <= 0.02).to_string(),
        ]);
        let c = &x["one_percent_changed"];
        t.add_row([
            format!("(i-c) re-sync, {} levels (1 %) changed", c["levels_changed"]),
            format!("{} mutations, {:.0} actual points", c["mutations"], f(c, "actual_points")),
            format!("{} mutations", c["expected_mutations"]),
            (c["mutations"] == c["expected_mutations"]).to_string(),
        ]);
        let d = &x["change_latency"];
        let p99 = f(d, "p99_ms");
        t.add_row([
            format!(
                "(i-d) ERP stock change → Shopify, {} changes at {:.0}/s",
                d["changes"],
                f(d, "offered_per_sec")
            ),
            format!("p50 {:.0} ms, p99 {p99:.0} ms, max {:.0} ms", f(d, "p50_ms"), f(d, "max_ms")),
            "p99 ≤ 2 s".into(),
            (p99 <= 2000.0).to_string(),
        ]);
    }
    println!("{t}");
    let write = |path: &std::path::Path, v: &serde_json::Value| -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(v)?)?;
        println!("written to {}", path.display());
        Ok(())
    };
    if queue_ran {
        write(&args.out, &r)?;
    }
    if let Some(mut e) = erp {
        if let Some(o) = e.as_object_mut() {
            o.insert("host".into(), host());
            o.insert("date".into(), json!(chrono::Utc::now().to_rfc3339()));
        }
        write(&args.erp_out, &e)?;
    }
    // The webhook and fulfillment figures go into the orders file: beside a fresh (o), or
    // into the one there.
    let mut orders = orders;
    for (key, part) in [("webhooks", hooks), ("fulfillments", fulfilled)] {
        let Some(mut w) = part else { continue };
        let mut o = orders.take().unwrap_or_else(|| {
            std::fs::read(&args.orders_out)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_else(|| json!({}))
        });
        if let Some(m) = w.as_object_mut() {
            m.insert("date".into(), json!(chrono::Utc::now().to_rfc3339()));
        }
        if let Some(m) = o.as_object_mut() {
            m.insert(key.into(), w);
        }
        orders = Some(o);
    }
    if let Some(mut o) = orders {
        if let Some(m) = o.as_object_mut() {
            m.entry("host").or_insert_with(host);
            m.entry("date").or_insert_with(|| json!(chrono::Utc::now().to_rfc3339()));
        }
        write(&args.orders_out, &o)?;
    }
    if let Some(mut x) = stock {
        if let Some(o) = x.as_object_mut() {
            o.insert("host".into(), host());
            o.insert("date".into(), json!(chrono::Utc::now().to_rfc3339()));
        }
        write(&args.inventory_out, &x)?;
    }
    if let Some(mut s) = shopify {
        if let Some(o) = s.as_object_mut() {
            o.insert("host".into(), host());
            o.insert("date".into(), json!(chrono::Utc::now().to_rfc3339()));
        }
        write(&args.shopify_out, &s)?;
    }
    Ok(())
}
