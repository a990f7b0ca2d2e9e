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
mod harness;
mod inventory;
mod orders;
mod queue;
mod report;
mod shopify;

use anyhow::Result;
use clap::Parser;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use harness::stamped;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
pub struct Args {
    /// Jobs drained in-process (a), and by River.
    #[arg(long, default_value_t = 1_000_000)]
    pub jobs: usize,
    /// Rounds of (a) and of River, interleaved; their medians are compared.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub rounds: u32,
    /// Jobs through the gRPC worker (b).
    #[arg(long, default_value_t = 100_000)]
    e2e_jobs: usize,
    /// Offered creates per second for the latency run (c).
    #[arg(long, default_value_t = 2000)]
    pub rate: u32,
    #[arg(long, default_value_t = 15)]
    pub latency_secs: u64,
    /// Seconds of offered load before the latency run starts counting (connections,
    /// caches and the worker's stream come up).
    #[arg(long, default_value_t = 3)]
    pub warmup_secs: u64,
    /// River's CLI (`riverqueue`); searched in PATH and target/river/bin when unset.
    #[arg(long, env = "RIVER_BIN")]
    pub river_bin: Option<PathBuf>,
    #[arg(long)]
    pub skip_river: bool,
    /// Only these scenarios (a, b, c: the job queue; s: Shopify pacing; e: ERP documents;
    /// o: order sync; w: order webhooks; f: fulfillments; w and f are written into the orders
    /// file; i: inventory sync).
    #[arg(long, value_delimiter = ',', default_value = "a,b,c,s,e,o,w,f,i")]
    pub only: Vec<String>,
    /// Shipments sent as fulfillments (f).
    #[arg(long, default_value_t = 1_000)]
    pub fulfillments: usize,
    /// Orders placed per second for the webhook latency (w).
    #[arg(long, default_value_t = 20.0)]
    pub webhook_rate: f64,
    /// Seconds of orders for the webhook latency (w).
    #[arg(long, default_value_t = 30.0)]
    pub webhook_secs: f64,
    #[arg(long, default_value = "bench/results/orders.json")]
    pub orders_out: PathBuf,
    /// Orders of each order-sync scenario (o).
    #[arg(long, default_value_t = 10_000)]
    pub orders: usize,
    /// Real seconds of the simulated day of the steady state (o-a); 288 makes a 1-second
    /// entry interval 5 simulated minutes.
    #[arg(long, default_value_t = 288.0)]
    pub orders_day_secs: f64,
    /// Clock speed of the simulator of the backlog and the initial load (o-b, o-c); real time
    /// by default: the client paces by the real clock between Shopify's answers.
    #[arg(long, default_value_t = 1.0)]
    pub orders_time_scale: f64,
    /// Products of 3 variants at 2 locations for the inventory sync (i); the size is
    /// 20,000 (120,000 levels).
    #[arg(long, default_value_t = 20_000)]
    pub inventory_items: usize,
    /// ERP stock changes per second for the change-to-Shopify latency (i).
    #[arg(long, default_value_t = 100.0)]
    pub inventory_change_rate: f64,
    /// Seconds of ERP stock changes (i).
    #[arg(long, default_value_t = 30.0)]
    pub inventory_change_secs: f64,
    /// Clock speed of the inventory simulator (i); real time by default.
    #[arg(long, default_value_t = 1.0)]
    pub inventory_time_scale: f64,
    #[arg(long, default_value = "bench/results/inventory.json")]
    pub inventory_out: PathBuf,
    #[arg(long, default_value = "bench/results/queue.json")]
    pub out: PathBuf,
    #[arg(long, default_value = "bench/results/shopify.json")]
    pub shopify_out: PathBuf,
    #[arg(long, default_value = "bench/results/erp.json")]
    pub erp_out: PathBuf,
    /// Sales orders created and batch-posted (e).
    #[arg(long, default_value_t = 10_000)]
    pub erp_orders: usize,
    /// Create calls in flight (e).
    #[arg(long, default_value_t = 64)]
    pub erp_concurrency: usize,
    /// Simulated seconds of the Shopify workload (s).
    #[arg(long, default_value_t = 300.0)]
    pub shopify_secs: f64,
    /// How much faster the simulator's clock runs (s).
    #[arg(long, default_value_t = 20.0)]
    pub shopify_time_scale: f64,
}

impl Args {
    /// Whether scenario `s` runs.
    fn has(&self, s: &str) -> bool {
        self.only.iter().any(|o| o == s)
    }
}

/// What the scenarios measured (none: not run).
struct Results {
    /// (a), (b), (c), with the host and date: the queue file.
    queue: Option<Value>,
    shopify: Option<Value>,
    erp: Option<Value>,
    orders: Option<Value>,
    webhooks: Option<Value>,
    fulfillments: Option<Value>,
    inventory: Option<Value>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let results = Results {
        queue: job_queue(&args).await?,
        shopify: shopify(&args).await?,
        erp: erp(&args).await?,
        orders: orders(&args).await?,
        webhooks: webhooks(&args).await?,
        fulfillments: fulfillments(&args).await?,
        inventory: inventory(&args).await?,
    };
    println!("{}", table(&results));
    write_all(&args, results)
}

/// (a), (b), (c): the job queue scenarios asked for, as one result.
async fn job_queue(args: &Args) -> Result<Option<Value>> {
    if !["a", "b", "c"].iter().any(|s| args.has(s)) {
        return Ok(None);
    }
    let mut results = serde_json::Map::new();
    results.insert("host".into(), harness::host());
    results.insert("date".into(), json!(chrono::Utc::now().to_rfc3339()));
    if args.has("a") {
        queue::drain_vs_river(args, &mut results).await?;
    }
    if args.has("b") {
        results.insert("grpc_end_to_end".into(), queue::through_grpc(args.e2e_jobs).await?);
    }
    if args.has("c") {
        results.insert(
            "pickup_latency".into(),
            queue::latency(args.rate, args.warmup_secs, args.latency_secs).await?,
        );
    }
    Ok(Some(Value::Object(results)))
}

/// (s) the Shopify client's pacing against the simulator.
async fn shopify(args: &Args) -> Result<Option<Value>> {
    if !args.has("s") {
        return Ok(None);
    }
    Ok(Some(shopify::run(args.shopify_secs, args.shopify_time_scale, 4).await?))
}

/// (e) ERP documents.
async fn erp(args: &Args) -> Result<Option<Value>> {
    if !args.has("e") {
        return Ok(None);
    }
    Ok(Some(erp::run(args.erp_orders, args.erp_concurrency).await?))
}

/// (o) order sync.
async fn orders(args: &Args) -> Result<Option<Value>> {
    if !args.has("o") {
        return Ok(None);
    }
    let p = orders::Params {
        orders: args.orders,
        day_secs: args.orders_day_secs,
        fast_scale: args.orders_time_scale,
    };
    Ok(Some(orders::run(p).await?))
}

/// (w) order webhooks.
async fn webhooks(args: &Args) -> Result<Option<Value>> {
    if !args.has("w") {
        return Ok(None);
    }
    Ok(Some(orders::webhooks(args.webhook_rate, args.webhook_secs).await?))
}

/// (f) fulfillments.
async fn fulfillments(args: &Args) -> Result<Option<Value>> {
    if !args.has("f") {
        return Ok(None);
    }
    Ok(Some(orders::fulfillments(args.fulfillments).await?))
}

/// (i) inventory sync.
async fn inventory(args: &Args) -> Result<Option<Value>> {
    if !args.has("i") {
        return Ok(None);
    }
    let p = inventory::Params {
        items: args.inventory_items,
        change_rate: args.inventory_change_rate,
        change_secs: args.inventory_change_secs,
        time_scale: args.inventory_time_scale,
    };
    Ok(Some(inventory::run(p).await?))
}

/// Adds a scenario's rows to the table.
type Rows = fn(&mut Table, &Value);

/// Every result as rows: benchmark, result, target, met.
fn table(r: &Results) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header(["benchmark", "result", "target", "met"]);
    if let Some(q) = &r.queue {
        report::queue(&mut t, q);
    }
    let scenarios: [(&Option<Value>, Rows); 6] = [
        (&r.shopify, report::shopify),
        (&r.erp, report::erp),
        (&r.orders, report::orders),
        (&r.webhooks, report::webhooks),
        (&r.fulfillments, report::fulfillments),
        (&r.inventory, report::inventory),
    ];
    for (v, rows) in scenarios {
        if let Some(v) = v {
            rows(&mut t, v);
        }
    }
    t
}

fn write(path: &Path, v: &Value) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(v)?)?;
    println!("written to {}", path.display());
    Ok(())
}

/// Each result into its file. The webhook and fulfillment figures go into the orders file:
/// beside a fresh (o), or into the one there.
fn write_all(args: &Args, r: Results) -> Result<()> {
    if let Some(q) = &r.queue {
        write(&args.out, q)?;
    }
    if let Some(e) = r.erp {
        write(&args.erp_out, &stamped(e))?;
    }
    let mut orders = r.orders;
    for (key, part) in [("webhooks", r.webhooks), ("fulfillments", r.fulfillments)] {
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
            m.entry("host").or_insert_with(harness::host);
            m.entry("date").or_insert_with(|| json!(chrono::Utc::now().to_rfc3339()));
        }
        write(&args.orders_out, &o)?;
    }
    if let Some(x) = r.inventory {
        write(&args.inventory_out, &stamped(x))?;
    }
    if let Some(s) = r.shopify {
        write(&args.shopify_out, &stamped(s))?;
    }
    Ok(())
}
