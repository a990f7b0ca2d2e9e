//! `shopify-sim`: serve the simulator on an address, with shops given on the command line.

use anyhow::Context;
use clap::Parser;
use shopsync_shopify_sim::{Sim, SimConfig, cost::CostModel};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "shopify-sim", version, about = "A local Shopify Admin GraphQL API (2026-10)")]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[arg(long, env = "SHOPIFY_SIM_LISTEN", default_value = "127.0.0.1:3900")]
    listen: String,
    /// A shop: NAME:TOKEN[:PLAN[:CURRENCY]] (repeatable; CURRENCY is ISO 4217, default EUR). More can be added with POST /sim/shops.
    #[arg(long = "shop", env = "SHOPIFY_SIM_SHOPS", value_delimiter = ',')]
    shops: Vec<String>,
    /// Seed every shop with this many generated products (fixed random seed 42).
    #[arg(long, default_value_t = 0)]
    seed_products: usize,
    #[arg(long, default_value_t = 0)]
    seed_customers: usize,
    /// linear: Shopify's documented (pessimistic) cost rule instead of the fitted model.
    #[arg(long, default_value = "fitted")]
    cost_model: String,
    /// Simulated seconds per real second for the leaky bucket's refill.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Load the shops from this file at start (if it exists) and save them to it on shutdown.
    #[arg(long, env = "SHOPIFY_SIM_STATE")]
    state: Option<std::path::PathBuf>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Print how many fields of the types sync reads and writes the simulator answers
    /// (measured by running a query per schema field against a seeded shop), and exit.
    Coverage {
        /// Also list the fields not answered (non-null ones marked `!`).
        #[arg(long)]
        missing: bool,
    },
}

fn coverage(missing: bool) -> ExitCode {
    let rows = shopsync_shopify_sim::coverage::measure();
    print!("{}", shopsync_shopify_sim::coverage::table(&rows));
    if missing {
        for r in rows.iter().filter(|r| !r.missing.is_empty()) {
            println!("{}: {}", r.type_name, r.missing.join(", "));
        }
    }
    ExitCode::SUCCESS
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    if let Some(Command::Coverage { missing }) = args.command {
        return coverage(missing);
    }
    let cost_model = match args.cost_model.as_str() {
        "fitted" => CostModel::Fitted,
        "linear" => CostModel::Linear,
        other => {
            eprintln!("invalid configuration: --cost-model {other:?}: expected fitted or linear");
            return ExitCode::from(64);
        }
    };
    if !args.time_scale.is_finite() || args.time_scale <= 0.0 {
        eprintln!("invalid configuration: --time-scale must be positive");
        return ExitCode::from(64);
    }
    let sim =
        Sim::new(SimConfig { cost_model, time_scale: args.time_scale, ..SimConfig::default() });
    if let Some(path) = args.state.as_ref().filter(|p| p.exists()) {
        match sim.load(path) {
            Ok(n) => tracing::info!(shops = n, path = %path.display(), "state loaded"),
            Err(e) => {
                eprintln!("invalid configuration: --state {}: {e:#}", path.display());
                return ExitCode::from(64);
            }
        }
    }
    for spec in &args.shops {
        let mut parts = spec.splitn(4, ':');
        let (Some(name), Some(token)) = (parts.next(), parts.next()) else {
            eprintln!(
                "invalid configuration: --shop {spec:?}: expected NAME:TOKEN[:PLAN[:CURRENCY]]"
            );
            return ExitCode::from(64);
        };
        let plan = parts.next().filter(|p| !p.is_empty()).unwrap_or("standard");
        let currency = parts.next().unwrap_or("EUR");
        if sim.shop(name).is_some() {
            continue; // loaded from --state
        }
        if let Err(e) = sim.add_shop_in(name, token, plan, currency) {
            eprintln!("invalid configuration: --shop {name:?}: {e}");
            return ExitCode::from(64);
        }
        if let Some(shop) = sim.shop(name) {
            let mut shop = shop.lock().unwrap_or_else(|e| e.into_inner());
            shop.seed(42, args.seed_products, args.seed_customers);
        }
    }
    match run(sim.clone(), &args.listen).await {
        Ok(()) => {
            if let Some(path) = &args.state
                && let Err(e) = sim.save(path)
            {
                eprintln!("shopify-sim: saving {}: {e:#}", path.display());
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("shopify-sim failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(sim: shopsync_shopify_sim::SharedSim, listen: &str) -> anyhow::Result<()> {
    let listener =
        tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, "shopify-sim listening");
    let stop = tokio_util::sync::CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
        }
        s.cancel();
    });
    // Load the schema before the first request.
    let _ = shopsync_shopify_sim::schema::schema();
    shopsync_shopify_sim::serve(sim, listener, stop).await?;
    Ok(())
}
