//! (s) Shopify pacing: our client against the simulator at Standard limits (2,000-point bucket,
//! 100 points/s), its clock running faster so a 5-minute workload takes seconds. Reports the
//! cost points per second the client achieved as a share of the ceiling (bucket + restore
//! rate × time), and how many THROTTLED answers the simulator sent (none should reach a caller:
//! the client retries them, and pacing should avoid them altogether).

use anyhow::{Context, Result};
use secrecy::SecretString;
use serde_json::{Value, json};
use shopsync_shopify::documents::PRODUCTS_PAGE;
use shopsync_shopify::{Budget, ClientConfig, ShopifyClient};
use shopsync_shopify_sim::{Sim, SimConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "shpat_bench_0123456789";

pub async fn run(sim_secs: f64, scale: f64, workers: usize) -> Result<Value> {
    let sim = Sim::new(SimConfig { time_scale: scale, ..SimConfig::default() });
    sim.add_shop("bench", TOKEN, "standard")?;
    sim.shop("bench")
        .context("shop")?
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .seed(1, 3_000, 0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(shopsync_shopify_sim::serve(sim.clone(), listener, stop.clone()));
    let client = Arc::new(ShopifyClient::new(
        ClientConfig::new(&url, SecretString::from(TOKEN.to_owned())),
        Arc::new(Budget::default()),
    )?);
    let real = Duration::from_secs_f64(sim_secs / scale);
    eprintln!(
        "(s) {workers} jobs syncing products for {sim_secs} simulated s ({:.1} s real)…",
        real.as_secs_f64()
    );
    let sim_start = sim.clock.now_secs();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut after: Option<String> = None;
            let mut errors = 0u64;
            while start.elapsed() < real {
                match c.execute(&PRODUCTS_PAGE, json!({ "first": 250, "after": after })).await {
                    Ok(r) => {
                        let info = &r.data["products"]["pageInfo"];
                        after = if info["hasNextPage"].as_bool() == Some(true) {
                            info["endCursor"].as_str().map(str::to_owned)
                        } else {
                            None
                        };
                    }
                    Err(e) => {
                        errors += 1;
                        eprintln!("(s) request failed: {e}");
                    }
                }
            }
            errors
        }));
    }
    let mut errors = 0;
    for t in tasks {
        errors += t.await?;
    }
    let elapsed_sim = sim.clock.now_secs() - sim_start;
    stop.cancel();
    let _ = server.await;
    let stats = client.stats();
    let ceiling = 2_000.0 + 100.0 * elapsed_sim;
    Ok(json!({
        "plan": "standard (2000 points, 100/s)",
        "time_scale": scale,
        "simulated_seconds": elapsed_sim,
        "workers": workers,
        "requests": stats.requests,
        "actual_cost_points": stats.actual_cost,
        "points_per_simulated_second": stats.actual_cost / elapsed_sim,
        "ceiling_points": ceiling,
        "ratio_of_ceiling": stats.actual_cost / ceiling,
        "throttled_answers": stats.throttled,
        "errors_reaching_caller": errors,
    }))
}
